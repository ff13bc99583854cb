"""How a run of `refresh` or `match` ended: its exit code, why it stopped, when it can go on.

Both commands report their own counts, then the same tail: the calls spent,
the 429s met, how long it took, why it stopped and when it can go on. That
tail, and how it is read from a `Resolution`, live here once (pure: no I/O).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Self

from jitspot.catalog.resolver import Resolution
from jitspot.errors import EXIT_PARTIAL, JitspotError, QuotaExhausted, RateLimited, Stopped
from jitspot.timetext import iso_time

UNEXPECTED = "the run ended on an unexpected error"


def exit_code_for(error: JitspotError | None, failed: int) -> int:
    """0 all done; 1 some albums failed; 69/75/78 from the error that ended the run."""
    if error is not None:
        return error.exit_code
    return EXIT_PARTIAL if failed else 0


def stopped_reason(error: JitspotError | None) -> str | None:
    """The `stopped_reason` of a run that `error` ended; None when it did not stop early."""
    if isinstance(error, Stopped):
        return error.reason
    if isinstance(error, QuotaExhausted):
        return "quota"
    if isinstance(error, RateLimited):
        return "rate_limited"
    return None


def resumes_at(resolution: Resolution) -> float | None:
    """When a stopped run can go on: the quota's next free call, or the end of a rate limit."""
    if isinstance(resolution.error, QuotaExhausted):
        return resolution.quota_until
    return resolution.rate_limited_until


@dataclass(slots=True)
class RunReport(ABC):
    """What every run reports; counts are of selected albums (store rows)."""

    selected: int = 0
    left: int = 0  # not done because the run stopped early
    api_calls: int = 0
    rate_limited_responses: int = 0
    seconds: float = 0.0
    stopped_reason: str | None = None  # rate_limited, quota, max_time, signal, locked
    not_before: float | None = None
    error: str | None = None
    exit_code: int = 0

    @classmethod
    def unexpected(cls, selected: int) -> Self:
        """The report of a run that an unexpected error ended, so the run is recorded."""
        return cls(selected=selected, error=UNEXPECTED, exit_code=EXIT_PARTIAL)

    def end_with(self, resolution: Resolution, failed: int) -> None:
        """Take the calls, the 429s and how the run ended from what the resolver did."""
        self.api_calls = resolution.api_calls
        self.rate_limited_responses = resolution.rate_limited_responses
        self.stopped_reason = stopped_reason(resolution.error)
        self.not_before = resumes_at(resolution)
        if resolution.error is not None:
            self.error = str(resolution.error)
        self.exit_code = exit_code_for(resolution.error, failed)

    def stop(self, reason: str, error: JitspotError) -> None:
        """End the report of a run that `error` stopped before its work began."""
        self.stopped_reason = reason
        self.error = str(error)
        self.exit_code = error.exit_code

    @abstractmethod
    def as_json(self) -> dict[str, Any]:
        """The command's JSON: `selected`, its own counts, then the calls and the ending."""

    def calls_json(self) -> dict[str, Any]:
        """The JSON of what the run spent: its calls and the 429s it met."""
        return {
            "api_calls": self.api_calls,
            "rate_limited": self.stopped_reason == "rate_limited",
            "rate_limited_responses": self.rate_limited_responses,
        }

    def ending_json(self) -> dict[str, Any]:
        """The JSON of how the run ended: how long, why it stopped, when it can go on."""
        return {
            "seconds": round(self.seconds, 3),
            "stopped_reason": self.stopped_reason,
            "not_before": iso_time(self.not_before),
            "error": self.error,
            "exit_code": self.exit_code,
        }
