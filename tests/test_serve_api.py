"""`jitspot serve`'s JSON API on a real loopback port, over the Spotify double."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import Result, album_url
from serving import Served
from spotify_double import SpotifyDouble

Start = Callable[..., Served]


def _catalog(
    spotify: SpotifyDouble, make_sheet: Callable[..., Path], run: Callable[..., Result], n: int
) -> list[str]:
    """`n` albums of the double in one imported tab; returns their Spotify ids."""
    ids = spotify.populate(n, max(1, n // 3))
    rows = [
        [
            f"Artist {i % max(1, n // 3)}",
            f"Album {i}",
            None,
            "LP",
            "Prog-metal",
            "Clean",
            "Oslo",
            None,
            album_url(spotify_id),
        ]
        for i, spotify_id in enumerate(ids)
    ]
    assert run("import", str(make_sheet({"2024 Prog-metal": rows}))).exit_code == 0
    return ids


def test_cover__concurrent_requests_are_coalesced_into_batches(
    spotify: SpotifyDouble,
    make_sheet: Callable[..., Path],
    run: Callable[..., Result],
    start_server: Start,
) -> None:
    _catalog(spotify, make_sheet, run, 45)
    server = start_server(window=0.3)
    spotify.reset()

    with ThreadPoolExecutor(45) as pool:
        answers = list(
            pool.map(lambda i: server.get(f"/api/albums/{i}/cover").json(), range(1, 46))
        )

    assert {a["cover_state"] for a in answers} == {"fetched"}
    assert all(a["cover_url"].startswith("https://") for a in answers)
    assert spotify.count("albums_batch") == math.ceil(45 / 20)
    assert spotify.count("album") == 0
