"""`jitspot stats`: exact counts after a scripted sequence, the screen, the Prometheus textfile."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, age_cached, album_url, store_tables
from prometheus_client.parser import text_string_to_metric_families
from spotify_double import SpotifyDouble

from jitspot.jobs.stats import Coverage, age_histogram, ago, api_figures, coverage, run_state
from jitspot.lock import Holder
from jitspot.model import CacheEntry, Kind, Status
from jitspot.settings import load_settings

Run = Callable[..., Result]
DAY = 86_400.0


@pytest.fixture
def catalog_ids(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble) -> list[str]:
    """Five linked albums (by two artists) and one without a link, imported."""
    ids = spotify.populate(5, 2)
    rows = [
        [f"Artist {i % 2}", f"Album {i}", None, "LP", None, None, None, None, album_url(a)]
        for i, a in enumerate(ids)
    ]
    rows.append(["Nobody", "No Link", None, "EP", None, None, None, None, None])
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    return ids


def stats_json(run: Run, *args: str) -> dict[str, Any]:
    result = run("stats", "--json", *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_stats__exact_counts_after_a_scripted_sequence(
    run: Run,
    catalog_ids: list[str],
    spotify: SpotifyDouble,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = catalog_ids
    assert run("show", "--id", "1").exit_code == 0  # Album 0: 1 miss: 1 album call + its artist
    assert run("export", "-o", str(home.parent / "a.json")).exit_code == 0  # 1 hit, 4 misses
    assert run("export", "-o", str(home.parent / "b.json")).exit_code == 0  # 5 hits
    age_cached(home, ids[:2], 40)  # past the 30-day lifetime: served stale
    assert run("export", "--offline").exit_code == 0  # offline: not counted
    assert run("show", "--id", "2").exit_code == 0  # Album 1: 1 hit, a stale one
    served_before_refresh = spotify.api_calls()

    spotify.rate_limit(1, times=1)  # one 429 (Retry-After 1 s), waited out
    spotify.fail_next(1, 503)  # one 5xx, retried after a backoff
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", "5")
    refreshed = run("refresh", "--all", "--json")
    assert refreshed.exit_code == 0, refreshed.stderr

    stats = stats_json(run)
    assert stats["cache"]["hits"] == 1 + 5 + 1
    assert stats["cache"]["misses"] == 1 + 4
    assert stats["cache"]["stale_hits"] == 1
    assert stats["cache"]["hit_rate"] == pytest.approx(7 / 12, abs=1e-4)
    assert stats["last_runs"]["show"] == {"hits": 1, "misses": 0, "stale_hits": 1, "hit_rate": 1.0}
    assert stats["last_runs"]["export"]["hits"] == 5  # the last online export
    # Every request the double served, 429 and 5xx included; tokens apart.
    api = stats["api"]
    assert api["calls"] == spotify.api_calls() > served_before_refresh
    served = {k: v for k, v in spotify.counts().items() if k not in ("token", "oembed")}
    assert api["by_endpoint"] == served
    assert api["token_requests"] == spotify.count("token")
    assert api["retries"] == 2
    assert api["rate_limited_responses"] == spotify.count(status=429) == 1
    assert spotify.count(status=503) == 1
    assert api["backoff_seconds"] >= 1.0  # the Retry-After, at least
    assert stats["saved"]["by_cache"] == 7
    # Batching: the export's 4 albums and the refresh's 5 in two batch calls; artists too.
    assert stats["saved"]["by_batching"] > 0
    assert stats["albums"] == {
        "total": 6,
        "with_spotify_link": 5,
        "cover_cached": 5,
        "metadata_cached": 5,
        "not_found": 0,
        "stale": 0,  # the refresh renewed them
        "never_fetched": 0,
        "matched": 0,
        "match_review": 0,
    }
    last = stats["last_refresh"]
    assert last["exit_code"] == 0
    assert last["refreshed"] == 5
    assert last["last_success_at"] == last["finished_at"]
    assert stats["last_import"]["rows"] == 6


def test_stats__is_read_only_two_runs_same_numbers(
    run: Run, catalog_ids: list[str], home: Path
) -> None:
    assert run("export", "-o", str(home.parent / "out.json")).exit_code == 0
    store_path = load_settings(home).store_path
    before = store_tables(store_path)
    first, second = stats_json(run), stats_json(run, "--by", "year")
    second.pop("by")
    first.pop("by")
    assert first == second
    assert store_tables(store_path) == before  # no counter, run or meta written
    assert first["cache"]["misses"] == 5
    assert first["last_runs"]["export"]["misses"] == 5


def test_stats__never_calls_spotify(
    run: Run, catalog_ids: list[str], spotify: SpotifyDouble
) -> None:
    before = len(spotify.requests)
    assert run("stats").exit_code == 0
    assert run("stats", "--by", "tab").exit_code == 0
    assert len(spotify.requests) == before


def test_stats__screen_is_plain_text_when_piped_and_fits_80_columns(
    run: Run, catalog_ids: list[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert run("export", "-o", str(home.parent / "out.json")).exit_code == 0
    result = run("stats", "--by", "year")
    assert result.exit_code == 0
    out = result.stdout
    assert "\x1b" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    for heading in ("Catalog", "By year", "Cache", "Age of cached entries", "Spotify API", "Runs"):
        assert heading in out
    assert "hit rate" in out
    assert "█" in out  # the freshness bars
    assert "last import" in out and "last refresh   never" in out


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_stats__a_refresh_running_now_says_running_since_with_its_pid(
    run: Run, catalog_ids: list[str], spotify: SpotifyDouble, tmp_path: Path
) -> None:
    # The refresh's album call is held by the double until the test lets it go.
    spotify.hold_until_concurrent(2, endpoints={"albums_batch"}, timeout=60)
    child = subprocess.Popen(
        [sys.executable, "-m", "jitspot", "refresh", "--all", "--json"],
        env={**os.environ, "JITSPOT_CONCURRENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: spotify.max_concurrent >= 1, "the refresh's album call")
        last = stats_json(run)["last_refresh"]
        screen = run("stats").stdout
        prom = tmp_path / "running.prom"
        assert run("stats", "--prometheus", str(prom)).exit_code == 0
        metrics = samples(prom.read_text())
    finally:
        spotify.reset()  # the held call goes on
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err

    assert last["state"] == "running"
    assert last["running"] is True
    assert last["pid"] == child.pid
    assert last["exit_code"] is None
    assert last["finished_at"] is None
    [line] = [line for line in screen.splitlines() if line.startswith("last refresh")]
    assert "running since " in line
    assert f"(pid {child.pid})" in line
    assert "did not end" not in screen
    # A running refresh has no exit code yet: no -1 sample an alert would take for a kill.
    assert metrics[("jitspot_refresh_running", ())] == 1
    assert ("jitspot_refresh_last_exit_code", ()) not in metrics

    ended = stats_json(run)["last_refresh"]
    assert (ended["state"], ended["running"], ended["pid"]) == ("finished", False, None)
    assert ended["exit_code"] == 0
    assert ended["refreshed"] == json.loads(out)["refreshed"] == 5


def test_stats__a_refresh_killed_says_it_did_not_end(
    run: Run, catalog_ids: list[str], spotify: SpotifyDouble, tmp_path: Path
) -> None:
    spotify.hold_until_concurrent(2, endpoints={"albums_batch"}, timeout=60)
    child = subprocess.Popen(
        [sys.executable, "-m", "jitspot", "refresh", "--all"],
        env={**os.environ, "JITSPOT_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: spotify.max_concurrent >= 1, "the refresh's album call")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        spotify.reset()

    last = stats_json(run)["last_refresh"]
    assert (last["state"], last["running"], last["pid"]) == ("did_not_end", False, None)
    assert last["exit_code"] is None
    assert "did not end (killed?)" in run("stats").stdout
    prom = tmp_path / "killed.prom"
    assert run("stats", "--prometheus", str(prom)).exit_code == 0
    metrics = samples(prom.read_text())
    assert metrics[("jitspot_refresh_running", ())] == 0
    assert metrics[("jitspot_refresh_last_exit_code", ())] == -1


def test_stats__by_tab_breaks_coverage_down(
    run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble
) -> None:
    ids = spotify.populate(3, 1)
    rows = {
        "2019": [["A", "One", None, "LP", None, None, None, None, album_url(ids[0])]],
        "2020": [
            ["B", "Two", None, "LP", None, None, None, None, album_url(ids[1])],
            ["C", "Three", None, "LP", None, None, None, None, None],
        ],
    }
    assert run("import", str(make_sheet(rows))).exit_code == 0
    assert run("show", "One").exit_code == 0
    groups = stats_json(run, "--by", "tab")["by"]["groups"]
    assert groups["2019"]["cover_cached"] == 1
    assert groups["2020"] == {
        "total": 2,
        "with_spotify_link": 1,
        "cover_cached": 0,
        "metadata_cached": 0,
        "not_found": 0,
        "stale": 0,
        "never_fetched": 1,
        "matched": 0,
        "match_review": 0,
    }


# -- the Prometheus textfile ---------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.timestamp is None  # no sample timestamps in a textfile
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_prometheus__textfile_parses_and_matches_stats(
    run: Run, catalog_ids: list[str], home: Path, spotify: SpotifyDouble
) -> None:
    assert run("export", "-o", str(home.parent / "out.json")).exit_code == 0
    assert run("refresh", "--missing").exit_code == 0
    path = home.parent / "metrics" / "jitspot.prom"
    path.parent.mkdir()
    document = stats_json(run, "--prometheus", str(path))
    found = samples(path.read_text())
    assert found[("jitspot_cache_misses_total", ())] == document["cache"]["misses"] == 5
    assert found[("jitspot_cache_hits_total", ())] == 0  # known series are written as 0
    assert found[("jitspot_albums", (("state", "cover_cached"),))] == 5
    assert found[("jitspot_albums", (("state", "never_fetched"),))] == 0
    assert found[("jitspot_api_requests_total", (("endpoint", "albums_batch"),))] == 1
    assert found[("jitspot_api_requests_total", (("endpoint", "oembed"),))] == 0
    total = sum(v for (name, _), v in found.items() if name == "jitspot_api_requests_total")
    assert total == spotify.api_calls()
    assert found[("jitspot_refresh_last_exit_code", ())] == 0
    assert found[("jitspot_refresh_last_success_timestamp_seconds", ())] > 1.7e9
    assert found[("jitspot_rate_limited_until_seconds", ())] == 0
    assert [p.name for p in path.parent.iterdir()] == ["jitspot.prom"]  # no temporary left


def test_prometheus__counts_search_entries_written_by_match(
    run: Run, catalog_ids: list[str], home: Path
) -> None:
    path = home.parent / "jitspot.prom"
    assert run("stats", "--prometheus", str(path)).exit_code == 0
    before = samples(path.read_text())
    assert before[("jitspot_cache_entries", (("kind", "search"),))] == 0  # known: written as 0
    assert before[("jitspot_api_requests_total", (("endpoint", "search"),))] == 0
    assert run("match").exit_code == 0  # "No Link" is searched: one search entry
    document = stats_json(run, "--prometheus", str(path))
    found = samples(path.read_text())
    assert document["cache"]["by_kind"]["search"] == 1
    assert found[("jitspot_cache_entries", (("kind", "search"),))] == 1
    assert found[("jitspot_api_requests_total", (("endpoint", "search"),))] == 1


def test_prometheus__replaced_by_rename_never_written_in_place(
    run: Run, catalog_ids: list[str], home: Path
) -> None:
    path = home.parent / "jitspot.prom"
    assert run("stats", "--prometheus", str(path)).exit_code == 0
    first = path.stat().st_ino
    reader = path.open()  # a collector that opened the old file keeps reading it whole
    assert run("stats", "--prometheus", str(path)).exit_code == 0
    assert path.stat().st_ino != first  # a new file renamed over the old one
    assert "jitspot_albums" in reader.read()
    reader.close()


def test_prometheus__refresh_writes_it_even_when_stopped_early(
    run: Run,
    catalog_ids: list[str],
    home: Path,
    spotify: SpotifyDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", "10")
    spotify.rate_limit(3600)  # past the cap: the run stops at once
    path = home.parent / "jitspot.prom"
    result = run("refresh", "--all", "--prometheus", str(path))
    assert result.exit_code == 75
    found = samples(path.read_text())
    assert found[("jitspot_refresh_last_exit_code", ())] == 75
    assert found[("jitspot_refresh_last_stopped", (("reason", "rate_limited"),))] == 1
    assert found[("jitspot_refresh_last_success_timestamp_seconds", ())] == 0
    assert found[("jitspot_rate_limited_until_seconds", ())] > 1.7e9


def test_prometheus__unwritable_path_fails_before_any_call(
    run: Run, catalog_ids: list[str], home: Path, spotify: SpotifyDouble
) -> None:
    result = run("refresh", "--all", "--prometheus", str(home.parent / "missing" / "x.prom"))
    assert result.exit_code == 1
    assert spotify.api_calls() == 0


def test_prometheus__passes_promtool_check_metrics(
    run: Run, catalog_ids: list[str], home: Path
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("JITSPOT_REQUIRE_PROMTOOL"):
            pytest.fail("promtool is required here (Debian's prometheus package)")
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    assert run("export", "-o", str(home.parent / "out.json")).exit_code == 0
    assert run("refresh", "--missing").exit_code == 0
    path = home.parent / "jitspot.prom"
    assert run("stats", "--prometheus", str(path)).exit_code == 0
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=path.read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == ""  # no lint warnings either


# -- pure pieces ---------------------------------------------------------------------------

NOW = 2_000_000_000.0


def test_age_histogram__bins_by_age() -> None:
    ages = [0.5, 2, 6.9, 7, 29, 31, 400]
    assert age_histogram((NOW - a * DAY for a in ages), NOW) == [
        ("< 1 d", 1),
        ("< 7 d", 2),
        ("< 30 d", 2),
        ("older", 2),
    ]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(5, "just now"), (60, "1 minute ago"), (3 * 3600 + 5, "3 hours ago"), (2 * DAY, "2 days ago")],
)
def test_ago__in_words(seconds: float, words: str) -> None:
    assert ago(NOW - seconds, NOW) == words


def test_ago__never() -> None:
    assert ago(None, NOW) == "never"


def test_api_figures__calls_by_endpoint_and_saved_by_batching() -> None:
    api = api_figures(
        {
            "api.calls.albums_batch": 2,
            "api.calls.album": 3,
            "api.calls.artists_batch": 1,
            "api.batch_items.albums_batch": 40,
            "api.batch_items.artists_batch": 30,
            "api.retries": 4,
            "cache.hits": 12,
        }
    )
    assert api.calls == 6
    assert api.by_endpoint == {"album": 3, "albums_batch": 2, "artists_batch": 1}
    assert api.saved_by_batching == (40 - 2) + (30 - 1)
    assert api.saved_by_cache == 12
    assert api.retries == 4


def test_coverage__one_state_per_album() -> None:
    from jitspot.catalog.freshness import Lifetimes
    from jitspot.model import StoredAlbum

    def album(n: int, spotify_id: str | None) -> StoredAlbum:
        return StoredAlbum(
            id=n, tab="2020", row_number=n, artist="A", title=f"T{n}", release_date=None,
            release_text=None, year=2020, kind="LP", genres=(), vocal_style=None,
            vocal_style_raw=None, location=None, links={}, sheet_spotify_id=spotify_id,
            spotify_link_invalid=False, match_id=None, match_score=None, match_state=None,
            removed=False,
        )  # fmt: skip

    def row(kind: Kind, spotify_id: str, status: Status, days: float, cover: bool) -> CacheEntry:
        return CacheEntry(
            kind, spotify_id, status, NOW - days * DAY,
            indexed_cover="https://i.scdn.co/x" if cover else None,
        )  # fmt: skip

    rows = [
        row("album", "fresh", "found", 1, True),
        row("album", "stale", "found", 40, True),
        row("oembed", "cover", "found", 1, True),
        row("album", "gone", "not_found", 1, False),
        row("album", "expired", "not_found", 10, False),
    ]
    index = {r.key: r for r in rows}
    albums = [
        album(i, s)
        for i, s in enumerate(["fresh", "stale", "cover", "gone", "expired", "new", None])
    ]
    result = coverage(albums, index, now=NOW, lifetimes=Lifetimes())
    assert result == Coverage(
        total=7,
        with_spotify_link=6,
        cover_cached=3,
        metadata_cached=2,
        not_found=1,
        stale=1,
        never_fetched=2,  # "new", and "expired" (its "not found" ran out)
    )


STARTED = "2027-01-15T08:00:00+00:00"
STARTED_AT = 1_800_000_000.0  # the same instant
REFRESH_HOLDS = Holder(4242, "refresh", STARTED_AT - 0.4)


@pytest.mark.parametrize(
    ("finished_at", "holder", "state"),
    [
        ("2027-01-15T09:00:00+00:00", None, "finished"),
        ("2027-01-15T09:00:00+00:00", REFRESH_HOLDS, "finished"),  # the next one runs
        (None, REFRESH_HOLDS, "running"),
        (None, None, "did_not_end"),  # nobody holds the lock: killed
        (None, Holder(4242, "cache prune", STARTED_AT - 0.4), "did_not_end"),
        (None, Holder(4242, "refresh", STARTED_AT + 60), "did_not_end"),  # a later refresh
    ],
)
def test_run_state__from_the_record_and_the_lock_holder(
    finished_at: str | None, holder: Holder | None, state: str
) -> None:
    assert run_state("refresh", STARTED, finished_at, holder) == state
