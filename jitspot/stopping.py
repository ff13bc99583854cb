"""When to stop starting new work: a signal, or a time budget (`refresh --max-time`).

One `Stop` is shared by the resolver's runner, the pacer and the retry waits,
so a stop is noticed between batches and inside every wait, while requests
already in flight finish (bounded by the HTTP timeout) and are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from jitspot.errors import Stopped

StopReason = Literal["signal", "max_time"]

# How often a wait looks at the stop flag: a signal is obeyed within this.
POLL_SECONDS = 0.1


class Stop:
    """A stop flag and an optional deadline, read by every thread of a run.

    The flag is a plain attribute, no lock and no `threading.Event`: it is set
    from a signal handler, which may run while the main thread holds any lock
    (setting an Event there could deadlock). Waits poll it instead.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
    ) -> None:
        self.clock = clock
        self._sleep = sleep
        self.deadline = deadline
        self.reason: StopReason | None = None

    @classmethod
    def after(
        cls,
        seconds: float | None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Stop:
        """A stop whose deadline is `seconds` from now (none when `seconds` is None)."""
        deadline = None if seconds is None else clock() + seconds
        return cls(clock=clock, sleep=sleep, deadline=deadline)

    def request(self, reason: StopReason) -> None:
        """Ask every thread to stop (the first reason given is kept). Safe in a signal handler."""
        if self.reason is None:
            self.reason = reason

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def check(self, upcoming: float = 0.0) -> None:
        """Raise Stopped if a stop was asked, or if work of `upcoming` seconds would end
        past the deadline (the deadline then counts as reached)."""
        late = self.deadline is not None and self.clock() + max(upcoming, 0.0) > self.deadline
        if self.reason is None and late:
            self.request("max_time")
        if self.reason is not None:
            raise Stopped(self.reason)

    def sleep(self, seconds: float) -> None:
        """Sleep, but not past the deadline and not on after a stop (both raise Stopped)."""
        self.check(seconds)
        end = self.clock() + seconds
        while True:
            left = end - self.clock()
            if left <= 0:
                return
            self._sleep(min(left, POLL_SECONDS))
            self.check()
