"""Resolver.resolve against the Spotify double over real HTTP, with injected (fake) time.

Cache first; albums in batches of 20 (or one by one when the app may not
batch, remembered for a day); artists for genres; "not found" kept for a
shorter time; a Retry-After past the cap stops every process until "not
before"; the request budget and the worker count are honoured.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

import pytest
from conftest import START, FakeClock, Processes
from spotify_double import Mode, SpotifyDouble

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.catalog import NEEDS_CREDENTIALS, Catalog
from jitspot.catalog.freshness import DAY, Policy
from jitspot.catalog.resolver import (
    ALBUMS_BATCH_FORBIDDEN_UNTIL,
    ARTISTS_BATCH_FORBIDDEN_UNTIL,
    NO_GENRES_UNTIL,
    NOT_BEFORE,
    Resolver,
)
from jitspot.errors import JitspotError, RateLimited
from jitspot.model import cache_key
from jitspot.settings import load_settings
from jitspot.sheets.importer import import_source
from jitspot.spotify.gateway import Gates, SpotifyGateway
from jitspot.spotify.pacing import PACING_NAME
from jitspot.store import PacingState, open_store

HEADER = (
    "Artist,Album,Release Date,Length,Genre / Subgenres,Vocal Style,Country / State,"
    "Bandcamp,Spotify,YouTube,Amazon"
)


def never_built(*_: object) -> NoReturn:
    """The gateway factory of a resolver that must not even build one (no token file, no spotipy)."""
    raise AssertionError("the resolver built a gateway")


def batch_sizes(double: SpotifyDouble, endpoint: str) -> list[int]:
    return [len(r.query["ids"].split(",")) for r in double.requests if r.endpoint == endpoint]


def write_csv(path: Path, double: SpotifyDouble, album_ids: list[str]) -> Path:
    lines = [HEADER]
    for index, album_id in enumerate(album_ids):
        lines.append(
            f"Band {index},Record {index},2020-01-0{index % 9 + 1},LP,Prog,Clean,Norway,,"
            f"https://open.spotify.com/album/{album_id}?si=x,,"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- extended quota: batches ------------------------------------------------------------------


def test_resolve__extended_mode_uses_batches_of_20(
    spotify: SpotifyDouble, processes: Processes
) -> None:
    ids = spotify.populate(45, 7)
    result = processes.resolver().resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.failed == {}
    assert result.fetched == set(ids)
    assert spotify.counts() == {"token": 1, "albums_batch": math.ceil(45 / 20), "artists_batch": 1}
    sizes = batch_sizes(spotify, "albums_batch")
    assert sizes[0] == 20  # the first batch goes alone; the others in parallel, any order
    assert sorted(sizes) == [5, 20, 20]
    asked = [
        i
        for r in spotify.requests
        if r.endpoint == "albums_batch"
        for i in r.query["ids"].split(",")
    ]
    assert sorted(asked) == sorted(ids)  # each album asked once
    assert batch_sizes(spotify, "artists_batch") == [7]
    assert spotify.tokens_issued == 1
    assert result.api_calls == 4
    for album_id in ids:
        entry = result.entries[cache_key("album", album_id)]
        assert entry.found
        assert entry.data is not None
        assert entry.data["label"] is not None
        assert entry.data["popularity"] is not None
    artist_entries = [e for e in result.entries.values() if e.kind == "artist"]
    assert len(artist_entries) == 7
    assert all(e.data and e.data["genres"] for e in artist_entries)


@pytest.mark.parametrize("mode", ["extended", "development"])
def test_resolve__albums_past_50_tracks_fetch_every_extra_page(
    spotify: SpotifyDouble, processes: Processes, mode: Mode
) -> None:
    spotify.mode = mode
    ids = spotify.populate(4, 2, long_albums=2, long_tracks=120)  # 50 + 50 + 20: 2 extra pages
    result = processes.resolver().resolve(ids, Policy.MISSING)

    assert result.error is None
    assert spotify.count("album_tracks") == 2 * 2
    for index, album_id in enumerate(ids):
        entry = result.entries[cache_key("album", album_id)]
        assert entry.data is not None
        tracks = entry.data["tracks"]
        expected = 120 if index < 2 else 10
        assert [t["number"] for t in tracks] == list(range(1, expected + 1))
        assert entry.data["total_tracks"] == expected


# -- development mode: one by one, remembered ------------------------------------------------


def test_resolve__development_mode_probes_one_batch_then_fetches_one_by_one(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    spotify.mode = "development"
    ids = spotify.populate(6, 3)
    resolver = processes.resolver()
    result = resolver.resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    assert spotify.count("albums_batch") == 1
    assert spotify.count("albums_batch", status=403) == 1
    assert spotify.count("album") == 6
    assert spotify.count("artists_batch") == 0  # forbidden too: not even probed
    assert spotify.count("artist") == 3
    assert spotify.count(status=403) == 1
    # The batch probe comes first, alone.
    api = [r.endpoint for r in spotify.requests if r.endpoint != "token"]
    assert api[0] == "albums_batch"
    # Fields a development-mode app does not get are None, not guessed.
    cache = SpotifyCache(resolver.settings.cache_dir, resolver.store)
    cached = cache.get_many(cache_key("album", i) for i in ids)
    cache.close()
    assert len(cached) == 6
    for entry in cached.values():
        assert entry.data is not None
        assert entry.data["label"] is None
        assert entry.data["popularity"] is None
        assert entry.data["tracks"]
    # The 403 is remembered in the store for a day, for albums and artists.
    assert resolver.store.get_meta(ALBUMS_BATCH_FORBIDDEN_UNTIL) == pytest.approx(START + DAY)
    assert resolver.store.get_meta(ARTISTS_BATCH_FORBIDDEN_UNTIL) == pytest.approx(START + DAY)


def test_resolve__development_mode_403_is_remembered_by_the_next_process(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    spotify.mode = "development"
    first_ids = spotify.populate(5, 2)
    processes.resolver().resolve(first_ids, Policy.MISSING)
    assert spotify.count("albums_batch") == 1

    fake.advance(DAY - 60)
    new_ids = [
        spotify.add_album(f"New {i}", [spotify.add_artist(f"Newcomer {i}")]) for i in range(4)
    ]
    before = spotify.counts()
    result = processes.resolver().resolve(new_ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(new_ids)
    after = spotify.counts()
    assert after.get("albums_batch", 0) == before["albums_batch"]  # no new probe
    assert after.get("artists_batch", 0) == 0
    assert after["album"] - before["album"] == 4
    assert after["artist"] - before["artist"] == 4

    # A day later the app may have been granted extended quota: probe once again.
    fake.advance(120)
    more = spotify.populate(3, 1)
    processes.resolver().resolve(more, Policy.MISSING)
    assert spotify.count("albums_batch") == before["albums_batch"] + 1


def test_resolve__no_artist_genres_stops_artist_calls_and_is_remembered(
    spotify: SpotifyDouble, processes: Processes
) -> None:
    spotify.mode = "development"
    spotify.artist_genres = False
    ids = spotify.populate(6, 6)
    resolver = processes.resolver()
    result = resolver.resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    assert spotify.count("artist") == 1  # one probe tells: no genres for this app
    assert resolver.store.get_meta(NO_GENRES_UNTIL) == pytest.approx(START + DAY)

    more = spotify.populate(3, 3)
    result = processes.resolver().resolve(more, Policy.MISSING)
    assert result.fetched == set(more)
    assert spotify.count("artist") == 1
    assert spotify.count("artists_batch") == 0


def test_resolve__extended_mode_without_genres_is_remembered_too(
    spotify: SpotifyDouble, processes: Processes
) -> None:
    spotify.artist_genres = False
    ids = spotify.populate(6, 6)
    processes.resolver().resolve(ids, Policy.MISSING)
    assert spotify.count("artists_batch") == 1
    more = spotify.populate(3, 3)
    processes.resolver().resolve(more, Policy.MISSING)
    assert spotify.count("artists_batch") == 1
    assert spotify.count("artist") == 0


# -- not found ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "answer"), [("extended", "null in the batch"), ("development", "404")]
)
def test_resolve__not_found_is_cached_with_the_shorter_lifetime(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock, mode: Mode, answer: str
) -> None:
    spotify.mode = mode
    ids = spotify.populate(5, 2)
    missing = ids[2]
    spotify.not_found(missing)
    result = processes.resolver(not_found_ttl_days=2).resolve(ids, Policy.MISSING)

    assert result.error is None
    entry = result.entries[cache_key("album", missing)]
    assert entry.status == "not_found"
    assert entry.data is None
    assert missing not in result.failed
    found = [result.entries[cache_key("album", i)] for i in ids if i != missing]
    assert all(e.status == "found" for e in found)
    calls = spotify.api_calls()

    # Still believed just before `not_found_ttl_days`: no call at all.
    fake.advance(2 * DAY - 60)
    warm = processes.resolver(not_found_ttl_days=2).resolve(ids, Policy.MISSING)
    assert warm.entries[cache_key("album", missing)].status == "not_found"
    assert spotify.api_calls() == calls

    # Past it, only that album is asked again (found albums live 30 days).
    fake.advance(120)
    again = processes.resolver(not_found_ttl_days=2).resolve(ids, Policy.MISSING)
    assert again.fetched == {missing}
    assert spotify.api_calls() == calls + 1
    assert spotify.requests[-1].path.endswith(missing)
    assert again.entries[cache_key("album", missing)].fetched_at == pytest.approx(fake.now())


# -- warm cache -------------------------------------------------------------------------------


def test_resolve__warm_cache_makes_no_call_and_no_token_request_even_after_restart(
    spotify: SpotifyDouble, processes: Processes
) -> None:
    ids = spotify.populate(25, 4)
    resolver = processes.resolver()
    cold = resolver.resolve(ids, Policy.MISSING)
    assert cold.misses == 25
    requests = len(spotify.requests)
    assert spotify.tokens_issued == 1

    warm = resolver.resolve(ids, Policy.MISSING)
    assert len(spotify.requests) == requests
    assert warm.api_calls == 0
    assert warm.fetched == set()
    assert (warm.hits, warm.misses) == (25, 0)

    # "Restart": close everything and open the store and cache again.
    processes.close(resolver)
    restarted = processes.resolver(gateway_factory=never_built)
    again = restarted.resolve(ids, Policy.MISSING)
    assert len(spotify.requests) == requests
    assert spotify.tokens_issued == 1
    assert (again.hits, again.misses) == (25, 0)
    assert again.entries == cold.entries


# -- without credentials: oEmbed covers --------------------------------------------------------


def test_resolve__without_credentials_covers_come_from_oembed(
    spotify_no_credentials: SpotifyDouble, home: Path, tmp_path: Path, fake: FakeClock
) -> None:
    double = spotify_no_credentials
    ids = double.populate(3, 2)
    settings = load_settings(home)
    assert not settings.has_credentials
    with open_store(settings.store_path) as store:
        import_source(store, settings, str(write_csv(tmp_path / "sheet.csv", double, ids)))
        catalog = Catalog(store, settings, clock=fake.now)
        try:
            albums = store.albums()
            views = catalog.views(albums, offline=False)
            assert double.count("oembed") == 3
            assert double.count("token") == 0
            assert double.tokens_issued == 0
            assert double.api_calls() == 0
            for view in views:
                assert view["spotify_id"] is not None
                thumbnail = double.album_json(view["spotify_id"])["images"][1]["url"]
                assert view["cover_url"] == thumbnail
                assert view["cover_state"] == "fetched"
                assert view["cover_note"] == NEEDS_CREDENTIALS
                assert "credentials" in view["cover_note"]
                assert view["spotify"] is not None
                assert view["spotify"]["tracks"] is None
            # Cached like the rest: a second look makes no call.
            again = catalog.views(albums, offline=False)
            assert double.count("oembed") == 3
            assert [v["cover_state"] for v in again] == ["cached"] * 3
            assert [v["cover_url"] for v in again] == [v["cover_url"] for v in views]
        finally:
            catalog.close()


def test_resolve__without_credentials_one_oembed_call_per_album_and_404_is_not_found(
    spotify_no_credentials: SpotifyDouble, processes: Processes
) -> None:
    double = spotify_no_credentials
    ids = double.populate(4, 1)
    double.not_found(ids[0])
    result = processes.resolver().resolve(ids, Policy.MISSING)
    assert result.error is None
    assert double.counts() == {"oembed": 4}
    assert result.entries[cache_key("oembed", ids[0])].status == "not_found"
    assert all(result.entries[cache_key("oembed", i)].found for i in ids[1:])
    assert {r.query["url"] for r in double.requests} == {
        f"https://open.spotify.com/album/{i}" for i in ids
    }


# -- rate limits past the cap: shared "not before" -------------------------------------------


def test_resolve__retry_after_past_the_cap_stops_every_process_until_not_before(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = spotify.populate(30, 3)
    spotify.rate_limit(3600, times=1)
    first = processes.resolver(max_retry_after=60)
    result = first.resolve(ids, Policy.MISSING)

    assert isinstance(result.error, RateLimited)
    assert result.error.exit_code == 75
    assert result.error.not_before.timestamp() == pytest.approx(START + 3600, abs=1)
    assert result.rate_limited_until == pytest.approx(START + 3600, abs=1)
    # No Web API call after the 429; the covers came from oEmbed (no quota, its own limits).
    assert spotify.counts() == {"token": 1, "albums_batch": 1, "oembed": 30}
    assert spotify.count(status=429) == 1
    # An hour is past the cap: never waited (only oEmbed's pacing, a fraction of a second).
    assert max(fake.sleeps, default=0) < 1
    assert result.failed == dict.fromkeys(ids, "rate_limited")
    assert result.fetched_covers == set(ids)
    assert first.store.get_meta(NOT_BEFORE) == pytest.approx(START + 3600, abs=1)
    assert first.store.counters()["api.rate_limited_responses"] == 1

    # Another process on the same home: no Web API call, the albums' metadata waits.
    second = processes.resolver()
    fake.advance(1800)
    blocked = second.resolve(ids, Policy.MISSING)
    assert spotify.api_calls() == 1
    assert isinstance(blocked.error, RateLimited)
    assert blocked.error.not_before.timestamp() == pytest.approx(START + 3600, abs=1)
    assert blocked.failed == dict.fromkeys(ids, "rate_limited")
    assert blocked.fetched == set()  # the covers are cached: nothing asked of oEmbed either
    assert spotify.count("oembed") == 30

    # Once the clock is past "not before", calls resume.
    fake.advance(1801)
    resumed = processes.resolver().resolve(ids, Policy.MISSING)
    assert resumed.error is None
    assert resumed.fetched == set(ids)
    assert spotify.count("albums_batch") == 1 + 2


def test_resolve__not_before_in_the_store_blocks_every_web_api_call_and_is_kept(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = spotify.populate(3, 1)
    resolver = processes.resolver()
    resolver.store.set_meta(NOT_BEFORE, START + 600)
    result = resolver.resolve(ids, Policy.MISSING)
    assert spotify.api_calls() == 0
    assert spotify.counts() == {"oembed": 3}  # covers still come, from oEmbed
    assert result.failed == dict.fromkeys(ids, "rate_limited")
    # An earlier "not before" never replaces a later one.
    assert resolver.store.get_meta(NOT_BEFORE) == START + 600


def test_resolve__the_same_resolver_resumes_after_not_before(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = spotify.populate(3, 1)
    spotify.rate_limit(3600, times=1)
    resolver = processes.resolver()
    assert isinstance(resolver.resolve(ids, Policy.MISSING).error, RateLimited)
    fake.advance(3601)
    result = resolver.resolve(ids, Policy.MISSING)
    assert result.error is None
    assert result.fetched == set(ids)


def test_show__a_rate_limit_recorded_by_one_process_stops_a_real_subprocess(
    spotify: SpotifyDouble, home: Path, tmp_path: Path
) -> None:
    ids = spotify.populate(2, 1)
    fake = FakeClock(start=time.time())  # the subprocess runs on real time
    settings = load_settings(home)
    with open_store(settings.store_path) as store:
        import_source(store, settings, str(write_csv(tmp_path / "sheet.csv", spotify, ids)))
        cache = SpotifyCache(settings.cache_dir, store)
        resolver = Resolver(store, cache, settings, clock=fake.now, sleep=fake.sleep)
        spotify.rate_limit(3600, times=1)
        first = resolver.resolve([ids[0]], Policy.MISSING)
        cache.close()
        assert isinstance(first.error, RateLimited)
        assert store.get_meta(NOT_BEFORE) == pytest.approx(fake.now() + 3600, abs=1)
    calls = spotify.api_calls()

    def show(album_id: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jitspot", "show", album_id, "--json"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    blocked = show(ids[1])
    assert blocked.returncode == 0, blocked.stderr  # show still succeeds, and says why
    view = json.loads(blocked.stdout)
    # Not one Web API request from the other process; its cover came from oEmbed.
    assert spotify.api_calls() == calls
    assert view["spotify"]["source"] == "oembed"
    assert view["cover_url"] is not None
    assert view["cover_note"].startswith("metadata waits: rate-limited until")

    # Control: without the remembered "not before" (in the store's meta and in the
    # shared pacing state) the same command does call Spotify.
    with open_store(settings.store_path) as store, store.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (NOT_BEFORE,))
    PacingState(settings.store_path, PACING_NAME).exchange(lambda doc: {})
    fetched = show(ids[1])
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)["cover_state"] == "fetched"
    fetched_paths = [r.path for r in spotify.requests if r.endpoint == "album" and r.status == 200]
    assert fetched_paths == [f"/v1/albums/{ids[1]}"]


# -- pacing and concurrency ----------------------------------------------------------------


def test_resolve__request_budget_holds_in_every_30_second_window(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    double = fake_spotify
    double.mode = "development"
    ids = double.populate(12, 1)
    # One worker: each request reaches the double at the (fake) time it was sent.
    resolver = processes.resolver(requests_per_window=5, concurrency=1)
    result = resolver.resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    assert double.count("album") == 12
    assert double.count(status=429) == 0
    sent = [r.time for r in double.requests if r.endpoint != "token"]
    assert len(sent) == double.api_calls() == 14  # 1 batch probe + 12 albums + 1 artist
    assert sent == sorted(sent)
    for earlier, later in zip(sent, sent[5:], strict=False):
        assert later - earlier >= 30, sent
    assert sent[-1] - sent[0] >= 60
    assert all(s > 0 for s in fake.sleeps)


def test_resolve__stays_below_a_rolling_limit_above_its_budget(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    double = fake_spotify
    double.mode = "development"
    double.rolling_limit(6, 30)
    ids = double.populate(15, 1)
    # One worker: the double notes arrivals on the fake clock, which other workers'
    # sleeps would move while a request is in flight.
    result = processes.resolver(requests_per_window=5, concurrency=1).resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    assert double.count(status=429) == 0
    times = [r.time for r in double.requests if r.endpoint != "token"]
    assert len(times) == 17  # probe + 15 albums + 1 artist
    assert all(later - earlier >= 30 for earlier, later in zip(times, times[5:], strict=False))


def test_resolve__never_more_requests_in_flight_than_concurrency(
    spotify_no_credentials: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    spotify = spotify_no_credentials
    spotify.delay(0.05, endpoints={"oembed"})
    # The first oEmbed call waits for a second one: the workers overlap whatever the timing.
    spotify.hold_until_concurrent(2, endpoints={"oembed"})
    ids = spotify.populate(10, 1)
    result = processes.resolver(concurrency=2).resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    assert spotify.count("oembed") == 10
    assert spotify.max_concurrent == 2


def test_resolve__keeps_a_connection_per_worker_however_many_workers(
    spotify_no_credentials: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    """A worker past the HTTP pool's size would open (and, for Spotify, handshake) a new
    connection for every request."""
    spotify = spotify_no_credentials
    workers = 12  # more than requests' default pool of 10 connections per host
    spotify.delay(0.05, endpoints={"oembed"})  # the workers stay busy side by side
    spotify.hold_until_concurrent(workers, endpoints={"oembed"})  # all of them at once
    ids = spotify.populate(workers * 3, 1)
    result = processes.resolver(concurrency=workers).resolve(ids, Policy.MISSING)

    assert result.fetched == set(ids)
    assert spotify.max_concurrent == workers
    assert spotify.connections_opened == workers


def test_resolve__a_development_mode_apps_web_api_calls_go_one_at_a_time(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    """Its daily quota bounds what a day fetches, and calls in flight together past the
    quota's end would each draw a refusal: one at a time, the end draws one."""
    spotify.mode = "development"
    spotify.delay(0.05, endpoints={"album"})
    ids = spotify.populate(8, 1)
    resolver = processes.resolver(concurrency=4)
    resolver.store.set_meta(ALBUMS_BATCH_FORBIDDEN_UNTIL, START + DAY)
    result = resolver.resolve(ids, Policy.MISSING, artists=False)

    assert result.fetched_api == set(ids)
    assert spotify.max_concurrent == 1


