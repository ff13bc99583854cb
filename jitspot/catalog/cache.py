"""The on-disk cache of Spotify answers: diskcache, JSON values, one entry per id.

Values are JSON (diskcache's JSONDisk), never pickle: a cache file can't run
code. Each entry carries its fetch time; freshness is decided by
`freshness`, not by diskcache expiry, so stale entries can still be served.
The store keeps an index of the entries (status, fetch time, cover URL) so
that listing 18k albums or computing stats never opens 18k cache values.

The index and the disk cache must say the same thing, so the disk cache
carries an identity (a marker value the store remembers): a cache folder
that is gone or replaced voids the whole index, and an index row whose value
is missing or unreadable is dropped when it is read.

The cache is only a cache: a damaged one (a garbled cache.db, a garbled
value, a file where the folder should be) is moved aside to
`cache.damaged-<time>` and a fresh one started; when even that fails the
command works without a cache. Either way it is said once, as a warning on
the `jitspot.catalog.cache` logger (the core never prints).
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from jitspot.errors import ConfigError, JitspotError
from jitspot.model import CacheEntry
from jitspot.store import CACHE_IDENTITY, Store

log = logging.getLogger(__name__)

# Kept in the disk cache itself (no entry key looks like it: those are "kind:id").
IDENTITY_KEY = "jitspot:identity"
_COMPRESS_LEVEL = 6  # diskcache's JSONDisk compresses keys too: the level is part of a key
_MODE_RAW = 1  # diskcache's MODE_RAW: the value is in the row
_MODE_BINARY = 2  # diskcache's MODE_BINARY: the value is in a file beside cache.db
# What a garbled value raises when it is decoded (JSONDisk: zlib, then UTF-8 JSON).
_BAD_VALUE = (zlib.error, ValueError, KeyError, TypeError)


class SpotifyCache:
    """diskcache under JITSPOT_HOME/cache, indexed in the store."""

    def __init__(self, directory: Path, store: Store) -> None:
        self.directory = directory
        self.store = store
        self._disk: Any = None
        self._opened = False  # tried to open (the disk cache may still be None: unusable)
        self._warned = False
        self._index_void = False  # the index describes another cache and can't be dropped
        # Reads without diskcache while the disk cache is not opened (`_direct_reader`).
        self._direct: DirectReader | None = None
        self._direct_tried = False

    # -- opening, identity, damage -------------------------------------------------------

    def _cache(self) -> Any:
        """The open disk cache, or None when it is damaged and could not be replaced."""
        if not self._opened:
            self._opened = True
            try:
                self._disk = self._open()
            except (sqlite3.Error, OSError, *_BAD_VALUE) as exc:
                if _is_transient(exc):
                    self._opened = False
                    raise
                if _is_damage(exc, self.directory):
                    self._disk = self._replace_damaged(exc)
                else:
                    self._disk = self._open_read_only(exc)
        return self._disk

    def _open_read_only(self, error: BaseException) -> Any:
        """The cache for reading only (a read-only home, a full disk), or None."""
        try:
            disk = ReadOnlyDisk(self.directory)
            identity = disk.get(IDENTITY_KEY)
        except (sqlite3.Error, OSError, *_BAD_VALUE):
            self._notice(
                f"cannot use the Spotify cache at {self.directory} ({_reason(error)}); "
                "working without it"
            )
            return None
        log.debug("the Spotify cache is read-only here (%s)", _reason(error))
        if self.store.get_meta(CACHE_IDENTITY) != identity:
            self._index_void = True
        return disk

    def _open(self) -> Any:
        import diskcache

        disk = diskcache.Cache(
            str(self.directory),
            disk=diskcache.JSONDisk,
            disk_compress_level=_COMPRESS_LEVEL,
            eviction_policy="none",  # our data, not a best-effort cache: never evict
            statistics=False,  # counters live in the store (diskcache's make reads write)
        )
        try:
            self._check_identity(disk)
        except BaseException:
            disk.close()
            raise
        return disk

    def _check_identity(self, disk: Any) -> None:
        """Void the store's index when this disk cache is not the one it describes."""
        disk.add(IDENTITY_KEY, uuid.uuid4().hex)  # add, not set: the first opener's id sticks
        identity = disk.get(IDENTITY_KEY)
        if not isinstance(identity, str):
            raise ValueError("the cache has no identity")
        known = self.store.get_meta(CACHE_IDENTITY)
        if known == identity:
            return
        # A store that never saw a cache identity meets a cache with values: a cache
        # from before identities (its index is in the store), or a store rebuilt
        # after damage (its index is empty). Adopt the cache, never fetch it again.
        # Otherwise (another store's cache, a new, deleted or replaced folder)
        # nothing the index lists is in this cache.
        adopt = known is None and len(disk) > 1
        try:
            if not adopt:
                self.store.drop_cache_index(identity=identity)
            elif self.store.cache_index_size() == 0:
                self._rebuild_index(disk, identity)
            else:
                self.store.remember_cache_identity(identity)
        except JitspotError:
            # A read-only or full store: decide for this command only, write nothing.
            self._index_void = not adopt

    def _rebuild_index(self, disk: Any, identity: str) -> None:
        """Index every value the disk cache holds (a store re-created beside it)."""
        rows: list[CacheEntry] = []
        for key in disk.iterkeys():
            if key == IDENTITY_KEY:
                continue
            try:
                rows.append(CacheEntry.from_json(disk.get(key)))
            except (*_BAD_VALUE, sqlite3.Error):  # dropped when met; not worth failing for
                continue
        self.store.index_cache_entries(rows)
        self.store.remember_cache_identity(identity)
        log.info("rebuilt the cache index from %d cached entries", len(rows))

    def _replace_damaged(self, error: BaseException) -> Any:
        """Move a damaged cache aside and open a fresh one; None when that fails too."""
        self.close()
        self._opened = True
        reason = _reason(error)
        try:
            aside = self._move_aside()
            disk = self._open()
        except (sqlite3.Error, OSError, *_BAD_VALUE) as exc:
            if _is_transient(exc):
                raise
            self._notice(
                f"the Spotify cache at {self.directory} is unreadable ({reason}); "
                "working without it — delete the folder to rebuild it"
            )
            return None
        self._notice(
            f"the Spotify cache at {self.directory} was unreadable ({reason}); "
            f"moved it to {aside} and started a fresh one"
        )
        return disk

    def _move_aside(self) -> Path | None:
        if not self.directory.exists() and not self.directory.is_symlink():
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        aside = self.directory.with_name(f"{self.directory.name}.damaged-{stamp}")
        suffix = 1
        while aside.exists():
            suffix += 1
            aside = aside.with_name(f"{self.directory.name}.damaged-{stamp}-{suffix}")
        self.directory.rename(aside)
        return aside

    def _notice(self, message: str) -> None:
        """One warning per command, however many entries were damaged."""
        if not self._warned:
            self._warned = True
            log.warning(message)

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        self._opened = False
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        self._direct_tried = False

    # -- reading and writing -------------------------------------------------------------

    def index(self, keys: Iterable[str] | None) -> dict[str, CacheEntry]:
        """The store's index rows for `keys` (None: all), checked against the cache's identity.

        Cheap (the values are not opened): what `list` reads. Empty when the
        disk cache is unusable, so it says what `get_many` would.
        """
        if not self._opened and self._direct_reader() is not None:
            return self.store.cache_index(keys)
        return self._checked_index(keys)

    def _checked_index(self, keys: Iterable[str] | None) -> dict[str, CacheEntry]:
        if self._cache() is None or self._index_void:
            return {}
        return self.store.cache_index(keys)

    def _direct_reader(self) -> DirectReader | None:
        """A reader of the disk cache, when it is the one the index describes; opened
        and checked once per command.

        Any doubt (no cache yet, another one, damage, a busy file) answers None
        and the caller opens the cache through diskcache, which decides.
        """
        if not self._direct_tried:
            self._direct_tried = True
            self._direct = self._checked_reader()
        return self._direct

    def _checked_reader(self) -> DirectReader | None:
        known = self.store.get_meta(CACHE_IDENTITY)
        if not isinstance(known, str):
            return None
        try:
            reader = DirectReader(self.directory)
        except (sqlite3.Error, OSError):
            return None
        try:
            if reader.get(IDENTITY_KEY) == known:
                return reader
        except (sqlite3.Error, OSError, *_BAD_VALUE):
            pass
        reader.close()
        return None

    def _read_directly(self, keys: list[str]) -> dict[str, CacheEntry] | None:
        """The entries for `keys`, read without diskcache; None unless every value the
        index lists was there and readable (the full path then drops what is not)."""
        reader = self._direct_reader()
        if reader is None:
            return None
        try:
            entries: dict[str, CacheEntry] = {}
            for key in self.store.cache_index(keys):
                value = reader.get(key)
                if value is None:
                    return None
                entries[key] = CacheEntry.from_json(value)
            return entries
        except (sqlite3.Error, OSError, *_BAD_VALUE):
            return None

    def get_many(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        """Entries for the keys that are cached (a key missing here was never fetched).

        An index row whose value is gone or unreadable is dropped, so that the
        index (what `list` reads) says the same from then on.
        """
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        if not self._opened:
            direct = self._read_directly(wanted)
            if direct is not None:
                return direct
        known = self._checked_index(wanted)
        if not known:
            return {}
        disk = self._cache()
        entries: dict[str, CacheEntry] = {}
        gone: list[str] = []
        unreadable: list[str] = []
        reason = ""
        for key in known:
            try:
                value = disk.get(key)
                if value is None:
                    gone.append(key)
                    continue
                entries[key] = CacheEntry.from_json(value)
            except sqlite3.Error as exc:
                if not _is_damage(exc, self.directory):
                    raise
                self._replace_damaged(exc)  # the whole file is damaged: start afresh
                return {}
            except _BAD_VALUE as exc:
                unreadable.append(key)
                reason = _reason(exc)
        if unreadable:
            self._drop_values(disk, unreadable)
            count = f"{len(unreadable)} unreadable entr{'y' if len(unreadable) == 1 else 'ies'}"
            self._notice(
                f"the Spotify cache at {self.directory} had {count} ({reason}); "
                "dropped them, they are fetched again when needed"
            )
        if (gone or unreadable) and not isinstance(disk, ReadOnlyDisk):
            with suppress(JitspotError):  # a read-only or full store: drop them next time
                self.store.drop_cache_index(gone + unreadable)
        return entries

    def _drop_values(self, disk: Any, keys: list[str]) -> None:
        for key in keys:
            try:
                disk.delete(key)
            except (sqlite3.Error, OSError):  # best effort: a later set overwrites it
                continue

    def put_many(
        self, entries: Iterable[CacheEntry], counters: dict[str, float] | None = None
    ) -> None:
        """Write entries (and counters) so that a killed run keeps what it fetched.

        Only what reached the disk cache is indexed: without a usable cache the
        counters are still kept, the entries are not.
        """
        batch = list(entries)
        if batch:
            disk = self._cache()
            try:
                self._write(disk, batch)
            except sqlite3.Error as exc:
                if not _is_damage(exc, self.directory):
                    raise
                disk = self._replace_damaged(exc)
                self._write(disk, batch)
            if disk is None or isinstance(disk, ReadOnlyDisk):
                batch = []
        self.store.index_cache_entries(batch, counters or {})

    @staticmethod
    def _write(disk: Any, batch: list[CacheEntry]) -> None:
        if disk is None or isinstance(disk, ReadOnlyDisk):
            return
        with disk.transact():
            for entry in batch:
                disk.set(entry.key, entry.as_json())

    # -- housekeeping (cache prune / clear) ----------------------------------------------

    def scan(self) -> Iterator[tuple[str, CacheEntry | None, int]]:
        """Every entry on disk: (key, the entry or None when unreadable, its JSON size in bytes).

        Read from the disk cache, not the index: a value the index lost is found too.
        """
        disk = self._writable()
        for key in list(disk.iterkeys()):
            if not isinstance(key, str) or key == IDENTITY_KEY:
                continue
            try:
                value = disk.get(key)
                if value is None:  # deleted since the keys were listed
                    continue
                yield key, CacheEntry.from_json(value), len(json.dumps(value).encode())
            except _BAD_VALUE:
                yield key, None, 0

    def drop(self, keys: Sequence[str]) -> None:
        """Delete entries' index rows, then their values from the disk cache (one transaction).

        In this order because a kill between the two is then harmless: a value
        that no index row names is read by no command (lookups start from the
        index), and `cache prune` sweeps it. The other order could leave index
        rows whose values are gone, which `list` and `stats` would count as cached.
        """
        if not keys:
            return
        disk = self._writable()  # before any change: a read-only cache drops nothing
        self.store.drop_cache_index(keys)
        with disk.transact():
            for key in keys:
                disk.delete(key)

    def indexed(self) -> dict[str, CacheEntry]:
        """Every row of the store's index of this disk cache (for housekeeping)."""
        self._writable()  # opened and its identity checked: a void index is dropped first
        return self.store.cache_index()

    def _writable(self) -> Any:
        """The disk cache for housekeeping, which changes it: never a read-only one."""
        disk = self._cache()
        if disk is None or isinstance(disk, ReadOnlyDisk):
            raise ConfigError(
                f"the Spotify cache at {self.directory} cannot be changed here"
                " (read-only or unusable); nothing was dropped"
            )
        return disk

    def stats(self) -> tuple[int, int]:
        """(entries, bytes on disk); nothing when the cache is unusable."""
        disk = self._cache()
        if disk is None:
            return 0, 0
        return len(disk), int(disk.volume())


class DirectReader:
    """Values read straight from the disk cache's files, without diskcache.

    Written by hand for speed: importing and opening diskcache costs more than
    `list` spends on the whole catalog and is a tenth of a cached `show`, which
    only read. It reads what diskcache's JSONDisk writes (key and value are
    zlib-compressed JSON; a value is in its row, or in a file when large) and
    nothing else: `get` raises ValueError for any other form, and callers then
    open the cache through diskcache, which decides (and repairs).
    """

    def __init__(self, directory: Path) -> None:
        database = directory / "cache.db"
        if not database.is_file():
            raise FileNotFoundError(errno.ENOENT, "no cache.db", str(database))
        self.directory = directory
        self._conn = self._connect(database.resolve().as_uri())

    @staticmethod
    def _connect(uri: str) -> sqlite3.Connection:
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)

    def get(self, key: str) -> Any:
        """The value at `key`, None when absent (or expired, as diskcache would say)."""
        row = self._conn.execute(
            "SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1"
            " AND (expire_time IS NULL OR expire_time > ?)",
            (zlib.compress(json.dumps(key).encode(), _COMPRESS_LEVEL), time.time()),
        ).fetchone()
        if row is None:
            return None
        mode, filename, value = row
        if mode == _MODE_RAW and isinstance(value, bytes):
            data = value
        elif mode == _MODE_BINARY and isinstance(filename, str):
            data = (self.directory / filename).read_bytes()
        else:
            raise ValueError(f"a cache value stored in mode {mode}")
        return json.loads(zlib.decompress(data))

    def close(self) -> None:
        self._conn.close()


