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
from importlib import resources
from itertools import groupby

from jinja2 import Template

from jitspot.catalog.views import AlbumView
from jitspot.render.presentation import cover_reason, has_cover, release
from jitspot.render.templating import environment
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


@cache
def _page() -> Template:
    """The page's template, compiled once: a big export renders it once with 17,000 tiles."""
    return environment().get_template("gallery.html")


def _thousands(n: int) -> str:
    return f"{n:,}"


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
    # Jinja drops a template's last newline; the page ends with one, as text files do.
    return (
        _page().render(
            title=title,
            generated_at=generated_at,
            csp=_csp(script),
            style=_asset("gallery.css"),
            script=script,
            total=len(albums),
            covers=sum(1 for album in albums if has_cover(album)),
            fold_table=_fold_table(albums),
            groups=group_albums(albums),
            reason=cover_reason,
            search_key=_search_key,
            thousands=_thousands,
        )
        + "\n"
    )
