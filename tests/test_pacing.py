"""Pacing: the rate controller (pure, fed with time and outcomes), the pacer, shared state.

Time is a fake clock: no threads are needed for the controller, nothing sleeps.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import START, FakeClock
from spotify_double import SpotifyDouble

from jitspot.errors import RateLimited
from jitspot.spotify.pacing import (
    BETA,
    CLIMB_SECONDS,
    DEFAULT_START_RATE,
    HOLD_MARGIN,
    MIN_RATE,
    PACING_NAME,
    WINDOW_SECONDS,
    Curve,
    Pacer,
    RateController,
    Report,
    merge_shared,
)
from jitspot.store import PacingState


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def send_for(controller: RateController, start: float, seconds: float) -> float:
    """Send as fast as the controller allows for `seconds`; returns the end time."""
    now = start
    while now < start + seconds:
        controller.sent(now)
        now += 1 / controller.allowed(now)
    return now


def pacer(clock: FakeClock, **kwargs: object) -> Pacer:
    return Pacer(clock=clock.now, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


# -- the controller: pure -----------------------------------------------------------------


def test_controller__starts_from_a_conservative_default() -> None:
    assert RateController(START).allowed(START) == DEFAULT_START_RATE


def test_controller__rate_rises_while_answers_come_back_without_429() -> None:
    controller = RateController(START)
    rates = []
    now = START
    for _ in range(5):
        now = send_for(controller, now, 2.0)
        rates.append(controller.allowed(now))
    assert rates == sorted(rates)
    assert rates[-1] > 4 * DEFAULT_START_RATE  # slow start: doubles every 2 s


def test_controller__an_unused_rate_does_not_grow_past_twice_what_is_sent() -> None:
    controller = RateController(START)
    now = START
    for step in range(60):  # one request a second for a minute
        now = START + step
        controller.sent(now)
    assert controller.curve.at(now) > 1000  # the curve alone would allow far more...
    assert controller.allowed(now) == DEFAULT_START_RATE  # ...but 1/s is sent: max(2 x 1, start)


def test_controller__a_short_429_cuts_the_rate_to_beta() -> None:
    controller = RateController(START, curve=Curve(low=6.0, cut_at=START, w_max=6.0))
    now = START
    for step in range(200):  # 5 requests/s for 40 s: measured rate and window agree
        now = START + step * 0.2
        controller.sent(now)
    before = controller.total(now)
    assert controller.throttled(now, sent_at=now - 0.1)
    after = controller.total(now)
    assert after < before
    w_max = controller.curve.w_max
    assert w_max == pytest.approx(5.0, rel=0.2)  # the rate that drew it
    assert w_max is not None
    assert after == pytest.approx(BETA * w_max)


def test_controller__climbs_back_to_the_rate_that_drew_the_429_in_one_window() -> None:
    controller = RateController(START, curve=Curve(low=7.0, cut_at=START, w_max=10.0))
    assert controller.curve.at(START) == pytest.approx(7.0)
    assert controller.curve.at(START + CLIMB_SECONDS / 2) < 10.0
    assert controller.curve.at(START + CLIMB_SECONDS) == pytest.approx(10.0)
    assert controller.curve.at(START + 2 * CLIMB_SECONDS) > 10.0  # then probes for more


def test_controller__a_429_on_a_request_sent_before_the_cut_cuts_nothing() -> None:
    controller = RateController(START)
    now = send_for(controller, START, 10.0)
    assert controller.throttled(now, sent_at=now - 0.2)
    after_first = controller.total(now)
    cut_once = controller.curve
    # Another worker's request, in flight when the first 429 came back.
    assert not controller.throttled(now + 0.1, sent_at=now - 0.1)
    assert controller.total(now + 0.1) >= after_first  # not cut a second time
    assert controller.curve == cut_once  # one cut, at the first 429


def test_controller__never_restarts_above_what_the_run_averaged() -> None:
    """A burst that filled a window: the cut goes to the run's average, not 0.7x the burst."""
    controller = RateController(START)
    now = send_for(controller, START, 7.0)  # slow start reached ~30/s
    average = controller.sending.in_window(now) / (now - START)  # over the 7 s it sent
    burst = controller.sending.measure(now)
    assert average < BETA * burst

    assert controller.throttled(now, sent_at=now)

    assert controller.total(now) == pytest.approx(average, rel=0.01)