class ReadOnlyDisk(DirectReader):
    """The disk cache for reading only (a read-only home, a full disk): its values and
    size, writing nothing.

    diskcache writes its settings each time it opens a cache, so it cannot open
    one there, and it has no read-only mode; its values are plain rows that
    `DirectReader` reads without a write.
    """

    @staticmethod
    def _connect(uri: str) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("SELECT count(*) FROM Cache").fetchone()
        except sqlite3.OperationalError:
            # A WAL database in a directory that cannot take its -shm file is
            # readable only as immutable (nobody can write there either).
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
        return conn

    def delete(self, key: str) -> None:
        """Nothing is deleted from a read-only cache."""

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM Cache").fetchone()[0])

    def volume(self) -> int:
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        files = self._conn.execute("SELECT COALESCE(SUM(size), 0) FROM Cache").fetchone()[0]
        return int(pages * size + files)


# OSErrors that say nothing about the cache's content: a full disk, a quota, no
# permission, a read-only file system. Moving the cache aside would throw away
# good data (and cost every call again), so these are errors, not damage.
_NOT_DAMAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EBUSY}
)


def _is_transient(error: BaseException) -> bool:
    """Another process holds the cache: a real error (exit 75), not damage."""
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _is_damage(error: BaseException, directory: Path) -> bool:
    """A damaged cache (move it aside), as opposed to a busy, full or read-only one."""
    if directory.exists() and not directory.is_dir():
        return True  # a file where the folder should be
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return not any(
            word in text
            for word in ("locked", "busy", "full", "readonly", "read-only", "unable to open")
        )
    if isinstance(error, OSError):
        return error.errno not in _NOT_DAMAGE_ERRNOS
    return True


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text or type(error).__name__
