"""The rolling daily quota of a development-mode app: what the app may do, who may spend it.

Since July 2026 Spotify counts the Web API calls of a developer account in a
rolling ~24 h window and refuses calls past it with `429` and the reason
`QUOTA_EXCEEDED`, with a Retry-After of hours; retrying early lengthens the
penalty. jitspot does not draw that refusal when it can foresee it:

- every Web API request (not the token endpoint, not oEmbed) is written in a
  ledger in the store just before it is sent, shared by every jitspot process
  on the home; "used" is the count inside the window;
- bulk work (refresh, match, export of many albums, Sync, serve's riders)
  spends only the budget above the reserve; single-album look-ups (show, the
  album page, tiles in view) may spend the rest;
- a refusal that comes all the same teaches the budget: the calls the ledger
  holds before the refused one. The learned budget and a "not before" from
  Retry-After are shared with every process, and the refusal is never drawn
  twice.

The budget is `JITSPOT_DAILY_QUOTA`, by default 1,000 for a development-mode
app (and while jitspot does not know the app's mode yet) and none for an
extended one, or what a refusal taught, whichever is stricter.

Pure pieces (`budget_for`, `limit_for`, `next_free`, `quota_status`,
`windows_needed`) take their facts as arguments; `QuotaGate` adds the ledger,
the clock and the waits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from jitspot.errors import QuotaExhausted
from jitspot.timetext import iso_time, until_text, window_text

DEVELOPMENT_BUDGET = 1_000  # calls per window for a development-mode app, unless told
# A call leaves Spotify's window a little after it leaves ours (it arrives later than we
# wrote it down, and clocks differ): the ledger keeps every call this much longer, a
# second of a day's window (a compressed window, in a bench, keeps its share of it, but
# never less than a loopback round trip).
LEAVE_MARGIN = 1.0
LEAVE_MARGIN_MIN = 0.05


def span_of(window: float) -> float:
    """How long the ledger counts a call: the window, and the margin of its share."""
    return window + min(LEAVE_MARGIN, max(LEAVE_MARGIN_MIN, LEAVE_MARGIN * window / 86_400))


LEARNED_MEMORY = 30 * 86_400.0  # a learned budget is kept this long, then taught anew
WAIT_STEP = 0.001  # the shortest wait for a free call (a clock must move)
# A refusal after fewer of jitspot's calls than this in the window says that other apps of
# the developer account spent the quota, not what the quota is: nothing is learned from it.
LEARN_FLOOR = 50

# Shared state in the store's meta table, seen by every jitspot process.
LEARNED = "quota.learned"  # {"budget": n, "at": t, "configured": c}
NOT_BEFORE = "spotify.not_before"  # no Web API call before (a long 429, a quota refusal)
OEMBED_NOT_BEFORE = "oembed.not_before"  # no oEmbed call before (oEmbed's own 429s)
ALBUMS_BATCH_FORBIDDEN_UNTIL = "spotify.albums_batch_forbidden_until"
ALBUMS_BATCH_ALLOWED_UNTIL = "spotify.albums_batch_allowed_until"
ARTISTS_BATCH_FORBIDDEN_UNTIL = "spotify.artists_batch_forbidden_until"
NO_GENRES_UNTIL = "spotify.no_genres_until"
EXCEEDED = "api.quota_exceeded"  # counter: QUOTA_EXCEEDED refusals drawn


class Share(StrEnum):
    """Whose calls these are: bulk work leaves the reserve to single-album look-ups."""

    BULK = "bulk"
    INTERACTIVE = "interactive"


class AppMode(StrEnum):
    """What jitspot knows of the Spotify app it uses."""

    NONE = "none"  # no credentials: covers from oEmbed only
    UNKNOWN = "unknown"  # credentials, mode not learned yet (or forgotten after a day)
    DEVELOPMENT = "development"  # batch lookups refused (403): one call per album, a quota
    EXTENDED = "extended"  # batch lookups answered: 20 albums a call, no quota until taught


def app_mode(
    *,
    has_credentials: bool,
    batch_forbidden_until: float | None,
    batch_allowed_until: float | None,
    now: float,
) -> AppMode:
    """The app's mode from what the last batch call told (remembered for a while)."""
    if not has_credentials:
        return AppMode.NONE
    if batch_forbidden_until is not None and batch_forbidden_until > now:
        return AppMode.DEVELOPMENT
    if batch_allowed_until is not None and batch_allowed_until > now:
        return AppMode.EXTENDED
    return AppMode.UNKNOWN