def test_controller__a_full_30_seconds_counts_as_the_window() -> None:
    controller = RateController(START)
    now = START
    for step in range(300):  # 10/s for 30 s, then 20/s for a moment
        now = START + step / 10
        controller.sent(now)
    for _ in range(10):
        now += 1 / 20
        controller.sent(now)
    in_window = controller.sending.in_window(now)

    assert controller.throttled(now, sent_at=now)

    w_max = controller.curve.w_max
    assert w_max is not None
    assert controller.total(now) == pytest.approx(min(BETA * w_max, in_window / WINDOW_SECONDS))


def window_full_at(controller: RateController, count: int) -> float:
    """Send `count` requests evenly over 30 s, then one more a moment later."""
    now = START
    for step in range(count):
        now = START + step * WINDOW_SECONDS / count
        controller.sent(now)
    now += 0.05
    controller.sent(now)
    return now


def test_controller__a_window_filled_twice_at_one_count_is_held_not_probed() -> None:
    """Spotify's 30 s window: the same count filled it at both 429s, so it is the limit."""
    previous = Curve(low=2.0, cut_at=START - 60, w_max=3.5, cut_count=91)
    controller = RateController(START, curve=previous)
    now = window_full_at(controller, 90)

    assert controller.throttled(now, sent_at=now)

    curve = controller.curve
    held = HOLD_MARGIN * 90 / WINDOW_SECONDS  # what the window allowed, less a margin
    assert curve.held
    assert curve.w_max == pytest.approx(held)
    assert curve.at(now) == pytest.approx(BETA * held)
    assert curve.at(now + CLIMB_SECONDS) == pytest.approx(held)
    assert curve.at(now + CLIMB_SECONDS + WINDOW_SECONDS) == pytest.approx(held)  # held...
    assert curve.at(now + CLIMB_SECONDS + WINDOW_SECONDS + 20) > held  # ...then probes


def test_controller__a_window_filled_at_another_count_climbs_back_to_the_rate() -> None:
    """A shorter window binds: the rate that drew the 429 is the one to climb back to."""
    previous = Curve(low=2.0, cut_at=START - 60, w_max=3.5, cut_count=40)
    controller = RateController(START, curve=previous)
    now = window_full_at(controller, 90)
    measured = controller.sending.measure(now)  # the rate that drew the 429

    assert controller.throttled(now, sent_at=now)

    assert not controller.curve.held
    assert controller.curve.w_max == pytest.approx(measured)
    assert controller.curve.cut_count == 91


def test_controller__floor_is_half_a_request_per_second() -> None:
    controller = RateController(START, start_rate=0.6)
    now = START
    for step in range(5):
        controller.throttled(now + step, sent_at=now + step)
    assert controller.total(now + 5) == MIN_RATE


def test_controller__the_users_ceiling_wins() -> None:
    controller = RateController(START, ceiling=2.0)
    now = send_for(controller, START, 20.0)
    assert controller.allowed(now) == 2.0
    slow = RateController(START, ceiling=0.1)
    assert slow.allowed(START) == 0.1  # even below the floor: the user's word


def test_controller__peers_leave_this_process_what_they_do_not_send() -> None:
    from jitspot.spotify.pacing import Peers

    controller = RateController(START, curve=Curve(low=10.0, cut_at=START, w_max=10.0))
    controller.sending.rate = 5.0
    controller.peers = Peers(rate=8.0, in_window=0, count=1)
    assert controller.total(START) == pytest.approx(10.0)
    assert controller.allowed(START) == pytest.approx(5.0)  # an equal share at least
    controller.peers = Peers(rate=2.0, in_window=0, count=1)
    assert controller.allowed(START) == pytest.approx(8.0)  # what the other leaves over


# -- merge_shared: pure --------------------------------------------------------------------


def report(
    process: str, at: float, curve: Curve, *, rate: float = 1.0, cut: bool = False
) -> Report:
    return Report(process, at, rate, 0, curve, cut, 0.0)


