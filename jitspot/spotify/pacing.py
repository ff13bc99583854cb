"""Pacing that learns the rate Spotify accepts, shared by every jitspot process.

Spotify publishes no limit: it counts calls in a rolling 30 s window and
answers 429 with a Retry-After when an app goes past it, and the limit
differs between extended-quota and development-mode apps. So jitspot learns
it, with the AWS SDKs' "adaptive" retry mode as the model (botocore
`retries/adaptive.py`, `throttling.py`, `bucket.py`): a token bucket whose
fill rate follows a CUBIC curve, cut to β = 0.7 of the rate that drew a 429
and growing back as W_max·(1 + c·(t - t_cut - K)³), with the send rate
measured in 0.5 s buckets (smoothing 0.8) and a floor of 0.5 requests/s.

Why CUBIC and not AIMD (Netflix concurrency-limits): CUBIC's rate is a
function of *time* since the last cut, not of how many answers came back.
Every process on one JITSPOT_HOME can therefore share one curve (three
numbers in the store) and compute the same rate from it, where AIMD's
per-answer increments would be counted once per process and add up.

What differs from botocore, and why:
- botocore's constant C = 0.4 is absolute (requests/s³): at Spotify's rates
  (a few requests/s) it climbs back past the rate that drew the 429 in about
  a second, far quicker than a 30 s window can tell. Here C scales with
  W_max so the climb back takes K = 30 s, one window, whatever the rate.
- botocore does not pace at all before its first throttle. Here a run starts
  from the last rate that worked (kept in the store) or 3 requests/s (the old
  fixed budget's average) and doubles every 2 s until the first 429.
- A rolling window lets a burst through and answers 429 only once it is full,
  so the rate measured at the 429 can be far above what the window allows.
  The cut therefore also looks at the calls of the last 30 s (all
  processes): the rate never restarts above what that window held.
- Only a request sent after the last cut can cut again: a 429 on a request
  already in flight says nothing about the new rate.
- Spotify's window is 30 s long. When two 429s in a row come with the same
  number of requests in the last 30 s, that window is what binds: the rate
  to climb back to is what it held (not the burst measured at the 429), and
  the curve holds just below it for one window before probing. Without this,
  a 90-per-30-s limit drew a 429 every ~40 s (20 over a 7-minute export).
- Several processes: each publishes its measured rate and its 30 s count
  about twice a second (one small write), reads the others', and sends only
  what the shared rate leaves over (at least an equal share).

Pure pieces (`SendRate`, `Curve`, `RateController`, `merge_shared`) take the
time as an argument; `Pacer` adds the threads, the sleeps and the store.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from jitspot.errors import RateLimited

log = logging.getLogger("jitspot.spotify.pacing")

Clock = Callable[[], float]
Sleep = Callable[[float], None]

WINDOW_SECONDS = 30.0  # Spotify counts calls in a rolling 30 s window
BETA = 0.7  # a 429 cuts the rate to 70 % of what drew it (botocore, TCP CUBIC)
CLIMB_SECONDS = 30.0  # K: time to climb back to the rate that drew the 429
SLOW_START_DOUBLING = 2.0  # before the first 429 the rate doubles every 2 s
MIN_RATE = 0.5  # botocore's floor, requests/s
SAME_COUNT = 0.1  # two 429s with window counts this close: a 30 s window binds
HOLD_MARGIN = 0.97  # the share of a binding window's rate held before probing
DEFAULT_START_RATE = 3.0  # the old budget's average (90 per 30 s)
MEASURE_BUCKET = 0.5  # botocore: the send rate is measured in 0.5 s buckets...
SMOOTHING = 0.8  # ...smoothed exponentially
BURST_SECONDS = 1.0  # botocore: the bucket holds one second's worth of requests
SYNC_SECONDS = 0.5  # how often a process exchanges its figures with the others
PEER_TIMEOUT = 3.0  # a process silent this long has stopped sending
PACING_NAME = "spotify"  # the row of shared pacing state in the store

_C = (1 - BETA) / CLIMB_SECONDS**3  # relative CUBIC constant: K = CLIMB_SECONDS


class SendRate:
    """The rate this process sends at: botocore's RateClocker, plus a 30 s count."""

    def __init__(self, now: float) -> None:
        self.rate = 0.0
        self._count = 0
        self._bucket = math.floor(now / MEASURE_BUCKET) * MEASURE_BUCKET
        self._sent: deque[float] = deque()
        self._first: float | None = None

    def record(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._sent.append(now)
        self._count += 1
        self.measure(now)

    def measure(self, now: float) -> float:
        """The smoothed send rate, closing every 0.5 s bucket that has ended by `now`."""
        bucket = math.floor(now / MEASURE_BUCKET) * MEASURE_BUCKET
        if bucket > self._bucket:
            current = self._count / (bucket - self._bucket)
            self.rate = SMOOTHING * current + (1 - SMOOTHING) * self.rate
            self._count = 0
            self._bucket = bucket
        return self.rate

    def in_window(self, now: float) -> int:
        """Requests sent in the last 30 s."""
        while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
            self._sent.popleft()
        return len(self._sent)

    def span(self, now: float) -> float:
        """How much of the last 30 s this process has been sending (a run's first 30 s)."""
        if self._first is None:
            return WINDOW_SECONDS
        return min(WINDOW_SECONDS, max(now - self._first, MEASURE_BUCKET))


@dataclass(frozen=True, slots=True)
class Curve:
    """The rate allowed over time, for all processes together.

    Before any 429 (`w_max` None) it grows from `low` by doubling every 2 s;
    after a cut at `cut_at` it climbs from `low` to `w_max` (concave), and
    past it (convex) to probe for more. When a 30 s window is known to bind
    (`held`), it stays at `w_max` for one window before it probes: that rate
    is what the window sustains, and probing at once draws a 429 every 40 s.
    """

    low: float
    cut_at: float
    w_max: float | None = None
    cut_count: int | None = None  # requests in the 30 s window at the cut
    held: bool = False

    def at(self, now: float) -> float:
        elapsed = max(0.0, now - self.cut_at)
        if self.w_max is None:
            return self.low * 2 ** min(elapsed / SLOW_START_DOUBLING, 60.0)
        # CUBIC through `low` at the cut: w(t) = W_max·(1 + c·(t - k)³), w(0) = low.
        k = ((1 - self.low / self.w_max) / _C) ** (1 / 3) if self.low < self.w_max else 0.0
        if self.held and elapsed > k:
            elapsed = max(k, elapsed - WINDOW_SECONDS)
        return self.w_max * (1 + _C * (elapsed - k) ** 3)

    def cut(self, now: float, rate: float, in_window: int, span: float = WINDOW_SECONDS) -> Curve:
        """The curve after a 429: down to β·rate, never above what the 30 s window held.

        A rolling window lets bursts through and answers 429 once it is full.
        When the same number of requests filled the last 30 s at this 429 as at
        the one before, a 30 s window is what binds (Spotify's): its average is
        the rate Spotify sustains, so the climb goes back to it rather than to
        the burst's rate, which would draw the next 429 within one window. With
        another count, a shorter window binds and the rate that drew the 429 is
        the one to climb back to.
        """
        window_rate = in_window / span
        w_max = max(rate, MIN_RATE)
        low = BETA * w_max
        # Not when the window held next to nothing: then the 429 was not drawn by
        # this window's calls (another app, a one-off), and it tells nothing of it.
        if window_rate >= MIN_RATE:
            if self.cut_count and abs(in_window - self.cut_count) <= SAME_COUNT * self.cut_count:
                # A 30 s window binds: it held what it allows, less the request refused;
                # held a little below that, the bucket's own jitter does not fill it.
                w_max = max(HOLD_MARGIN * (in_window - 1) / WINDOW_SECONDS, MIN_RATE)
                return Curve(
                    low=max(BETA * w_max, MIN_RATE),
                    cut_at=now,
                    w_max=w_max,
                    cut_count=in_window,
                    held=True,
                )
            low = min(low, window_rate)
        return Curve(low=max(low, MIN_RATE), cut_at=now, w_max=w_max, cut_count=in_window)

    def as_json(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "cut_at": self.cut_at,
            "w_max": self.w_max,
            "cut_count": self.cut_count,
            "held": self.held,
        }

    @classmethod
    def from_json(cls, data: Any) -> Curve | None:
        try:
            w_max, count = data.get("w_max"), data.get("cut_count")
            return cls(
                float(data["low"]),
                float(data["cut_at"]),
                None if w_max is None else float(w_max),
                None if count is None else int(count),
                bool(data.get("held", False)),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Peers:
    """What the other processes on this JITSPOT_HOME are spending, as last read."""

    rate: float = 0.0  # their measured send rates, summed
    in_window: int = 0  # their requests in the last 30 s
    count: int = 0  # how many of them are sending


class RateController:
    """Decides the send rate from (time, outcome): pure, no threads, no sleeps.

    `allowed(now)` is this process's rate: the shared curve, capped at twice
    what is actually being sent (botocore: a rate nobody uses is not a rate
    that worked), at the user's ceiling, minus what the other processes send.
    """

    def __init__(
        self,
        now: float,
        *,
        start_rate: float = DEFAULT_START_RATE,
        ceiling: float | None = None,
        curve: Curve | None = None,
    ) -> None:
        self.ceiling = ceiling
        self.curve = curve or Curve(low=max(start_rate, MIN_RATE), cut_at=now)
        self.sending = SendRate(now)
        self.peers = Peers()

    def total(self, now: float) -> float:
        """The rate allowed to all processes together now."""
        measured = self.sending.measure(now) + self.peers.rate
        rate = max(min(self.curve.at(now), max(2 * measured, self.curve.low)), MIN_RATE)
        return rate if self.ceiling is None else min(rate, self.ceiling)  # the user's word wins

    def allowed(self, now: float) -> float:
        """This process's share: what the others leave over, at least an equal part."""
        total = self.total(now)
        if not self.peers.count:
            return total
        left = total - self.peers.rate
        return max(left, total / (self.peers.count + 1))

    def sent(self, now: float) -> None:
        self.sending.record(now)

    def throttled(self, now: float, sent_at: float) -> bool:
        """A 429 for a request sent at `sent_at`; True if it cut the rate."""
        if sent_at < self.curve.cut_at:
            return False  # sent before the last cut: it says nothing about the new rate
        measured = self.sending.measure(now) + self.peers.rate
        rate = min(measured or self.total(now), self.total(now))
        in_window = self.sending.in_window(now) + self.peers.in_window
        self.curve = self.curve.cut(now, rate, in_window, self.sending.span(now))
        return True


# -- shared state: one small document in the store --------------------------------------------


class SharedState(Protocol):
    """Read-modify-write of one small JSON document, atomic across processes."""

    def exchange(self, change: Callable[[Any], Any]) -> Any | None:
        """Apply `change` to the stored document and return the new one; None if busy."""
        ...


@dataclass(frozen=True, slots=True)
class Report:
    """What one process tells the others at a sync."""

    process: str
    at: float
    rate: float
    in_window: int
    curve: Curve
    cut: bool  # this process cut the curve since its last sync
    paused_until: float
    stopped_until: float = 0.0  # a Retry-After past the cap: nobody sends before it


def merge_shared(doc: Any, report: Report) -> dict[str, Any]:
    """The shared document after `report`: pure, so it is tested without a store.

    The curve with the latest cut wins (a process that cut publishes it; one
    that did not adopts the shared one). A process arriving when nobody else
    is sending starts from the rate that last worked.
    """
    doc = dict(doc) if isinstance(doc, dict) else {}
    senders = {
        name: entry
        for name, entry in (doc.get("senders") or {}).items()
        if isinstance(entry, dict)
        and name != report.process
        and report.at - float(entry.get("at", 0)) <= PEER_TIMEOUT
    }
    shared = Curve.from_json(doc.get("curve"))
    mine = report.curve
    if shared is None or (report.cut and mine.cut_at >= shared.cut_at):
        curve = mine
    elif not senders and report.process not in (doc.get("senders") or {}):
        curve = _resume(shared, doc.get("good_rate"), report.at)
    else:
        curve = shared
    total = report.rate + sum(float(e.get("rate", 0)) for e in senders.values())
    good = doc.get("good_rate")
    if curve.cut_at <= report.at - WINDOW_SECONDS and total > 0:
        good = total  # no 429 for a whole window at this rate: it works
    senders[report.process] = {
        "at": report.at,
        "rate": report.rate,
        "in_window": report.in_window,
    }
    return {
        "curve": curve.as_json(),
        "good_rate": good,
        "paused_until": max(float(doc.get("paused_until") or 0), report.paused_until),
        "stopped_until": max(float(doc.get("stopped_until") or 0), report.stopped_until),
        "senders": senders,
    }


def _resume(shared: Curve, good_rate: Any, now: float) -> Curve:
    """A new run after a quiet spell: from the rate that last worked, toward the last W_max."""
    start = float(good_rate) if isinstance(good_rate, int | float) and good_rate > 0 else None
    if start is None:
        start = shared.low
    if shared.w_max is None or start >= shared.w_max:
        return Curve(low=max(start, MIN_RATE), cut_at=now)
    return Curve(
        low=max(start, MIN_RATE), cut_at=now, w_max=shared.w_max, cut_count=shared.cut_count
    )


def peers_of(doc: Any, process: str, now: float) -> Peers:
    """The other live senders in the shared document."""
    rate, in_window, count = 0.0, 0, 0
    for name, entry in ((doc or {}).get("senders") or {}).items():
        if name == process or not isinstance(entry, dict):
            continue
        if now - float(entry.get("at", 0)) > PEER_TIMEOUT:
            continue
        rate += float(entry.get("rate", 0))
        in_window += int(entry.get("in_window", 0))
        count += 1
    return Peers(rate, in_window, count)


def learned_rate(doc: Any, now: float, ceiling: float | None) -> tuple[float, bool]:
    """The rate Spotify accepted (requests/s) as shared in the pacing state, and whether
    it was learned from a 429; before any 429 the start rate (or the ceiling)."""
    curve = Curve.from_json(doc.get("curve")) if isinstance(doc, dict) else None
    if curve is not None and curve.w_max is not None:
        rate = curve.w_max
        return (rate if ceiling is None else min(rate, ceiling)), True
    return (ceiling if ceiling is not None else DEFAULT_START_RATE), False


# -- the pacer: threads, sleeps, pauses, stops ----------------------------------------------


class Pacer:
    """Admits requests at the learned rate; honours pauses and stops; shares with peers.

    Every worker calls `admit()` before a request and `answered(sent_at,
    throttled)` after it. A short Retry-After pauses every worker (`pause`), a
    long one stops them all (`stop`: `admit` raises RateLimited).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        sleep: Sleep,
        ceiling: float | None = None,
        start_rate: float = DEFAULT_START_RATE,
        shared: SharedState | None = None,
        scope: str = "api",
    ) -> None:
        self._clock = clock
        self.scope = scope  # whose limit stops it: "api" or "oembed" (see RateLimited)
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self.controller = RateController(now, start_rate=start_rate, ceiling=ceiling)
        self._shared = shared
        self._process = f"{os.getpid()}-{secrets.token_hex(3)}"
        self._tokens: float | None = None  # full at the first request
        self._refilled = now
        self._paused_until = 0.0
        self._stopped_until: float | None = None
        self._synced_at: float | None = None
        self._cut_pending = False
        self.waited_seconds = 0.0

    # -- the gateway's side -----------------------------------------------------------

    def stop(self, until: float) -> None:
        """No request may start before `until`: every later `admit` raises RateLimited.

        The other processes on this JITSPOT_HOME stop too, at their next exchange
        (within half a second), not only at their next run.
        """
        with self._lock:
            self._stopped_until = max(until, self._stopped_until or 0.0)
            self._sync(self._clock())

    @property
    def stopped_until(self) -> float | None:
        return self._stopped_until

    def pause(self, until: float) -> None:
        """Hold every worker (and, through the store, every process) until `until`."""
        with self._lock:
            self._paused_until = max(self._paused_until, until)
            self._tokens = min(self._tokens or 0.0, 1.0)  # no burst right after a pause
            self._sync(self._clock())  # the other processes hold back too

    @property
    def rate(self) -> float:
        """The rate this process may send at now (requests/s)."""
        with self._lock:
            return self.controller.allowed(self._clock())

    def admit(self) -> float:
        """Block until a request may be sent; returns the time it was let through."""
        while True:
            with self._lock:
                now = self._clock()
                if self._synced_at is None or now - self._synced_at >= SYNC_SECONDS:
                    self._sync(now)  # may bring another process's pause or stop
                if self._stopped_until is not None:
                    if now < self._stopped_until:
                        raise RateLimited(
                            datetime.fromtimestamp(self._stopped_until, UTC), scope=self.scope
                        )
                    self._stopped_until = None
                wait = self._paused_until - now
                if wait <= 0:
                    rate = self.controller.allowed(now)
                    capacity = max(1.0, rate * BURST_SECONDS)
                    tokens = capacity if self._tokens is None else self._tokens
                    self._tokens = min(capacity, tokens + (now - self._refilled) * rate)
                    self._refilled = now
                    if self._tokens >= 1.0 - 1e-6:
                        self._tokens = max(self._tokens - 1.0, 0.0)
                        self.controller.sent(now)
                        return now
                    # At least 1 ms: a shorter sleep may not move a clock near 2e9 at all.
                    wait = max((1.0 - self._tokens) / rate, 1e-3)
                else:
                    self._refilled = max(self._refilled, self._paused_until)
                self.waited_seconds += wait
            self._sleep(wait)

    def answered(self, sent_at: float, *, throttled: bool) -> None:
        """The outcome of a request admitted at `sent_at`."""
        if not throttled:
            return
        with self._lock:
            now = self._clock()
            if self.controller.throttled(now, sent_at):
                log.info("429: pacing down to %.2f requests/s", self.controller.total(now))
                self._cut_pending = True
                self._sync(now)  # a cut is news for every process at once

    # -- sharing ----------------------------------------------------------------------

    def _sync(self, now: float) -> None:
        self._synced_at = now
        if self._shared is None:
            return
        controller = self.controller
        report = Report(
            process=self._process,
            at=now,
            rate=controller.sending.measure(now),
            in_window=controller.sending.in_window(now),
            curve=controller.curve,
            cut=self._cut_pending,
            paused_until=self._paused_until,
            stopped_until=self._stopped_until or 0.0,
        )
        try:
            doc = self._shared.exchange(lambda current: merge_shared(current, report))
        except Exception as exc:  # pacing must never fail a request
            log.debug("pacing state not shared: %s", exc)
            return
        if doc is None:
            return  # the store is busy: keep going on what we know, try again soon
        self._cut_pending = False
        curve = Curve.from_json(doc.get("curve"))
        if curve is not None:
            controller.curve = curve
        controller.peers = peers_of(doc, self._process, now)
        self._paused_until = max(self._paused_until, float(doc.get("paused_until") or 0))
        stopped = float(doc.get("stopped_until") or 0)
        if stopped > now:
            self._stopped_until = max(stopped, self._stopped_until or 0.0)
