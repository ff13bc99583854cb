"""Cache housekeeping: `cache prune` and `cache clear` choose cached entries to drop.

The choice is pure (`prune`, `clear`: cached entries, the albums' ids and a
time in, what to drop out); `Housekeeper` reads the cache and its index,
takes the home's run lock, and drops the chosen entries from the store's
index and the disk cache. A prune also sweeps what an interrupted write or
clear left behind: values no index row names, index rows whose value is gone.
Neither ever calls Spotify: what is dropped is fetched again by the next
`show`, `export` or `refresh --missing` that needs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from typing import Any

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Freshness, Lifetimes, freshness
from jitspot.lock import RunLock
from jitspot.model import AlbumFilter, CacheEntry
from jitspot.settings import Settings
from jitspot.spotify.pacing import Clock
from jitspot.store import Store
from jitspot.store.albums import filter_sql

KINDS = ("album", "artist", "oembed", "search")

# Why an entry goes (the `reason` of each dropped entry in the report).
NOT_IN_STORE = "no album in the store"
EXPIRED = "not found, expired"
UNNEEDED_ARTIST = "no cached album needs it"
CLEARED = "cleared"
UNREADABLE = "unreadable"
NOT_INDEXED = "not in the index"  # a value no command reads (a write or clear cut short)
VALUE_GONE = "its value is gone"  # an index row left without its value


@dataclass(frozen=True, slots=True)
class Cached:
    """One value of the disk cache as housekeeping sees it (without its data)."""

    key: str
    kind: str
    spotify_id: str
    size: int  # bytes of its JSON value
    entry: CacheEntry | None = None  # None: unreadable; `data` dropped, artist ids kept apart
    artist_ids: tuple[str, ...] = ()
    name: str | None = None
    indexed: bool = True  # the store's index has a row for it
    stored: bool = True  # the disk cache holds its value (False: an index row alone)

    @classmethod
    def of(cls, key: str, entry: CacheEntry | None, size: int, *, indexed: bool = True) -> Cached:
        kind, _, spotify_id = key.partition(":")
        if entry is None:
            return cls(key, kind, spotify_id, size, indexed=indexed)
        data = entry.data or {}
        artist_ids = data.get("artist_ids") if entry.kind == "album" and entry.found else None
        name = data.get("name") or data.get("title")
        light = CacheEntry(entry.kind, entry.spotify_id, entry.status, entry.fetched_at)
        return cls(
            key,
            kind,
            spotify_id,
            size,
            light,
            tuple(str(a) for a in artist_ids or ()),
            name if isinstance(name, str) else None,
            indexed,
        )

    @classmethod
    def index_only(cls, row: CacheEntry) -> Cached:
        """An index row whose value the disk cache no longer holds."""
        return cls(row.key, row.kind, row.spotify_id, 0, row, stored=False)


@dataclass(frozen=True, slots=True)
class Drop:
    """A cached entry to drop, and why."""

    item: Cached
    reason: str

    def as_json(self) -> dict[str, Any]:
        item = self.item
        return {
            "key": item.key,
            "kind": item.kind,
            "id": item.spotify_id,
            "name": item.name,
            "bytes": item.size,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Freed:
    """What a prune or clear dropped (or, with `dry_run`, would drop)."""

    drops: tuple[Drop, ...]
    dry_run: bool

    @property
    def entries(self) -> int:
        return len(self.drops)

    @property
    def bytes(self) -> int:
        return sum(d.item.size for d in self.drops)

    def by_kind(self) -> dict[str, dict[str, int]]:
        """Entries and bytes per kind; every kind is present, zeros included."""
        kinds = {kind: {"entries": 0, "bytes": 0} for kind in KINDS}
        for drop in self.drops:
            counts = kinds.setdefault(drop.item.kind, {"entries": 0, "bytes": 0})
            counts["entries"] += 1
            counts["bytes"] += drop.item.size
        return kinds

    def as_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "bytes": self.bytes,
            "by_kind": self.by_kind(),
            "dry_run": self.dry_run,
            "dropped": [d.as_json() for d in self.drops],
        }


# -- the pure decisions ------------------------------------------------------------------


def prune(
    cached: Sequence[Cached],
    needed: set[str],
    *,
    now: float,
    lifetimes: Lifetimes,
    searches: Set[str] = frozenset(),
) -> list[Drop]:
    """Entries no album needs: albums (and oEmbed) whose id no album in the store has,
    "not found" answers past their lifetime, unreadable values, and artists that no
    kept album entry names.

    `needed`: the Spotify ids of the albums in the store (`StoredAlbum.spotify_id`);
    `searches`: the searches `match` would send for the store's albums without a
    sheet link (a search no album would send again goes). Keys of other kinds
    are left alone, unless the index and the disk cache disagree on them: an
    index row without its value, or a value without its index row, goes.
    """
    drops: dict[str, Drop] = {}
    for item in cached:
        reason = _unpaired(item)
        if reason is None and item.kind in ("album", "oembed"):
            reason = _unusable(item, now, lifetimes) or (
                NOT_IN_STORE if item.spotify_id not in needed else None
            )
        elif reason is None and item.kind == "search":
            reason = _unusable(item, now, lifetimes) or (
                NOT_IN_STORE if item.spotify_id not in searches else None
            )
        if reason is not None:
            drops[item.key] = Drop(item, reason)
    wanted = artists_named(item for item in cached if item.key not in drops)
    for item in cached:
        if item.kind == "artist" and item.key not in drops:
            reason = _unusable(item, now, lifetimes) or (
                UNNEEDED_ARTIST if item.spotify_id not in wanted else None
            )
            if reason is not None:
                drops[item.key] = Drop(item, reason)
    return _in_cache_order(cached, drops)


def clear(cached: Sequence[Cached], selected: set[str]) -> list[Drop]:
    """The album and oEmbed entries of the `selected` Spotify ids, and the artists
    they name that no remaining album entry names."""
    drops = {
        item.key: Drop(item, CLEARED)
        for item in cached
        if item.kind in ("album", "oembed") and item.spotify_id in selected
    }
    freed = artists_named(drops[key].item for key in drops)
    still = artists_named(item for item in cached if item.key not in drops)
    for item in cached:
        if item.kind == "artist" and item.spotify_id in freed and item.spotify_id not in still:
            drops[item.key] = Drop(item, UNNEEDED_ARTIST)
    return _in_cache_order(cached, drops)


def chooses_albums(filters: AlbumFilter) -> bool:
    """Whether FILTERS narrow the albums at all: judged by the SQL they make, not by the
    options given (`--query ""` narrows nothing, and must not empty the cache)."""
    return filter_sql(filters) != filter_sql(AlbumFilter())


def artists_named(items: Iterable[Cached]) -> set[str]:
    """Artist ids that found album entries among `items` name (for their genres)."""
    return {artist_id for item in items if item.kind == "album" for artist_id in item.artist_ids}


def _unpaired(item: Cached) -> str | None:
    """Why an entry is only half there (what a kill between two writes leaves), or None."""
    if not item.stored:
        return VALUE_GONE
    if not item.indexed:
        return NOT_INDEXED
    return None


def _unusable(item: Cached, now: float, lifetimes: Lifetimes) -> str | None:
    if item.entry is None:
        return UNREADABLE
    if freshness(item.entry, now, lifetimes) is Freshness.MISSING:
        return EXPIRED  # a "not found" past its lifetime: asked again anyway
    return None


def _in_cache_order(cached: Sequence[Cached], drops: dict[str, Drop]) -> list[Drop]:
    return [drops[item.key] for item in cached if item.key in drops]


# -- running them ------------------------------------------------------------------------


class Housekeeper:
    """Prunes or clears the cache of one JITSPOT_HOME, under its run lock."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.cache = SpotifyCache(settings.cache_dir, store)
        self.lifetimes = Lifetimes.from_days(settings.cache_ttl_days, settings.not_found_ttl_days)

    def close(self) -> None:
        self.cache.close()

    def prune(self, *, dry_run: bool = False, wait_lock: float = 0.0) -> Freed:
        """Drop what no album in the store needs, and expired "not found" answers."""

        def choose(cached: list[Cached]) -> list[Drop]:
            from jitspot.jobs.matching import search_query

            albums = self.store.albums()
            needed = {a.spotify_id for a in albums if a.spotify_id}
            searches = {
                query
                for a in albums
                if not a.sheet_spotify_id and (query := search_query(a)) is not None
            }
            return prune(
                cached, needed, now=self.clock(), lifetimes=self.lifetimes, searches=searches
            )

        return self._run("cache prune", choose, dry_run=dry_run, wait_lock=wait_lock)

    def clear(
        self, filters: AlbumFilter, *, dry_run: bool = False, wait_lock: float = 0.0
    ) -> Freed:
        """Forget the cached data of the albums `filters` selects (empty: every album)."""

        def choose(cached: list[Cached]) -> list[Drop]:
            selected = {a.spotify_id for a in self.store.albums(filters) if a.spotify_id}
            return clear(cached, selected)

        return self._run("cache clear", choose, dry_run=dry_run, wait_lock=wait_lock)

    def _run(
        self,
        command: str,
        choose: Callable[[list[Cached]], list[Drop]],
        *,
        dry_run: bool,
        wait_lock: float,
    ) -> Freed:
        if dry_run:  # changes nothing, so takes no lock (as `refresh --dry-run`)
            return Freed(tuple(choose(self._cached())), dry_run=True)
        lock = RunLock(self.settings.home, command, clock=self.clock, sleep=self.sleep)
        with lock.held(wait_lock):
            drops = choose(self._cached())
            self.cache.drop([d.item.key for d in drops])
        return Freed(tuple(drops), dry_run=False)

    def _cached(self) -> list[Cached]:
        """The disk cache's values, then the index rows that have no value.

        The index is read after the values: an entry written meanwhile (a `show`
        takes no lock; it writes its value, then its index row) is then found in both.
        """
        scanned = list(self.cache.scan())
        index = self.cache.indexed()
        cached = [Cached.of(key, entry, size, indexed=key in index) for key, entry, size in scanned]
        on_disk = {item.key for item in cached}
        cached += [Cached.index_only(row) for key, row in index.items() if key not in on_disk]
        return cached
