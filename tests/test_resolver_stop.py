"""Resolver.resolve with a Stop (deadline, signal), a failing progress display, stale artists.

Against the Spotify double on the fake clock: time moves only when jitspot
waits (the pacer's waits go through the Stop) or a slow answer is simulated,
so deadlines are exact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ALL_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

import pytest
from conftest import START, FakeClock, Processes
from spotify_double import SpotifyDouble

from jitspot.catalog import resolver as resolver_module
from jitspot.catalog.freshness import DAY, Need, Policy
from jitspot.catalog.resolver import Resolution, Resolver
from jitspot.errors import Stopped
from jitspot.model import cache_key
from jitspot.settings import Settings, load_settings
from jitspot.spotify.data import AlbumData, ArtistData
from jitspot.spotify.gateway import Gates, SpotifyGateway
from jitspot.spotify.quota import Share
from jitspot.stopping import Stop


def asked_albums(double: SpotifyDouble) -> list[list[str]]:
    return [r.query["ids"].split(",") for r in double.requests if r.endpoint == "albums_batch"]


class SlowAnswers(SpotifyGateway):
    """The real gateway on a network where an album batch takes 8 s (of fake time)."""

    def __init__(self, settings: Settings, gates: Gates, fake: FakeClock) -> None:
        super().__init__(settings, gates, clock=fake.now, sleep=fake.sleep)
        self.fake = fake

    def albums_batch(self, ids: Sequence[str]) -> dict[str, AlbumData | None]:
        found = super().albums_batch(ids)
        self.fake.advance(8)
        return found


def test_resolve__a_deadline_stops_the_run_between_batches(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock, home: Path
) -> None:
    ids = fake_spotify.populate(60, 3)  # 3 batches of 20, 8 s each
    settings = load_settings(home, overrides={"concurrency": 1})
    stop = Stop(clock=fake.now, sleep=fake.sleep, deadline=START + 20)
    resolver = processes.resolver(
        stop=stop, gateway_factory=lambda gates: SlowAnswers(settings, gates, fake), concurrency=1
    )
    result = resolver.resolve(ids, Policy.MISSING)

    # At START+16 a third batch would end at START+24: it is not started.
    assert isinstance(result.error, Stopped)
    assert result.error.reason == "max_time"
    assert stop.reason == "max_time"
    batches = asked_albums(fake_spotify)
    assert len(batches) == 2
    done = [i for batch in batches for i in batch]
    assert result.fetched == set(done)
    assert result.failed == {i: "stopped" for i in ids if i not in done}
    assert processes.cached_albums(ids) == set(done)  # finished batches are kept
    assert fake_spotify.count("artists_batch") == fake_spotify.count("artist") == 0
    sent = [r.time for r in fake_spotify.requests if r.endpoint != "token"]
    assert sent == [pytest.approx(START), pytest.approx(START + 8)]
    assert fake.now() == pytest.approx(START + 16)  # nothing ran past the deadline


def test_resolve__a_deadline_inside_a_pacing_wait_stops_without_the_call(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = fake_spotify.populate(60, 3)
    # The second batch would wait 10 s for its turn: past START+5, so it never goes.
    stop = Stop(clock=fake.now, sleep=fake.sleep, deadline=START + 5)
    result = processes.resolver(stop=stop, max_rate=0.1, concurrency=1).resolve(ids, Policy.MISSING)

    assert isinstance(result.error, Stopped)
    assert result.error.reason == "max_time"
    assert len(asked_albums(fake_spotify)) == 1
    assert len(result.fetched) == 20
    assert processes.cached_albums(ids) == result.fetched
    assert fake.now() <= START + 5  # the refused wait was not slept


def test_resolve__a_stop_requested_after_the_first_batch_keeps_it(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = fake_spotify.populate(60, 3)
    stop = Stop(clock=fake.now, sleep=fake.sleep)
    seen: list[tuple[str, int, int]] = []

    def progress(phase: str, done: int, total: int) -> None:
        seen.append((phase, done, total))
        if phase == "albums" and done > 0:
            stop.request("signal")  # as the SIGTERM handler does

    result = processes.resolver(stop=stop, concurrency=1).resolve(
        ids, Policy.MISSING, progress=progress
    )

    assert isinstance(result.error, Stopped)
    assert result.error.reason == "signal"
    batches = asked_albums(fake_spotify)
    assert len(batches) == 1
    assert result.fetched == set(batches[0])
    assert len(result.fetched) == 20
    assert processes.cached_albums(ids) == result.fetched
    assert set(result.failed) == set(ids) - result.fetched
    assert set(result.failed.values()) == {"stopped"}
    assert seen == [("albums", 0, 60), ("albums", 20, 60)]
    assert fake_spotify.count("artists_batch") == 0


def answered_albums(double: SpotifyDouble) -> set[str]:
    """The albums the double answered (200) in batch calls."""
    return {
        album_id
        for r in double.requests
        if r.endpoint == "albums_batch" and r.status == 200
        for album_id in r.query["ids"].split(",")
    }


def worst_order(
    futures: Iterable[Future[Any]], return_when: str
) -> tuple[list[Future[Any]], set[Any]]:
    """`wait`, at the worst timing: every worker's outcome lands in one wake-up, the
    stopped ones looked at first."""
    done, _ = wait(futures, return_when=ALL_COMPLETED)
    return sorted(done, key=lambda f: f.exception() is None), set()


def test_resolve__an_answer_that_lands_beside_a_stop_is_kept(
    fake_spotify: SpotifyDouble,
    processes: Processes,
    fake: FakeClock,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = fake_spotify.populate(60, 3)  # the probe batch alone, then two at once
    last_batch = ids[40:]
    stop = Stop(clock=fake.now, sleep=fake.sleep)
    second_answered = threading.Event()
    settings = load_settings(home, overrides={"concurrency": 2})

    class SignalWhileTheSecondIsAnswered(SpotifyGateway):
        """The second batch is answered; meanwhile SIGTERM comes and the third batch's
        worker, waiting for its turn, stops."""

        def albums_batch(self, batch: Sequence[str]) -> dict[str, AlbumData | None]:
            if list(batch) == last_batch:
                assert second_answered.wait(timeout=30)
                stop.request("signal")
                stop.check()
            found = super().albums_batch(batch)
            if list(batch) == ids[20:40]:
                second_answered.set()
            return found

    monkeypatch.setattr(resolver_module, "wait", worst_order)
    resolver = processes.resolver(
        stop=stop,
        gateway_factory=lambda gates: SignalWhileTheSecondIsAnswered(
            settings, gates, clock=fake.now, sleep=fake.sleep
        ),
        concurrency=2,
    )
    result = resolver.resolve(ids, Policy.MISSING)

    assert isinstance(result.error, Stopped)
    assert result.error.reason == "signal"
    answered = answered_albums(fake_spotify)
    assert answered == set(ids[:40])
    assert result.fetched == answered
    assert processes.cached_albums(ids) == answered  # every answer received is kept
    assert result.failed == dict.fromkeys(last_batch, "stopped")


class Killed(BaseException):
    """What kill -9 does to a run: nothing after it is written."""


class KilledAtBatch(SpotifyGateway):
    """The real gateway; the process dies when it sends its `at`-th album batch."""

    def __init__(self, settings: Settings, gates: Gates, fake: FakeClock, at: int) -> None:
        super().__init__(settings, gates, clock=fake.now, sleep=fake.sleep)
        self.at = at
        self.sent = 0

    def albums_batch(self, ids: Sequence[str]) -> dict[str, AlbumData | None]:
        self.sent += 1
        if self.sent == self.at:
            raise Killed
        return super().albums_batch(ids)


def cached_artists(processes: Processes, artist_ids: list[str]) -> set[str]:
    entries = processes.resolver().cache.get_many(cache_key("artist", a) for a in artist_ids)
    return {entry.spotify_id for entry in entries.values()}


def asked_artists(double: SpotifyDouble) -> list[str]:
    return [
        i
        for r in double.requests
        if r.endpoint == "artists_batch"
        for i in r.query["ids"].split(",")
    ]


def refresh_all(resolver: Resolver, ids: list[str], policy: Policy = Policy.ALL) -> Resolution:
    """What `refresh` asks of the resolver."""
    return resolver.resolve(ids, policy, need=Need.ALBUM, share=Share.BULK, artists=None)


def test_resolve__a_kill_mid_catalog_keeps_the_artists_of_the_batches_it_kept(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock, home: Path
) -> None:
    ids = fake_spotify.populate(200, 200)  # album i by artist i: 10 album batches, 4 artist ones
    artists = fake_spotify.artist_ids()
    settings = load_settings(home, overrides={"concurrency": 1})
    killed = processes.resolver(
        gateway_factory=lambda gates: KilledAtBatch(settings, gates, fake, at=6), concurrency=1
    )
    with pytest.raises(Killed):
        refresh_all(killed, ids)

    assert processes.cached_albums(ids) == set(ids[:100])
    # Their artists went along with them, in two full batches of 50.
    assert cached_artists(processes, artists) == set(artists[:100])

    # The next run asks only for what the kill lost.
    fake_spotify.reset()
    again = refresh_all(processes.resolver(concurrency=1), ids, Policy.MISSING)
    assert again.error is None
    assert fake_spotify.count("albums_batch") == 5
    assert fake_spotify.count("artists_batch") == 2
    assert sorted(asked_artists(fake_spotify)) == sorted(artists[100:])
    assert cached_artists(processes, artists) == set(artists)


def test_resolve__a_stop_while_artists_are_fetched_keeps_them_and_their_albums(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock, home: Path
) -> None:
    ids = fake_spotify.populate(200, 200)  # album i by artist i
    artists = fake_spotify.artist_ids()
    stop = Stop(clock=fake.now, sleep=fake.sleep)
    settings = load_settings(home, overrides={"concurrency": 4})

    class SignalWhileArtistsAreAnswered(SpotifyGateway):
        def artists_batch(self, batch: Sequence[str]) -> dict[str, ArtistData | None]:
            found = super().artists_batch(batch)
            stop.request("signal")  # SIGTERM while the answer comes back
            return found

    resolver = processes.resolver(
        stop=stop,
        gateway_factory=lambda gates: SignalWhileArtistsAreAnswered(
            settings, gates, clock=fake.now, sleep=fake.sleep
        ),
        concurrency=4,
    )
    result = refresh_all(resolver, ids)

    assert isinstance(result.error, Stopped)
    # The probe batch, a round of four, then the first of their two artist batches.
    assert answered_albums(fake_spotify) == set(ids[:100]) == processes.cached_albums(ids)
    assert asked_artists(fake_spotify) == artists[:50]
    assert cached_artists(processes, artists) == set(artists[:50]) == result.fetched_artists
    # The albums the stop left are left for the next run, not failed.
    assert result.failed == dict.fromkeys(ids[100:], "stopped")


def test_resolve__a_failing_progress_display_loses_nothing(
    fake_spotify: SpotifyDouble,
    processes: Processes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = fake_spotify.populate(45, 3)
    calls = 0

    def progress(phase: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the terminal went away")

    with caplog.at_level(logging.WARNING, logger="jitspot.catalog.resolver"):
        result = processes.resolver().resolve(ids, Policy.MISSING, progress=progress)

    assert result.error is None
    assert result.fetched == set(ids)
    assert result.failed == {}
    assert result.fetched_artists == set(fake_spotify.artist_ids())
    assert processes.cached_albums(ids) == set(ids)
    warnings = [r for r in caplog.records if "progress display failed" in r.getMessage()]
    assert warnings
    assert all(r.levelno == logging.WARNING for r in warnings)
    # Dropped after its first error in each phase: not called for every batch.
    assert calls == len(warnings) == 2  # albums, artists


def test_resolve__stale_artists_are_fetched_again_and_fresh_ones_are_not(
    fake_spotify: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = fake_spotify.populate(4, 4)  # album i by artist i
    artists = fake_spotify.artist_ids()
    old_albums, new_albums = ids[:2], ids[2:]
    old_artists, new_artists = artists[:2], artists[2:]

    assert processes.resolver().resolve(old_albums, Policy.MISSING).error is None
    fake.advance(10 * DAY)
    assert processes.resolver().resolve(new_albums, Policy.MISSING).error is None
    fake.advance(DAY)  # old: 11 days; new: 1 day
    assert fake_spotify.count("artists_batch") == 2
    before = len(fake_spotify.requests)

    stale = Policy(stale=True, max_age=5 * DAY)
    result = processes.resolver().resolve(ids, stale)

    assert result.error is None
    assert result.fetched == set(old_albums)
    assert result.fetched_artists == set(old_artists)
    later = fake_spotify.requests[before:]
    asked = [i for r in later if r.endpoint == "artists_batch" for i in r.query["ids"].split(",")]
    assert sorted(asked) == sorted(old_artists)
    assert not any(r.endpoint == "artist" for r in later)
    for artist_id in old_artists:
        assert result.entries[cache_key("artist", artist_id)].fetched_at == fake.now()
    for artist_id in new_artists:
        assert result.entries[cache_key("artist", artist_id)].fetched_at == START + 10 * DAY

    # Under Policy.MISSING (show, export) artists past their lifetime are not asked again.
    fake.advance(31 * DAY)
    calls = len(fake_spotify.requests)
    quiet = processes.resolver().resolve(ids, Policy.MISSING)
    assert quiet.fetched_artists == set()
    assert len(fake_spotify.requests) == calls
