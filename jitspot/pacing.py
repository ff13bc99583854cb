"""Proactive pacing shared by the worker threads: a rolling request budget and pauses.

Spotify's limit is a rolling 30-second window; spending our own budget below
it avoids 429s, whose penalties grow when ignored. A 429 with a short
Retry-After pauses every worker (not just the one that got it); a long one
stops them all.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from jitspot.errors import RateLimited

WINDOW_SECONDS = 30.0

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Gate:
    """Admits one request at a time into a rolling window budget; honours pauses and stops."""

    def __init__(
        self,
        budget: int,
        *,
        clock: Clock,
        sleep: Sleep,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.budget = budget
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._stopped_until: float | None = None
        self.waited_seconds = 0.0

    def stop(self, until: float) -> None:
        """No request may start before `until`: every later `admit` raises RateLimited."""
        with self._lock:
            self._stopped_until = max(until, self._stopped_until or 0.0)

    @property
    def stopped_until(self) -> float | None:
        return self._stopped_until

    def pause(self, until: float) -> None:
        """Hold every worker until `until` (a short Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, until)

    def admit(self) -> None:
        """Block until a request may be sent, then count it in the window."""
        while True:
            with self._lock:
                now = self._clock()
                if self._stopped_until is not None:
                    if now < self._stopped_until:
                        raise RateLimited(datetime.fromtimestamp(self._stopped_until, UTC))
                    self._stopped_until = None
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._sent) >= self.budget:
                    wait = self._sent[0] + self.window - now
                if wait <= 0:
                    self._sent.append(now)
                    return
                self.waited_seconds += wait
            self._sleep(wait)