def learned_budget(doc: Any, configured: int | None, now: float) -> int | None:
    """The budget a refusal taught, while it holds: for LEARNED_MEMORY, and only while the
    configured budget is still the one it corrected (a new setting is the user's new word)."""
    if not isinstance(doc, Mapping):
        return None
    budget, at = doc.get("budget"), doc.get("at")
    if not isinstance(budget, int) or not isinstance(at, int | float):
        return None
    if now - at > LEARNED_MEMORY or doc.get("configured") != configured:
        return None
    return max(budget, 0)


def budget_for(configured: int | None, learned: int | None, mode: AppMode) -> int | None:
    """Calls allowed per window: the configured budget (by default 1,000 for a
    development-mode app or one not known yet, none for an extended one) or the
    learned one, whichever is stricter. None: no budget."""
    default = configured
    if default is None and mode in (AppMode.DEVELOPMENT, AppMode.UNKNOWN):
        default = DEVELOPMENT_BUDGET
    known = [budget for budget in (default, learned) if budget is not None]
    return min(known) if known else None


def limit_for(budget: int | None, reserve: float, share: Share) -> int | None:
    """The count of calls in the window up to which `share` may send (None: no limit)."""
    if budget is None:
        return None
    if share is Share.INTERACTIVE:
        return budget
    return math.floor(budget * (1 - reserve) + 1e-9)


def next_free(times: Sequence[float], limit: int | None, window: float) -> float | None:
    """When a share that ends at `limit` may send again, given the sorted times of the
    calls in the window; None when it may now, inf when it never may (a limit of 0)."""
    used = len(times)
    if limit is None or used < limit:
        return None
    if limit <= 0:
        return math.inf
    return times[used - limit] + window


def windows_needed(calls: int, left_now: int | None, per_window: int | None) -> float:
    """Quota windows a piece of bulk work takes: this one (if it has room) and the next.

    0 for no calls; 1 when it fits in what is left now (or there is no budget);
    inf when bulk work has no share at all.
    """
    if calls <= 0:
        return 0
    if left_now is None or per_window is None:
        return 1
    if calls <= left_now:
        return 1
    if per_window <= 0:
        return math.inf
    return (1 if left_now > 0 else 0) + math.ceil((calls - left_now) / per_window)


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """The quota as `stats`, the dry runs and the Prometheus file show it."""

    window_seconds: float
    budget: int | None  # None: no budget (an extended app no refusal has taught)
    learned: int | None
    configured: int | None
    used: int
    reserve: float
    bulk_left: int | None
    interactive_left: int | None
    next_free_at: float | None  # when bulk work may call again (None: now)
    interactive_next_free_at: float | None
    exceeded_total: int
    mode: AppMode

    @property
    def bulk_per_window(self) -> int | None:
        return limit_for(self.budget, self.reserve, Share.BULK)

    def as_json(self) -> dict[str, Any]:
        return {
            "window_seconds": self.window_seconds,
            "budget": self.budget,
            "learned": self.learned,
            "configured": self.configured,
            "used": self.used,
            "reserve": self.reserve,
            "bulk_left": self.bulk_left,
            "interactive_left": self.interactive_left,
            "next_free_at": _iso(self.next_free_at),
            "interactive_next_free_at": _iso(self.interactive_next_free_at),
            "exceeded_total": self.exceeded_total,
            "app_mode": self.mode.value,
        }


def _iso(when: float | None) -> str | None:
    return None if when is None or math.isinf(when) else iso_time(when)


def quota_status(
    times: Sequence[float],
    *,
    now: float,
    window: float,
    configured: int | None,
    learned: int | None,
    mode: AppMode,
    reserve: float,
    not_before: float | None,
    exceeded_total: int,
) -> QuotaStatus:
    """The quota now, from the sorted times of the ledger's calls inside the window."""
    budget = budget_for(configured, learned, mode)
    bulk = limit_for(budget, reserve, Share.BULK)
    used = len(times)
    blocked = not_before if not_before is not None and not_before > now else None

    def free_at(limit: int | None) -> float | None:
        at = next_free(times, limit, span_of(window))
        if blocked is not None:
            return blocked if at is None else max(at, blocked)
        return at

    return QuotaStatus(
        window_seconds=window,
        budget=budget,
        learned=learned,
        configured=configured,
        used=used,
        reserve=reserve,
        bulk_left=None if bulk is None else max(bulk - used, 0),
        interactive_left=None if budget is None else max(budget - used, 0),
        next_free_at=free_at(bulk),
        interactive_next_free_at=free_at(budget),
        exceeded_total=exceeded_total,
        mode=mode,
    )


