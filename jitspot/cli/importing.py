"""`jitspot import`: a sheet into the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from jitspot.cli.app import app, print_json, state
from jitspot.cli.options import JsonOpt


@contextmanager
def _sigterm_stops_import() -> Iterator[None]:
    """SIGTERM raises, so the import's transaction rolls back and its download's
    temporary directory is removed (the default action kills without cleanup)."""
    import signal

    def stop(signum: int, frame: object) -> None:
        from jitspot.errors import StoppedEarly

        raise StoppedEarly("import stopped by SIGTERM; nothing was imported, run it again")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command("import")
def import_command(
    source: Annotated[
        str,
        typer.Argument(
            help="An .xlsx, .csv or .json (jitspot's export): a path or an http(s) URL. "
            "A Google Sheets link is fetched as xlsx.",
            show_default=False,
        ),
    ],
    tab: Annotated[
        list[str] | None,
        typer.Option("--tab", help="Import only tabs matching GLOB (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a release sheet into the store (idempotent; never calls Spotify).

    Rows are matched to what the store has: new ones are added, edited ones
    updated, rows gone from an imported tab removed (their cached Spotify data
    is kept).
    """
    from jitspot.sheets.importer import import_source

    store = state.get_store()
    with _sigterm_stops_import():
        report = import_source(store, state.get_settings(), source, tab or ())
    if as_json:
        print_json(report.as_json())
        return
    if state.verbose:
        for change in report.changes:
            state.out.print(f"{change.change:8} {change.tab}: {change.artist} — {change.title}")
    if not state.quiet:
        invalid = (
            f", {report.invalid_spotify_links} Spotify-column links that are not an album"
            if report.invalid_spotify_links
            else ""
        )
        tabs = len(report.tabs)
        state.out.print(
            f"Imported {report.rows} albums from {tabs} tabs in {report.seconds:.2f} s: "
            f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.removed} removed, {report.skipped} skipped (no title); "
            f"{report.with_spotify_link} with a Spotify album link{invalid}."
        )
