"""`jitspot refresh` end to end: selection, dry run, exit codes, lock, stops, output, runs.

Through the CLI against the loopback Spotify double, with a real store and
cache in tmp_path. A few tests run the CLI in a subprocess: a signal, a
SIGKILL or a lock held by another process can only be shown that way.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, age_cached, album_url
from spotify_double import SpotifyDouble

from jitspot.catalog.cache import SpotifyCache
from jitspot.cli.refresh import NEEDS_APP
from jitspot.model import cache_key
from jitspot.settings import load_settings
from jitspot.store import open_store

Run = Callable[..., Result]

JSON_KEYS = {
    "selected",
    "refreshed",
    "failed",
    "not_found",
    "skipped",
    "up_to_date",
    "left",
    "api_calls",
    "rate_limited",
    "seconds",
    "stopped_reason",
    "not_before",
}


# -- the catalog ---------------------------------------------------------------------------


Ids = dict[str, str]


@pytest.fixture
def sheet(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble) -> Ids:
    """Six rows over two tabs: five with a Spotify link (one of them unknown to Spotify)."""
    haken = spotify.add_artist("Haken", genres=("progressive metal",))
    tesseract = spotify.add_artist("Tesseract", genres=("djent",))
    leprous = spotify.add_artist("Leprous", genres=("progressive metal",))
    ids = {
        "fauna": spotify.add_album("Fauna", [haken]),
        "war": spotify.add_album("War of Being", [tesseract]),
        "aphelion": spotify.add_album("Aphelion", [leprous]),
        "live": spotify.add_album("Live in Oslo", [haken]),
        "gone": spotify.new_id(),
    }
    spotify.not_found(ids["gone"])

    def row(artist: str, title: str, date: datetime, key: str | None) -> list[Any]:
        link = album_url(ids[key]) if key else None
        return [artist, title, date, "LP", "Prog-metal", "Clean", "UK", None, link]

    tabs = {
        "2023 Prog-metal": [
            row("Haken", "Fauna", datetime(2023, 3, 3), "fauna"),
            row("Tesseract", "War of Being", datetime(2023, 9, 15), "war"),
            row("Nobody", "No Link Yet", datetime(2023, 5, 5), None),
        ],
        "2021 Prog-metal": [
            row("Leprous", "Aphelion", datetime(2021, 8, 27), "aphelion"),
            row("Haken", "Live in Oslo", datetime(2021, 2, 2), "live"),
            row("Ghost Band", "Gone", datetime(2021, 6, 6), "gone"),
        ],
    }
    assert run("import", str(make_sheet(tabs))).exit_code == 0
    return ids


def albums_asked(double: SpotifyDouble) -> list[str]:
    """Album ids the double answered for, found or not (in batches or one by one)."""
    asked: list[str] = []
    for r in double.requests:
        if r.status not in (200, 404):
            continue
        if r.endpoint == "albums_batch":
            asked += r.query["ids"].split(",")
        elif r.endpoint == "album":
            asked.append(r.path.rsplit("/", 1)[-1])
    return asked


def artists_asked(double: SpotifyDouble) -> list[str]:
    asked: list[str] = []
    for r in double.requests:
        if r.status != 200:
            continue
        if r.endpoint == "artists_batch":
            asked += r.query["ids"].split(",")
        elif r.endpoint == "artist":
            asked.append(r.path.rsplit("/", 1)[-1])
    return asked


def refresh_json(run: Run, *args: str, code: int = 0) -> dict[str, Any]:
    result = run("refresh", "--json", *args)
    assert result.exit_code == code, result.stderr
    report = result.json()
    assert isinstance(report, dict)
    assert set(report) >= JSON_KEYS
    return report


def runs(home: Path) -> list[sqlite3.Row]:
    """The refresh runs recorded in the store (imports, shows and exports are there too)."""
    conn = sqlite3.connect(home / "jitspot.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM runs WHERE command = 'refresh' ORDER BY id").fetchall()
    finally:
        conn.close()


def cached_albums(home: Path) -> set[str]:
    """Album ids the store's cache index holds (read without disturbing a running writer)."""
    conn = sqlite3.connect(f"file:{home / 'jitspot.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT spotify_id FROM cache_index WHERE kind = 'album'").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return set()
    finally:
        conn.close()
    return {row[0] for row in rows}


