"""Pure decisions: is a cached entry fresh, and what must be fetched. No I/O, no clock.

Like requests-cache's CacheActions: the resolver asks, these answer from the
settings, the cached entries and the time it passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import ClassVar, Literal

from jitspot.model import CacheEntry, cache_key
from jitspot.spotify.quota import AppMode

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


def freshness(entry: CacheEntry | None, now: float, lifetimes: Lifetimes) -> Freshness:
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

    def wants(self, entry: CacheEntry | None, now: float, lifetimes: Lifetimes) -> bool:
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
    spotify_id: str, entries: Mapping[str, CacheEntry], *, with_credentials: bool
) -> CacheEntry | None:
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
    entries: Mapping[str, CacheEntry],
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
    albums: Iterable[CacheEntry],
    entries: Mapping[str, CacheEntry],
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


class Need(IntEnum):
    """How much of an album a caller wants; each level includes the ones below."""

    COVER = 1  # a tile or a gallery: the cover alone
    ALBUM = 2  # the album's metadata with its first page of tracks (refresh)
    TRACKS = 3  # every track too (show, the album page, export)


CoverSource = Literal["api", "oembed"]


def cover_source(setting: str, mode: AppMode) -> CoverSource:
    """Where covers come from: `JITSPOT_COVER_SOURCE`, and for `auto` the app's mode.

    oEmbed costs no quota and needs no credentials: a development-mode app (one
    call per album, a daily quota) takes its covers there; an extended app gets 20
    covers a call from the Web API with the metadata. Without credentials oEmbed is
    all there is.
    """
    if mode is AppMode.NONE:
        return "oembed"
    if setting in ("api", "oembed"):
        return setting  # type: ignore[return-value]
    return "oembed" if mode is AppMode.DEVELOPMENT else "api"


def cover_entry(spotify_id: str, entries: Mapping[str, CacheEntry]) -> CacheEntry | None:
    """The entry that gives an album's cover: the newer found one of the Web API's and
    oEmbed's, else the newer of them (a "not found"), else None."""
    candidates = [
        entry
        for kind in ("album", "oembed")
        if (entry := entries.get(cache_key(kind, spotify_id))) is not None
    ]
    found = [entry for entry in candidates if entry.found]
    pool = found or candidates
    return max(pool, key=lambda entry: entry.fetched_at) if pool else None


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """What a resolve asks Spotify for: covers from oEmbed, albums from the Web API."""

    covers: list[str] = field(default_factory=list)  # oEmbed, one call each, no quota
    albums: list[str] = field(default_factory=list)  # the Web API (batches or single calls)

    @property
    def due(self) -> set[str]:
        return {*self.covers, *self.albums}


def plan_fetch(
    spotify_ids: Iterable[str],
    entries: Mapping[str, CacheEntry],
    *,
    policy: Policy,
    now: float,
    lifetimes: Lifetimes,
    need: Need,
    source: CoverSource,
    bulk: bool,
    with_credentials: bool,
) -> FetchPlan:
    """Which albums to ask oEmbed and the Web API for (pure; ids in order, once each).

    - No credentials: oEmbed for every cover `policy` wants.
    - Covers from the Web API: the album entry answers for the cover too.
    - Covers from oEmbed: the Web API only for metadata (`need` above COVER). Bulk
      work asks oEmbed for every cover first, so every album has one within the run
      however far the quota lets the metadata go; a single-album look-up asks the
      Web API, and oEmbed only when that call cannot be made (the resolver's fallback).
    """
    ids = list(dict.fromkeys(spotify_ids))
    if policy.fetches_nothing:
        return FetchPlan()

    def wants_cover(spotify_id: str) -> bool:
        return policy.wants(cover_entry(spotify_id, entries), now, lifetimes)

    def wants_album(spotify_id: str) -> bool:
        return policy.wants(entries.get(cache_key("album", spotify_id)), now, lifetimes)

    if not with_credentials:
        return FetchPlan(covers=[i for i in ids if wants_cover(i)])
    if source == "api":
        return FetchPlan(albums=[i for i in ids if wants_album(i)])
    albums = [] if need is Need.COVER else [i for i in ids if wants_album(i)]
    covers = [i for i in ids if wants_cover(i)] if bulk or need is Need.COVER else []
    return FetchPlan(covers=covers, albums=albums)


def chunks(items: list[str], size: int) -> list[list[str]]:
    """`items` in consecutive groups of at most `size`."""
    return [items[start : start + size] for start in range(0, len(items), size)]
