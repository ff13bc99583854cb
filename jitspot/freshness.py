"""Pure decisions: is a cached entry fresh, and what must be fetched. No I/O, no clock.

Like requests-cache's CacheActions: the resolver asks, these answer from the
settings, the cached entries and the time it passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from jitspot.cache import Entry, cache_key

DAY = 86_400.0


class Freshness(Enum):
    MISSING = "missing"  # never fetched, or a "not found" whose shorter lifetime ended
    FRESH = "fresh"
    STALE = "stale"  # past its lifetime: still served, renewed by refresh


class Policy(Enum):
    """Which albums a command fetches."""

    OFFLINE = "offline"  # nothing (show/export --offline, list, stats)
    MISSING = "missing"  # only what is missing: show, export, refresh --missing
    STALE = "stale"  # missing and stale (refresh --stale N / default refresh)
    ALL = "all"  # everything selected (show --refresh, refresh --all)


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
    max_age: float | None = None,
) -> list[str]:
    """Album ids to fetch, in order, once each.

    `max_age` (seconds, with Policy.STALE) overrides the lifetime: `refresh
    --stale 7` renews entries older than a week.
    """
    if policy is Policy.OFFLINE:
        return []
    wanted: list[str] = []
    for spotify_id in dict.fromkeys(spotify_ids):
        entry = album_entry(spotify_id, entries, with_credentials=with_credentials)
        state = freshness(entry, now, lifetimes)
        if policy is Policy.ALL or state is Freshness.MISSING:
            wanted.append(spotify_id)
        elif policy is Policy.STALE:
            assert entry is not None
            too_old = (
                now - entry.fetched_at >= max_age
                if max_age is not None
                else state is Freshness.STALE
            )
            if too_old:
                wanted.append(spotify_id)
    return wanted


def artists_to_fetch(
    albums: Iterable[Entry],
    entries: Mapping[str, Entry],
    *,
    refetch: frozenset[str] = frozenset(),
) -> list[str]:
    """Artist ids of found API albums whose artist (for genres) is not cached yet.

    `refetch` holds artists to ask again whatever the cache says (refresh --all).
    """
    wanted: dict[str, None] = {}
    for album in albums:
        if album.kind != "album" or not album.found or not album.data:
            continue
        for artist_id in album.data.get("artist_ids") or []:
            if artist_id in refetch or cache_key("artist", artist_id) not in entries:
                wanted[artist_id] = None
    return list(wanted)


def chunks(items: list[str], size: int) -> list[list[str]]:
    """`items` in consecutive groups of at most `size`."""
    return [items[start : start + size] for start in range(0, len(items), size)]
