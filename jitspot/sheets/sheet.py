"""Turning raw cells into album rows (`jitspot.model.SheetRow`): header names, tabs,
release cells, links. Pure; readers live in `readers`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any

from jitspot.model import SheetRow
from jitspot.spotify.links import SpotifyRef, link_key, parse_spotify_ref, unwrap_redirect
from jitspot.text import cell_text, fold, normalise_vocal_style, split_genres

# Header names as they stand in the sheet, folded; aliases map to one field.
HEADER_FIELDS: dict[str, str] = {
    "artist": "artist",
    "album": "title",
    "title": "title",
    "release date": "release",
    "release text": "release_text",
    "release": "release",
    "date": "release",
    "length": "kind",
    "kind": "kind",
    "type": "kind",
    "genre / subgenres": "genres",
    "genre/subgenres": "genres",
    "genres": "genres",
    "genre": "genres",
    "vocal style": "vocal_style",
    "vocals": "vocal_style",
    "country / state": "location",
    "country/state": "location",
    "location": "location",
    "country": "location",
}
# Link columns: a header that names a service. Values are URLs (cell hyperlink,
# HYPERLINK() formula, or a plain URL in CSV).
LINK_HEADERS = {
    "bandcamp",
    "spotify",
    "youtube",
    "amazon",
    "google play",
    "apple music",
    "deezer",
    "tidal",
    "soundcloud",
}
REQUIRED = ("artist", "title")
HEADER_SEARCH_ROWS = 30  # rows searched for the header row of a tab


def header_map(cells: list[str]) -> dict[str, int] | None:
    """Column index of each known field in a candidate header row, or None.

    A header row names at least Artist and Album; columns are found by name,
    never by position.
    """
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = fold(str(cell).replace("_", " "))
        target = HEADER_FIELDS.get(name)
        if target is None and name in LINK_HEADERS:
            target = "link:" + link_key(name)
        if target and target not in found:
            found[target] = index
    if all(key in found for key in REQUIRED):
        return found
    return None


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row as read from a source, before interpretation.

    `cells` holds typed values (str, float, int, date, datetime, None);
    `links` the URLs found behind link columns (hyperlink, formula or text).
    """

    tab: str
    row_number: int
    cells: dict[str, Any]
    links: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SheetData:
    """What a source holds: the album tabs it has and their non-empty rows.

    `tabs` lists every tab that had a header row, even an empty one: a later
    import removes rows only within these tabs.
    """

    source: str
    tabs: list[str] = field(default_factory=list)
    rows: list[RawRow] = field(default_factory=list)


def tab_selected(tab: str, globs: Sequence[str]) -> bool:
    """Whether `--tab GLOB`s select `tab` (case-insensitive; none given selects all)."""
    return not globs or any(fnmatchcase(fold(tab), fold(glob)) for glob in globs)


def tab_year(tab: str) -> int | None:
    """`2020 Prog-metal` -> 2020: the year a tab is about, when it says."""
    for token in tab.replace("_", " ").split():
        if len(token) == 4 and token.isdigit() and 1900 <= int(token) <= 2100:
            return int(token)
    return None


def _release(value: Any, tab: str) -> tuple[str | None, str | None, int | None]:
    """(ISO date, text as written, year) of a release cell."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat(), None, value.year
    text = cell_text(value)
    if not text:
        return None, None, tab_year(tab)
    parsed = _parse_iso_date(text)
    if parsed:
        return parsed.isoformat(), None, parsed.year
    if text.isdigit() and len(text) == 4:
        return None, text, int(text)
    return None, text, tab_year(tab)


def _parse_iso_date(text: str) -> date | None:
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


# A sheet repeats a few hundred genre lists and vocal styles over thousands of rows:
# each is split or normalised once (bounded, for a hostile sheet).
@functools.lru_cache(maxsize=4096)
def _genres(text: str) -> tuple[str, ...]:
    return tuple(split_genres(text))


_vocal_style = functools.lru_cache(maxsize=1024)(normalise_vocal_style)


def interpret(raw: RawRow) -> SheetRow | None:
    """A RawRow as an album row; None when it names no album (no title, or empty)."""
    artist = cell_text(raw.cells.get("artist"))
    title = cell_text(raw.cells.get("title"))
    if not artist or not title:
        return None
    release = raw.cells.get("release")
    if release in (None, ""):
        release = raw.cells.get("release_text")
    release_date, release_text, year = _release(release, raw.tab)
    vocal_raw = cell_text(raw.cells.get("vocal_style")) or None
    links = {key: unwrap_redirect(url) for key, url in raw.links.items() if url and url.strip()}
    spotify_id: str | None = None
    invalid = False
    if "spotify" in links:
        ref, spotify_id = parse_spotify_ref(links["spotify"])
        invalid = ref is not SpotifyRef.ALBUM
    return SheetRow(
        tab=raw.tab,
        row_number=raw.row_number,
        artist=artist,
        title=title,
        release_date=release_date,
        release_text=release_text,
        year=year,
        kind=cell_text(raw.cells.get("kind")) or None,
        genres=_genres(cell_text(raw.cells.get("genres"))),
        vocal_style=_vocal_style(vocal_raw or ""),
        vocal_style_raw=vocal_raw,
        location=cell_text(raw.cells.get("location")) or None,
        links=links,
        sheet_spotify_id=spotify_id,
        spotify_link_invalid=invalid,
    )
