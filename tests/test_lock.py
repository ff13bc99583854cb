"""The home's run lock: one refresh per JITSPOT_HOME, naming the holder, freed on any death."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import START, FakeClock

from jitspot.errors import Locked
from jitspot.lock import LOCK_NAME, POLL_SECONDS, Holder, RunLock, lock_holder

HOLD = """
import sys, time
from pathlib import Path
from jitspot.lock import RunLock
RunLock(Path(sys.argv[1]), "refresh").acquire()
print("locked", flush=True)
time.sleep(120)
"""


def since_text(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def held(home: Path, fake: FakeClock) -> Iterator[RunLock]:
    """The lock, taken by a `refresh` of this process at the fake clock's START."""
    lock = RunLock(home, "refresh", clock=fake.now, sleep=fake.sleep)
    lock.acquire()
    yield lock
    lock.release()


def test_lock__second_run_is_refused_at_once_naming_the_holder(
    home: Path, held: RunLock, fake: FakeClock
) -> None:
    second = RunLock(home, "export", clock=fake.now, sleep=fake.sleep)
    with pytest.raises(Locked) as refused:
        second.acquire()
    message = str(refused.value)
    assert f"refresh (pid {os.getpid()}, since {since_text(START)})" in message
    assert "after waiting" not in message
    assert "--wait-lock" in message
    assert refused.value.exit_code == 75
    assert fake.sleeps == []  # at once: no wait without --wait-lock
    # The refused run did not erase the holder's record.
    assert lock_holder(home) == Holder(os.getpid(), "refresh", START)


def test_lock__held_by_another_process_until_it_is_killed(home: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stderr is not None
    try:
        ready, _, _ = select.select([holder.stdout], [], [], 30)
        assert ready, "the holder did not take the lock within 30 s"
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()

        found = lock_holder(home)
        assert found is not None
        assert (found.pid, found.command) == (holder.pid, "refresh")
        with pytest.raises(Locked, match=rf"refresh \(pid {holder.pid}, since "):
            RunLock(home, "refresh").acquire()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
        holder.stderr.close()

    # SIGKILL: no release ran, but the kernel freed the flock.
    assert holder.returncode == -9
    lock = RunLock(home, "refresh")
    lock.acquire()
    try:
        mine = lock_holder(home)
        assert mine is not None
        assert mine.pid != holder.pid
    finally:
        lock.release()


def test_lock__wait_gives_up_after_the_wait_and_says_so(
    home: Path, held: RunLock, fake: FakeClock
) -> None:
    second = RunLock(home, "refresh", clock=fake.now, sleep=fake.sleep)
    with pytest.raises(Locked, match="after waiting 5 s") as refused:
        second.acquire(wait=5)
    assert "pid" in str(refused.value)
    assert fake.now() - START == pytest.approx(5)
    assert fake.sleeps
    assert all(0 < s <= POLL_SECONDS + 1e-9 for s in fake.sleeps)
    still = lock_holder(home)
    assert still is not None
    assert still.command == "refresh"  # the holder's record survives the waiting run


def test_lock__wait_succeeds_when_the_holder_releases_meanwhile(
    home: Path, held: RunLock, fake: FakeClock
) -> None:
    calls = 0

    def sleep(seconds: float) -> None:
        nonlocal calls
        calls += 1
        fake.sleep(seconds)
        if calls == 3:
            held.release()  # the running refresh ends during the wait

    second = RunLock(home, "export", clock=fake.now, sleep=sleep)
    second.acquire(wait=60)
    try:
        assert calls == 3
        assert fake.now() - START == pytest.approx(3 * POLL_SECONDS)
        holder = lock_holder(home)
        assert holder is not None
        assert holder.command == "export"
        assert holder.since == pytest.approx(fake.now())
    finally:
        second.release()


def test_lock__release_truncates_the_record_and_frees_the_lock(home: Path, fake: FakeClock) -> None:
    assert lock_holder(home) is None  # no lock file yet
    lock = RunLock(home, "refresh", clock=fake.now)
    lock.acquire()
    path = home / LOCK_NAME
    assert path.stat().st_size > 0
    holder = lock_holder(home)
    assert holder is not None
    assert (holder.command, holder.since) == ("refresh", START)

    lock.release()
    assert path.read_bytes() == b""
    assert lock_holder(home) is None  # the file remains, nobody holds it
    lock.release()  # a second release is harmless
    # Free for the next run.
    with RunLock(home, "refresh", clock=fake.now).held() as again:
        assert lock_holder(home) is not None
        assert again.path == path
    assert lock_holder(home) is None
