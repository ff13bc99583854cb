"""One refresh (or match, cache prune/clear, serve's sync) per JITSPOT_HOME at a time.

An advisory `fcntl.flock` on a file in JITSPOT_HOME: the kernel frees it when
its holder dies in any way (SIGKILL included), so a crashed run never leaves
a lock behind. The holder writes who it is (pid, command, since when) into
the locked file, so a second run can name it.

Written here rather than with the `filelock` package (4.x leaves a held
file's contents alone): its lock is the same flock call, and what this module
is for would stay ours around it: the holder's record (written once the lock
is held, cleared before it is freed, read by a second run, `stats` and
`serve`), a read-only home or a full disk as exits 78 and 75, and a wait
timed by an injected clock, so that tests move time instead of sleeping.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jitspot.errors import DiskFull, Locked, read_only_home

LOCK_NAME = "jitspot.lock"
POLL_SECONDS = 0.2  # how often --wait-lock tries again


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds the lock, as the holder wrote it."""

    pid: int
    command: str
    since: float

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.since).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self.command} (pid {self.pid}, since {started})"


class RunLock:
    """The home's lock; `acquire` raises Locked (exit 75) when another run holds it."""

    def __init__(
        self,
        home: Path,
        command: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = home / LOCK_NAME
        self.command = command
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, waiting up to `wait` seconds for the running one to end.

        A home that takes no writes is a ConfigError (78) saying so, as the store's;
        a full disk is DiskFull (75).
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._unwritable(exc) from None
        give_up = self._clock() + wait
        try:
            while not _try_lock(fd):
                if self._clock() >= give_up:
                    raise self._locked(fd, wait)
                self._sleep(min(POLL_SECONDS, max(give_up - self._clock(), 0.0)))
            record = json.dumps(
                {"pid": os.getpid(), "command": self.command, "since": self._clock()}
            )
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise self._unwritable(exc) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # nobody holds it now: no record to mislead the next reader
        finally:
            os.close(fd)  # closing frees the flock

    @contextmanager
    def held(self, wait: float = 0.0) -> Iterator[RunLock]:
        """The lock for the time of a `with` block; raises as `acquire` does."""
        self.acquire(wait)
        try:
            yield self
        finally:
            self.release()

    def _unwritable(self, error: OSError) -> Exception:
        """What an OSError on the lock file means for the user: the home is read-only,
        or the disk is full; anything else is a bug and stays itself."""
        cause = error.strerror or str(error)
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return read_only_home("the lock file", self.path, cause)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFull(f"no space left for the lock file at {self.path} ({cause})")
        return error

    def _locked(self, fd: int, waited: float) -> Locked:
        holder = read_holder(fd)
        who = holder.describe() if holder else "another jitspot run"
        after = f" after waiting {waited:.0f} s" if waited > 0 else ""
        return Locked(
            f"{who} holds the lock on this JITSPOT_HOME{after}; "
            "try again later, or wait for it with --wait-lock SECONDS",
            holder=who,
        )


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_holder(fd: int) -> Holder | None:
    """The holder's record; None while it is being written or if it is unreadable."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(int(data["pid"]), str(data["command"]), float(data["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def lock_holder(home: Path) -> Holder | None:
    """Who holds the home's lock now, or None when nobody does (for `stats`)."""
    path = home / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