# -- selection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--artist", "haken"], {"fauna", "live"}, id="artist"),
        pytest.param(["--year", "2021"], {"aphelion", "live", "gone"}, id="year"),
        pytest.param(["--tab", "2023*"], {"fauna", "war"}, id="tab"),
        pytest.param(["--artist", "haken", "--year", "2023"], {"fauna"}, id="filters-and"),
        pytest.param(["leprous aphelion"], {"aphelion"}, id="album-text"),
        pytest.param(["LINK:war"], {"war"}, id="album-link"),
        pytest.param(["URI:war"], {"war"}, id="album-uri"),
        pytest.param(["ID:fauna"], {"fauna"}, id="album-id"),
        pytest.param(["ID:fauna", "leprous aphelion"], {"fauna", "aphelion"}, id="two-albums"),
        pytest.param(["LINK:war", "--artist", "leprous"], {"war", "aphelion"}, id="album+filter"),
        pytest.param(["--all"], {"fauna", "war", "aphelion", "live", "gone"}, id="all"),
    ],
)
def test_refresh__fetches_exactly_the_chosen_albums(
    run: Run, sheet: Ids, spotify: SpotifyDouble, args: list[str], expected: set[str]
) -> None:
    refs: dict[str, Callable[[str], str]] = {
        "LINK": album_url,  # https://open.spotify.com/album/ID?si=...
        "URI": "spotify:album:{}".format,
        "ID": str,
    }
    argv: list[str] = []
    for arg in args:
        form, _, key = arg.partition(":")
        argv.append(refs[form](sheet[key]) if form in refs and key in sheet else arg)
    report = refresh_json(run, *argv)
    assert sorted(albums_asked(spotify)) == sorted(sheet[k] for k in expected)
    assert report["refreshed"] == len(expected - {"gone"})
    assert report["not_found"] == len(expected & {"gone"})
    assert report["failed"] == report["left"] == 0
    assert report["stopped_reason"] is None
    assert report["rate_limited"] is False
    assert report["not_before"] is None


