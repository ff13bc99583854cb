"""Stop: a signal or a time budget stops new work, and cuts every wait short."""

from __future__ import annotations

import pytest
from conftest import START, FakeClock

from jitspot.errors import Stopped
from jitspot.stopping import POLL_SECONDS, Stop


def stop_at(fake: FakeClock, seconds: float | None) -> Stop:
    return Stop.after(seconds, clock=fake.now, sleep=fake.sleep)


def test_stop__check_passes_while_the_upcoming_work_ends_by_the_deadline(fake: FakeClock) -> None:
    stop = stop_at(fake, 10)
    assert stop.deadline == START + 10
    stop.check()
    stop.check(10)  # ends exactly at the deadline: still allowed
    assert not stop.requested
    assert stop.reason is None


def test_stop__check_raises_max_time_when_the_upcoming_work_would_pass_the_deadline(
    fake: FakeClock,
) -> None:
    stop = stop_at(fake, 10)
    fake.advance(4)
    with pytest.raises(Stopped) as stopped:
        stop.check(6.5)
    assert stopped.value.reason == "max_time"
    assert stopped.value.exit_code == 75
    assert "--max-time" in str(stopped.value)
    # The deadline now counts as reached: even work of no length is refused.
    assert stop.reason == "max_time"
    with pytest.raises(Stopped):
        stop.check()


def test_stop__check_raises_max_time_once_the_clock_is_past_the_deadline(fake: FakeClock) -> None:
    stop = stop_at(fake, 10)
    fake.advance(10.5)
    with pytest.raises(Stopped, match="--max-time"):
        stop.check()


def test_stop__without_a_deadline_only_a_request_stops(fake: FakeClock) -> None:
    stop = stop_at(fake, None)
    assert stop.deadline is None
    fake.advance(1e9)
    stop.check(1e9)
    stop.request("signal")
    with pytest.raises(Stopped) as stopped:
        stop.check()
    assert stopped.value.reason == "signal"
    assert "signal" in str(stopped.value)


def test_stop__the_first_reason_is_kept(fake: FakeClock) -> None:
    stop = stop_at(fake, 10)
    stop.request("signal")
    stop.request("max_time")
    fake.advance(60)  # past the deadline too
    with pytest.raises(Stopped) as stopped:
        stop.check(5)
    assert stopped.value.reason == "signal"
    assert stop.reason == "signal"

    budget = stop_at(fake, 10)
    with pytest.raises(Stopped):
        budget.check(11)
    budget.request("signal")
    assert budget.reason == "max_time"


def test_stop__sleep_sleeps_the_whole_wait_in_short_polls(fake: FakeClock) -> None:
    stop = stop_at(fake, 10)
    stop.sleep(2)
    assert fake.now() - START == pytest.approx(2)
    assert len(fake.sleeps) >= 2 / POLL_SECONDS - 1
    assert all(s <= POLL_SECONDS + 1e-9 for s in fake.sleeps)
    assert stop.reason is None


def test_stop__sleep_refuses_a_wait_that_would_end_past_the_deadline(fake: FakeClock) -> None:
    stop = stop_at(fake, 10)
    with pytest.raises(Stopped) as stopped:
        stop.sleep(10.5)
    assert stopped.value.reason == "max_time"
    assert fake.sleeps == []  # refused without sleeping at all
    assert fake.now() == START


def test_stop__sleep_ends_early_when_a_stop_is_requested_during_the_wait(
    fake: FakeClock,
) -> None:
    calls = 0

    def sleep(seconds: float) -> None:
        nonlocal calls
        calls += 1
        fake.sleep(seconds)
        if calls == 3:
            stop.request("signal")  # e.g. SIGTERM arrives during a 429 wait

    stop = Stop(clock=fake.now, sleep=sleep)
    with pytest.raises(Stopped) as stopped:
        stop.sleep(30)
    assert stopped.value.reason == "signal"
    assert calls == 3
    assert fake.sleeps == pytest.approx([POLL_SECONDS] * 3)
    assert fake.now() - START == pytest.approx(3 * POLL_SECONDS)


def test_stop__sleep_after_a_stop_does_not_sleep(fake: FakeClock) -> None:
    stop = stop_at(fake, None)
    stop.request("signal")
    with pytest.raises(Stopped):
        stop.sleep(1)
    assert fake.sleeps == []
