"""The SQLite file under every part of the store: schema and migrations, opening
(WAL, read-only, damage), the re-fold, and `Database`, the connection and its
transactions that the store's parts share.

One file in JITSPOT_HOME, opened in WAL mode with a busy timeout so that a
cron `refresh` and an interactive `show` can run side by side; every write
is one `BEGIN IMMEDIATE` transaction, so a failed command leaves the store
as it was.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from jitspot.errors import ConfigError, DiskFull, JitspotError, read_only_home
from jitspot.store.folded import row_key, search_columns
from jitspot.text import FOLD_VERSION, fold

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# One encoder for the import's hot loop (json.dumps builds one per call with options).
to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The string escaper that encoder uses (ensure_ascii=False): "text" with JSON escapes.
json_string: Callable[[str], str] = json.encoder.encode_basestring

# Each migration moves the schema from version i to i + 1; never edit one that
# has shipped, append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE albums (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        tab TEXT NOT NULL,
        row_number INTEGER NOT NULL,
        artist TEXT NOT NULL,
        title TEXT NOT NULL,
        release_date TEXT,
        release_text TEXT,
        year INTEGER,
        kind TEXT,
        genres TEXT NOT NULL DEFAULT '[]',
        vocal_style TEXT,
        vocal_style_raw TEXT,
        location TEXT,
        links TEXT NOT NULL DEFAULT '{}',
        spotify_id TEXT,
        spotify_link_invalid INTEGER NOT NULL DEFAULT 0,
        match_id TEXT,
        match_score REAL,
        match_state TEXT,
        artist_folded TEXT NOT NULL,
        search_folded TEXT NOT NULL,
        genres_folded TEXT NOT NULL,
        vocal_folded TEXT NOT NULL,
        tab_folded TEXT NOT NULL,
        row_hash TEXT NOT NULL,
        source TEXT,
        imported_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT
    );
    CREATE INDEX albums_active ON albums(removed_at, tab, row_number);
    CREATE INDEX albums_spotify ON albums(spotify_id);
    CREATE INDEX albums_match ON albums(match_id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value REAL NOT NULL DEFAULT 0);
    CREATE TABLE cache_index (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        spotify_id TEXT NOT NULL,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        fetched_at REAL NOT NULL,
        cover_url TEXT
    );
    CREATE INDEX cache_index_id ON cache_index(spotify_id, kind);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT,
        summary TEXT
    );
    """,
    # 2: shared pacing state (the learned Spotify rate, who sends how much).
    """
    CREATE TABLE pacing (name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL)
    """,
    # 3: `match` keeps the best search candidates of an album for review (JSON).
    """
    ALTER TABLE albums ADD COLUMN match_candidates TEXT
    """,
    # 4: the quota ledger: every Web API call, when it was sent (see jitspot.spotify.quota).
    """
    CREATE TABLE quota_ledger (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        endpoint TEXT NOT NULL,
        share TEXT NOT NULL
    );
    CREATE INDEX quota_ledger_at ON quota_ledger(at);
    """,
    # 5: the free-text query also searches the location (filled by a re-fold).
    """
    ALTER TABLE albums ADD COLUMN location_folded TEXT NOT NULL DEFAULT ''
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Database:
    """A connection to the store and its write transactions: what every part of the
    store is written against.

    A store opened on a read-only home (or file) has `read_only` set: reads
    work, writes raise ConfigError.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, *, read_only: bool = False) -> None:
        self.conn = conn
        self.path = path
        self.read_only = read_only
        # Counters that reads produce (cache hits/misses): kept here and added by
        # the next write transaction, so that a read-only command never needs a
        # write of its own (a full disk or a read-only home must not stop `show`).
        self._pending: dict[str, float] = {}

    # -- connection and transactions -------------------------------------------------

    def close(self) -> None:
        """Add the counters still pending if the store takes a write, then close."""
        self.flush_counters()
        self.conn.close()

    @classmethod
    def open(cls, path: Path) -> Self:
        """Open (creating and migrating as needed) the store at `path`; see `connect`."""
        conn, read_only = connect(path)
        return cls(conn, path, read_only=read_only)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE; rolled back on any error.

        Pending counters are added in it. A full disk, a read-only or damaged
        store become a JitspotError that says so.
        """
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if self._pending:
                    add_counters(conn, list(self._pending.items()))
                conn.execute("COMMIT")
            except BaseException:
                # SQLite rolls the whole transaction back itself on some errors
                # (SQLITE_FULL, SQLITE_IOERR...): a second ROLLBACK would fail with
                # "no transaction is active" and hide the real error.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            mapped = store_error(self.path, exc)
            if mapped is None:
                raise
            raise mapped from exc
        self._pending.clear()

    def count_later(self, deltas: dict[str, float]) -> None:
        """Add to counters with the next write (or at close), never with a write of their own."""
        for name, value in deltas.items():
            if value:
                self._pending[name] = self._pending.get(name, 0) + value

    def flush_counters(self) -> None:
        """Write pending counters if the store takes a write; a read-only or full one drops them."""
        if not self._pending:
            return
        if self.read_only:
            self._pending.clear()
            return
        try:
            with self.transaction():
                pass
        except (JitspotError, sqlite3.Error) as exc:
            log.debug("counters not saved: %s", exc)
            self._pending.clear()

    def check(self, table: str | None = "albums") -> str | None:
        """What is wrong with `table` and its indexes (None: the whole file), or None if fine.

        It reads every page it checks: cheap for one table, not for every open.
        """
        pragma = "PRAGMA quick_check" if table is None else f"PRAGMA quick_check({table})"
        problems = [row[0] for row in self.conn.execute(pragma)]
        return None if problems == ["ok"] else "; ".join(problems[:3])


_IN_CHUNK = 500  # parameters per `IN (...)`: well under SQLite's limit


def rows_in(
    cursor: sqlite3.Cursor | sqlite3.Connection,
    select: str,
    column: str,
    values: Sequence[Any],
    also: str = "",
) -> Iterator[Any]:
    """The rows of `select WHERE column IN (values) [AND also]`, asked in chunks."""
    for start in range(0, len(values), _IN_CHUNK):
        chunk = values[start : start + _IN_CHUNK]
        condition = f"{column} IN ({','.join('?' * len(chunk))})" + (f" AND {also}" if also else "")
        yield from cursor.execute(f"{select} WHERE {condition}", chunk)


def add_counters(conn: sqlite3.Connection, items: list[tuple[str, float]]) -> None:
    conn.executemany(
        "INSERT INTO counters(name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        items,
    )


def raise_time(conn: sqlite3.Connection, key: str, until: float) -> float:
    """Keep the later of `until` and the time at `key` (one statement); the time in force."""
    row = conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value ="
        " CASE WHEN json_type(meta.value) IN ('real', 'integer')"
        " AND json_extract(meta.value, '$') >= json_extract(excluded.value, '$')"
        " THEN meta.value ELSE excluded.value END"
        " RETURNING value",
        (key, json.dumps(float(until))),
    ).fetchone()
    return float(json.loads(row[0]))


def put_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))


def store_error(path: Path, exc: sqlite3.Error) -> JitspotError | None:
    """What a SQLite error means for the user of the store at `path` (None: a bug, not a state).

    A damaged file, a full disk and a read-only store each get one line that
    says what to do.
    """
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return damaged_store(path, str(exc))
    if code == sqlite3.SQLITE_FULL:
        return DiskFull(
            f"no space left on the device holding {path}: disk full; nothing was changed"
            " (free some space and run it again)"
        )
    if code == sqlite3.SQLITE_READONLY:
        return read_only_home("the store", path, exc)
    return None


def damaged_store(path: Path, problem: str) -> ConfigError:
    """The one message for a damaged store file, with how to recover."""
    return ConfigError(
        f"the store at {path} is damaged ({problem}); move it aside and re-import the sheet"
        " — the Spotify cache is kept"
    )


# Errors on opening that mean "this store takes no writes here": open it read-only.
_WRITE_REFUSED = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}
)


def connect(path: Path) -> tuple[sqlite3.Connection, bool]:
    """The connection to the store at `path` (created and migrated as needed), and
    whether it is read-only.

    On a read-only home, or a full disk, an existing store is opened read-only
    so that `list`, `show --offline` and `export --offline` still work.
    Opening stays cheap (no integrity check): damage is reported when met.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        if path.is_file():
            return _open_read_only(path, exc)
        raise ConfigError(f"cannot open the store at {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enter_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
        refold(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        code = exc.sqlite_errorcode & 0xFF
        if code in _WRITE_REFUSED and path.is_file():
            return _open_read_only(path, exc)
        raise store_error(path, exc) or ConfigError(
            f"the store at {path} is not usable: {exc}"
        ) from None
    return conn, False


def _enter_wal(
    conn: sqlite3.Connection,
    *,
    patience: float = BUSY_TIMEOUT_MS / 1000,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Put the store in WAL mode, waiting out another process that is writing it.

    Switching a new (rollback-journal) file to WAL needs it alone, and SQLite
    answers "locked" at once, without its busy handler, while another
    connection holds the write lock: two commands started together on a fresh
    home would otherwise fail. Once the file is in WAL the pragma only reads.
    """
    deadline = clock() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or clock() >= deadline:
                raise
        sleep(0.02)


def _open_read_only(path: Path, cause: BaseException) -> tuple[sqlite3.Connection, bool]:
    """The store opened for reading only; `immutable` when WAL files cannot be created."""
    uri = path.resolve().as_uri()
    # mode=ro still needs the WAL index (-shm) next to the file; a read-only
    # directory without one is readable only as immutable (no locking: nobody
    # can write there either).
    for query in ("mode=ro", "immutable=1"):
        conn = sqlite3.connect(
            f"{uri}?{query}",
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            conn.close()
            if exc.sqlite_errorcode & 0xFF in _WRITE_REFUSED:
                continue
            raise store_error(path, exc) or ConfigError(
                f"the store at {path} is not usable: {exc}"
            ) from None
        if version != SCHEMA_VERSION:
            conn.close()
            raise ConfigError(
                f"the store at {path} is read-only here ({cause}) and its schema"
                f" ({version}) is not this jitspot's ({SCHEMA_VERSION}); open it once where"
                " it is writable"
            )
        log.debug("store opened read-only (%s): %s", query, cause)
        return conn, True
    raise ConfigError(f"cannot open the store at {path}: {cause}") from None


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"the store was written by a newer jitspot (schema {version} > {SCHEMA_VERSION})"
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for target in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target + 1}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# Errors that mean "this store cannot be written now", not "this store is broken".
_CANNOT_WRITE = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_PERM}


def refold(conn: sqlite3.Connection) -> bool:
    """Recompute folded columns and row keys written by an older `fold`; True if it did.

    A store remembers the `FOLD_VERSION` its columns were folded with; when the
    code's differs, every row's folded columns and `key` are recomputed in one
    transaction, exactly as `apply_import` would write them, so filters match
    and the next import sees the same keys. Up to date costs one meta read.
    A store that cannot be written (read-only file, busy) is left as it is:
    the command goes on, and ASCII filters still match.
    """
    if _fold_version(conn) == FOLD_VERSION:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF not in _CANNOT_WRITE:
            raise
        log.debug("store not re-folded (cannot write it now): %s", exc)
        return False
    try:
        # Re-read under the write lock: another process may have re-folded meanwhile.
        if _fold_version(conn) == FOLD_VERSION:
            conn.execute("ROLLBACK")
            return False
        changed = _refolded_rows(conn)
        # Two steps, so that a key moving to one that another row still holds
        # does not trip the UNIQUE constraint half-way.
        conn.executemany(
            "UPDATE albums SET key = ? WHERE id = ?",
            [(f"\x00refold\x1f{values[-1]}", values[-1]) for values in changed],
        )
        conn.executemany(
            "UPDATE albums SET key = ?, artist_folded = ?, search_folded = ?,"
            " genres_folded = ?, vocal_folded = ?, location_folded = ?, tab_folded = ?"
            " WHERE id = ?",
            changed,
        )
        put_meta(conn, "fold_version", FOLD_VERSION)
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        if exc.sqlite_errorcode & 0xFF not in _CANNOT_WRITE:
            raise
        log.debug("store not re-folded (cannot write it now): %s", exc)
        return False
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if changed:
        log.debug("re-folded %d rows to fold version %d", len(changed), FOLD_VERSION)
    return True


def _fold_version(conn: sqlite3.Connection) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = 'fold_version'").fetchone()
    return None if row is None else json.loads(row[0])


def _refolded_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """(key, folded columns..., id) of every row whose folding changed.

    Keys are numbered as `_key_rows` numbers an import of the sheet: rows in
    sheet order, the same album twice in a tab counted 0, 1, ...; removed rows
    come after the present ones, so they never take a present row's key.
    """
    rows = conn.execute(
        "SELECT id, key, tab, artist, title, genres, vocal_style, location, artist_folded,"
        " search_folded, genres_folded, vocal_folded, location_folded, tab_folded FROM albums"
        " ORDER BY removed_at IS NOT NULL, tab, row_number, id"
    ).fetchall()
    seen: dict[tuple[str, str, str], int] = {}
    changed: list[tuple[Any, ...]] = []
    for row in rows:
        names = (fold(row["tab"]), fold(row["artist"]), fold(row["title"]))
        occurrence = seen.get(names, 0)
        seen[names] = occurrence + 1
        values = (
            row_key(*names, occurrence),
            names[1],
            *search_columns(
                names[1],
                names[2],
                json.loads(row["genres"]),
                row["vocal_style"],
                row["location"],
            ),
            names[0],
        )
        old = (
            row["key"],
            row["artist_folded"],
            row["search_folded"],
            row["genres_folded"],
            row["vocal_folded"],
            row["location_folded"],
            row["tab_folded"],
        )
        if values != old:
            changed.append((*values, row["id"]))
    return changed