def test_refresh__all_counts_skipped_and_not_found(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    report = refresh_json(run, "--all")
    assert report["selected"] == 6
    assert report["refreshed"] == 4
    assert report["not_found"] == 1  # Spotify answers 404 (null in a batch) for it
    assert report["skipped"] == 1  # the row without a link: nothing to ask for
    assert report["failed"] == report["left"] == report["up_to_date"] == 0
    # One batch of albums, one of artists: what the double saw, and what the report says.
    assert spotify.counts() == {"token": 1, "albums_batch": 1, "artists_batch": 1}
    assert report["api_calls"] == spotify.api_calls() == 2
    assert report["seconds"] >= 0
    view = run("show", sheet["gone"], "--json", "--offline").json()
    assert view["cover_state"] == "not_found"


def test_refresh__json_keys_come_in_their_order(run: Run, sheet: Ids) -> None:
    report = refresh_json(run, "--all")
    assert report.pop("seconds") >= 0
    assert list(report.items()) == [
        ("selected", 6),
        ("refreshed", 4),
        ("failed", 0),
        ("not_found", 1),
        ("skipped", 1),
        ("up_to_date", 0),
        ("left", 0),
        ("covers", 0),
        ("artists", 3),
        ("api_calls", 2),
        ("rate_limited", False),
        ("rate_limited_responses", 0),
        ("waited_seconds", 0.0),
        ("stopped_reason", None),
        ("not_before", None),
        ("error", None),
        ("exit_code", 0),
    ]


def test_refresh__all_fetches_cached_albums_and_artists_again(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    refresh_json(run, "--all")
    spotify.reset()
    report = refresh_json(run, "--all")
    assert report["refreshed"] == 4
    assert sorted(albums_asked(spotify)) == sorted(sheet.values())
    assert sorted(artists_asked(spotify)) == sorted(spotify.artist_ids())


def test_refresh__missing_fetches_only_uncached_albums_and_artists(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    refresh_json(run, "--artist", "haken")
    haken = spotify.artist_ids()[0]
    assert artists_asked(spotify) == [haken]
    spotify.reset()
    report = refresh_json(run, "--missing")
    assert sorted(albums_asked(spotify)) == sorted([sheet["war"], sheet["aphelion"], sheet["gone"]])
    assert haken not in artists_asked(spotify)  # cached: --missing leaves it
    assert len(artists_asked(spotify)) == 2
    assert report["up_to_date"] == 2
    assert report["refreshed"] == 2
    assert report["not_found"] == 1
    # Everything is cached now: --missing has nothing to do and calls nothing.
    spotify.reset()
    again = refresh_json(run, "--missing")
    assert spotify.requests == []
    assert again["up_to_date"] == 5
    assert again["refreshed"] == again["api_calls"] == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--missing"], {"war", "aphelion", "gone"}, id="missing"),
        pytest.param(["--stale", "30"], {"fauna"}, id="stale"),
        pytest.param(
            ["--missing", "--stale", "30"], {"fauna", "war", "aphelion", "gone"}, id="either"
        ),
        pytest.param(["--stale", "30", "--year", "2021"], set(), id="stale-among-filters"),
        pytest.param(["--missing", "--artist", "haken"], set(), id="missing-among-filters"),
        pytest.param(["--missing", "--tab", "2023*"], {"war"}, id="missing-in-tab"),
    ],
)
def test_refresh__missing_and_stale_choose_entries(
    run: Run, sheet: Ids, spotify: SpotifyDouble, home: Path, args: list[str], expected: set[str]
) -> None:
    refresh_json(run, "--artist", "haken")  # fauna and live are cached, the rest is not
    age_cached(home, [sheet["fauna"]], days=40)  # fauna is stale, live is fresh
    spotify.reset()
    report = refresh_json(run, *args)
    assert sorted(albums_asked(spotify)) == sorted(sheet[k] for k in expected)
    assert report["refreshed"] + report["not_found"] == len(expected)


def test_refresh__all_with_albums_or_filters_is_a_usage_error(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    for args in (["--all", "--artist", "haken"], ["--all", sheet["fauna"]]):
        result = run("refresh", *args)
        assert result.exit_code == 2
        assert "--all is the whole catalog" in result.stderr
    assert spotify.requests == []


def test_refresh__nothing_chosen_is_a_usage_error_naming_the_choices(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    result = run("refresh")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    for choice in ("ALBUM", "FILTERS", "--artist", "--all", "--missing", "--stale DAYS"):
        assert choice in message
    assert spotify.requests == []
    assert runs(Path(os.environ["JITSPOT_HOME"])) == []


def test_refresh__unknown_album_exits_1_without_a_call(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    result = run("refresh", "no such band")
    assert result.exit_code == 1
    assert "no album matches 'no such band'" in result.stderr
    assert spotify.requests == []


def test_refresh__ambiguous_album_exits_1_with_the_candidates(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    result = run("refresh", "haken")
    assert result.exit_code == 1
    assert "Fauna" in result.stdout + result.stderr
    assert "Live in Oslo" in result.stdout + result.stderr
    assert spotify.requests == []


# -- dry run --------------------------------------------------------------------------------


def test_refresh__dry_run_lists_albums_with_cache_state_and_calls_nothing(
    run: Run, sheet: Ids, spotify: SpotifyDouble, home: Path
) -> None:
    refresh_json(run, "--artist", "haken")
    age_cached(home, [sheet["fauna"]], days=40)
    spotify.reset()
    result = run("refresh", "--all", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert spotify.requests == []  # not even a token
    lines = result.stdout.splitlines()
    assert len(lines) == 5  # the albums with a link; the one without is only counted
    by_title = {line.split(" — ")[1].split("  (")[0]: line for line in lines}
    assert by_title["Fauna"].startswith("stale 40 d")
    assert by_title["Live in Oslo"].startswith("cached")
    assert by_title["Aphelion"].startswith("never fetched")
    assert "(2021 Prog-metal)" in by_title["Aphelion"]
    assert "5 albums to fetch of 6 selected, 1 without a Spotify link" in result.stderr
    assert "metadata: 2 calls (batches of 20 albums" in result.stderr
    assert "Nothing was fetched (--dry-run)" in result.stderr
    assert len(runs(home)) == 1  # only the real run before it


def test_refresh__dry_run_json_estimates_what_the_run_spends(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    plan = run("refresh", "--missing", "--dry-run", "--json")
    assert plan.exit_code == 0, plan.stderr
    estimate = plan.json()
    assert spotify.requests == []
    assert estimate["dry_run"] is True
    assert estimate["album_calls"] == 1
    assert estimate["mode"].startswith("batches of 20 albums")
    assert {a["spotify_id"] for a in estimate["albums"]} == set(sheet.values())
    assert {a["state"] for a in estimate["albums"]} == {"never fetched"}
    assert estimate["selected"] == 6
    assert estimate["to_fetch"] == 5
    report = refresh_json(run, "--missing")
    assert report["api_calls"] == estimate["calls"]


def test_refresh__dry_run_estimate_holds_with_artists_shared_by_many_batches(
    run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble
) -> None:
    ids = spotify.populate(130, 60)  # album i by artist i % 60: each artist in several batches
    rows = [
        [f"Artist {i % 60}", f"Album {i}", None, "LP", None, None, None, None, album_url(a)]
        for i, a in enumerate(ids)
    ]
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    assert refresh_json(run, "--all")["refreshed"] == 130
    spotify.reset()

    estimate = run("refresh", "--all", "--dry-run", "--json").json()
    report = refresh_json(run, "--all")
    assert (estimate["album_calls"], estimate["artist_calls"]) == (7, 2)
    assert report["api_calls"] == estimate["calls"] == spotify.api_calls()
    assert spotify.count("artists_batch") == 2  # each artist once, in full batches
    assert report["artists"] == 60


def test_refresh__dry_run_counts_one_call_per_album_in_development_mode(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    spotify.mode = "development"
    refresh_json(run, "--artist", "haken")  # learns that batches are forbidden
    spotify.reset()
    estimate = run("refresh", "--missing", "--dry-run", "--json").json()
    assert spotify.requests == []
    assert estimate["album_calls"] == estimate["quota_calls"] == 3
    assert estimate["cover_calls"] == 0  # the quota has room: covers come with the albums
    assert estimate["artist_calls"] == 0  # genres only with --artists
    assert estimate["mode"].startswith("one call per album")
    report = refresh_json(run, "--missing")
    assert spotify.count("album") == 3
    assert spotify.count("oembed") == 0
    assert spotify.count("artist") == 0
    assert report["api_calls"] == estimate["calls"] == spotify.count() - spotify.count("token")


def test_refresh__dry_run_without_credentials_counts_oembed_calls(
    run: Run, sheet: Ids, spotify_no_credentials: SpotifyDouble
) -> None:
    estimate = run("refresh", "--all", "--dry-run", "--json").json()
    assert estimate["calls"] == estimate["album_calls"] == 5
    assert "oEmbed" in estimate["mode"]
    assert spotify_no_credentials.requests == []


# -- exit codes -------------------------------------------------------------------------------


def test_refresh__retry_after_past_the_cap_stops_with_75_and_not_before(
    run: Run, sheet: Ids, spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", "10")
    spotify.rate_limit(30, times=1)  # past the 10 s cap: no waiting, stop at once
    before = time.time()
    report = refresh_json(run, "--all", code=75)
    assert report["stopped_reason"] == "rate_limited"
    assert report["rate_limited"] is True
    assert report["rate_limited_responses"] == 1
    assert report["left"] == 5
    assert report["refreshed"] == 0
    not_before = datetime.fromisoformat(report["not_before"]).timestamp()
    assert before + 29 <= not_before <= time.time() + 31
    calls = len(spotify.requests)

    # Another run before that time stops at once, without a call.
    again = run("refresh", "--all", "--json")
    assert again.exit_code == 75
    assert again.json()["stopped_reason"] == "rate_limited"
    assert again.json()["not_before"] == report["not_before"]
    assert len(spotify.requests) == calls
    assert "rate-limited by Spotify until" in again.stderr
    assert again.stderr.count("\n") == 1
    assert [int(row["status"]) for row in runs(home)] == [75, 75]


def test_refresh__retry_after_within_the_cap_is_waited_out(
    run: Run, sheet: Ids, spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", "10")
    spotify.rate_limit(0, times=1)  # Retry-After: 0 - within any cap
    report = refresh_json(run, "--all")
    assert report["rate_limited_responses"] == 1
    assert report["stopped_reason"] is None
    assert report["refreshed"] == 4


def test_refresh__unreachable_spotify_exits_69(
    run: Run, sheet: Ids, spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.setenv("JITSPOT_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", "0.01")  # caps the backoff too: no real wait
    spotify.fail_every(1, 503)
    result = run("refresh", "--all", "--json")
    assert result.exit_code == 69, result.stderr
    report = result.json()
    assert spotify.count("albums_batch", status=503) == 3  # tried, retried, gave up
    assert report["api_calls"] == 3
    assert report["left"] + report["failed"] == 5
    assert report["refreshed"] == 0
    assert "Spotify unreachable after 3 tries" in result.stderr
    assert [int(row["status"]) for row in runs(home)] == [69]


def test_refresh__rejected_credentials_exit_78(
    run: Run, sheet: Ids, spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "wrong")
    result = run("refresh", "--all")
    assert result.exit_code == 78, result.stderr
    assert spotify.api_calls() == 0
    assert spotify.count("token") >= 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("jitspot: ")
    assert "SPOTIPY_CLIENT_SECRET" in last
    assert "wrong" not in result.stderr + result.stdout


def test_refresh__without_credentials_renews_covers_through_oembed(
    run: Run, sheet: Ids, spotify_no_credentials: SpotifyDouble
) -> None:
    spotify = spotify_no_credentials
    result = run("refresh", "--all", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert spotify.counts() == {"oembed": 5}
    assert report["refreshed"] == 4
    assert report["not_found"] == 1
    assert NEEDS_APP in " ".join(result.stderr.split())
    assert "tracks and metadata need an app" in result.stderr


# -- output -----------------------------------------------------------------------------------


def test_refresh__plain_output_is_one_summary_line(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    result = run("refresh", "--all")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith(
        "Refresh done: 6 selected, 4 refreshed, 0 failed, 1 not found, 1 skipped (no link),"
    )
    assert "2 calls, 0 × 429" in result.stdout
    assert result.stderr == ""


def test_refresh__verbose_prints_one_plain_line_per_batch(
    run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble
) -> None:
    band = spotify.add_artist("Band")
    ids = [spotify.add_album(f"Album {i}", [band]) for i in range(25)]
    rows = [
        ["Band", f"Album {i}", None, "LP", None, None, None, None, album_url(ids[i])]
        for i in range(25)
    ]
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    result = run("-v", "refresh", "--all")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    progress = [
        line for line in result.stderr.splitlines() if line.startswith(("albums", "artists"))
    ]
    assert [line.split(" · ")[0] for line in progress] == [
        "albums 20/25",
        "albums 25/25",
        "artists 1/1",
    ]
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("Refresh done: 25 selected, 25 refreshed")


def test_refresh__quiet_prints_nothing_on_success(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    result = run("--quiet", "refresh", "--all")
    assert result.exit_code == 0
    assert result.stdout == result.stderr == ""
    assert spotify.api_calls() == 2


def test_refresh__quiet_still_says_why_it_stopped(
    run: Run, sheet: Ids, spotify: SpotifyDouble
) -> None:
    spotify.rate_limit(7200, times=1)
    result = run("--quiet", "refresh", "--all")
    assert result.exit_code == 75
    assert result.stdout == ""
    assert result.stderr.startswith("jitspot: rate-limited by Spotify until")


def test_refresh__each_run_is_recorded(
    run: Run, sheet: Ids, spotify: SpotifyDouble, home: Path
) -> None:
    report = refresh_json(run, "--all")
    [row] = runs(home)
    assert row["command"] == "refresh"
    assert row["started_at"] and row["finished_at"]
    assert row["started_at"] <= row["finished_at"]
    assert int(row["status"]) == 0
    summary = json.loads(row["summary"])
    assert summary["refreshed"] == report["refreshed"] == 4
    assert summary["api_calls"] == 2


# -- --max-time --------------------------------------------------------------------------------


def test_refresh__max_time_stops_early_and_missing_finishes(
    run: Run, sheet: Ids, spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.setenv("JITSPOT_CONCURRENCY", "1")
    spotify.mode = "development"  # one call per album: several small steps
    spotify.delay(0.4)
    report = refresh_json(run, "--all", "--max-time", "2", code=75)
    assert report["stopped_reason"] == "max_time"
    assert report["left"] > 0
    assert report["refreshed"] + report["not_found"] + report["left"] == 5
    first = set(albums_asked(spotify))
    assert first  # some albums were done before the budget ran out...
    assert first == cached_albums(home)  # everything fetched is kept
    assert [int(row["status"]) for row in runs(home)] == [75]

    spotify.reset()
    spotify.mode = "development"
    rest = refresh_json(run, "--missing")
    second = set(albums_asked(spotify))
    assert first.isdisjoint(second)
    assert first | second == set(sheet.values())
    assert rest["up_to_date"] == len(first)


# -- runs in other processes ---------------------------------------------------------------


def test_refresh__lock_held_by_another_process_exits_75_at_once(
    run: Run, sheet: Ids, spotify: SpotifyDouble, lock_holder: int, home: Path
) -> None:
    result = run("refresh", "--all", "--json")
    assert result.exit_code == 75
    report = result.json()
    assert report["stopped_reason"] == "locked"
    assert report["selected"] == 6
    assert report["refreshed"] == report["api_calls"] == 0
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("jitspot: refresh (pid ")
    assert f"(pid {lock_holder}, since " in result.stderr
    assert "--wait-lock" in result.stderr
    assert spotify.requests == []


def test_refresh__locked_json_is_the_report_of_a_run_that_did_nothing(
    run: Run, sheet: Ids, lock_holder: int
) -> None:
    report = run("refresh", "--all", "--json").json()
    assert report.pop("error").startswith(f"refresh (pid {lock_holder}, since ")
    assert list(report.items()) == [
        ("selected", 6),
        ("refreshed", 0),
        ("failed", 0),
        ("not_found", 0),
        ("skipped", 1),
        ("up_to_date", 0),
        ("left", 0),
        ("covers", 0),
        ("artists", 0),
        ("api_calls", 0),
        ("rate_limited", False),
        ("rate_limited_responses", 0),
        ("waited_seconds", 0.0),
        ("seconds", 0.0),
        ("stopped_reason", "locked"),
        ("not_before", None),
        ("exit_code", 75),
    ]


def test_refresh__wait_lock_waits_then_exits_75(
    run: Run, sheet: Ids, spotify: SpotifyDouble, lock_holder: int
) -> None:
    result = run("refresh", "--all", "--wait-lock", "1")
    assert result.exit_code == 75
    assert f"(pid {lock_holder}, since " in result.stderr
    assert "after waiting 1 s" in result.stderr
    assert result.stdout == ""
    assert spotify.requests == []


def test_refresh__lock_blocks_neither_show_export_nor_a_dry_run(
    run: Run, sheet: Ids, spotify: SpotifyDouble, lock_holder: int
) -> None:
    shown = run("show", "haken fauna", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["cover_state"] == "fetched"
    exported = run("export", "--tab", "2021*", "--format", "json")
    assert exported.exit_code == 0, exported.stderr
    assert len(exported.json()) == 3
    plan = run("refresh", "--all", "--dry-run")
    assert plan.exit_code == 0, plan.stderr
    assert len(plan.stdout.splitlines()) == 5


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def slow_catalog(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble) -> list[str]:
    """8 albums of a development-mode app (one call each), every call answered slowly."""
    spotify.mode = "development"
    ids = spotify.populate(8, 2)
    rows = [
        [f"Artist {i % 2}", f"Album {i}", None, "LP", None, None, None, None, album_url(a)]
        for i, a in enumerate(ids)
    ]
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    spotify.delay(0.2)
    return ids


def start_refresh(*args: str) -> subprocess.Popen[str]:
    """`jitspot refresh ARGS` in a process of its own, one request at a time."""
    return subprocess.Popen(
        [sys.executable, "-m", "jitspot", "refresh", *args],
        env={**os.environ, "JITSPOT_CONCURRENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def no_request_in_flight(double: SpotifyDouble) -> bool:
    """Clear the double's records and faults; True if no request was in flight then."""
    double.reset()  # also sets max_concurrent to the requests in flight now
    return double.max_concurrent == 0


def kept_albums(home: Path, ids: list[str]) -> set[str]:
    """The albums whose fetched data the cache holds (as the next run will see it)."""
    settings = load_settings(home)
    with open_store(settings.store_path) as store:
        cache = SpotifyCache(settings.cache_dir, store)
        try:
            entries = cache.get_many(cache_key("album", i) for i in ids)
        finally:
            cache.close()
    return {e.spotify_id for e in entries.values()}


def test_refresh__sigkill_keeps_finished_batches_and_missing_resumes(
    run: Run, slow_catalog: list[str], spotify: SpotifyDouble, home: Path
) -> None:
    child = start_refresh("--all")
    try:
        wait_for(lambda: len(cached_albums(home)) >= 2, "two finished albums")
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert integrity(home / "jitspot.sqlite3") == "ok"
    assert integrity(home / "cache" / "cache.db") == "ok"
    finished = kept_albums(home, slow_catalog)
    assert len(finished) >= 2
    assert len(finished) < len(slow_catalog)  # it was killed mid-run
    [killed] = runs(home)
    assert killed["finished_at"] is None  # a run killed leaves no end time
    assert killed["started_at"]

    # The killed run's last request may still be in the double (it sleeps, then records
    # it): clear the records once nothing is in flight, so what follows is the next run's.
    wait_for(lambda: no_request_in_flight(spotify), "the double to answer the killed run")
    spotify.mode = "development"
    report = refresh_json(run, "--missing")
    again = albums_asked(spotify)
    assert finished.isdisjoint(again)  # nothing finished is fetched twice
    assert sorted(again) == sorted(set(slow_catalog) - finished)
    assert spotify.count("album") == len(slow_catalog) - len(finished)
    assert report["refreshed"] == len(again)
    assert report["up_to_date"] == len(finished)
    assert kept_albums(home, slow_catalog) == set(slow_catalog)
    assert [row["finished_at"] is not None for row in runs(home)] == [False, True]


def test_refresh__sigterm_prints_the_summary_and_exits_75(
    run: Run, slow_catalog: list[str], spotify: SpotifyDouble, home: Path
) -> None:
    child = start_refresh("--all")
    try:
        wait_for(lambda: len(cached_albums(home)) >= 1, "a finished album")
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 75, err
    assert "\x1b" not in out + err
    assert out.count("\n") == 1
    assert out.startswith("Refresh stopped (signal): 8 selected, ")
    assert "jitspot: stopping: finishing the requests in flight" in err
    assert "stopped by a signal; everything fetched is kept" in err
    [row] = runs(home)
    assert row["finished_at"] is not None
    assert int(row["status"]) == 75
    summary = json.loads(row["summary"])
    assert summary["stopped_reason"] == "signal"
    assert summary["left"] > 0
    kept = kept_albums(home, slow_catalog)
    assert summary["refreshed"] == len(kept) >= 1
    assert f"{len(kept)} refreshed" in out
    assert summary["refreshed"] + summary["left"] == len(slow_catalog)


def answered_ids(double: SpotifyDouble, endpoint: str) -> set[str]:
    """The ids the double answered (200) in batch calls of `endpoint`."""
    return {
        spotify_id
        for r in double.requests
        if r.endpoint == endpoint and r.status == 200
        for spotify_id in r.query["ids"].split(",")
    }


def kept_artists(home: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{home / 'jitspot.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT spotify_id FROM cache_index WHERE kind = 'artist'").fetchall()
    finally:
        conn.close()
    return {row[0] for row in rows}


def test_refresh__sigterm_keeps_every_answer_received(
    run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble, home: Path
) -> None:
    ids = spotify.populate(400, 200)  # 20 album batches, 4 artist batches
    rows = [
        [f"Artist {i % 200}", f"Album {i}", None, "LP", None, None, None, None, album_url(a)]
        for i, a in enumerate(ids)
    ]
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    spotify.delay(0.3, endpoints={"albums_batch"})  # a round of batches in flight at the signal
    child = subprocess.Popen(
        [sys.executable, "-m", "jitspot", "refresh", "--all", "--json"],
        env={**os.environ, "JITSPOT_CONCURRENCY": "4"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: spotify.count("artists_batch") >= 1, "a first round and its artists")
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    assert child.returncode == 75, err
    report = json.loads(out)
    assert report["stopped_reason"] == "signal"
    assert report["left"] > 0, (report, err)  # it did stop early

    answered = answered_ids(spotify, "albums_batch")
    assert kept_albums(home, ids) == answered
    assert report["refreshed"] == len(answered)
    assert kept_artists(home) == answered_ids(spotify, "artists_batch")


def test_refresh__ctrl_c_stops_like_sigterm(
    run: Run, slow_catalog: list[str], spotify: SpotifyDouble, home: Path
) -> None:
    child = start_refresh("--all", "--json")
    try:
        wait_for(lambda: len(cached_albums(home)) >= 1, "a finished album")
    finally:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 75, err
    report = json.loads(out)
    assert report["stopped_reason"] == "signal"
    assert report["refreshed"] == len(kept_albums(home, slow_catalog)) >= 1


def test_export__ctrl_c_exits_130_with_one_line(
    run: Run, slow_catalog: list[str], spotify: SpotifyDouble, home: Path
) -> None:
    """Typer would turn Ctrl-C into its own quiet exit; the error boundary reports it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "jitspot", "export", "-o", str(home.parent / "out.json")],
        env={**os.environ, "JITSPOT_CONCURRENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: spotify.count("album") >= 1, "a first album request")
    finally:
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == "jitspot: interrupted"
    assert "Traceback" not in err
    assert not (home.parent / "out.json").exists()  # no half-written export


@pytest.mark.parametrize("blank", [["--query", "  "], ["--artist", ""], ["--tab", " "]])
def test_refresh__a_filter_that_folds_to_nothing_chooses_nothing(
    run: Run, sheet: Ids, spotify: SpotifyDouble, blank: list[str]
) -> None:
    result = run("refresh", *blank)
    assert result.exit_code == 2  # not the whole catalog by accident
    assert "choose what to refresh" in result.stderr
    assert spotify.requests == []