def test_resolve__all_workers_share_one_gateway_one_token_and_one_budget(
    spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    spotify.mode = "development"
    ids = spotify.populate(8, 1)
    built_on: list[int] = []  # the threads that built a gateway
    settings = load_settings(processes.home)

    def factory(gates: Gates) -> SpotifyGateway:
        built_on.append(threading.get_ident())
        return SpotifyGateway(settings, gates, clock=fake.now, sleep=fake.sleep)

    resolver = processes.resolver(gateway_factory=factory, concurrency=4)
    # A later run of a development-mode app: no batch probe, albums one by one at once.
    resolver.store.set_meta(ALBUMS_BATCH_FORBIDDEN_UNTIL, START + DAY)
    resolver.store.set_meta(ARTISTS_BATCH_FORBIDDEN_UNTIL, START + DAY)
    result = resolver.resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    # Built once, by the caller before any worker starts: one gate, one budget for all.
    assert built_on == [threading.get_ident()]
    assert spotify.tokens_issued == 1
    assert resolver.store.counters()["api.calls.album"] == spotify.count("album") == 8
    assert result.api_calls == spotify.api_calls()


def test_resolve__403_on_single_album_calls_fails_the_albums_instead_of_raising(
    spotify: SpotifyDouble, processes: Processes
) -> None:
    spotify.mode = "development"
    ids = spotify.populate(3, 1)
    spotify.fail_every(1, 403, endpoints={"album"})  # e.g. the app owner lost Premium
    result = processes.resolver().resolve(ids, Policy.MISSING)
    assert isinstance(result.error, JitspotError)
    assert set(result.failed) == set(ids)
    assert result.fetched == set()


def test_resolve__rate_limit_while_fetching_artists_fails_no_album(
    spotify: SpotifyDouble, processes: Processes
) -> None:
    ids = spotify.populate(3, 3)
    spotify.rate_limit(3600, endpoints={"artists_batch"})
    result = processes.resolver().resolve(ids, Policy.MISSING)
    assert isinstance(result.error, RateLimited)  # still reported, and remembered
    assert result.fetched == set(ids)  # every album was fetched before the 429
    assert not set(result.failed) & set(spotify.artist_ids())
    assert result.failed == {}
