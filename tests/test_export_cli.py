"""`jitspot export`: lazy resolution of the exported albums only, in batches; formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url
from spotify_double import SpotifyDouble

Run = Callable[..., Result]


@pytest.fixture
def big_sheet(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble) -> list[str]:
    """45 albums by 3 artists in tab 2021, 5 more in tab 2020, one row without a link."""
    artists = [spotify.add_artist(f"Band {i}", genres=("prog",)) for i in range(3)]
    ids = [spotify.add_album(f"Album {i}", [artists[i % 3]]) for i in range(50)]
    rows_2021 = [
        [
            f"Band {i % 3}",
            f"Album {i}",
            datetime(2021, 1, 1 + i % 28),
            "LP",
            "Prog-metal",
            "Clean",
            "X",
            None,
            album_url(ids[i]),
        ]
        for i in range(45)
    ]
    rows_2021.append(["@Evil", "+SUM(1)", "TBA", "EP", "-x", "@y", "Z"])
    rows_2020 = [
        [
            f"Band {i % 3}",
            f"Album {i}",
            datetime(2020, 1, 1),
            "LP",
            "Prog-rock",
            "Clean",
            "X",
            None,
            album_url(ids[i]),
        ]
        for i in range(45, 50)
    ]
    assert run("import", str(make_sheet({"2021": rows_2021, "2020": rows_2020}))).exit_code == 0
    return ids


def test_export__resolves_exported_albums_in_batches(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    result = run("export", "--tab", "2021", "--format", "json")
    assert result.exit_code == 0, result.stderr
    albums = result.json()
    assert len(albums) == 46
    assert spotify.counts() == {"token": 1, "albums_batch": 3, "artists_batch": 1}
    batch_sizes = sorted(
        len(r.query["ids"].split(",")) for r in spotify.requests if r.endpoint == "albums_batch"
    )
    assert batch_sizes == [5, 20, 20]
    assert sum(1 for a in albums if a["cover_state"] == "fetched") == 45
    assert "Exported 46 albums" in result.stderr


def test_export__second_export_makes_no_call(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    assert run("export", "--tab", "2021").exit_code == 0
    calls = spotify.counts()
    again = run("export", "--tab", "2021")
    assert {a["cover_state"] for a in again.json()} == {"cached", "no_spotify_link"}
    assert spotify.counts() == calls


def test_export__only_fetches_the_filtered_albums(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    assert run("export", "--tab", "2020").exit_code == 0
    fetched = {
        i
        for r in spotify.requests
        if r.endpoint == "albums_batch"
        for i in r.query["ids"].split(",")
    }
    assert fetched == set(big_sheet[45:])


def test_export__offline_exports_what_is_cached(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    result = run("export", "--offline", "--format", "json")
    assert result.exit_code == 0
    assert {a["cover_state"] for a in result.json()} == {"not_cached", "no_spotify_link"}
    assert spotify.requests == []


def test_export__csv_neutralises_formula_cells(run: Run, big_sheet: list[str]) -> None:
    result = run("export", "--offline", "--format", "csv", "--tab", "2021")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    evil = next(r for r in rows if r["title"].endswith("SUM(1)"))
    assert evil["artist"] == "'@Evil"
    assert evil["title"] == "'+SUM(1)"
    assert evil["genres"] == "'-x"
    assert evil["vocal_style"] == "'@y"


def test_export__csv_round_trips_through_import(
    run: Run, big_sheet: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "catalog.csv"
    assert run("export", "--offline", "--format", "csv", "-o", str(out)).exit_code == 0
    original = run("list", "--json").json()
    monkeypatch.setenv("JITSPOT_HOME", str(tmp_path / "other"))
    report = run("import", str(out), "--json").json()
    assert report["rows"] == len(original)
    again = run("list", "--json").json()

    def key(a: dict[str, Any]) -> tuple[Any, ...]:
        return (
            a["tab"],
            a["artist"],
            a["title"],
            a["spotify_id"],
            a["release_date"],
            tuple(a["genres"]),
        )

    assert sorted(map(key, again)) == sorted(map(key, original))


def test_export__markdown_and_html_to_a_file(
    run: Run, big_sheet: list[str], tmp_path: Path
) -> None:
    md = run("export", "--offline", "--format", "md", "--tab", "2020")
    assert md.exit_code == 0
    assert md.stdout.count("\n| ") >= 5
    page = tmp_path / "gallery.html"
    result = run("export", "--format", "html", "-o", str(page))
    assert result.exit_code == 0
    assert result.stdout == ""
    text = page.read_text(encoding="utf-8")
    assert text.count('loading="lazy"') == 50
    assert "<script src" not in text


def test_export__stdout_has_only_the_result(run: Run, big_sheet: list[str]) -> None:
    result = run("export", "--format", "json", "--tab", "2020")
    assert result.stdout.lstrip().startswith("[")
    assert "Exported" not in result.stdout
