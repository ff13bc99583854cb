"""Export renderers: album views in, text out (JSON, CSV, Markdown, HTML).

Pure functions over `AlbumView` (DESIGN.md §1, `export`): no I/O, no terminal.
Every renderer keeps the order it is given; the caller filters and sorts.
Text from the sheet is untrusted: it is escaped for each format, and only
http(s) URLs ever become links or image sources.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from itertools import groupby
from urllib.parse import quote

from jitspot.catalog.views import SHEET_KEYS, AlbumView, match_mark
from jitspot.spotify.links import is_http_url
from jitspot.text import fold

__all__ = [
    "Group",
    "cover_reason",
    "format_duration",
    "group_albums",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
]

# ---------------------------------------------------------------- shared bits

_LINK_LABELS = {
    "bandcamp": "Bandcamp",
    "spotify": "Spotify",
    "youtube": "YouTube",
    "amazon": "Amazon",
    "google_play": "Google Play",
    "apple_music": "Apple Music",
    "deezer": "Deezer",
    "tidal": "Tidal",
    "soundcloud": "SoundCloud",
}


def _link_label(key: str) -> str:
    return _LINK_LABELS.get(key) or key.replace("_", " ").strip().title() or "Link"


def safe_links(album: AlbumView) -> list[tuple[str, str]]:
    """(label, url) of the album's http(s) links, in sheet order.

    A Spotify match that the sheet does not link to is added from the
    Spotify metadata, so a matched album still links to its Spotify page.
    """
    links = [(key, url.strip()) for key, url in album["links"].items() if is_http_url(url)]
    spotify = album["spotify"]
    matched_url = spotify["url"] if spotify else None
    if "spotify" not in album["links"] and matched_url and is_http_url(matched_url):
        links.append(("spotify", matched_url.strip()))
    return [(_link_label(key), url) for key, url in links]


def _release(album: AlbumView) -> str:
    return album["release_date"] or album["release_text"] or ""


def format_duration(ms: int | None) -> str:
    """`3_723_000` -> `1:02:03`; under an hour `m:ss`; None -> ''.

    Half a second rounds up (2,500 ms is 0:03): the one rule for every output.
    """
    if ms is None or ms < 0:
        return ""
    minutes, seconds = divmod((ms + 500) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def total_duration_ms(album: AlbumView) -> int | None:
    spotify = album["spotify"]
    if spotify is None:
        return None
    if spotify["total_duration_ms"] is not None:
        return spotify["total_duration_ms"]
    durations = [track["duration_ms"] for track in spotify["tracks"] or []]
    if not durations or any(duration is None for duration in durations):
        return None
    return sum(duration for duration in durations if duration is not None)


def _track_count(album: AlbumView) -> int | None:
    spotify = album["spotify"]
    if spotify is None:
        return None
    if spotify["total_tracks"] is not None:
        return spotify["total_tracks"]
    return len(spotify["tracks"]) if spotify["tracks"] is not None else None


def has_cover(album: AlbumView) -> bool:
    return is_http_url(album["cover_url"])


_COVER_REASONS = {
    "no_spotify_link": "No Spotify link",
    "not_found": "Not found on Spotify",
    "rate_limited": "Rate-limited — try later",
    "not_cached": "Not cached (offline export)",
}


def cover_reason(album: AlbumView) -> str:
    """Why an album shows no cover, in words for people."""
    state = album["cover_state"]
    if state == "unavailable":
        note = fold(album["cover_note"] or "")
        return "Needs Spotify credentials" if "credential" in note else "Spotify unavailable"
    return _COVER_REASONS.get(state, "No cover on Spotify")


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
        _md_text(_release(album)),
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


# ----------------------------------------------------------------------- HTML


# The page's style and script are the package's static files (jitspot/static/gallery.css, .js),
# which `serve` uses too.
# The page is one file: both are inlined, the script allowed by its hash alone.


@cache
def _asset(name: str) -> str:
    return resources.files("jitspot").joinpath("static", name).read_text(encoding="utf-8")


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        "default-src 'none'; img-src http: https:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def _esc(text: str) -> str:
    return escape(text, quote=True)


def initials(artist: str) -> str:
    """`Dream Theater` -> `DT`, `Caligula's Horse` -> `CH`, `1349` -> `1`."""
    firsts = [match.group() for word in artist.split() if (match := _WORD_CHAR.search(word))]
    if firsts:
        return "".join(firsts[:2]).upper()
    return artist.strip()[:1] or "?"


_WORD_CHAR = re.compile(r"[^\W_]")
HUE_STEPS = 36  # placeholder hues: classes h0…h35 in gallery.css, 10° apart


def hue(artist: str) -> int:
    """The placeholder's hue class for an artist: the same artist, the same colour."""
    return zlib.crc32(fold(artist).encode()) % HUE_STEPS


