"""Browsing the catalog a page at a time: what `serve`'s pages and its JSON API ask.

`Browse` is the request (FILTERS, sort, page), read from a query string by a
pure function; `browse` answers it from the store and the cache alone, never
from Spotify (covers that are not cached yet are asked for as they are seen).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TypeVar
from urllib.parse import urlencode

from jitspot.bounds import OutOfBounds, bounded_query, bounded_tabs
from jitspot.catalog.catalog import Catalog
from jitspot.catalog.views import AlbumView
from jitspot.errors import JitspotError
from jitspot.model import AlbumFilter, AlbumOrder

PER_PAGE = 60  # tiles per page: a few screens, fetched in ~3 batch calls when not cached
MAX_PER_PAGE = 200
MAX_PAGE = 100_000
# A page opened "down to page N" (`upto`, what the page script keeps in the address as
# it appends pages) renders at most this many tiles at once.
MAX_DEPTH_TILES = 1200

# What the catalog page shows when its address names no choice at all: albums out
# already, with a Spotify link (newest first would otherwise open on a wall of
# next December's "TBA" rows without links). Any choice in the address means
# what it says: `/?genre=djent` is every djent album, released or not.
LANDING: dict[str, list[str]] = {"released": ["yes"], "link": ["yes"]}
# Names that are not a choice of albums: they keep the landing choices.
_NOT_CHOICES = frozenset({"page", "per_page", "upto"})
_YES_NO_ANY = {"yes": True, "no": False, "any": None}
T = TypeVar("T")


class BadQuery(JitspotError):
    """A query string the catalog cannot answer (a year that is not a number...)."""


@dataclass(frozen=True, slots=True)
class Browse:
    """One page of the catalog: which albums, in which order."""

    filter: AlbumFilter = field(default_factory=AlbumFilter)
    order: AlbumOrder = AlbumOrder.DATE
    page: int = 1
    per_page: int = PER_PAGE
    released: bool = False  # only albums out already (the filter's `released_by` is today)
    upto: int | None = None  # the pages from `page` to `upto` in one (back after scrolling)

    @property
    def last_page(self) -> int:
        """The last page this browse renders: `upto`, as deep as `MAX_DEPTH_TILES` allows."""
        if self.upto is None:
            return self.page
        return max(self.page, min(self.upto, self.page + MAX_DEPTH_TILES // self.per_page - 1))

    @property
    def limit(self) -> int:
        return (self.last_page - self.page + 1) * self.per_page

    @property
    def filtered(self) -> bool:
        """Whether a filter beyond the landing's choices is set (the page offers to clear it)."""
        return replace(self.filter, released_by=None, linked=None) != AlbumFilter()

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def params(self, **changes: object) -> list[tuple[str, str]]:
        """The query string's pairs for this browse (with `changes`); defaults left out."""
        browse = replace(self, **changes)  # type: ignore[arg-type]
        where = browse.filter
        pairs = [
            (name, value)
            for name, value in (
                ("artist", where.artist),
                ("genre", where.genre),
                ("year", str(where.year) if where.year is not None else None),
                ("vocal", where.vocal),
                ("query", where.query),
            )
            if value
        ]
        pairs += [("tab", tab) for tab in where.tabs]
        if browse.released:
            pairs.append(("released", "yes"))
        if where.linked is not None:
            pairs.append(("link", "yes" if where.linked else "no"))
        if browse.order is not AlbumOrder.DATE:
            pairs.append(("sort", browse.order.value))
        if not pairs:
            # No choice named would be the landing's choices (see `landing`): the whole
            # catalog says so.
            pairs.append(("link", "any"))
        if browse.per_page != PER_PAGE:
            pairs.append(("per_page", str(browse.per_page)))
        if browse.page != 1:
            pairs.append(("page", str(browse.page)))
        if browse.upto is not None and browse.last_page > browse.page:
            pairs.append(("upto", str(browse.last_page)))
        return pairs

    def query_string(self, **changes: object) -> str:
        """`?artist=…&page=2` (`?link=any` for the whole catalog's first page)."""
        pairs = self.params(**changes)
        return "?" + urlencode(pairs) if pairs else ""


