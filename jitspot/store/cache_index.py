"""The store's index of the disk cache: what is cached, its status, fetch time and
cover, so that listing 18k albums or computing stats never opens a cached value
(see `jitspot.catalog.cache`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

from jitspot.store.db import Database, add_counters, put_meta, rows_in

# meta key: the identity of the disk cache that the cache_index describes.
CACHE_IDENTITY = "cache_identity"


Kind = Literal["album", "artist", "oembed", "search"]
Status = Literal["found", "not_found"]


def cache_key(kind: str, spotify_id: str) -> str:
    """The key of a cached answer, in the disk cache and in its index."""
    return f"{kind}:{spotify_id}"


class CacheEntry(NamedTuple):
    """One cached Spotify answer: found (with its data) or not found, and when it was
    fetched. Read from the disk cache it has its data; read from the index it has none,
    and its cover URL is the one the index keeps.

    A named tuple: `list` and `stats` read the whole index, one per cached entry.
    """

    kind: Kind
    spotify_id: str
    status: Status
    fetched_at: float
    data: dict[str, Any] | None = None
    indexed_cover: str | None = None  # the index's cover URL (an entry without its data)

    @property
    def key(self) -> str:
        return cache_key(self.kind, self.spotify_id)

    @property
    def found(self) -> bool:
        return self.status == "found"

    @property
    def source(self) -> str:
        """Where the answer came from: the Web API, or the public oEmbed endpoint."""
        return "oembed" if self.kind == "oembed" else "api"

    @property
    def cover_url(self) -> str | None:
        """The cover's URL: from the data, or as the index keeps it when there is none."""
        if self.data is None:
            return self.indexed_cover
        if self.kind == "oembed":
            url = self.data.get("thumbnail_url")
            return url if isinstance(url, str) else None
        images = self.data.get("images") or []
        return str(images[0]["url"]) if images else None

    def as_json(self) -> dict[str, Any]:
        """The value the disk cache keeps."""
        return {
            "kind": self.kind,
            "id": self.spotify_id,
            "status": self.status,
            "fetched_at": self.fetched_at,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> CacheEntry:
        """An entry from the value the disk cache keeps."""
        return cls(
            kind=value["kind"],
            spotify_id=value["id"],
            status=value["status"],
            fetched_at=float(value["fetched_at"]),
            data=value.get("data"),
        )


_INDEX_COLUMNS = "key, kind, spotify_id, status, source, fetched_at, cover_url"


class CacheIndex(Database):
    """The cache index's rows."""

    def index_cache_entries(
        self, entries: Iterable[CacheEntry], counters: dict[str, float] | None = None
    ) -> None:
        """Index cached entries and add to counters in one transaction."""
        rows = [
            (e.key, e.kind, e.spotify_id, e.status, e.source, e.fetched_at, e.cover_url)
            for e in entries
        ]
        deltas = [(name, value) for name, value in (counters or {}).items() if value]
        if not rows and not deltas:
            return
        with self.transaction() as conn:
            add_counters(conn, deltas)
            conn.executemany(
                f"INSERT OR REPLACE INTO cache_index({_INDEX_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def cache_index(self, keys: Iterable[str] | None = None) -> dict[str, CacheEntry]:
        """Index entries by key (all of them when `keys` is None), without their data."""
        # Plain tuples, unpacked: `list` reads the whole index.
        cursor = self.conn.cursor()
        cursor.row_factory = None
        select = "SELECT key, kind, spotify_id, status, fetched_at, cover_url FROM cache_index"
        rows = (
            cursor.execute(select) if keys is None else rows_in(cursor, select, "key", list(keys))
        )
        return {
            key: CacheEntry(kind, spotify_id, status, fetched_at, None, cover)
            for key, kind, spotify_id, status, fetched_at, cover in rows
        }

    def drop_cache_index(self, keys: Iterable[str] | None = None, *, identity: str = "") -> None:
        """Forget index rows whose disk cache value is gone (all rows when `keys` is None).

        With `identity`, also remember which disk cache the index now describes
        (in the same transaction, so the two never disagree).
        """
        with self.transaction() as conn:
            if keys is None:
                conn.execute("DELETE FROM cache_index")
            else:
                conn.executemany("DELETE FROM cache_index WHERE key = ?", ((k,) for k in keys))
            if identity:
                put_meta(conn, CACHE_IDENTITY, identity)

    def cache_index_size(self) -> int:
        """How many entries the cache index holds."""
        return int(self.conn.execute("SELECT count(*) FROM cache_index").fetchone()[0])

    def remember_cache_identity(self, identity: str) -> None:
        """Record which disk cache the index describes, keeping the index as it is."""
        with self.transaction() as conn:
            put_meta(conn, CACHE_IDENTITY, identity)