def _search_parts(album: AlbumView) -> list[str]:
    spotify = album["spotify"]
    parts = [
        album["artist"],
        album["title"],
        *album["genres"],
        *((spotify["genres"] or []) if spotify else []),
        _release(album),
        album["kind"] or "",
        album["vocal_style"] or "",
        album["location"] or "",
    ]
    return [part for part in parts if part]


def _search_key(album: AlbumView) -> str:
    return fold(" ".join(_search_parts(album)))


# Latin letters a visitor may type that decomposition does not fold (ß, ø, ł...).
_COMMON_LETTERS = "".join(
    chr(code) for code in range(0xC0, 0x180) if unicodedata.category(chr(code)).startswith("L")
)


def _script_fold(letter: str) -> str:
    """What the page's script makes of `letter` without the table."""
    decomposed = unicodedata.normalize("NFKD", letter)
    return "".join(ch for ch in decomposed if not "\u0300" <= ch <= "\u036f").lower()


def _fold_table(albums: Sequence[AlbumView]) -> str:
    """JSON {letter: folded} for the script: the page's letters and common Latin ones
    that the script's own decomposition would fold differently from `text.fold`."""
    from anyascii import anyascii

    letters = set(_COMMON_LETTERS)
    for album in albums:
        text = " ".join(_search_parts(album))
        if not text.isascii():
            letters.update(unicodedata.normalize("NFC", text))
    table = {
        letter: folded
        for letter in sorted(letters)
        if not letter.isascii() and (folded := anyascii(letter).lower()) != _script_fold(letter)
    }
    return json.dumps(table, ensure_ascii=False, separators=(",", ":"))


def badges(album: AlbumView) -> list[str]:
    """Short marks shown on a tile's cover, as plain text; the one place that decides them:
    "matched 0.96" when the album's Spotify id was found by search, not the sheet."""
    mark = match_mark(album)
    return [mark] if mark else []


def _cover_html(album: AlbumView) -> str:
    """The drawn placeholder (hue, initials, why there is no cover) and the badges.

    A cover image is not in the markup: the tile's `data-c` holds its URL and the
    page's script adds the <img> when the tile nears the viewport.
    """
    marks = "".join(f"<span>{_esc(mark)}</span>" for mark in badges(album))
    badge_html = f'<span class="bd">{marks}</span>' if marks else ""
    attributes = f'class="c h{hue(album["artist"])}" data-i="{_esc(initials(album["artist"]))}"'
    if has_cover(album):
        return f"<div {attributes}>{badge_html}</div>"
    reason = cover_reason(album)
    tooltip = album["cover_note"] or reason
    return (
        f'<div {attributes} title="{_esc(tooltip)}">{badge_html}'
        f'<span class="w">{_esc(reason)}</span></div>'
    )


def _sub_html(album: AlbumView) -> str:
    parts: list[str] = []
    if album["release_date"]:
        parts.append(f"<time>{_esc(album['release_date'])}</time>")
    elif album["release_text"]:
        parts.append(_esc(album["release_text"]))
    if album["kind"]:
        parts.append(_esc(album["kind"]))
    duration = format_duration(total_duration_ms(album))
    if duration:
        parts.append(duration)
    return f'<p class="s">{" · ".join(parts)}</p>' if parts else ""


def _links_html(album: AlbumView) -> str:
    # No target/rel per link: the page's <base target="_blank"> opens them in a new
    # tab (which implies noopener) and its referrer policy sends no referrer.
    anchors = [f'<a href="{_esc(url)}">{_esc(label)}</a>' for label, url in safe_links(album)]
    return f'<p class="l">{"".join(anchors)}</p>' if anchors else ""