@dataclass(frozen=True, slots=True)
class BrowsePage:
    browse: Browse
    albums: list[AlbumView]
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.browse.per_page))

    @property
    def first(self) -> int:
        """The 1-based position of the page's first album (0 when empty)."""
        return self.browse.offset + 1 if self.albums else 0

    @property
    def last(self) -> int:
        return self.browse.offset + len(self.albums)


def landing(query: Mapping[str, Sequence[str]]) -> Mapping[str, Sequence[str]]:
    """The catalog page's query: `LANDING`'s choices added when the address names none."""
    if any(name not in _NOT_CHOICES for name in query):
        return query
    return {**LANDING, **query}


def parse_browse(query: Mapping[str, Sequence[str]], *, today: date | None = None) -> Browse:
    """A `Browse` from query parameters (each name to its values); BadQuery if unreadable.

    Names: the FILTERS (`artist`, `genre`, `year`, `tab` (repeatable, a glob),
    `vocal`, `query`), `released` (yes: out by `today`; any), `link` (yes: with a
    Spotify link, no: without, any), `sort` (date, artist, title), `page`,
    `per_page`. Empty values mean "not given", as an untouched form field sends them.
    The CLI's bounds hold (jitspot/bounds.py): at most MAX_QUERY_WORDS different
    words, MAX_TAB_GLOBS tabs.
    """

    def one(name: str) -> str | None:
        values = [v.strip() for v in query.get(name, ()) if v.strip()]
        return values[-1] if values else None

    year_text = one("year")
    query_text = one("query")
    tab_values = query.get("tab", ())
    sort = one("sort") or AlbumOrder.DATE.value
    try:
        order = AlbumOrder(sort)
    except ValueError:
        choices = ", ".join(o.value for o in AlbumOrder)
        raise BadQuery(f"sort must be one of {choices} (got {sort!r})") from None
    released = _choice("released", one("released"), {"yes": True, "any": None}) or False
    return Browse(
        filter=AlbumFilter(
            artist=one("artist"),
            genre=one("genre"),
            year=_number("year", year_text, 1, 9999) if year_text else None,
            tabs=_bounded("tab", bounded_tabs, tuple(v.strip() for v in tab_values if v.strip())),
            vocal=one("vocal"),
            query=_bounded("query", bounded_query, query_text) if query_text else None,
            released_by=(today or date.today()).isoformat() if released else None,
            linked=_choice("link", one("link"), _YES_NO_ANY),
        ),
        order=order,
        page=_number("page", one("page") or "1", 1, MAX_PAGE),
        per_page=_number("per_page", one("per_page") or str(PER_PAGE), 1, MAX_PER_PAGE),
        released=released,
        upto=_number("upto", upto, 1, MAX_PAGE) if (upto := one("upto")) else None,
    )


def _choice(name: str, text: str | None, values: Mapping[str, bool | None]) -> bool | None:
    if text is None:
        return None
    try:
        return values[text.lower()]
    except KeyError:
        raise BadQuery(f"{name} must be one of {', '.join(values)} (got {text!r})") from None


def _bounded(name: str, check: Callable[[T], T], value: T) -> T:
    """`check(value)` with its OutOfBounds as a BadQuery (a 400 that says why)."""
    try:
        return check(value)
    except OutOfBounds as exc:
        raise BadQuery(f"{name}: {exc}") from None


def _number(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"{name} must be a whole number (got {text!r})") from None
    if not low <= value <= high:
        raise BadQuery(f"{name} must be between {low} and {high} (got {value})")
    return value


def browse(catalog: Catalog, request: Browse) -> BrowsePage:
    """The page's album objects from the store and the cache (no Spotify call)."""
    albums, total = catalog.store.albums_page(
        request.filter, request.order, limit=request.limit, offset=request.offset
    )
    return BrowsePage(request, catalog.views(albums, offline=True, count=False), total)
