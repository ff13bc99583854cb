"""Errors the core raises; the CLI maps each to an exit code and a one-line message."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

# Exit codes of the contract (DESIGN.md §1), named for what they mean. Success (0)
# and usage errors (2) need no name here: Python and typer give them.
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_DATA = 65
EXIT_NO_INPUT = 66
EXIT_UNAVAILABLE = 69
EXIT_TEMPFAIL = 75
EXIT_CONFIG = 78
EXIT_INTERRUPTED = 130  # the shell's 128 + SIGINT


class JitspotError(Exception):
    """Base of every error jitspot reports to its user."""

    exit_code = EXIT_PARTIAL


class InputNotReadable(JitspotError):
    """The input exists but is not a sheet jitspot can read (65)."""

    exit_code = EXIT_DATA


class InputNotFound(JitspotError):
    """The input does not exist or cannot be downloaded (66)."""

    exit_code = EXIT_NO_INPUT


class SpotifyUnavailable(JitspotError):
    """Spotify could not be reached after retries (69)."""

    exit_code = EXIT_UNAVAILABLE


class SpotifyRefused(SpotifyUnavailable):
    """Spotify answered a status jitspot has no use for (a 414, a 418, a 4xx it does not
    know): no retry would change it, so the command stops calling as if Spotify were
    unreachable (69), and says which answer it got."""

    def __init__(self, status: int, endpoint: str) -> None:
        from http import HTTPStatus

        try:
            phrase = f" {HTTPStatus(status).phrase}"
        except ValueError:
            phrase = ""
        super().__init__(f"Spotify refused the {endpoint} request (HTTP {status}{phrase})")
        self.status = status
        self.endpoint = endpoint


class StoppedEarly(JitspotError):
    """Stopped before the end; nothing is lost and a re-run continues (75)."""

    exit_code = EXIT_TEMPFAIL


class RateLimited(StoppedEarly):
    """Spotify asked us to wait longer than the configured cap.

    `scope` says whose limit: the Web API's ("api") or oEmbed's ("oembed"); each
    has its own "not before".
    """

    def __init__(
        self, not_before: datetime, message: str | None = None, *, scope: str = "api"
    ) -> None:
        self.not_before = not_before
        self.scope = scope
        when = not_before.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        who = "Spotify's oEmbed" if scope == "oembed" else "Spotify"
        super().__init__(message or f"rate-limited by {who} until {when}")


class QuotaExhausted(StoppedEarly):
    """The quota window has no room for this caller's share (75).

    Foreseen (`refused` False): the shared ledger says the share is spent, and
    no call was made. Refused: Spotify answered QUOTA_EXCEEDED; jitspot learned
    the budget from it and keeps every process off the Web API until
    `next_free_at`. `left` is what the caller's share has left (0 here).
    """

    def __init__(self, message: str, next_free_at: float | None, *, refused: bool = False):
        super().__init__(message)
        self.next_free_at = next_free_at
        self.refused = refused


class ConfigError(JitspotError):
    """The configuration is missing or wrong (78)."""

    exit_code = EXIT_CONFIG


def read_only_home(what: str, path: Path, cause: object) -> ConfigError:
    """The one message for a JITSPOT_HOME that takes no writes (78), whatever met it first:
    the store, the run lock."""
    return ConfigError(
        f"{what} at {path} is read-only ({cause}); make {path.parent} writable"
        " or set JITSPOT_HOME to a writable directory"
    )


class OutputNotWritable(JitspotError):
    """An output file (`export -o`, a metrics textfile) cannot be written (1)."""


class AlbumNotFound(JitspotError):
    """No album in the store matches the query (1)."""


class AmbiguousAlbum(JitspotError):
    """Several albums match the query (1); `candidates` holds their store ids."""

    def __init__(self, query: str, candidates: list[int]) -> None:
        self.query = query
        self.candidates = candidates
        super().__init__(f"{len(candidates)} albums match {query!r}; pick one with --id")


class DiskFull(StoppedEarly):
    """No space left for a write; the transaction was rolled back, a re-run is safe (75)."""


class Stopped(StoppedEarly):
    """A run stopped starting new work: a signal, or its --max-time budget (75)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        messages = {"signal": "stopped by a signal", "max_time": "stopped: --max-time reached"}
        super().__init__(messages.get(reason, f"stopped ({reason})"))


class Locked(StoppedEarly):
    """Another run holds this JITSPOT_HOME's lock (75). `holder` names it, for people."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class NotMatchable(JitspotError):
    """`match --accept/--reject` on an album a match must not touch, or a bad album ref (2)."""

    exit_code = EXIT_USAGE


class Interrupted(JitspotError):
    """Ctrl-C (130): what a transaction had not committed is rolled back."""

    exit_code = EXIT_INTERRUPTED