def _tile_html(album: AlbumView) -> str:
    cover = f' data-c="{_esc((album["cover_url"] or "").strip())}"' if has_cover(album) else ""
    genres = _esc(", ".join(album["genres"]))
    genres_html = f'<p class="gn">{genres}</p>' if genres else ""
    return (
        f'<article data-s="{_esc(_search_key(album))}"{cover}>{_cover_html(album)}'
        f'<h3>{_esc(album["artist"])}</h3><p class="t">{_esc(album["title"])}</p>'
        f"{_sub_html(album)}{genres_html}"
        f"{_links_html(album)}</article>"
    )


@dataclass(frozen=True, slots=True)
class Group:
    """A run of albums from one tab: a section of the page and an entry in its index."""

    anchor: str  # the section's id: `page.html#2019-prog-metal` jumps to it
    name: str
    albums: list[AlbumView]


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def group_albums(albums: Sequence[AlbumView]) -> list[Group]:
    """Consecutive albums of the same tab, in the given order, with unique anchors."""
    groups: list[Group] = []
    taken: set[str] = {"q", "shown", "of", "none"}  # the page's own ids
    for name, run in groupby(albums, key=lambda album: album["tab"]):
        base = _NOT_SLUG.sub("-", fold(name)).strip("-") or "tab"
        anchor, n = base, 1
        while anchor in taken:
            n += 1
            anchor = f"{base}-{n}"
        taken.add(anchor)
        groups.append(Group(anchor, name or "(no tab)", list(run)))
    return groups


def _section_html(group: Group) -> str:
    count = len(group.albums)
    tiles = "\n".join(_tile_html(album) for album in group.albums)
    return (
        f'<section id="{group.anchor}" style="--n:{count}">'
        f"<h2>{_esc(group.name)} <small>{count:,}</small></h2>"
        f'<div class="g">\n{tiles}\n</div></section>'
    )


def _index_html(groups: Sequence[Group]) -> str:
    """Links to each group (only when there are several), inside the sticky header."""
    if len(groups) < 2:
        return ""
    links = "".join(
        f'<a href="#{group.anchor}" target="_self">{_esc(group.name)}'
        f" <small>{len(group.albums):,}</small></a>"
        for group in groups
    )
    return f'<nav class="ix" aria-label="Tabs">{links}</nav>'


def _header_html(
    albums: Sequence[AlbumView], title: str, generated_at: str | None, index: str
) -> str:
    total = len(albums)
    covers = sum(1 for album in albums if has_cover(album))
    noun = "album" if total == 1 else "albums"
    stats = (
        f'<b id="shown">{total:,}</b><span id="of" hidden> of {total:,}</span> {noun}'
        f" · <b>{covers:,}</b> with covers"
    )
    if generated_at:
        stats += f" · generated {_esc(generated_at)}"
    return (
        f'<header><div class="bar"><h1>{_esc(title)}</h1><p class="stats">{stats}</p>'
        '<input id="q" type="search" placeholder="Filter by artist, album or genre…"'
        ' aria-label="Filter albums" autocomplete="off" spellcheck="false"'
        f' data-fold="{_esc(_fold_table(albums))}" hidden>{index}'
        "</div></header>"
    )


def _empty_html(albums: Sequence[AlbumView]) -> str:
    if not albums:
        return '<p class="empty">No albums in this export.</p>'
    return '<p class="empty" id="none" hidden>No album matches the filter.</p>'


def render_html(
    albums: Sequence[AlbumView],
    *,
    title: str = "jitspot catalog",
    generated_at: str | None = None,
) -> str:
    """One self-contained HTML page: a filterable gallery of cover tiles, grouped by tab.

    No external styles, fonts or scripts; covers load from their http(s) URLs
    as their tiles near the viewport, and an album without one shows a drawn
    placeholder saying why. A sticky index jumps to each tab's group.
    """
    script = _asset("gallery.js")
    groups = group_albums(albums)
    sections = "\n".join(_section_html(group) for group in groups)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(_csp(script))}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        '<meta name="generator" content="jitspot">\n'
        '<base target="_blank">\n'
        f"<title>{_esc(title)}</title>\n"
        f"<style>{_asset('gallery.css')}</style>\n<script>{script}</script>\n</head><body>\n"
        f"{_header_html(albums, title, generated_at, _index_html(groups))}\n<main>\n{sections}\n"
        f"{_empty_html(albums)}\n</main>\n"
        "<footer>Made with jitspot. Cover art and album data from Spotify; "
        "covers © their owners.</footer>\n</body></html>\n"
    )
