"""The Gate: a rolling request budget shared by the workers, pauses and stops. Pure, fake time."""

from __future__ import annotations

import threading

import pytest
from conftest import START, FakeClock

from jitspot.errors import RateLimited
from jitspot.pacing import WINDOW_SECONDS, Gate


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def gate(clock: FakeClock, budget: int, window: float = WINDOW_SECONDS) -> Gate:
    return Gate(budget, clock=clock.now, sleep=clock.sleep, window=window)


def admit_at(g: Gate, clock: FakeClock) -> float:
    """Admit one request and say when (fake time) it was let through."""
    g.admit()
    return clock.now()


def test_gate__window_is_30_seconds_by_default() -> None:
    assert WINDOW_SECONDS == 30.0


def test_gate__admits_the_budget_at_once_without_sleeping(clock: FakeClock) -> None:
    g = gate(clock, budget=5)
    times = [admit_at(g, clock) for _ in range(5)]
    assert times == [START] * 5
    assert clock.sleeps == []
    assert g.waited_seconds == 0


def test_gate__next_request_waits_exactly_until_the_oldest_leaves_the_window(
    clock: FakeClock,
) -> None:
    g = gate(clock, budget=3)
    first = admit_at(g, clock)
    clock.advance(10)
    admit_at(g, clock)
    clock.advance(10)
    admit_at(g, clock)  # three in the window: 0, 10, 20
    fourth = admit_at(g, clock)
    assert clock.sleeps == [10.0]  # from t=20 until the request of t=0 is 30 s old
    assert fourth == first + 30
    fifth = admit_at(g, clock)
    assert clock.sleeps == [10.0, 10.0]  # then until the request of t=10 leaves
    assert fifth == first + 40
    assert g.waited_seconds == 20.0


def test_gate__no_window_ever_holds_more_than_the_budget(clock: FakeClock) -> None:
    g = gate(clock, budget=4)
    times = [admit_at(g, clock) for _ in range(17)]
    assert all(later - earlier >= 30 for earlier, later in zip(times, times[4:], strict=False))
    # ...and the budget is used: a full batch every 30 s, no idle gaps.
    assert times[-1] - times[0] == 4 * 30


def test_gate__a_custom_window_is_honoured(clock: FakeClock) -> None:
    g = gate(clock, budget=1, window=2.5)
    times = [admit_at(g, clock) for _ in range(3)]
    assert [t - START for t in times] == [0.0, 2.5, 5.0]


def test_gate__old_requests_leave_the_window_without_a_wait(clock: FakeClock) -> None:
    g = gate(clock, budget=2)
    admit_at(g, clock)
    admit_at(g, clock)
    clock.advance(30)  # both are exactly 30 s old now: out of the window
    admit_at(g, clock)
    admit_at(g, clock)
    assert clock.sleeps == []


def test_gate__pause_makes_admit_sleep_until_then(clock: FakeClock) -> None:
    g = gate(clock, budget=100)
    g.pause(START + 7)
    assert admit_at(g, clock) == START + 7
    assert clock.sleeps == [7.0]
    # The pause is over: the next request goes at once.
    admit_at(g, clock)
    assert clock.sleeps == [7.0]


def test_gate__a_shorter_pause_never_shortens_a_longer_one(clock: FakeClock) -> None:
    g = gate(clock, budget=100)
    g.pause(START + 20)
    g.pause(START + 5)
    assert admit_at(g, clock) == START + 20
    assert clock.sleeps == [20.0]


def test_gate__a_pause_in_the_past_does_not_wait(clock: FakeClock) -> None:
    g = gate(clock, budget=100)
    g.pause(START - 1)
    admit_at(g, clock)
    assert clock.sleeps == []


def test_gate__after_a_pause_the_budget_still_applies(clock: FakeClock) -> None:
    g = gate(clock, budget=2)
    admit_at(g, clock)
    admit_at(g, clock)
    g.pause(START + 10)
    # Paused until 10, then the window is still full until 30.
    assert admit_at(g, clock) == START + 30
    assert sum(clock.sleeps) == 30.0


def test_gate__stop_makes_admit_raise_rate_limited(clock: FakeClock) -> None:
    g = gate(clock, budget=100)
    admit_at(g, clock)
    g.stop(START + 3600)
    assert g.stopped_until == START + 3600
    with pytest.raises(RateLimited) as raised:
        g.admit()
    assert raised.value.not_before.timestamp() == pytest.approx(START + 3600)
    assert clock.sleeps == []  # a stop never sleeps: it gives up at once


def test_gate__a_stop_also_ends_a_pause_at_once(clock: FakeClock) -> None:
    g = gate(clock, budget=100)
    g.pause(START + 30)
    g.stop(START + 3600)
    with pytest.raises(RateLimited):
        g.admit()
    assert clock.sleeps == []


def test_gate__the_later_of_two_stops_wins(clock: FakeClock) -> None:
    g = gate(clock, budget=100)
    g.stop(START + 7200)
    g.stop(START + 3600)
    assert g.stopped_until == START + 7200
    with pytest.raises(RateLimited) as raised:
        g.admit()
    assert raised.value.not_before.timestamp() == pytest.approx(START + 7200)


def test_gate__admits_again_once_the_stop_time_has_passed(clock: FakeClock) -> None:
    g = gate(clock, budget=100)
    g.stop(START + 3600)
    clock.advance(3599)
    with pytest.raises(RateLimited):
        g.admit()
    clock.advance(2)
    g.admit()  # "no request may start before `until`": after it, requests may start
    assert g.stopped_until is None
    assert clock.sleeps == []


def test_gate__budget_is_shared_by_threads(clock: FakeClock) -> None:
    """Workers admitted concurrently still get at most `budget` requests per window."""
    g = gate(clock, budget=3)
    admitted: list[float] = []
    record = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            g.admit()
            # The fake clock only moves in sleeps inside admit; the gate counted
            # this request at the time it appended to its window.
            with record:
                admitted.append(clock.now())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(admitted) == 12
    # 12 requests at 3 per window: at least three full windows of waiting.
    assert clock.now() - START >= 90
    assert g.waited_seconds >= 90