def test_merge__the_latest_cut_wins_and_others_adopt_it() -> None:
    start = Curve(low=3.0, cut_at=START)
    doc = merge_shared(None, report("a", START, start))
    cut = Curve(low=2.0, cut_at=START + 5, w_max=4.0)
    doc = merge_shared(doc, report("b", START + 5, cut, cut=True))
    assert Curve.from_json(doc["curve"]) == cut
    # "a" did not cut: it reports its old curve and gets the shared one back.
    doc = merge_shared(doc, report("a", START + 5.5, start))
    assert Curve.from_json(doc["curve"]) == cut
    assert set(doc["senders"]) == {"a", "b"}


def test_merge__silent_processes_drop_out() -> None:
    curve = Curve(low=3.0, cut_at=START)
    doc = merge_shared(None, report("a", START, curve))
    doc = merge_shared(doc, report("b", START + 60, curve))
    assert set(doc["senders"]) == {"b"}


def test_merge__a_rate_that_held_a_whole_window_is_the_rate_that_works() -> None:
    curve = Curve(low=2.0, cut_at=START, w_max=4.0)
    doc = merge_shared(None, report("a", START + 10, curve, rate=3.5))
    assert doc["good_rate"] is None  # too soon after the cut to tell
    doc = merge_shared(doc, report("a", START + 31, curve, rate=3.5))
    assert doc["good_rate"] == 3.5


# -- the pacer: sleeps, pauses, stops ---------------------------------------------------------


def test_pacer__spaces_requests_at_the_rate(clock: FakeClock) -> None:
    p = pacer(clock, ceiling=2.0)
    times = [p.admit() for _ in range(7)]
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    assert all(g == pytest.approx(0.5) for g in gaps)


def test_pacer__never_sends_before_a_pause_ends(clock: FakeClock) -> None:
    p = pacer(clock)
    p.admit()
    p.pause(START + 7)
    assert p.admit() >= START + 7
    assert sum(clock.sleeps) >= 7.0
    p.pause(START + 2)  # a shorter pause never shortens a longer one
    assert p.admit() >= START + 7


def test_pacer__a_pause_allows_no_burst_after_it(clock: FakeClock) -> None:
    p = pacer(clock, ceiling=10.0)
    p.admit()
    p.pause(START + 5)
    first, second = p.admit(), p.admit()
    assert first >= START + 5
    assert second > first  # the bucket did not fill up while paused


def test_pacer__stop_makes_admit_raise_rate_limited_without_sleeping(clock: FakeClock) -> None:
    p = pacer(clock)
    p.admit()
    p.stop(START + 3600)
    p.stop(START + 60)  # the later of two stops wins
    assert p.stopped_until == START + 3600
    with pytest.raises(RateLimited) as raised:
        p.admit()
    assert raised.value.not_before.timestamp() == pytest.approx(START + 3600)
    assert clock.sleeps == []
    clock.advance(3601)
    p.admit()  # after it, requests may start again
    assert p.stopped_until is None


def test_pacer__a_stop_stops_every_worker(clock: FakeClock) -> None:
    p = pacer(clock)
    p.stop(START + 3600)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            p.admit()
        except RateLimited as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(errors) == 4


def test_pacer__a_429_lowers_the_rate(clock: FakeClock) -> None:
    p = pacer(clock)
    sent = [p.admit() for _ in range(20)]
    before = p.rate
    p.answered(sent[-1], throttled=True)
    assert p.rate < before


# -- shared through the store -------------------------------------------------------------------


