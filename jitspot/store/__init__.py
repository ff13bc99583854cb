"""The SQLite store: albums from the sheet, the cache index, counters and shared state.

One file in JITSPOT_HOME, opened in WAL mode with a busy timeout so that a
cron `refresh` and an interactive `show` can run side by side; every write
is one `BEGIN IMMEDIATE` transaction, so a failed command leaves the store
as it was.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from jitspot.errors import ConfigError, DiskFull, JitspotError, read_only_home
from jitspot.spotify.quota import EXCEEDED, LEARN_FLOOR, LEARNED, NOT_BEFORE, Taken, learned_budget
from jitspot.text import FOLD_VERSION, fold, vocal_facet

if TYPE_CHECKING:
    from jitspot.sheets.sheet import SheetRow

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# One encoder for the import's hot loop (json.dumps builds one per call with options).
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The string escaper that encoder uses (ensure_ascii=False): "text" with JSON escapes.
_json_string: Callable[[str], str] = json.encoder.encode_basestring

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
RUNS_KEPT = 100  # runs of each command kept in `runs` (refresh keeps all: they are few)

# Match states whose id jitspot uses (`review`, `no_candidate`, `rejected`: none).
USED_MATCH_STATES = frozenset({"matched", "accepted"})

_ALBUM_COLUMNS = (
    "id, tab, row_number, artist, title, release_date, release_text, year, kind, genres,"
    " vocal_style, vocal_style_raw, location, links, spotify_id, spotify_link_invalid,"
    " match_id, match_score, match_state, removed_at"
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class StoredAlbum:
    """An album row as the store holds it."""

    id: int
    tab: str
    row_number: int
    artist: str
    title: str
    release_date: str | None
    release_text: str | None
    year: int | None
    kind: str | None
    genres: list[str]
    vocal_style: str | None
    vocal_style_raw: str | None
    location: str | None
    links: dict[str, str]
    sheet_spotify_id: str | None
    spotify_link_invalid: bool
    match_id: str | None
    match_score: float | None
    match_state: str | None
    removed: bool

    @property
    def spotify_id(self) -> str | None:
        """The id jitspot uses: the sheet's link, else a match (accepted, or scored at
        or above the threshold when it was matched: `match` decides, on one scale)."""
        return chosen_spotify_id(self.sheet_spotify_id, self.match_id, self.match_state)

    @property
    def spotify_id_source(self) -> str | None:
        if self.sheet_spotify_id:
            return "sheet"
        return "match" if self.spotify_id else None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredAlbum:
        # By position, in _ALBUM_COLUMNS' order: reading by name costs more than the
        # query when the whole catalog is read.
        return cls(
            id=row[0],
            tab=row[1],
            row_number=row[2],
            artist=row[3],
            title=row[4],
            release_date=row[5],
            release_text=row[6],
            year=row[7],
            kind=row[8],
            genres=json.loads(row[9]),
            vocal_style=row[10],
            vocal_style_raw=row[11],
            location=row[12],
            links=json.loads(row[13]),
            sheet_spotify_id=row[14],
            spotify_link_invalid=bool(row[15]),
            match_id=row[16],
            match_score=row[17],
            match_state=row[18],
            removed=row[19] is not None,
        )


def chosen_spotify_id(
    sheet_id: str | None, match_id: str | None, match_state: str | None
) -> str | None:
    """The Spotify id an album uses: the sheet's link, else a used match (`matched` by
    score, `accepted` by a person); `review`, `no_candidate` and `rejected`: none."""
    if sheet_id:
        return sheet_id
    if match_id and match_state in USED_MATCH_STATES:
        return match_id
    return None


class ListedAlbum(NamedTuple):
    """What `list` shows of an album, read without the columns it does not show."""

    id: int
    artist: str
    title: str
    release: str  # the date, else the sheet's text ("TBA"), else ""
    kind: str | None
    tab: str
    spotify_id: str | None
    # When `spotify_id` comes from `match`: its state (matched, accepted) and score.
    match_state: str | None = None
    match_score: float | None = None


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """What `match` decided for one album, as the store keeps it."""

    album_id: int
    state: str
    match_id: str | None
    score: float | None
    candidates: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class AlbumFilter:
    """The FILTERS shared by list, export and refresh. Empty means everything."""

    artist: str | None = None
    genre: str | None = None
    year: int | None = None
    tabs: tuple[str, ...] = ()
    vocal: str | None = None
    query: str | None = None
    name: str | None = None  # words of "artist title" only: an ALBUM given as free text
    released_by: str | None = None  # ISO date: only albums released on or before it
    linked: bool | None = None  # True: only albums with a Spotify id; False: only without

    def where(self) -> tuple[str, list[Any]]:
        """SQL condition and parameters; matching is on folded (case/accent-free) columns."""
        clauses = ["removed_at IS NULL"]
        params: list[Any] = []
        if self.artist:
            clauses.append("instr(artist_folded, ?) > 0")
            params.append(fold(self.artist))
        if self.genre:
            clauses.append("instr(genres_folded, ?) > 0")
            params.append(fold(self.genre))
        if self.year is not None:
            clauses.append("year = ?")
            params.append(self.year)
        if self.tabs:
            clauses.append("(" + " OR ".join("tab_folded GLOB ?" for _ in self.tabs) + ")")
            params.extend(fold(pattern) for pattern in self.tabs)
        if self.vocal:
            clauses.append("vocal_folded = ?")
            params.append(fold(vocal_facet(self.vocal) or ""))
        # Each word of the query is in the artist, the title, a genre or the location.
        for word in fold(self.query or "").split():
            clauses.append(f"instr({_QUERIED}, ?) > 0")
            params.append(word)
        if self.released_by is not None:
            clauses.append("release_date IS NOT NULL AND release_date <= ?")
            params.append(self.released_by)
        if self.linked is not None:
            linked = (
                "(spotify_id IS NOT NULL OR (match_id IS NOT NULL AND match_state IN"
                f" ({', '.join(repr(state) for state in sorted(USED_MATCH_STATES))})))"
            )
            clauses.append(linked if self.linked else f"NOT {linked}")
        for word in fold(self.name or "").split():
            clauses.append("instr(search_folded, ?) > 0")
            params.append(word)
        return " AND ".join(clauses), params


# What `--query` (and serve's search box) searches: "artist title", genres, location
# (a newline apart, so no word matches across two of them).
_QUERIED = "(search_folded || char(10) || genres_folded || char(10) || location_folded)"


class AlbumOrder(StrEnum):
    """How a page of albums is sorted."""

    DATE = "date"  # newest first; a date not known yet ("TBA") after its year's last day
    ARTIST = "artist"
    TITLE = "title"


# When an album comes out, for sorting: its date, else after the last day of its year.
_RELEASED = "COALESCE(release_date, printf('%04d-12-32', year))"
_ORDER_SQL = {
    AlbumOrder.DATE: f"{_RELEASED} DESC NULLS LAST, artist_folded, title COLLATE NOCASE, id",
    AlbumOrder.ARTIST: f"artist_folded, {_RELEASED}, title COLLATE NOCASE, id",
    AlbumOrder.TITLE: "title COLLATE NOCASE, artist_folded, id",
}


@dataclass(frozen=True, slots=True)
class Facets:
    """What the catalog holds to choose from: tabs, vocal styles, years."""

    tabs: list[str]
    vocals: list[str]
    years: list[int]


@dataclass(slots=True)
class RowChange:
    """One row an import added, updated or removed (shown with `-v`)."""

    change: str
    tab: str
    artist: str
    title: str


@dataclass(slots=True)
class ImportReport:
    """What an import did; the keys of `import --json`."""

    source: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    with_spotify_link: int = 0
    invalid_spotify_links: int = 0
    tabs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    changes: list[RowChange] = field(default_factory=list)
    added_ids: list[int] = field(default_factory=list)  # store ids of the rows added
    updated_ids: list[int] = field(default_factory=list)  # ...and of the rows updated

    def as_json(self, *, changes: bool = True) -> dict[str, Any]:
        """The report's keys; `changes=False` leaves out the per-row list (a run's record)."""
        document: dict[str, Any] = {
            "source": self.source,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": self.skipped,
            "with_spotify_link": self.with_spotify_link,
            "invalid_spotify_links": self.invalid_spotify_links,
            "tabs": self.tabs,
            "seconds": round(self.seconds, 3),
        }
        if changes:
            document["changes"] = [
                {"change": c.change, "tab": c.tab, "artist": c.artist, "title": c.title}
                for c in self.changes
            ]
        return document


class CacheIndexEntry(NamedTuple):
    """What the store knows of a cached Spotify entry (the value lives in the disk cache).

    A named tuple: `list` and `stats` read the whole index, one per cached entry.
    """

    key: str
    kind: str
    spotify_id: str
    status: str
    source: str
    fetched_at: float
    cover_url: str | None


_INDEX_COLUMNS = "key, kind, spotify_id, status, source, fetched_at, cover_url"


def row_key(tab_folded: str, artist_folded: str, title_folded: str, occurrence: int) -> str:
    """Identity of a sheet row across imports: its tab, artist and title (folded)."""
    return f"{tab_folded}\x1f{artist_folded}\x1f{title_folded}\x1f{occurrence}"


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A sheet row with what the import computes once: its key and folded names."""

    key: str
    row: SheetRow
    tab_folded: str
    artist_folded: str
    title_folded: str


