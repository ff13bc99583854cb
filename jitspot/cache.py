"""The on-disk cache of Spotify answers: diskcache, JSON values, one entry per id.

Values are JSON (diskcache's JSONDisk), never pickle: a cache file can't run
code. Each entry carries its fetch time; freshness is decided by
`freshness`, not by diskcache expiry, so stale entries can still be served.
The store keeps an index of the entries (status, fetch time, cover URL) so
that listing 18k albums or computing stats never opens 18k cache values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jitspot.store import CacheIndexEntry, Store

Kind = Literal["album", "artist", "oembed"]
Status = Literal["found", "not_found"]


def cache_key(kind: str, spotify_id: str) -> str:
    return f"{kind}:{spotify_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached answer: found (with its data) or not found, and when it was fetched."""

    kind: Kind
    spotify_id: str
    status: Status
    fetched_at: float
    data: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return cache_key(self.kind, self.spotify_id)

    @property
    def found(self) -> bool:
        return self.status == "found"

    @property
    def cover_url(self) -> str | None:
        if not self.data:
            return None
        if self.kind == "oembed":
            url = self.data.get("thumbnail_url")
            return url if isinstance(url, str) else None
        images = self.data.get("images") or []
        return str(images[0]["url"]) if images else None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.spotify_id,
            "status": self.status,
            "fetched_at": self.fetched_at,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Entry:
        return cls(
            kind=value["kind"],
            spotify_id=value["id"],
            status=value["status"],
            fetched_at=float(value["fetched_at"]),
            data=value.get("data"),
        )


class SpotifyCache:
    """diskcache under JITSPOT_HOME/cache, indexed in the store."""

    def __init__(self, directory: Path, store: Store) -> None:
        self.directory = directory
        self.store = store
        self._disk: Any = None

    def _cache(self) -> Any:
        if self._disk is None:
            import diskcache

            self._disk = diskcache.Cache(
                str(self.directory),
                disk=diskcache.JSONDisk,
                disk_compress_level=6,
                eviction_policy="none",  # our data, not a best-effort cache: never evict
                statistics=False,  # counters live in the store (diskcache's make reads write)
            )
        return self._disk

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """Entries for the keys that are cached (a key missing here was never fetched)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        known = self.store.cache_index(wanted)
        if not known:
            return {}
        disk = self._cache()
        entries: dict[str, Entry] = {}
        for key in known:
            value = disk.get(key)
            if isinstance(value, dict):
                entries[key] = Entry.from_json(value)
        return entries

    def put_many(self, entries: Iterable[Entry], counters: dict[str, float] | None = None) -> None:
        """Write entries (and counters) so that a killed run keeps what it fetched."""
        batch = list(entries)
        if batch:
            disk = self._cache()
            with disk.transact():
                for entry in batch:
                    disk.set(entry.key, entry.as_json())
        self.store.index_cache_entries(
            (
                CacheIndexEntry(
                    key=e.key,
                    kind=e.kind,
                    spotify_id=e.spotify_id,
                    status=e.status,
                    source="oembed" if e.kind == "oembed" else "api",
                    fetched_at=e.fetched_at,
                    cover_url=e.cover_url,
                )
                for e in batch
            ),
            counters or {},
        )

    def stats(self) -> tuple[int, int]:
        """(entries, bytes on disk)."""
        disk = self._cache()
        return len(disk), int(disk.volume())
