"""`list`, `show` and `export`: the albums of the store, with what Spotify adds."""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from jitspot.cli.app import app, print_json, progress_bar, state, write_stdout
from jitspot.cli.options import JsonOpt, store_id_option, with_filters
from jitspot.errors import EXIT_PARTIAL
from jitspot.model import AlbumFilter
from jitspot.spotify.quota import Share
from jitspot.store import now_iso

if TYPE_CHECKING:
    from jitspot.catalog.catalog import Catalog
    from jitspot.errors import AmbiguousAlbum


@app.command("list")
@with_filters
def list_command(filters: AlbumFilter, as_json: JsonOpt = False) -> None:
    """List albums in the store, one line each, with their cache state. Never calls Spotify."""
    from jitspot.catalog.catalog import Catalog

    catalog = Catalog(state.get_store(), state.get_settings())
    if as_json:
        print_json(catalog.views(catalog.store.albums(filters), offline=True, count=False))
        return
    from jitspot.cli.terminal import album_lines, album_text

    albums = catalog.store.listed_albums(filters)
    states = catalog.cache_states(albums)
    if albums and state.out.is_terminal:
        state.out.print(album_text(albums, states), overflow="ignore", crop=False)
    elif albums:
        write_lines(list(album_lines(albums, states)))
    if not state.quiet:
        state.err.print(f"{len(albums)} album{'' if len(albums) == 1 else 's'}")


# What rich changes in plain text (it expands tabs and drops these control codes):
# lines holding one go through rich, so a pipe gets what a terminal-less rich printed.
_RICH_CHANGES = re.compile("[\t\x07\x08\x0b\x0c\x0d]")


def write_lines(lines: list[str]) -> None:
    """Plain lines on stdout, written at once (for a pipe: no rich rendering per line)."""
    text = "".join(f"{line}\n" for line in lines)
    if not _RICH_CHANGES.search(text):
        write_stdout(text)
        return
    for line in lines:
        if _RICH_CHANGES.search(line):
            sys.stdout.flush()
            state.out.print(line, markup=False, overflow="ignore", crop=False)
        else:
            write_stdout(f"{line}\n")


# -- show ----------------------------------------------------------------------------------


@app.command("show")
def show_command(
    album: Annotated[
        str | None,
        typer.Argument(
            help="A Spotify album URL, URI or id, or text matched against 'artist title' "
            "(a bare number is text).",
            show_default=False,
        ),
    ] = None,
    store_id: Annotated[int | None, store_id_option("The store's own id.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Never call Spotify.")] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch this album from Spotify again.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one album: sheet data, cover, tracks, genres, label, popularity, copyrights.

    Fetches only what the cache is missing (nothing with --offline, everything
    with --refresh). Missing pieces say why; the exit code is 0 all the same.
    """
    from jitspot.catalog.catalog import Catalog
    from jitspot.errors import AmbiguousAlbum

    if offline and refresh:
        raise typer.BadParameter("--offline and --refresh exclude each other")
    if album is None and store_id is None:
        raise typer.BadParameter("name an ALBUM (a Spotify link or id, or text) or give --id N")
    catalog = Catalog(state.get_store(), state.get_settings())
    try:
        found = catalog.find(album, store_id)
    except AmbiguousAlbum as ambiguous:
        print_candidates(catalog, ambiguous, as_json)
        raise SystemExit(EXIT_PARTIAL) from None
    started_at = now_iso()
    view = catalog.views([found], offline=offline, refresh=refresh)[0]
    if not offline:
        catalog.record("show", started_at, 1)
    catalog.close()
    if as_json:
        print_json(view)
        return
    from jitspot.cli.terminal import show_page

    state.out.print(show_page(view))


def print_candidates(catalog: Catalog, ambiguous: AmbiguousAlbum, as_json: bool) -> None:
    albums = [catalog.store.album_by_id(i) for i in ambiguous.candidates]
    if as_json:
        print_json(
            {
                "error": "ambiguous",
                "query": ambiguous.query,
                "candidates": [
                    {"id": a.id, "artist": a.artist, "title": a.title, "tab": a.tab}
                    for a in albums
                    if a is not None
                ],
            }
        )
    state.err.print(f"{len(albums)} albums match {ambiguous.query!r}; show one with --id N:")
    for a in albums:
        if a is not None:
            state.err.print(f"  --id {a.id:<6} {a.artist} — {a.title}  ({a.tab})", markup=False)


# -- export --------------------------------------------------------------------------------


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    md = "md"
    html = "html"


@app.command("export")
@with_filters
def export_command(
    filters: AlbumFilter,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ExportFormat.json,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to PATH instead of stdout.")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Export what is cached; never call Spotify.")
    ] = False,
) -> None:
    """Export the filtered catalog as json, csv, md or a self-contained HTML cover gallery.

    Covers and metadata missing from the cache are fetched first, in batches,
    for the exported albums only.
    """
    from jitspot.catalog.catalog import Catalog
    from jitspot.files import check_writable, write_atomic
    from jitspot.render import formats, gallery

    if output is not None:
        check_writable(output)  # before any Spotify call is spent on an export going nowhere
    catalog = Catalog(state.get_store(), state.get_settings())
    albums = catalog.store.albums(filters)
    started_at = now_iso()
    with progress_bar("Fetching from Spotify") as progress:
        # Many albums are bulk work: they leave the daily quota's reserve to `show`, and
        # ask for artists only when that costs no quota.
        bulk = len(albums) > 1
        views = catalog.views(
            albums,
            offline=offline,
            progress=progress,
            share=Share.BULK if bulk else Share.INTERACTIVE,
            artists=None if bulk else True,
        )
    if not offline:
        catalog.record("export", started_at, len(albums))
    catalog.close()
    if fmt is ExportFormat.json:
        text = formats.render_json(views)
    elif fmt is ExportFormat.csv:
        text = formats.render_csv(views)
    elif fmt is ExportFormat.md:
        text = formats.render_markdown(views)
    else:
        text = gallery.render_html(views, generated_at=now_iso())
    if output is None:
        write_stdout(text)
    else:
        write_atomic(output, text)
    _report_missing(views, output)


def _report_missing(views: list[Any], output: Path | None) -> None:
    counts: dict[str, int] = {}
    for view in views:
        counts[view["cover_state"]] = counts.get(view["cover_state"], 0) + 1
    covers = sum(1 for v in views if v["cover_url"])
    where = f" to {output}" if output else ""
    detail = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()))
    state.say(f"Exported {len(views)} albums{where}; {covers} with a cover ({detail}).")
    notes = {v["cover_note"] for v in views if v["cover_state"] in ("rate_limited", "unavailable")}
    for note in sorted(n for n in notes if n):
        state.say(f"[yellow]{escape(note)}[/]")
    waiting = [v for v in views if (v["cover_note"] or "").startswith("metadata waits")]
    if waiting:
        note = waiting[0]["cover_note"] or ""
        state.say(f"[yellow]{len(waiting)} albums have their cover only: {escape(note)}[/]")
