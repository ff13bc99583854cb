"""The daily quota as a user meets it: refresh stops with exit 75 and says what is left and
when, dry runs count days, show still answers from the reserve, stats and the Prometheus
file show the quota, fields a development-mode app cannot get are said so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url
from spotify_double import SpotifyDouble

from jitspot.settings import load_settings
from jitspot.spotify.quota import ALBUMS_BATCH_FORBIDDEN_UNTIL, ARTISTS_BATCH_FORBIDDEN_UNTIL
from jitspot.store import open_store

Run = Callable[..., Result]
DAY = 86_400.0
ALBUMS = 40


@pytest.fixture
def catalog(
    run: Run,
    make_sheet: Callable[..., Path],
    spotify: SpotifyDouble,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> list[str]:
    """40 linked albums of a development-mode app that jitspot knows is one; a budget of 20."""
    spotify.mode = "development"
    ids = spotify.populate(ALBUMS, 4)
    rows = [
        [f"Artist {i % 4}", f"Album {i}", None, "LP", "Prog", None, None, None, album_url(a)]
        for i, a in enumerate(ids)
    ]
    assert run("import", str(make_sheet({"2024": rows}))).exit_code == 0
    with open_store(load_settings(home).store_path) as store:
        store.set_meta(ALBUMS_BATCH_FORBIDDEN_UNTIL, time.time() + DAY)
        store.set_meta(ARTISTS_BATCH_FORBIDDEN_UNTIL, time.time() + DAY)
    monkeypatch.setenv("JITSPOT_DAILY_QUOTA", "20")
    return ids


def refresh(run: Run, *args: str) -> tuple[Result, dict[str, Any]]:
    result = run("refresh", *args, "--json")
    return result, json.loads(result.stdout)


def test_refresh__stops_at_the_bulk_share_with_exit_75_and_says_when(
    run: Run, catalog: list[str], spotify: SpotifyDouble
) -> None:
    result, report = refresh(run, "--missing")

    assert result.exit_code == 75
    assert report["stopped_reason"] == "quota"
    assert report["rate_limited"] is False
    assert report["refreshed"] == 15 and report["left"] == ALBUMS - 15
    # Every album has a cover after the first run: with its metadata, or from oEmbed.
    assert report["covers"] == ALBUMS - 15
    assert run("stats", "--json").json()["albums"]["cover_cached"] == ALBUMS
    assert report["not_before"] is not None  # when bulk work may call again
    assert spotify.api_calls() == 15
    assert spotify.count("artist") == 0

    plain = run("refresh", "--missing")
    assert plain.exit_code == 75
    assert "Refresh stopped (daily quota)" in plain.stdout
    (line,) = [x for x in plain.stderr.splitlines() if x.startswith("jitspot: ")]
    assert "share for bulk work is used: 15 of 20 calls in the last 24 h" in line
    assert "5 kept for single-album look-ups" in line
    assert "the next call is free at" in line
    assert f"{ALBUMS - 15} albums left for a later run" in line
    assert spotify.api_calls() == 15  # foreseen: not one call, not one refusal


def test_show__answers_from_the_reserve_after_bulk_work_spent_its_share(
    run: Run, catalog: list[str], spotify: SpotifyDouble
) -> None:
    _, report = refresh(run, "--missing")
    waiting = catalog[-1]  # refresh goes in sheet order: the last one's metadata waits

    listed = json.loads(run("show", waiting, "--json").stdout)

    assert report["stopped_reason"] == "quota"
    assert listed["spotify"]["source"] == "api"
    assert listed["spotify"]["tracks"]
    assert spotify.quota_refusals == 0


def test_show__says_what_a_development_mode_app_cannot_get(
    run: Run, catalog: list[str], spotify: SpotifyDouble
) -> None:
    view = json.loads(run("show", catalog[0], "--json").stdout)
    assert view["spotify"]["label"] is None and view["spotify"]["popularity"] is None
    assert view["spotify"]["withheld"] == ["label", "popularity"]
    page = run("show", catalog[0]).stdout
    assert page.count("not available to development-mode apps") == 2


def test_show__cover_only_album_says_its_metadata_waits_for_the_quota(
    run: Run, catalog: list[str], spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(run, "--missing")
    monkeypatch.setenv("JITSPOT_DAILY_QUOTA", "15")  # the 15 calls made: nothing left at all
    view = json.loads(run("show", catalog[-1], "--json").stdout)
    assert view["cover_url"] is not None  # from oEmbed
    assert view["cover_note"].startswith("metadata waits for Spotify's daily quota: next call")


def test_refresh__artists_only_when_asked_in_development_mode(
    run: Run, catalog: list[str], spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_DAILY_QUOTA", "1000")
    assert refresh(run, "--year", "2024")[0].exit_code == 0
    assert spotify.count("artist") == 0
    assert refresh(run, "--year", "2024", "--artists")[1]["artists"] == 4
    assert spotify.count("artist") == 4


def test_refresh__dry_run_plans_in_days(
    run: Run, catalog: list[str], spotify: SpotifyDouble
) -> None:
    plan = run("refresh", "--missing", "--dry-run", "--json").json()
    assert spotify.requests == []
    assert plan["cover_calls"] == ALBUMS - 15  # the first 15 come with their metadata
    assert plan["quota_calls"] == ALBUMS
    assert plan["windows"] == 3  # 15 now, 15 tomorrow, 10 the day after
    quota = plan["quota"]
    assert (quota["budget"], quota["used"], quota["bulk_left"]) == (20, 0, 15)

    text = run("refresh", "--missing", "--dry-run").stderr
    assert "covers now via oEmbed: 25 calls in" in text
    assert "over 3 days at 15 calls a day" in text
    assert "Daily quota: 0 of 20 calls used in the last 24 h" in text


def test_match__dry_run_counts_the_windows_its_searches_take(
    run: Run,
    make_sheet: Callable[..., Path],
    spotify: SpotifyDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [[f"Band {i}", f"Record {i}", None, "LP"] for i in range(40)]
    assert run("import", str(make_sheet({"2024": rows}))).exit_code == 0
    monkeypatch.setenv("JITSPOT_DAILY_QUOTA", "20")
    plan = run("match", "--dry-run", "--json").json()
    assert plan["calls"] == 40 and plan["windows"] == 3
    assert "over 3 days at 15 calls a day" in run("match", "--dry-run").stderr


def test_export__of_many_albums_is_bulk_work_and_says_what_waits(
    run: Run, catalog: list[str], spotify: SpotifyDouble, home: Path
) -> None:
    out = home.parent / "catalog.json"
    result = run("export", "-o", str(out))
    assert result.exit_code == 0  # an export still succeeds with what it has
    views = json.loads(out.read_text())
    assert all(v["cover_url"] for v in views)
    assert sum(1 for v in views if v["spotify"]["source"] == "api") == 15
    assert f"{ALBUMS - 15} albums have their cover only: metadata waits" in result.stderr
    assert spotify.api_calls() == 15


def test_stats__shows_the_quota(run: Run, catalog: list[str], home: Path) -> None:
    refresh(run, "--missing")
    path = home.parent / "jitspot.prom"
    document = run("stats", "--json", "--prometheus", str(path)).json()
    quota = document["quota"]
    assert set(quota) >= {
        "window_seconds",
        "budget",
        "learned",
        "used",
        "reserve",
        "bulk_left",
        "interactive_left",
        "next_free_at",
        "exceeded_total",
    }
    assert (quota["window_seconds"], quota["budget"], quota["used"]) == (86_400, 20, 15)
    assert (quota["bulk_left"], quota["interactive_left"], quota["reserve"]) == (0, 5, 0.25)
    assert quota["next_free_at"] is not None and quota["learned"] is None
    assert quota["exceeded_total"] == 0
    text = path.read_text()
    assert "jitspot_quota_budget_calls 20.0" in text
    assert "jitspot_quota_used_calls 15.0" in text
    assert "jitspot_quota_exceeded_total 0.0" in text
    screen = run("stats").stdout
    assert "Daily quota (rolling 24 h)" in screen
    assert "15 (75% of the budget)" in screen


def test_serve__the_album_page_uses_the_reserve_after_bulk_work_spent_its_share(
    run: Run, catalog: list[str], spotify: SpotifyDouble, start_server: Callable[..., Any]
) -> None:
    refresh(run, "--missing")
    server = start_server()
    waiting = len(catalog)  # store id of the last row: its metadata waits

    tile = server.get(f"/api/albums/{waiting}/cover").json()
    page = server.get(f"/api/albums/{waiting}").json()

    assert tile["cover_state"] == "cached"  # from oEmbed, in the refresh: no call now
    assert page["spotify"]["source"] == "api" and page["spotify"]["tracks"]
    # The page's album and its artist (a single album shows Spotify's genres): the reserve.
    assert spotify.api_calls() == 15 + 2
    assert spotify.count("artist") == 1
    assert spotify.quota_refusals == 0


def test_serve__sync_fetches_the_new_covers_from_oembed_at_no_quota(
    run: Run,
    catalog: list[str],
    spotify: SpotifyDouble,
    make_sheet: Callable[..., Path],
    start_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new = spotify.populate(6, 1)
    rows = [
        [f"New {i}", f"Record {i}", None, "LP", None, None, None, None, album_url(a)]
        for i, a in enumerate(new)
    ]
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2025": rows}, name="new.xlsx")))
    server = start_server()
    spotify.reset()

    assert server.post("/api/sync").status_code == 202
    deadline = time.monotonic() + 30
    while (status := server.get("/api/sync").json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert status["state"] == "done" and status["done"] == status["total"] == 6
    assert spotify.api_calls() == 0  # not one call of the quota
    assert spotify.count("oembed") == 6


def test_stats__without_an_app_says_covers_need_no_quota(
    run: Run, make_sheet: Callable[..., Path], spotify_no_credentials: SpotifyDouble
) -> None:
    rows = [["Band", "Record", None, "LP"]]
    assert run("import", str(make_sheet({"2024": rows}))).exit_code == 0
    screen = run("stats").stdout
    assert "no Spotify app, covers come from oEmbed (no quota)" in screen
    assert run("stats", "--json").json()["quota"]["budget"] is None
