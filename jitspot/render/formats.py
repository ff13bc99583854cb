"""The text exports: album views in, JSON, CSV or Markdown text out.

Pure functions over `AlbumView` (DESIGN.md §1, `export`): no I/O, no terminal.
Every renderer keeps the order it is given; the caller filters and sorts.
Text from the sheet is untrusted: it is escaped for each format, and only
http(s) URLs ever become links.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from jitspot.catalog.views import SHEET_KEYS, AlbumView, match_mark
from jitspot.render.presentation import format_duration, release, safe_links, total_duration_ms

__all__ = ["render_csv", "render_json", "render_markdown"]

# ----------------------------------------------------------------------- JSON


def render_json(albums: Sequence[AlbumView]) -> str:
    """The albums as a JSON list of contract album objects (UTF-8 text, indented)."""
    return json.dumps(list(albums), ensure_ascii=False, indent=2) + "\n"


# ------------------------------------------------------------------------ CSV

_CSV_HEAD = SHEET_KEYS  # id … tab, then one column per link key
_CSV_TAIL = (
    "spotify_id",
    "spotify_id_source",
    "match_score",
    "cover_url",
    "cover_state",
    "cover_note",
    "spotify_name",
    "track_count",
    "total_duration",
    "total_duration_ms",
    "label",
    "popularity",
    "spotify_genres",
    "fetched_at",
)
# A spreadsheet treats a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(cell: str) -> str:
    """Defuse CSV/formula injection: a leading `'` makes the cell plain text."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _link_keys(albums: Iterable[AlbumView]) -> list[str]:
    keys: dict[str, None] = {}
    for album in albums:
        keys.update(dict.fromkeys(album["links"]))
    return list(keys)


def _link_column(key: str) -> str:
    taken = key in _CSV_HEAD or key in _CSV_TAIL
    return f"link_{key}" if taken else key


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _sheet_cell(value: object) -> str:
    """A sheet fact as a CSV cell: lists (genres) joined with '; ', None empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return str(value)


def _track_count(album: AlbumView) -> int | None:
    spotify = album["spotify"]
    if spotify is None:
        return None
    if spotify["total_tracks"] is not None:
        return spotify["total_tracks"]
    return len(spotify["tracks"]) if spotify["tracks"] is not None else None


def _csv_row(album: AlbumView, link_keys: Sequence[str]) -> list[str]:
    spotify = album["spotify"]
    duration = total_duration_ms(album)
    cells = [
        *(_sheet_cell(album.get(key)) for key in _CSV_HEAD),
        *(album["links"].get(key, "") for key in link_keys),
        album["spotify_id"] or "",
        album["spotify_id_source"] or "",
        _score(album.get("match_score")),
        album["cover_url"] or "",
        album["cover_state"],
        album["cover_note"] or "",
        (spotify["name"] or "") if spotify else "",
        _num(_track_count(album)),
        format_duration(duration),
        _num(duration),
        (spotify["label"] or "") if spotify else "",
        _num(spotify["popularity"]) if spotify else "",
        "; ".join(spotify["genres"] or []) if spotify else "",
        (spotify["fetched_at"] or "") if spotify else "",
    ]
    return [_neutralise(cell) for cell in cells]


def render_csv(albums: Sequence[AlbumView]) -> str:
    """One CSV row per album: sheet columns, one column per link, Spotify columns.

    Cells that a spreadsheet would run as a formula are prefixed with `'`.
    """
    link_keys = _link_keys(albums)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*_CSV_HEAD, *(_link_column(key) for key in link_keys), *_CSV_TAIL])
    writer.writerows(_csv_row(album, link_keys) for album in albums)
    return out.getvalue()


# ------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\|*_\[\]`<>~])")
_MD_URL_UNSAFE = " ()<>|[]`\\\"'"
_MD_COLUMNS = ("Artist", "Album", "Release", "Kind", "Genres", "Links")


def _md_text(text: str) -> str:
    """Cell text with Markdown/table syntax escaped and line breaks flattened."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_url(url: str) -> str:
    """A URL that cannot end the link or the table cell early."""
    return "".join(quote(ch) if ch in _MD_URL_UNSAFE else ch for ch in url)


def _md_row(album: AlbumView) -> str:
    links = " ".join(f"[{_md_text(label)}]({_md_url(url)})" for label, url in safe_links(album))
    mark = match_mark(album)
    if mark:
        links += f" ({_md_text(mark)})"
    cells = [
        _md_text(album["artist"]),
        _md_text(album["title"]),
        _md_text(release(album)),
        _md_text(album["kind"] or ""),
        _md_text(", ".join(album["genres"])),
        links,
    ]
    return "| " + " | ".join(cells) + " |"


def render_markdown(albums: Sequence[AlbumView]) -> str:
    """A Markdown table (Artist | Album | Release | Kind | Genres | Links) for posts."""
    lines = [
        "| " + " | ".join(_MD_COLUMNS) + " |",
        "|" + "|".join("---" for _ in _MD_COLUMNS) + "|",
        *(_md_row(album) for album in albums),
    ]
    return "\n".join(lines) + "\n"
