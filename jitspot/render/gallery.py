"""The HTML export: one self-contained page, a filterable gallery of cover tiles.

A pure function over `AlbumView` (DESIGN.md §1, `export --format html`): no I/O
beyond the package's own style and script, which are inlined. The page keeps the
order it is given, grouped by tab. Text from the sheet is untrusted: it is escaped,
and only http(s) URLs ever become links or image sources.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from itertools import groupby

from jitspot.catalog.views import AlbumView
from jitspot.render.presentation import (
    badges,
    cover_reason,
    format_duration,
    has_cover,
    hue,
    initials,
    release,
    safe_links,
    total_duration_ms,
)
from jitspot.text import fold

__all__ = ["Group", "group_albums", "render_html"]

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


def _search_parts(album: AlbumView) -> list[str]:
    spotify = album["spotify"]
    parts = [
        album["artist"],
        album["title"],
        *album["genres"],
        *((spotify["genres"] or []) if spotify else []),
        release(album),
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