def spent_message(
    share: Share,
    used: int,
    budget: int | None,
    limit: int | None,
    *,
    window: float,
    free: float,
    now: float,
) -> str:
    """Why a caller may not call now, what is left and when the next call is free."""
    span = window_text(window)
    if math.isinf(free):
        return (
            "bulk work has no share of the daily quota (JITSPOT_QUOTA_RESERVE keeps all of it"
            " for single-album look-ups)"
        )
    when = until_text(free, now)
    if share is Share.BULK and budget is not None and limit is not None:
        return (
            f"the daily quota's share for bulk work is used: {used:,} of {budget:,} calls in"
            f" the last {span}, {budget - limit:,} kept for single-album look-ups; the next"
            f" call is free at {when}"
        )
    return (
        f"Spotify's daily quota is used: {used:,} of {budget or used:,} calls in the last {span};"
        f" the next call is free at {when}"
    )


# -- the gate: the ledger, the clock and the waits ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Taken:
    """A ledger's answer: the ticket of the call written down, or why there is no room."""

    ticket: int | None  # None: no room for the caller's share
    used: int  # calls in the window (with this one, when taken); -1 when not counted
    next_free_at: float | None = None


class Ledger(Protocol):
    """The shared ledger of Web API calls (the store's `quota_ledger` table)."""

    def take(
        self, now: float, window: float, limit: int | None, endpoint: str, share: str
    ) -> Taken:
        """Write a call down if the window holds fewer than `limit` calls (None: always)."""
        ...

    def refused(
        self, ticket: int, now: float, window: float, until: float, configured: Any
    ) -> int | None:
        """Spotify refused the call of `ticket`: learn the budget (the calls before it in the
        window), count the refusal, keep every process off until `until`; the budget."""
        ...


class QuotaGate:
    """Checks each Web API request against the ledger for the current share.

    `budget` and `share` are set by the resolver before it sends (from the app's
    mode and what was learned); a refusal lowers `budget` at once. A share with
    no room waits for its next free call when that comes within the wait cap
    (or, for a run with --max-time, before its deadline); otherwise it stops
    with QuotaExhausted.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        window: float,
        reserve: float,
        configured: int | None,
        wait_cap: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        deadline: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.ledger = ledger
        self.window = window
        self.reserve = reserve
        self.configured = configured
        self.wait_cap = wait_cap
        self._clock = clock
        self._sleep = sleep
        self._deadline = deadline
        self.budget: int | None = None
        self.share = Share.INTERACTIVE

    @property
    def span(self) -> float:
        """The window as the ledger keeps it: Spotify's, and the margin."""
        return span_of(self.window)

    def limit(self, share: Share | None = None) -> int | None:
        return limit_for(self.budget, self.reserve, share or self.share)

    def take(self, endpoint: str) -> int:
        """Write the next request down; wait for room, or raise QuotaExhausted."""
        while True:
            share = self.share
            limit = self.limit(share)
            now = self._clock()
            taken = self.ledger.take(now, self.span, limit, endpoint, share.value)
            if taken.ticket is not None:
                return taken.ticket
            free = taken.next_free_at if taken.next_free_at is not None else math.inf
            if self._may_wait(now, free):
                self._sleep(max(free - now, WAIT_STEP))
                continue
            message = spent_message(
                share, taken.used, self.budget, limit, window=self.window, free=free, now=now
            )
            raise QuotaExhausted(message, None if math.isinf(free) else free)

    def _may_wait(self, now: float, free: float) -> bool:
        if math.isinf(free):
            return False
        deadline = self._deadline()
        if deadline is not None:
            return free <= deadline
        return free - now <= self.wait_cap

    def refused(self, ticket: int, retry_after: float | None) -> QuotaExhausted:
        """Spotify answered QUOTA_EXCEEDED to the call of `ticket`: learn, share, stop."""
        now = self._clock()
        until = now + (retry_after if retry_after is not None else self.window)
        learned = self.ledger.refused(ticket, now, self.span, until, self.configured)
        after = until_text(until, now)
        if learned is None:
            message = (
                "Spotify refused a call for its daily quota (QUOTA_EXCEEDED), which other apps"
                f" of this developer account spend too: no Web API call before {after}"
            )
        else:
            self.budget = learned if self.budget is None else min(self.budget, learned)
            message = (
                f"Spotify refused a call for its daily quota (QUOTA_EXCEEDED) after {learned:,}"
                f" calls in the last {window_text(self.window)}: jitspot keeps to {learned:,}"
                f" from now on, and calls the Web API again after {after}"
            )
        return QuotaExhausted(message, until, refused=True)
