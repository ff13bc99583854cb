"""Options shared by several commands, defined once: FILTERS, --json, ALBUM."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from jitspot.bounds import (
    MAX_QUERY_WORDS,
    MAX_STORE_ID,
    OutOfBounds,
    bounded_query,
    bounded_tabs,
)
from jitspot.model import AlbumFilter

R = TypeVar("R")

PrometheusOpt = Annotated[
    Path | None,
    typer.Option(
        "--prometheus",
        metavar="PATH",
        help="Write the metrics of `stats` as a node_exporter textfile at PATH (atomically).",
    ),
]


WaitLockOpt = Annotated[
    float,
    typer.Option(
        "--wait-lock",
        metavar="SECONDS",
        min=0,
        max=86_400,
        help="Wait up to SECONDS for a running refresh or cache prune/clear to end"
        " (default: exit 75 at once).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
MaxTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--max-time",
        metavar="SECONDS",
        min=1,
        max=7 * 86_400,
        help="Start no work that would end past SECONDS; exit 75 with what is left.",
    ),
]
ArtistOpt = Annotated[
    str | None, typer.Option("--artist", help="Artist contains NAME (case/accent-insensitive).")
]
GenreOpt = Annotated[
    str | None, typer.Option("--genre", help="A sheet genre contains NAME, e.g. djent.")
]
# Bounds on what reaches SQL (every word, glob and number becomes a clause or a parameter),
# shared with `serve`'s query strings: jitspot/bounds.py.
SQLITE_MAX_INT = MAX_STORE_ID


def store_id_option(help: str) -> Any:
    """`--id N`, the store's own id of an album, as every command takes it: a row id is
    1 to SQLite's largest integer, so a larger number is a usage error (2), not an
    overflow in SQL."""
    return typer.Option("--id", metavar="N", min=1, max=SQLITE_MAX_INT, help=help)


def _bounded_tabs(value: list[str] | None) -> list[str] | None:
    if value:
        try:
            bounded_tabs(tuple(value))
        except OutOfBounds as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _bounded_query(value: str | None) -> str | None:
    """The query, its repeated words dropped: repeats add nothing but SQL clauses."""
    if value is None:
        return None
    try:
        return bounded_query(value)
    except OutOfBounds as exc:
        raise typer.BadParameter(str(exc)) from None


YearOpt = Annotated[
    int | None,
    typer.Option(
        "--year",
        min=1000,
        max=9999,
        help="Release year (the tab's year when the date is unknown).",
    ),
]
TabOpt = Annotated[
    list[str] | None,
    typer.Option("--tab", callback=_bounded_tabs, help="Tab name GLOB, e.g. '2020*' (repeatable)."),
]
VocalOpt = Annotated[
    str | None, typer.Option("--vocal", help="Vocal style, e.g. clean, harsh, mixed.")
]
QueryOpt = Annotated[
    str | None,
    typer.Option(
        "--query",
        "-q",
        callback=_bounded_query,
        help=f"Every word appears in artist or title (at most {MAX_QUERY_WORDS} words).",
    ),
]


# The FILTERS of the contract, in the order `--help` shows them.
FILTERS: tuple[tuple[str, Any], ...] = (
    ("artist", ArtistOpt),
    ("genre", GenreOpt),
    ("year", YearOpt),
    ("tab", TabOpt),
    ("vocal", VocalOpt),
    ("query", QueryOpt),
)


def with_filters(command: Callable[..., R]) -> Callable[..., R]:
    """Give a command the FILTERS options, handed to it as one `filters: AlbumFilter`.

    list, export, refresh (and later match and cache clear) take the same six
    options; they are declared here once. Typer reads the command's signature,
    so the wrapper shows the options in place of the `filters` parameter.
    """
    signature = inspect.signature(command, eval_str=True)
    if "filters" not in signature.parameters:
        raise TypeError(f"{command.__name__} takes no `filters` parameter")
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name != "filters":
            # Keyword-only, all of them: Typer passes every value by name.
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        params.extend(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
            for name, kind in FILTERS
        )

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        values = {name: kwargs.pop(name, None) for name, _ in FILTERS}
        return command(*args, filters=make_filter(**values), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def make_filter(
    artist: str | None = None,
    genre: str | None = None,
    year: int | None = None,
    tab: list[str] | None = None,
    vocal: str | None = None,
    query: str | None = None,
) -> AlbumFilter:
    """The FILTERS as one value; a text that folds to nothing (`--query " "`) is no filter,
    so `refresh --query " "` asks for a choice instead of re-fetching the whole catalog."""
    from jitspot.text import fold

    def given(text: str | None) -> str | None:
        return text if text is not None and fold(text).strip() else None

    return AlbumFilter(
        artist=given(artist),
        genre=given(genre),
        year=year,
        tabs=tuple(t for t in tab or () if t.strip()),
        vocal=given(vocal),
        query=given(query),
    )
