"""The store's index of the disk cache: what is cached, its status, fetch time and
cover, so that listing 18k albums or computing stats never opens a cached value
(see `jitspot.catalog.cache`)."""

from __future__ import annotations

from collections.abc import Iterable

from jitspot.model import CacheEntry
from jitspot.store.db import Database, add_counters, put_meta, rows_in

# meta key: the identity of the disk cache that the cache_index describes.
CACHE_IDENTITY = "cache_identity"


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
