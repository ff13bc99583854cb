"""The job `refresh` and `match` both run: over chosen albums, calling Spotify under
the home's run lock, through one `Catalog` (resolver, gateway, pacing). How a run
ends is `outcome`'s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jitspot.catalog.catalog import Catalog
from jitspot.lock import RunLock
from jitspot.settings import Settings
from jitspot.spotify.gateway import Gates, Gateway
from jitspot.spotify.pacing import Clock
from jitspot.stopping import Stop
from jitspot.store import Store


class Job:
    """A run of `command` for one JITSPOT_HOME: one at a time, stoppable, watchable."""

    command = "job"

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock = time.time,
        stop: Stop | None = None,
        gateway_factory: Callable[[Gates], Gateway] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.stop = stop
        self.catalog = Catalog(
            store, settings, clock=clock, gateway_factory=gateway_factory, stop=stop
        )

    def close(self) -> None:
        self.catalog.close()

    @contextmanager
    def locked(self, wait_lock: float) -> Iterator[None]:
        """Hold the home's run lock; raises Locked (75) when another run holds it past
        `wait_lock`. Waiting obeys a signal and --max-time like every other wait."""
        sleep = self.stop.sleep if self.stop is not None else time.sleep
        lock = RunLock(self.settings.home, self.command, clock=self.clock, sleep=sleep)
        with lock.held(wait_lock):
            yield

    def live(self) -> tuple[int, int, float | None]:
        """(API calls, 429s, the current rate) of the run in progress, for a display."""
        resolver = self.catalog.resolver
        current = resolver.current
        calls = current.api_calls if current else 0
        throttled = current.rate_limited_responses if current else 0
        return calls, throttled, (resolver.pacer.rate if resolver.pacer else None)
