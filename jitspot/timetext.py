"""Times in words: for machines (ISO 8601) and for people ("14:32", "2027-01-16 14:32")."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def iso_time(timestamp: float | None) -> str | None:
    """A time for machines (JSON): ISO 8601 in UTC, to the second."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def until_text(until: float | None, now: float, tz: tzinfo | None = None) -> str:
    """When a wait ends, for people: "14:32" today, "2027-01-16 14:32" another day.

    `tz` is the local time zone unless given (tests pin it).
    """
    if until is None:
        return "later"
    end, today = datetime.fromtimestamp(until, tz), datetime.fromtimestamp(now, tz)
    return end.strftime("%H:%M" if end.date() == today.date() else "%Y-%m-%d %H:%M")


def window_text(seconds: float) -> str:
    """A window's length for people: "24 h", "90 min", "30 s"."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