class Store:
    """A connection to the store. Use `open_store` to get one.

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

    def __enter__(self) -> Store:
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
                    _add_counters(conn, list(self._pending.items()))
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

    # -- meta: shared state between processes -----------------------------------------

    def get_meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as conn:
            _put_meta(conn, key, value)

    def delete_meta(self, key: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def raise_meta_time(self, key: str, until: float) -> float:
        """Keep the later of `until` and the time stored at `key`; return the time in force.

        One statement, so two processes that both record a time can never
        replace a later one with an earlier one (a read then a write could).
        """
        with self.transaction() as conn:
            return _raise_time(conn, key, until)

    # -- counters ----------------------------------------------------------------------

    def add_counters(self, deltas: dict[str, float]) -> None:
        """Add to named counters in one transaction (hits, misses, calls...)."""
        items = [(name, value) for name, value in deltas.items() if value]
        if items:
            with self.transaction() as conn:
                _add_counters(conn, items)

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

    def counters(self) -> dict[str, float]:
        """Every counter, with those still pending in this process."""
        found = {
            name: value for name, value in self.conn.execute("SELECT name, value FROM counters")
        }
        for name, value in self._pending.items():
            found[name] = found.get(name, 0) + value
        return found

    def quota_times(self, since: float) -> list[float]:
        """When the ledger's Web API calls after `since` were sent, oldest first."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT at FROM quota_ledger WHERE at > ? ORDER BY at", (since,)
            )
        ]

    def pacing_document(self, name: str) -> Any | None:
        """The shared pacing state as last written (None before any); see PacingState."""
        row = self.conn.execute("SELECT state FROM pacing WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    # -- runs: what each refresh (and later match, sync) did, for `stats` ---------------

    def start_run(self, command: str) -> int:
        """Record a run's start; a run killed before `finish_run` keeps no end time."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO runs(command, started_at) VALUES (?, ?)", (command, now_iso())
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(self, run_id: int, exit_code: int, summary: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (now_iso(), exit_code, _to_json(summary), run_id),
            )

    def record_run(self, command: str, started_at: str, summary: dict[str, Any]) -> None:
        """Record a finished run of a quick command (show, export, import) with the
        counters still pending, in one transaction; the last RUNS_KEPT of each are kept.

        A store that takes no write (read-only, full) keeps nothing: the record is
        never worth failing a command for.
        """
        if self.read_only:
            self._pending.clear()
            return
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO runs(command, started_at, finished_at, status, summary)"
                    " VALUES (?, ?, ?, 0, ?)",
                    (command, started_at, now_iso(), _to_json(summary)),
                )
                conn.execute(
                    "DELETE FROM runs WHERE command = ? AND id NOT IN"
                    " (SELECT id FROM runs WHERE command = ? ORDER BY id DESC LIMIT ?)",
                    (command, command, RUNS_KEPT),
                )
        except (JitspotError, sqlite3.Error) as exc:
            log.debug("run of %s not recorded: %s", command, exc)
            self._pending.clear()

    def last_run(self, command: str, *, succeeded: bool = False) -> dict[str, Any] | None:
        """The latest run of `command` (that exited 0, with `succeeded`): started_at,
        finished_at, exit_code and its summary."""
        row = self.conn.execute(
            "SELECT started_at, finished_at, status, summary FROM runs WHERE command = ?"
            " AND (? = 0 OR (status = 0 AND finished_at IS NOT NULL)) ORDER BY id DESC LIMIT 1",
            (command, int(succeeded)),
        ).fetchone()
        if row is None:
            return None
        return {
            "started_at": row[0],
            "finished_at": row[1],
            "exit_code": row[2],
            "summary": json.loads(row[3]) if row[3] else None,
        }

    def check(self, table: str | None = "albums") -> str | None:
        """What is wrong with `table` and its indexes (None: the whole file), or None if fine.

        It reads every page it checks: cheap for one table, not for every open.
        """
        pragma = "PRAGMA quick_check" if table is None else f"PRAGMA quick_check({table})"
        problems = [row[0] for row in self.conn.execute(pragma)]
        return None if problems == ["ok"] else "; ".join(problems[:3])

    # -- albums ------------------------------------------------------------------------

    def albums(self, where: AlbumFilter | None = None) -> list[StoredAlbum]:
        """Albums present in the sheet, in sheet order (tab, then row)."""
        condition, params = (where or AlbumFilter()).where()
        rows = self.conn.execute(
            f"SELECT {_ALBUM_COLUMNS} FROM albums WHERE {condition}"  # noqa: S608
            " ORDER BY tab, row_number, id",
            params,
        )
        return [StoredAlbum.from_row(row) for row in rows]

    def listed_albums(self, where: AlbumFilter | None = None) -> list[ListedAlbum]:
        """What `list` shows of `albums(where)`, in the same order; far cheaper for 18k rows."""
        condition, params = (where or AlbumFilter()).where()
        cursor = self.conn.cursor()
        cursor.row_factory = None  # plain tuples: sqlite3.Row costs more than the query
        rows = cursor.execute(
            "SELECT id, artist, title, release_date, release_text, kind, tab,"  # noqa: S608
            " spotify_id, match_id, match_score, match_state"
            f" FROM albums WHERE {condition} ORDER BY tab, row_number, id",
            params,
        )
        listed: list[ListedAlbum] = []
        for (
            album_id,
            artist,
            title,
            release_date,
            release_text,
            kind,
            tab,
            sheet_id,
            match_id,
            match_score,
            match_state,
        ) in rows:
            chosen = chosen_spotify_id(sheet_id, match_id, match_state)
            by_match = chosen is not None and not sheet_id
            listed.append(
                ListedAlbum(
                    album_id,
                    artist,
                    title,
                    release_date or release_text or "",
                    kind,
                    tab,
                    chosen,
                    match_state if by_match else None,
                    match_score if by_match else None,
                )
            )
        return listed

    def albums_page(
        self, where: AlbumFilter | None, order: AlbumOrder, *, limit: int, offset: int = 0
    ) -> tuple[list[StoredAlbum], int]:
        """One page of `albums(where)` in `order`, and how many albums there are in all."""
        condition, params = (where or AlbumFilter()).where()
        total = self.conn.execute(
            f"SELECT COUNT(*) FROM albums WHERE {condition}",  # noqa: S608
            params,
        ).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT {_ALBUM_COLUMNS} FROM albums WHERE {condition}"  # noqa: S608
            f" ORDER BY {_ORDER_SQL[order]} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [StoredAlbum.from_row(row) for row in rows], int(total)

    def facets(self) -> Facets:
        """The tabs (in sheet order), vocal styles and years present: a form's choices."""
        live = "FROM albums WHERE removed_at IS NULL"
        tabs = [
            row[0]
            for row in self.conn.execute(f"SELECT tab {live} GROUP BY tab_folded ORDER BY MIN(id)")
        ]
        vocals = [
            facet
            for (style,) in self.conn.execute(
                f"SELECT MIN(vocal_style) {live} AND vocal_style IS NOT NULL"
                " GROUP BY vocal_folded ORDER BY vocal_folded"
            )
            if (facet := vocal_facet(style))
        ]
        years = [
            row[0]
            for row in self.conn.execute(
                f"SELECT DISTINCT year {live} AND year IS NOT NULL ORDER BY year DESC"
            )
        ]
        return Facets(tabs, vocals, years)

    def has_albums(self) -> bool:
        """Whether any album is in the store (an empty one says how to fill it)."""
        query = "SELECT 1 FROM albums WHERE removed_at IS NULL LIMIT 1"
        return self.conn.execute(query).fetchone() is not None

    def album_by_id(self, album_id: int) -> StoredAlbum | None:
        row = self.conn.execute(
            f"SELECT {_ALBUM_COLUMNS} FROM albums WHERE id = ? AND removed_at IS NULL",  # noqa: S608
            (album_id,),
        ).fetchone()
        return None if row is None else StoredAlbum.from_row(row)

    def albums_by_ids(self, album_ids: Sequence[int]) -> list[StoredAlbum]:
        """The albums with these store ids still in the sheet, in sheet order."""
        rows = _rows_in(
            self.conn,
            f"SELECT {_ALBUM_COLUMNS} FROM albums",  # noqa: S608
            "id",
            list(album_ids),
            "removed_at IS NULL",
        )
        albums = [StoredAlbum.from_row(row) for row in rows]
        return sorted(albums, key=lambda a: (a.tab, a.row_number, a.id))

    def albums_by_spotify_id(self, spotify_id: str) -> list[StoredAlbum]:
        rows = self.conn.execute(
            f"SELECT {_ALBUM_COLUMNS} FROM albums"  # noqa: S608
            " WHERE (spotify_id = ? OR match_id = ?) AND removed_at IS NULL"
            " ORDER BY tab, row_number",
            (spotify_id, spotify_id),
        )
        return [a for a in map(StoredAlbum.from_row, rows) if a.spotify_id == spotify_id]

    def search_albums(self, text: str) -> list[StoredAlbum]:
        """Albums whose "artist title" holds every word of `text` (folded)."""
        return self.albums(AlbumFilter(name=text))

    # -- matches (kept apart from the sheet's links) -------------------------------------

    def record_matches(self, records: Iterable[MatchRecord]) -> None:
        """Write what `match` decided, all in one transaction.

        A row that holds a person's decision (accepted, rejected) is left as it
        is, even if a run read it before the decision was made.
        """
        rows = [
            (r.state, r.match_id, r.score, _to_json(list(r.candidates)), r.album_id)
            for r in records
        ]
        if not rows:
            return
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE albums SET match_state = ?, match_id = ?, match_score = ?,"
                " match_candidates = ? WHERE id = ? AND spotify_id IS NULL"
                " AND coalesce(match_state, '') NOT IN ('accepted', 'rejected')",
                rows,
            )

    def decide_match(
        self, album_id: int, state: str | None, match_id: str | None, score: float | None
    ) -> None:
        """A person's decision (accepted with an id, rejected, or forgotten: state None).

        The candidates stay, so that the review can still show them.
        """
        with self.transaction() as conn:
            conn.execute(
                "UPDATE albums SET match_state = ?, match_id = ?, match_score = ? WHERE id = ?",
                (state, match_id, score, album_id),
            )

    def match_candidates(self, album_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """The kept search candidates of albums (for review), by album id."""
        select = "SELECT id, match_candidates FROM albums"
        rows = _rows_in(self.conn, select, "id", list(album_ids), "match_candidates IS NOT NULL")
        return {row[0]: json.loads(row[1]) for row in rows}

    # -- import ------------------------------------------------------------------------

    def apply_import(
        self, rows: Sequence[SheetRow], tabs: Sequence[str], source: str, report: ImportReport
    ) -> None:
        """Upsert `rows` and remove rows gone from `tabs`, all in one transaction.

        A row is the same album across imports when its tab, artist and title
        match; failing that, an unmatched old row of the same tab with the same
        Spotify id, or the same artist at the same row, is the same album edited.
        A tab is the same tab when its folded name matches (curators fix case and
        spacing); its stored display name follows the sheet's spelling.
        Unchanged rows (same content digest) are not written at all.
        """
        stamp = now_iso()
        with self.transaction() as conn:
            existing = _existing_rows(conn, tabs)
            keyed = _key_rows(rows)
            matched: dict[str, int] = {}
            unmatched_new: list[_Keyed] = []
            for item in keyed:
                if item.key in existing:
                    matched[item.key] = existing[item.key].id
                else:
                    unmatched_new.append(item)
            leftovers = {k: old for k, old in existing.items() if k not in matched}
            renamed = _pair_edits(unmatched_new, leftovers)

            updates: list[tuple[Any, ...]] = []
            inserts: list[tuple[Any, ...]] = []
            moves: list[tuple[int, str, str, int]] = []
            rematch: list[tuple[int]] = []
            for item in keyed:
                key, row = item.key, item.row
                digest = row.content_hash()
                old = existing.get(key) or renamed.get(key)
                if old is None:
                    inserts.append((*_row_values(item, digest, source, stamp), stamp))
                    report.added += 1
                    report.changes.append(RowChange("added", row.tab, row.artist, row.title))
                elif old.row_hash == digest and old.removed_at is None and old.key == key:
                    report.unchanged += 1
                    if old.row_number != row.row_number or old.tab != row.tab:
                        # Rows inserted above it moved it, or the tab's name changed in
                        # case or spacing: follow the sheet, but it is not a change.
                        moves.append((row.row_number, row.tab, stamp, old.id))
                else:
                    updates.append((*_row_values(item, digest, source, stamp), old.id))
                    if fold(old.artist) != fold(row.artist) or fold(old.title) != fold(row.title):
                        # Another record now: its match, and a person's decision on it,
                        # were about the old names.
                        rematch.append((old.id,))
                    report.updated += 1
                    report.updated_ids.append(old.id)
                    report.changes.append(RowChange("updated", row.tab, row.artist, row.title))
            renamed_ids = {old.id for old in renamed.values()}
            gone = [
                old
                for old in leftovers.values()
                if old.removed_at is None and old.id not in renamed_ids
            ]
            conn.executemany(_UPDATE_SQL, updates)
            conn.executemany(
                "UPDATE albums SET match_id = NULL, match_score = NULL, match_state = NULL,"
                " match_candidates = NULL WHERE id = ?",
                rematch,
            )
            (last_id,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM albums").fetchone()
            conn.executemany(_INSERT_SQL, inserts)
            if inserts:
                # A new row's id is one more than the largest before it (an INTEGER
                # PRIMARY KEY without AUTOINCREMENT): the rows added are those above.
                report.added_ids = [
                    row[0] for row in conn.execute("SELECT id FROM albums WHERE id > ?", (last_id,))
                ]
            conn.executemany(
                "UPDATE albums SET row_number = ?, tab = ?, updated_at = ? WHERE id = ?", moves
            )
            conn.executemany(
                "UPDATE albums SET removed_at = ?, updated_at = ? WHERE id = ?",
                [(stamp, stamp, old.id) for old in gone],
            )
            for old in gone:
                report.changes.append(RowChange("removed", old.tab, old.artist, old.title))
            report.removed = len(gone)
            if report.added or report.updated or report.removed:
                generation = json.loads(
                    (
                        conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                        or ["0"]
                    )[0]
                )
                _put_meta(conn, "generation", generation + 1)
            _put_meta(
                conn,
                "last_import",
                {
                    "at": stamp,
                    "source": source,
                    "rows": report.rows,
                    "added": report.added,
                    "updated": report.updated,
                    "removed": report.removed,
                },
            )

    # -- cache index ---------------------------------------------------------------------

    def index_cache_entries(
        self, entries: Iterable[CacheIndexEntry], counters: dict[str, float] | None = None
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
            _add_counters(conn, deltas)
            conn.executemany(
                f"INSERT OR REPLACE INTO cache_index({_INDEX_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def cache_index(self, keys: Iterable[str] | None = None) -> dict[str, CacheIndexEntry]:
        """Index entries by key (all of them when `keys` is None)."""
        # Plain tuples in CacheIndexEntry's field order: `list` reads the whole index.
        cursor = self.conn.cursor()
        cursor.row_factory = None
        select = f"SELECT {_INDEX_COLUMNS} FROM cache_index"  # noqa: S608
        if keys is None:
            return {row[0]: CacheIndexEntry(*row) for row in cursor.execute(select)}
        rows = _rows_in(cursor, select, "key", list(keys))
        return {row[0]: CacheIndexEntry(*row) for row in rows}

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
                _put_meta(conn, CACHE_IDENTITY, identity)

    def cache_index_size(self) -> int:
        """How many entries the cache index holds."""
        return int(self.conn.execute("SELECT count(*) FROM cache_index").fetchone()[0])

    def remember_cache_identity(self, identity: str) -> None:
        """Record which disk cache the index describes, keeping the index as it is."""
        self.set_meta(CACHE_IDENTITY, identity)


# meta key: the identity of the disk cache that the cache_index describes.
CACHE_IDENTITY = "cache_identity"


_INSERT_SQL = (
    "INSERT INTO albums (key, tab, row_number, artist, title, release_date, release_text, year,"
    " kind, genres, vocal_style, vocal_style_raw, location, links, spotify_id,"
    " spotify_link_invalid, artist_folded, search_folded, genres_folded, vocal_folded,"
    " location_folded, tab_folded, row_hash, source, updated_at, removed_at, imported_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_SQL = (
    "UPDATE albums SET key = ?, tab = ?, row_number = ?, artist = ?, title = ?,"
    " release_date = ?, release_text = ?, year = ?, kind = ?, genres = ?, vocal_style = ?,"
    " vocal_style_raw = ?, location = ?, links = ?, spotify_id = ?, spotify_link_invalid = ?,"
    " artist_folded = ?, search_folded = ?, genres_folded = ?, vocal_folded = ?,"
    " location_folded = ?, tab_folded = ?, row_hash = ?, source = ?, updated_at = ?,"
    " removed_at = ? WHERE id = ?"
)


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    key: str
    tab: str
    artist: str
    title: str
    row_number: int
    spotify_id: str | None
    artist_folded: str
    row_hash: str
    removed_at: str | None
    tab_folded: str


_IN_CHUNK = 500  # parameters per `IN (...)`: well under SQLite's limit


def _rows_in(
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


_EXISTING_SQL = (
    "SELECT id, key, tab, artist, title, row_number, spotify_id, artist_folded,"
    " row_hash, removed_at, tab_folded FROM albums"
)


def _existing_rows(conn: sqlite3.Connection, tabs: Sequence[str]) -> dict[str, _Existing]:
    """Stored rows of `tabs`, by key; tabs are matched by folded name, as keys are."""
    folded = sorted({fold(tab) for tab in tabs})
    rows = _rows_in(conn, _EXISTING_SQL, "tab_folded", folded)
    return {row["key"]: _Existing(*row) for row in rows}


def _key_rows(rows: Sequence[SheetRow]) -> list[_Keyed]:
    """Key each row; the same album twice in one tab gets occurrence 0, 1, ..."""
    seen: dict[tuple[str, str, str], int] = {}
    tabs: dict[str, str] = {}
    keyed: list[_Keyed] = []
    for row in rows:
        tab = tabs.get(row.tab)
        if tab is None:
            tab = tabs[row.tab] = fold(row.tab)
        names = (tab, fold(row.artist), fold(row.title))
        occurrence = seen.get(names, 0)
        seen[names] = occurrence + 1
        keyed.append(_Keyed(row_key(*names, occurrence), row, *names))
    return keyed


def _pair_edits(new_rows: list[_Keyed], leftovers: dict[str, _Existing]) -> dict[str, _Existing]:
    """New keys that are an old row edited (title or artist fixed): key -> old row.

    Tabs compare folded, like keys: a row in a tab renamed in case is still paired.
    """
    if not leftovers:
        return {}  # a first import, or one that only adds: nothing to pair
    by_spotify: dict[tuple[str, str], _Existing] = {}
    by_position: dict[tuple[str, str, int], _Existing] = {}
    for old in leftovers.values():
        if old.spotify_id:
            by_spotify.setdefault((old.tab_folded, old.spotify_id), old)
        by_position.setdefault((old.tab_folded, old.artist_folded, old.row_number), old)
    paired: dict[str, _Existing] = {}
    used: set[int] = set()
    for item in new_rows:
        key, row = item.key, item.row
        candidates: list[_Existing | None] = []
        if row.spotify_id:
            candidates.append(by_spotify.get((item.tab_folded, row.spotify_id)))
        candidates.append(by_position.get((item.tab_folded, item.artist_folded, row.row_number)))
        for candidate in candidates:
            if candidate is not None and candidate.id not in used:
                paired[key] = candidate
                used.add(candidate.id)
                break
    return paired


def _search_columns(
    artist_folded: str,
    title_folded: str,
    genres: Sequence[str],
    vocal_style: str | None,
    location: str | None,
) -> tuple[str, str, str, str]:
    """The folded columns filters search: "artist title", genres, vocal facet, location.

    One definition for an import and for a re-fold, so the two never disagree.
    The vocal column holds the style's facet (`vocal_facet`): `--vocal` and the
    page's choice find every spelling of it.
    """
    return (
        f"{artist_folded} {title_folded}",
        _fold_genres(tuple(genres)),
        _fold(_vocal_facet(vocal_style or "") or ""),
        _fold(location or ""),
    )


# A sheet repeats a few hundred genre lists and vocal styles over thousands of rows:
# their folds and JSON are computed once each (bounded, for a hostile sheet).
_fold = functools.lru_cache(maxsize=4096)(fold)
_vocal_facet = functools.lru_cache(maxsize=1024)(vocal_facet)


@functools.lru_cache(maxsize=4096)
def _fold_genres(genres: tuple[str, ...]) -> str:
    return fold(", ".join(genres))


@functools.lru_cache(maxsize=4096)
def _genres_json(genres: tuple[str, ...]) -> str:
    return _to_json(list(genres))


def _links_json(links: dict[str, str]) -> str:
    """`_to_json(links)` for a dict of strings, without the encoder's per-call setup."""
    if not links:
        return "{}"
    text = _json_string
    return "{" + ",".join(f"{text(k)}:{text(v)}" for k, v in links.items()) + "}"


def _row_values(item: _Keyed, digest: str, source: str, stamp: str) -> tuple[Any, ...]:
    row = item.row
    artist_folded = item.artist_folded
    return (
        item.key,
        row.tab,
        row.row_number,
        row.artist,
        row.title,
        row.release_date,
        row.release_text,
        row.year,
        row.kind,
        _genres_json(row.genres),
        row.vocal_style,
        row.vocal_style_raw,
        row.location,
        _links_json(row.links),
        row.spotify_id,
        int(row.spotify_link_invalid),
        artist_folded,
        *_search_columns(
            artist_folded, item.title_folded, row.genres, row.vocal_style, row.location
        ),
        item.tab_folded,
        digest,
        source,
        stamp,
        None,
    )


def _add_counters(conn: sqlite3.Connection, items: list[tuple[str, float]]) -> None:
    conn.executemany(
        "INSERT INTO counters(name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        items,
    )


def _raise_time(conn: sqlite3.Connection, key: str, until: float) -> float:
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


def _put_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
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


def open_store(path: Path) -> Store:
    """Open (creating and migrating as needed) the store at `path`.

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
    return Store(conn, path)


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


def _open_read_only(path: Path, cause: BaseException) -> Store:
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
        return Store(conn, path, read_only=True)
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
        _put_meta(conn, "fold_version", FOLD_VERSION)
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
            *_search_columns(
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


# -- shared pacing state ---------------------------------------------------------------------
# Every jitspot process on one JITSPOT_HOME paces its Spotify calls from one
# small document (the learned rate, who is sending how much). Behind this one
# function, so a server database can do the same with SELECT ... FOR UPDATE.


class PacingState:
    """One named pacing document, read-modified-written under BEGIN IMMEDIATE.

    It has its own connection: worker threads exchange with it while the
    resolver's thread writes through the store's, and one SQLite connection
    must not carry two threads' transactions. It never waits long for the
    write lock: pacing goes on with what it knows and tries again later.
    """

    def __init__(self, path: Path, name: str, *, wait: float = 0.05) -> None:
        self.path = path
        self.name = name
        self.wait = wait
        self._store: Store | None = None

    def exchange(self, change: Callable[[Any], Any]) -> Any | None:
        """Apply `change` to the document and return the new one; None if the store is busy."""
        if self._store is None:
            self._store = open_store(self.path)
            self._store.conn.execute(f"PRAGMA busy_timeout = {int(self.wait * 1000)}")
        conn = self._store.conn
        try:
            with self._store.transaction():
                row = conn.execute(
                    "SELECT state FROM pacing WHERE name = ?", (self.name,)
                ).fetchone()
                state = change(None if row is None else json.loads(row[0]))
                conn.execute(
                    "INSERT OR REPLACE INTO pacing(name, state, updated_at) VALUES (?, ?, ?)",
                    (self.name, _to_json(state), time.time()),
                )
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return None
            raise
        return state

    def read(self) -> Any | None:
        """The document as last written (None before any)."""
        with open_store(self.path) as store:
            return store.pacing_document(self.name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# -- the quota ledger ------------------------------------------------------------------------
# Every Web API request of every process on this JITSPOT_HOME, written down just before it
# is sent (jitspot.spotify.quota decides who may send). Like PacingState, it has its own connection:
# the gateway's worker threads write here while the resolver's thread writes the cache.


class QuotaLedger:
    """The `quota_ledger` table, taken and refused under BEGIN IMMEDIATE (see spotify.quota)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: Store | None = None
        self._lock = threading.Lock()  # one connection, one thread in it at a time

    def _conn(self) -> Store:
        if self._store is None:
            self._store = open_store(self.path)
        return self._store

    def take(
        self, now: float, window: float, limit: int | None, endpoint: str, share: str
    ) -> Taken:
        """Write a call down if fewer than `limit` calls (None: no limit) are in the window."""
        with self._lock:
            store = self._conn()
            with store.transaction() as conn:
                horizon = now - window
                conn.execute("DELETE FROM quota_ledger WHERE at <= ?", (horizon,))
                used = -1
                if limit is not None:
                    (used,) = conn.execute(
                        "SELECT COUNT(*) FROM quota_ledger WHERE at > ?", (horizon,)
                    ).fetchone()
                    if used >= limit:
                        if limit <= 0:
                            return Taken(None, used, math.inf)
                        (oldest,) = conn.execute(
                            "SELECT at FROM quota_ledger WHERE at > ? ORDER BY at LIMIT 1 OFFSET ?",
                            (horizon, used - limit),
                        ).fetchone()
                        return Taken(None, used, oldest + window)
                cursor = conn.execute(
                    "INSERT INTO quota_ledger(at, endpoint, share) VALUES (?, ?, ?)",
                    (now, endpoint, share),
                )
        assert cursor.lastrowid is not None
        return Taken(cursor.lastrowid, used + 1 if used >= 0 else -1)

    def refused(
        self, ticket: int, now: float, window: float, until: float, configured: Any
    ) -> int | None:
        """Spotify refused the call of `ticket`: the budget is the calls written before it in
        the window (the stricter of that and what was learned before); the refusal is counted
        and every process keeps off the Web API until `until`. Returns the budget (None:
        too few calls of jitspot's in the window to say the account's quota, which other
        apps of the same developer spend too; the "not before" holds all the same)."""
        with self._lock:
            store = self._conn()
            with store.transaction() as conn:
                (before,) = conn.execute(
                    "SELECT COUNT(*) FROM quota_ledger WHERE id < ? AND at > ?",
                    (ticket, now - window),
                ).fetchone()
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (LEARNED,)).fetchone()
                known = learned_budget(json.loads(row[0]) if row else None, configured, now)
                budget = known
                if before >= LEARN_FLOOR:
                    budget = before if known is None else min(known, before)
                doc = {"budget": budget, "at": now, "configured": configured, "until": until}
                _put_meta(conn, LEARNED, doc)
                _add_counters(conn, [(EXCEEDED, 1)])
                _raise_time(conn, NOT_BEFORE, until)
        return budget

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
