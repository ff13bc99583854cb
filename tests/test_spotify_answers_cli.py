"""What every command does with an answer from Spotify it has no use for, and with titles
too long for Spotify's search.

An unmapped status (a 414, a 418, a 4xx nobody expects) is final: no retry, and
the command says which answer it got with the contract's code: `show` and
`export` still print what the store has (0) and say why the rest is missing;
`refresh` and `match` stop as if Spotify were unreachable (69); serve's API
answers its JSON with the reason. Never "unexpected …" and exit 1, never a 500.
Over the loopback double, which answers like Spotify (a 404 past 100 query
characters, a 414 past a front end's URI length).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url
from serving import Served
from spotify_double import SpotifyDouble

from jitspot.errors import EXIT_UNAVAILABLE
from jitspot.jobs.matching import MAX_SEARCH_QUERY

Run = Callable[..., Result]
MakeSheet = Callable[..., Path]
Start = Callable[..., Served]

LONG_TITLE = " ".join(f"word{i}" for i in range(10_000))[:70_000]


def row(artist: str, title: str, link: str | None = None) -> list[Any]:
    return [artist, title, datetime(2021, 6, 1), "LP", "Prog-metal", "Clean", "NO", None, link]


@pytest.fixture
def linked(run: Run, make_sheet: MakeSheet, spotify: SpotifyDouble) -> str:
    """One album with a link (show/export/refresh call for it) and one without (match)."""
    album_id = spotify.add_album(
        "Aphelion", [spotify.add_artist("Leprous")], release_date="2021-08-27"
    )
    sheet = make_sheet(
        {"2021": [row("Leprous", "Aphelion", album_url(album_id)), row("Haken", "Virus")]}
    )
    assert run("import", str(sheet)).exit_code == 0
    return album_id


def no_unexpected(result: Result) -> None:
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("status", [414, 418, 409])
def test_show__an_unknown_status_prints_the_album_and_says_why_the_rest_is_missing(
    run: Run, linked: str, spotify: SpotifyDouble, status: int
) -> None:
    spotify.fail_every(1, status)
    result = run("show", "leprous aphelion", "--json")
    no_unexpected(result)
    assert result.exit_code == 0, result.stderr
    view = result.json()
    assert view["title"] == "Aphelion"
    assert view["cover_state"] == "unavailable"
    assert f"HTTP {status}" in view["cover_note"]
    assert spotify.count("album") == 1  # final: never retried


def test_export__an_unknown_status_exports_the_store_and_says_why(
    run: Run, linked: str, spotify: SpotifyDouble
) -> None:
    spotify.fail_every(1, 418)
    result = run("export", "--format", "json")
    no_unexpected(result)
    assert result.exit_code == 0, result.stderr
    assert {a["title"] for a in result.json()} == {"Aphelion", "Virus"}
    assert "unavailable" in result.stderr


@pytest.mark.parametrize("status", [414, 418])
def test_refresh__an_unknown_status_stops_with_69_and_names_it(
    run: Run, linked: str, spotify: SpotifyDouble, status: int
) -> None:
    spotify.fail_every(1, status)
    result = run("refresh", "--all", "--json")
    no_unexpected(result)
    assert result.exit_code == EXIT_UNAVAILABLE, result.stderr
    assert f"HTTP {status}" in result.stderr
    assert result.json()["failed"] == 1


def test_match__an_unknown_status_stops_with_69_and_names_it(
    run: Run, linked: str, spotify: SpotifyDouble
) -> None:
    spotify.fail_every(1, 418, endpoints={"search"})
    result = run("match", "--json")
    no_unexpected(result)
    assert result.exit_code == EXIT_UNAVAILABLE, result.stderr
    assert "HTTP 418" in result.stderr
    assert spotify.count("search") == 1


def test_serve__an_unknown_status_is_a_cover_note_not_a_500(
    linked: str, spotify: SpotifyDouble, start_server: Start
) -> None:
    spotify.fail_every(1, 418)
    server = start_server()
    one = server.get("/api/albums/1/cover")
    many = server.get("/api/covers?id=1")
    page = server.get("/albums/1")
    assert [one.status_code, many.status_code, page.status_code] == [200, 200, 200]
    assert one.json()["cover_state"] == "unavailable"
    assert "HTTP 418" in one.json()["note"]
    assert many.json()["covers"][0]["cover_state"] == "unavailable"


# -- titles too long for Spotify's search ------------------------------------------------


def import_csv(run: Run, tmp_path: Path, rows: list[list[str]]) -> None:
    """A CSV sheet: unlike xlsx (32,767 characters a cell), a cell may hold any length."""
    path = tmp_path / "long.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Artist", "Album", "Release Date", "Length", "Spotify"])
        writer.writerows(rows)
    assert run("import", str(path)).exit_code == 0


def test_match__a_70000_character_title_is_searched_within_spotifys_limit(
    run: Run, tmp_path: Path, spotify: SpotifyDouble
) -> None:
    spotify.add_album("Aphelion", [spotify.add_artist("Leprous")], release_date="2021-08-27")
    import_csv(run, tmp_path, [["Leprous", LONG_TITLE, "2021-08-27", "LP", ""]])
    result = run("match", "--json")
    no_unexpected(result)
    assert result.exit_code == 0, result.stderr
    [search] = [r for r in spotify.requests if r.endpoint == "search"]
    assert search.status == 200  # Spotify took it: not a 404 or a 414
    assert len(search.query["q"]) <= MAX_SEARCH_QUERY
    assert search.query["q"].startswith('artist:"Leprous" album:"word0 word1 ')
    assert result.json()["albums"][0]["state"] == "no_candidate"


def test_match__a_title_past_the_query_limit_is_still_matched(
    run: Run, tmp_path: Path, spotify: SpotifyDouble
) -> None:
    title = (
        "The Incredible Journey Through the Seven Gates of the Eternal Night and the"
        " Return of the Forgotten King (Part II)"
    )
    artist = spotify.add_artist("Rhapsody of the Northern Fire Orchestra")
    album_id = spotify.add_album(title, [artist], release_date="2021-03-05")
    spotify.add_album("The Incredible Journey", [artist], release_date="2021-01-01")
    import_csv(
        run,
        tmp_path,
        [["Rhapsody of the Northern Fire Orchestra", title, "2021-03-05", "LP", ""]],
    )
    report = run("match", "--json")
    assert report.exit_code == 0, report.stderr
    [search] = [r for r in spotify.requests if r.endpoint == "search"]
    assert len(search.query["q"]) <= MAX_SEARCH_QUERY < len(title)
    [album] = report.json()["albums"]
    assert (album["state"], album["spotify_id"]) == ("matched", album_id)
