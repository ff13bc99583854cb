"""What the commands that run a job (`refresh`, `match`) share: stopping on a signal, the
progress bar's live text, the daily quota and Spotify's "not before" in words for a dry
run, and why a run stopped early."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from jitspot.cli.app import print_json, state

if TYPE_CHECKING:
    from jitspot.errors import Locked
    from jitspot.jobs.job import Job
    from jitspot.jobs.outcome import RunReport
    from jitspot.spotify.quota import QuotaStatus
    from jitspot.stopping import Stop

# -- while it runs -------------------------------------------------------------------------


@contextmanager
def signals_stop(stop: Stop) -> Iterator[None]:
    """SIGTERM and Ctrl-C stop starting new work; requests in flight finish and are kept."""

    def request_stop(signum: int, frame: object) -> None:
        if not stop.requested:
            # os.write: safe in a signal handler (print and logging take locks).
            os.write(2, b"jitspot: stopping: finishing the requests in flight\n")
        stop.request("signal")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def live_detail(job: Job) -> Callable[[], str]:
    """The progress bar's live text of a job: calls, 429s, the current rate."""

    def detail() -> str:
        calls, throttled, rate = job.live()
        pace = f" · {rate:.1f}/s" if rate is not None else ""
        return f"{calls} calls · {throttled} × 429{pace}"

    return detail


# -- what it prints ------------------------------------------------------------------------


def print_locked(report: RunReport, locked: Locked) -> None:
    """The JSON of a run that another run's lock refused: a report of a run that did nothing."""
    report.stop("locked", locked)
    print_json(report.as_json())


def spread_text(windows: float, quota: QuotaStatus | None, calls: int) -> str:
    """How the Web API calls spread over the daily quota's windows, in words."""
    from jitspot.timetext import window_text

    if quota is None or quota.budget is None or not calls:
        return ""
    per = quota.bulk_per_window or 0
    if math.isinf(windows):
        return ": never, bulk work has no share of the quota (JITSPOT_QUOTA_RESERVE)"
    if windows <= 1:
        return f", within the quota's bulk share left now ({quota.bulk_left:,} calls)"
    count = int(windows)
    if quota.window_seconds == 86_400:
        return f", over {count} days at {per:,} calls a day"
    span = window_text(quota.window_seconds)
    return f", over {count} quota windows of {span} at {per:,} calls each"


def print_quota(quota: QuotaStatus | None) -> None:
    """The daily quota's state, for a dry run: used, left for bulk work, next free call."""
    if quota is None or quota.budget is None:
        return
    from jitspot.timetext import until_text, window_text

    learned = (
        f" (learned from a refusal; configured {quota.configured or 'default'})"
        if (quota.learned is not None and quota.learned == quota.budget)
        else ""
    )
    line = (
        f"Daily quota: {quota.used:,} of {quota.budget:,} calls used in the last"
        f" {window_text(quota.window_seconds)}{learned}; {quota.bulk_left or 0:,} left for bulk"
        f" work, {quota.interactive_left or 0:,} with the reserve for single-album look-ups"
    )
    if quota.next_free_at is not None:
        line += f"; bulk work's next call is free at {until_text(quota.next_free_at, time.time())}"
    state.err.print(line + ".", markup=False, highlight=False)


def print_not_before(until: float | None, command: str) -> None:
    """A dry run's warning that Spotify's "not before" time would stop the run at once."""
    if until is None:
        return
    from jitspot.timetext import until_text

    state.err.print(
        f"Spotify is rate-limiting this app until {until_text(until, time.time())}:"
        f" a {command} now stops at once.",
        markup=False,
    )


def why_stopped(
    reason: str | None,
    not_before: float | None,
    left: int,
    kept: str,
    *,
    error: str | None = None,
) -> str | None:
    """Why a job (refresh, match) stopped early, what it kept and when to go on; None if
    it did not stop early."""
    if reason == "quota":
        # The error says what is used, what is kept for look-ups and when a call is free.
        return f"{error or 'the daily quota is used'}; {kept}, {left:,} albums left for a later run"
    if reason == "rate_limited":
        from jitspot.timetext import until_text

        until = until_text(not_before, time.time())
        return (
            f"rate-limited by Spotify until {until}; {kept},"
            f" run it again after that ({left} albums left)"
        )
    if reason in ("max_time", "signal"):
        why = "--max-time reached" if reason == "max_time" else "stopped by a signal"
        return f"{why}; {kept}, run it again to go on ({left} left)"
    return None
