"""Browsing the catalog a page at a time: what `serve`'s pages and its JSON API ask.

`Browse` is the request (FILTERS, sort, page), read from a query string by a
pure function; `browse` answers it from the store and the cache alone, never
from Spotify (covers that are not cached yet are asked for as they are seen).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar
from urllib.parse import urlencode

from jitspot.bounds import OutOfBounds, bounded_query, bounded_tabs
from jitspot.catalog import Catalog
from jitspot.errors import JitspotError
from jitspot.store import AlbumFilter, AlbumOrder
from jitspot.views import AlbumView

PER_PAGE = 60  # tiles per page: a few screens, fetched in ~3 batch calls when not cached
MAX_PER_PAGE = 200
MAX_PAGE = 100_000
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

    @property
    def filtered(self) -> bool:
        """Whether any filter is set (the page then offers to clear them)."""
        return self.filter != AlbumFilter()

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
        if browse.order is not AlbumOrder.DATE:
            pairs.append(("sort", browse.order.value))
        if browse.per_page != PER_PAGE:
            pairs.append(("per_page", str(browse.per_page)))
        if browse.page != 1:
            pairs.append(("page", str(browse.page)))
        return pairs

    def query_string(self, **changes: object) -> str:
        """`?artist=…&page=2`, or "" for the whole catalog's first page."""
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


def parse_browse(query: Mapping[str, Sequence[str]]) -> Browse:
    """A `Browse` from query parameters (each name to its values); BadQuery if unreadable.

    Names: the FILTERS (`artist`, `genre`, `year`, `tab` (repeatable, a glob),
    `vocal`, `query`), `sort` (date, artist, title), `page`, `per_page`.
    Empty values mean "not given", as an untouched form field sends them. The
    CLI's bounds hold (jitspot/bounds.py): at most MAX_QUERY_WORDS different words,
    MAX_TAB_GLOBS tabs.
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
    return Browse(
        filter=AlbumFilter(
            artist=one("artist"),
            genre=one("genre"),
            year=_number("year", year_text, 1, 9999) if year_text else None,
            tabs=_bounded("tab", bounded_tabs, tuple(v.strip() for v in tab_values if v.strip())),
            vocal=one("vocal"),
            query=_bounded("query", bounded_query, query_text) if query_text else None,
        ),
        order=order,
        page=_number("page", one("page") or "1", 1, MAX_PAGE),
        per_page=_number("per_page", one("per_page") or str(PER_PAGE), 1, MAX_PER_PAGE),
    )


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
        request.filter, request.order, limit=request.per_page, offset=request.offset
    )
    return BrowsePage(request, catalog.views(albums, offline=True, count=False), total)
