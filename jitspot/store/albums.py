"""Albums as the store holds them: the queries behind list, show, export and serve's
pages, the facets a form chooses from, and an `AlbumFilter` / `AlbumOrder` in SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from jitspot.model import (
    USED_MATCH_STATES,
    AlbumFilter,
    AlbumOrder,
    Facets,
    ListedAlbum,
    StoredAlbum,
    chosen_spotify_id,
)
from jitspot.store.db import Database, rows_in
from jitspot.text import fold, vocal_facet

_ALBUM_COLUMNS = (
    "id, tab, row_number, artist, title, release_date, release_text, year, kind, genres,"
    " vocal_style, vocal_style_raw, location, links, spotify_id, spotify_link_invalid,"
    " match_id, match_score, match_state, removed_at"
)


def album_from_row(row: sqlite3.Row) -> StoredAlbum:
    """A row of `SELECT {_ALBUM_COLUMNS}` as an album."""
    # By position, in _ALBUM_COLUMNS' order: reading by name costs more than the
    # query when the whole catalog is read.
    return StoredAlbum(
        id=row[0],
        tab=row[1],
        row_number=row[2],
        artist=row[3],
        title=row[4],
        release_date=row[5],
        release_text=row[6],
        year=row[7],
        kind=row[8],
        genres=tuple(json.loads(row[9])),
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


def filter_sql(where: AlbumFilter) -> tuple[str, list[Any]]:
    """The SQL condition and parameters of `where`; matching is on folded
    (case/accent-free) columns."""
    clauses = ["removed_at IS NULL"]
    params: list[Any] = []
    if where.artist:
        clauses.append("instr(artist_folded, ?) > 0")
        params.append(fold(where.artist))
    if where.genre:
        clauses.append("instr(genres_folded, ?) > 0")
        params.append(fold(where.genre))
    if where.year is not None:
        clauses.append("year = ?")
        params.append(where.year)
    if where.tabs:
        clauses.append("(" + " OR ".join("tab_folded GLOB ?" for _ in where.tabs) + ")")
        params.extend(fold(pattern) for pattern in where.tabs)
    if where.vocal:
        clauses.append("vocal_folded = ?")
        params.append(fold(vocal_facet(where.vocal) or ""))
    # Each word of the query is in the artist, the title, a genre or the location.
    for word in fold(where.query or "").split():
        clauses.append(f"instr({_QUERIED}, ?) > 0")
        params.append(word)
    if where.released_by is not None:
        clauses.append("release_date IS NOT NULL AND release_date <= ?")
        params.append(where.released_by)
    if where.linked is not None:
        linked = (
            "(spotify_id IS NOT NULL OR (match_id IS NOT NULL AND match_state IN"
            f" ({', '.join(repr(state) for state in sorted(USED_MATCH_STATES))})))"
        )
        clauses.append(linked if where.linked else f"NOT {linked}")
    for word in fold(where.name or "").split():
        clauses.append("instr(search_folded, ?) > 0")
        params.append(word)
    return " AND ".join(clauses), params


# What `--query` (and serve's search box) searches: "artist title", genres, location
# (a newline apart, so no word matches across two of them).
_QUERIED = "(search_folded || char(10) || genres_folded || char(10) || location_folded)"

# When an album comes out, for sorting: its date, else after the last day of its year.
_RELEASED = "COALESCE(release_date, printf('%04d-12-32', year))"
_ORDER_SQL = {
    AlbumOrder.DATE: f"{_RELEASED} DESC NULLS LAST, artist_folded, title COLLATE NOCASE, id",
    AlbumOrder.ARTIST: f"artist_folded, {_RELEASED}, title COLLATE NOCASE, id",
    AlbumOrder.TITLE: "title COLLATE NOCASE, artist_folded, id",
}


class Albums(Database):
    """The album queries of the store."""

    def albums(self, where: AlbumFilter | None = None) -> list[StoredAlbum]:
        """Albums present in the sheet, in sheet order (tab, then row)."""
        condition, params = filter_sql(where or AlbumFilter())
        rows = self.conn.execute(
            f"SELECT {_ALBUM_COLUMNS} FROM albums WHERE {condition}"  # noqa: S608
            " ORDER BY tab, row_number, id",
            params,
        )
        return [album_from_row(row) for row in rows]

    def listed_albums(self, where: AlbumFilter | None = None) -> list[ListedAlbum]:
        """What `list` shows of `albums(where)`, in the same order; far cheaper for 18k rows."""
        condition, params = filter_sql(where or AlbumFilter())
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
        condition, params = filter_sql(where or AlbumFilter())
        total = self.conn.execute(
            f"SELECT COUNT(*) FROM albums WHERE {condition}",  # noqa: S608
            params,
        ).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT {_ALBUM_COLUMNS} FROM albums WHERE {condition}"  # noqa: S608
            f" ORDER BY {_ORDER_SQL[order]} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [album_from_row(row) for row in rows], int(total)

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
        return None if row is None else album_from_row(row)

    def albums_by_ids(self, album_ids: Sequence[int]) -> list[StoredAlbum]:
        """The albums with these store ids still in the sheet, in sheet order."""
        rows = rows_in(
            self.conn,
            f"SELECT {_ALBUM_COLUMNS} FROM albums",  # noqa: S608
            "id",
            list(album_ids),
            "removed_at IS NULL",
        )
        albums = [album_from_row(row) for row in rows]
        return sorted(albums, key=lambda a: (a.tab, a.row_number, a.id))

    def albums_by_spotify_id(self, spotify_id: str) -> list[StoredAlbum]:
        rows = self.conn.execute(
            f"SELECT {_ALBUM_COLUMNS} FROM albums"  # noqa: S608
            " WHERE (spotify_id = ? OR match_id = ?) AND removed_at IS NULL"
            " ORDER BY tab, row_number",
            (spotify_id, spotify_id),
        )
        return [a for a in map(album_from_row, rows) if a.spotify_id == spotify_id]

    def search_albums(self, text: str) -> list[StoredAlbum]:
        """Albums whose "artist title" holds every word of `text` (folded)."""
        return self.albums(AlbumFilter(name=text))
