"""Pure decisions: is a cached entry fresh, and what must be fetched. No I/O, no clock.

Like requests-cache's CacheActions: the resolver asks, these answer from the
settings, the cached entries and the time it passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from jitspot.cache import Entry, cache_key

DAY = 86_400.0


class Freshness(Enum):
    MISSING = "missing"  # never fetched, or a "not found" whose shorter lifetime ended
    FRESH = "fresh"
    STALE = "stale"  # past its lifetime: still served, renewed by refresh


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long entries stay fresh, in seconds."""

    found: float = 30 * DAY
    not_found: float = 7 * DAY

    @classmethod
    def from_days(cls, found_days: float, not_found_days: float) -> Lifetimes:
        return cls(found=found_days * DAY, not_found=not_found_days * DAY)


def freshness(entry: Entry | None, now: float, lifetimes: Lifetimes) -> Freshness:
    """A found entry goes stale but stays; a "not found" expires so the id is asked again."""
    if entry is None:
        return Freshness.MISSING
    age = now - entry.fetched_at
    if entry.found:
        return Freshness.FRESH if age < lifetimes.found else Freshness.STALE
    return Freshness.FRESH if age < lifetimes.not_found else Freshness.MISSING


@dataclass(frozen=True, slots=True)
class Policy:
    """Which cached entries a command fetches again: a pure rule, asked per entry.

    `missing`: nothing cached (or a "not found" whose lifetime ended).
    `stale`: cached at least `max_age` seconds ago, or past its lifetime when
    `max_age` is None. `everything`: whatever the cache holds. Albums and
    their artists follow the same rule.
    """

    missing: bool = True
    stale: bool = False
    everything: bool = False
    max_age: float | None = None

    OFFLINE: ClassVar[Policy]  # nothing (show/export --offline, list, stats)
    MISSING: ClassVar[Policy]  # only what is missing: show, export, refresh --missing
    STALE: ClassVar[Policy]  # missing and past the lifetime
    ALL: ClassVar[Policy]  # everything selected (show --refresh, refresh of FILTERS)

    @property
    def fetches_nothing(self) -> bool:
        return not (self.missing or self.stale or self.everything)

    def wants(self, entry: Entry | None, now: float, lifetimes: Lifetimes) -> bool:
        """Whether the entry (None: nothing cached) is to be fetched."""
        if self.everything:
            return True
        state = freshness(entry, now, lifetimes)
        if entry is not None and self.stale:
            too_old = (
                now - entry.fetched_at >= self.max_age
                if self.max_age is not None
                else state is not Freshness.FRESH
            )
            if too_old:
                return True
        return self.missing and state is Freshness.MISSING


Policy.OFFLINE = Policy(missing=False)
Policy.MISSING = Policy()
Policy.STALE = Policy(stale=True)
Policy.ALL = Policy(everything=True)


def album_entry(
    spotify_id: str, entries: Mapping[str, Entry], *, with_credentials: bool
) -> Entry | None:
    """The entry that answers for an album: the API's, else (without credentials) oEmbed's.

    With credentials an oEmbed-only entry is not enough: it has no tracks or
    metadata, so the album is fetched from the API.
    """
    api = entries.get(cache_key("album", spotify_id))
    if api is not None or with_credentials:
        return api
    return entries.get(cache_key("oembed", spotify_id))


def albums_to_fetch(
    spotify_ids: Iterable[str],
    entries: Mapping[str, Entry],
    *,
    policy: Policy,
    now: float,
    lifetimes: Lifetimes,
    with_credentials: bool,
) -> list[str]:
    """Album ids to fetch, in order, once each."""
    if policy.fetches_nothing:
        return []
    return [
        spotify_id
        for spotify_id in dict.fromkeys(spotify_ids)
        if policy.wants(
            album_entry(spotify_id, entries, with_credentials=with_credentials), now, lifetimes
        )
    ]


def artists_to_fetch(
    albums: Iterable[Entry],
    entries: Mapping[str, Entry],
    *,
    policy: Policy,
    now: float,
    lifetimes: Lifetimes,
) -> list[str]:
    """Artist ids (for genres) of found API albums that `policy` wants fetched.

    Artists live by the albums' rules: missing ones are fetched by every
    command, stale ones by a refresh that renews stale entries.
    """
    if policy.fetches_nothing:
        return []
    wanted: dict[str, None] = {}
    for album in albums:
        if album.kind != "album" or not album.found or not album.data:
            continue
        for artist_id in album.data.get("artist_ids") or []:
            if artist_id not in wanted and policy.wants(
                entries.get(cache_key("artist", artist_id)), now, lifetimes
            ):
                wanted[artist_id] = None
    return list(wanted)


def chunks(items: list[str], size: int) -> list[list[str]]:
    """`items` in consecutive groups of at most `size`."""
    return [items[start : start + size] for start in range(0, len(items), size)]
