"""An import into the store: the diff of a sheet against the albums kept (added,
updated, unchanged, removed), written in one transaction."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jitspot.model import SheetRow
from jitspot.store.db import Database, json_string, now_iso, put_meta, rows_in, to_json
from jitspot.store.folded import row_key, search_columns
from jitspot.text import fold


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


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A sheet row with what the import computes once: its key and folded names."""

    key: str
    row: SheetRow
    tab_folded: str
    artist_folded: str
    title_folded: str


class Imports(Database):
    """Writing a sheet into the store."""

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
                put_meta(conn, "generation", generation + 1)
            put_meta(
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


_EXISTING_SQL = (
    "SELECT id, key, tab, artist, title, row_number, spotify_id, artist_folded,"
    " row_hash, removed_at, tab_folded FROM albums"
)


def _existing_rows(conn: sqlite3.Connection, tabs: Sequence[str]) -> dict[str, _Existing]:
    """Stored rows of `tabs`, by key; tabs are matched by folded name, as keys are."""
    folded = sorted({fold(tab) for tab in tabs})
    rows = rows_in(conn, _EXISTING_SQL, "tab_folded", folded)
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
        if row.sheet_spotify_id:
            candidates.append(by_spotify.get((item.tab_folded, row.sheet_spotify_id)))
        candidates.append(by_position.get((item.tab_folded, item.artist_folded, row.row_number)))
        for candidate in candidates:
            if candidate is not None and candidate.id not in used:
                paired[key] = candidate
                used.add(candidate.id)
                break
    return paired


@functools.lru_cache(maxsize=4096)
def _genres_json(genres: tuple[str, ...]) -> str:
    return to_json(list(genres))


def _links_json(links: dict[str, str]) -> str:
    """`to_json(links)` for a dict of strings, without the encoder's per-call setup."""
    if not links:
        return "{}"
    text = json_string
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
        row.sheet_spotify_id,
        int(row.spotify_link_invalid),
        artist_folded,
        *search_columns(
            artist_folded, item.title_folded, row.genres, row.vocal_style, row.location
        ),
        item.tab_folded,
        digest,
        source,
        stamp,
        None,
    )