def test_shared__a_new_process_starts_from_the_rate_that_last_worked(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "store.sqlite3"
    first = pacer(clock, shared=PacingState(path, PACING_NAME))
    now = START
    while now < START + 15:
        now = first.admit()
    sent = first.admit()
    first.answered(sent, throttled=True)  # learns a rate...
    while now < START + 80:
        now = first.admit()  # ...and holds it for more than a window
    learned = PacingState(path, PACING_NAME).read()
    assert learned is not None and learned["good_rate"] > DEFAULT_START_RATE

    clock.advance(3600)  # an hour later, another process
    second = pacer(clock, shared=PacingState(path, PACING_NAME))
    second.admit()
    assert second.rate == pytest.approx(learned["good_rate"], rel=0.05)
    assert second.rate > DEFAULT_START_RATE


def test_shared__a_cut_in_one_process_slows_the_other(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    one = pacer(clock, shared=PacingState(path, PACING_NAME))
    other = pacer(clock, shared=PacingState(path, PACING_NAME))
    now = START
    while now < START + 8:
        now = one.admit()
        other.admit()
    before = other.rate
    one.answered(one.admit(), throttled=True)
    clock.advance(1)
    other.admit()  # its next sync reads the cut
    assert other.rate < before


def test_shared__a_pause_in_one_process_holds_the_other(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    one = pacer(clock, shared=PacingState(path, PACING_NAME))
    other = pacer(clock, shared=PacingState(path, PACING_NAME))
    one.admit()
    other.admit()
    one.pause(START + 10)
    clock.advance(1)
    assert other.admit() >= START + 10


def test_shared__a_busy_store_never_fails_a_request(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    state = PacingState(path, PACING_NAME, wait=0.01)
    state.exchange(lambda doc: {})  # the store exists
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        p = pacer(clock, shared=state)
        p.admit()  # goes on with what it knows
        assert state.exchange(lambda doc: {}) is None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert state.exchange(lambda doc: {"ok": 1}) == {"ok": 1}


def test_shared__a_stop_in_one_process_stops_the_other(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    one = pacer(clock, shared=PacingState(path, PACING_NAME))
    other = pacer(clock, shared=PacingState(path, PACING_NAME))
    one.admit()
    other.admit()
    one.stop(START + 3600)  # a Retry-After past the cap
    clock.advance(1)  # past the other's next exchange
    with pytest.raises(RateLimited):
        other.admit()
    clock.advance(3600)
    assert other.admit() >= START + 3600  # and it ends


# -- two real processes against one limit -----------------------------------------------------

RESOLVE_IDS = """
import json, sys
from pathlib import Path
from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Policy
from jitspot.catalog.resolver import Resolver
from jitspot.settings import load_settings
from jitspot.store import open_store

settings = load_settings(Path(sys.argv[1]))
with open_store(settings.store_path) as store:
    cache = SpotifyCache(settings.cache_dir, store)
    resolver = Resolver(store, cache, settings)
    print("ready", flush=True)
    sys.stdin.readline()  # the start barrier: the test says go once both are ready
    result = resolver.resolve(json.loads(sys.argv[2]), Policy.MISSING)
    cache.close()
sys.exit(1 if result.error else 0)
"""


def test_shared__two_processes_share_one_budget(spotify: SpotifyDouble, home: Path) -> None:
    """Two jitspot processes at once stay together under a limit one of them would reach."""
    spotify.mode = "development"
    ids = spotify.populate(60, 2)
    spotify.rolling_limit(8, 1.0)  # 8 requests/s, Retry-After as the window implies
    env = {**os.environ, "JITSPOT_HOME": str(home)}
    halves = (ids[:30], ids[30:])
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RESOLVE_IDS, str(home), json.dumps(half)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for half in halves
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in children:  # both ready: released together
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err

    sent = [r for r in spotify.requests if r.endpoint in ("album", "artist", "albums_batch")]
    assert spotify.count("album", status=200) == 60
    # Both processes were sending at the same time (each one's share, not one after the other)...
    first = {r.path for r in sent if r.path.removeprefix("/v1/albums/") in ids[:30]}
    assert first and len(first) < len(sent)
    # ...their album requests interleave: each process began before the other had ended.
    times = [
        [r.time for r in sent if r.endpoint == "album" and r.path.rsplit("/", 1)[-1] in half]
        for half in halves
    ]
    starts, ends = [min(each) for each in times], [max(each) for each in times]
    assert max(starts) < min(ends)
    # ...and together they drew few 429s: without sharing, each spends the whole rate.
    assert spotify.count(status=429) <= 6
    state = PacingState(home / "jitspot.sqlite3", PACING_NAME).read()
    assert state is not None
    assert len(state["senders"]) <= 2
