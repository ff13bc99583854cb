"""The command line: parse, call the core, render. The one error boundary lives here."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# jitspot uses no pydantic plugins; looking for them reads every installed
# package's metadata (~12 ms of a ~0.2 s `show`).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from jitspot import __version__
from jitspot.errors import EXIT_PARTIAL, EXIT_TEMPFAIL, ConfigError, JitspotError
from jitspot.settings import Settings, load_settings
from jitspot.store import AlbumFilter, Store, now_iso, open_store

if TYPE_CHECKING:
    from jitspot.catalog import Catalog
    from jitspot.errors import AmbiguousAlbum
    from jitspot.resolver import Progress


# -- the error boundary, part 1: a reader that went away ---------------------------------


class _PipeSafeGroup(typer.core.TyperGroup):
    """Every command ends quietly with exit 0 when stdout's reader has gone (`| head`).

    Typer's own EPIPE handling exits 1; Unix tools exit 0 silently. stdout is
    flushed here so the EPIPE surfaces inside the boundary, not at interpreter exit.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()
        except BrokenPipeError:
            _reader_gone()


class _PipeConsole(Console):
    """rich exits 1 on EPIPE by itself; hand the error to the boundary above instead."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def _reader_gone() -> NoReturn:
    # The recipe from Python's signal docs: point stdout (and stderr, which may share
    # the pipe) at devnull so the interpreter's final flush has nowhere to fail.
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        # not a real file (e.g. captured in tests): nothing to redirect
        with suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    raise typer.Exit(0)


app = typer.Typer(
    cls=_PipeSafeGroup,
    name="jitspot",
    help="A release-sheet catalog enriched from Spotify just in time.\n\n"
    "Import a sheet (never calls Spotify), then list, show and export albums: covers and "
    "metadata are fetched from Spotify when first needed, and served from the cache after.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@dataclass
class State:
    """What the global options decided, and the store opened on first use."""

    debug: bool = False
    verbose: bool = False
    quiet: bool = False
    settings: Settings | None = None
    store: Store | None = None
    err: Console = field(
        default_factory=lambda: _PipeConsole(stderr=True, highlight=False, soft_wrap=True)
    )
    out: Console = field(default_factory=lambda: _PipeConsole(highlight=False, soft_wrap=True))

    def get_settings(self) -> Settings:
        if self.settings is None:
            self.settings = load_settings(Path(typer.get_app_dir("jitspot")))
        return self.settings

    def get_store(self) -> Store:
        if self.store is None:
            self.store = open_store(self.get_settings().store_path)
        return self.store

    def say(self, message: str) -> None:
        """A human message on stderr, unless --quiet."""
        if not self.quiet:
            self.err.print(message)


state = State()


def _version(value: bool) -> None:
    if value:
        print(f"jitspot {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Debug logging and tracebacks (secrets stay hidden).")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More detail, e.g. the rows an import changed.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Errors only (for cron).")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Options that apply to every command."""
    state.debug, state.verbose, state.quiet = debug, verbose, quiet
    from jitspot.logs import configure_logging

    configure_logging(debug=debug, verbose=verbose, quiet=quiet)


# -- shared options ------------------------------------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
ArtistOpt = Annotated[
    str | None, typer.Option("--artist", help="Artist contains NAME (case/accent-insensitive).")
]
GenreOpt = Annotated[
    str | None, typer.Option("--genre", help="A sheet genre contains NAME, e.g. djent.")
]
# Bounds on what reaches SQL: every word, glob and number becomes a clause or a parameter,
# and SQLite overflows past 64-bit integers and ~1000-deep expressions.
MAX_QUERY_WORDS = 32
MAX_TAB_GLOBS = 64
SQLITE_MAX_INT = 2**63 - 1


def _bounded_tabs(value: list[str] | None) -> list[str] | None:
    if value and len(value) > MAX_TAB_GLOBS:
        raise typer.BadParameter(f"at most {MAX_TAB_GLOBS} tab globs, got {len(value)}")
    return value


def _bounded_query(value: str | None) -> str | None:
    """The query's distinct words (order kept): repeats add nothing but SQL clauses."""
    if value is None:
        return None
    from jitspot.text import fold

    words = list(dict.fromkeys(fold(value).split()))
    if len(words) > MAX_QUERY_WORDS:
        raise typer.BadParameter(
            f"at most {MAX_QUERY_WORDS} different words, got {len(words)}; narrow the query"
        )
    return " ".join(words)


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


def make_filter(
    artist: str | None,
    genre: str | None,
    year: int | None,
    tab: list[str] | None,
    vocal: str | None,
    query: str | None,
) -> AlbumFilter:
    return AlbumFilter(
        artist=artist, genre=genre, year=year, tabs=tuple(tab or ()), vocal=vocal, query=query
    )


def print_json(document: Any) -> None:
    write_stdout(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def write_stdout(text: str) -> None:
    """Write a result and flush it, so a closed pipe is noticed before the summary."""
    # In pieces: one huge write that the pipe's reader abandons halfway comes back
    # as a silent short write, not EPIPE; the next piece then raises it.
    for start in range(0, len(text), _STDOUT_PIECE):
        sys.stdout.write(text[start : start + _STDOUT_PIECE])
        sys.stdout.flush()


_STDOUT_PIECE = 1 << 16


# -- import --------------------------------------------------------------------------------


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
    from jitspot.importer import import_source

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


# -- list ----------------------------------------------------------------------------------


@app.command("list")
def list_command(
    artist: ArtistOpt = None,
    genre: GenreOpt = None,
    year: YearOpt = None,
    tab: TabOpt = None,
    vocal: VocalOpt = None,
    query: QueryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List albums in the store, one line each, with their cache state. Never calls Spotify."""
    from jitspot.catalog import Catalog

    catalog = Catalog(state.get_store(), state.get_settings())
    albums = catalog.store.albums(make_filter(artist, genre, year, tab, vocal, query))
    if as_json:
        print_json(catalog.views(albums, offline=True, count=False))
        return
    from jitspot.terminal import album_lines

    states = catalog.cache_states(albums)
    for line in album_lines(albums, states, color=state.out.is_terminal):
        state.out.print(line, markup=state.out.is_terminal, overflow="ignore", crop=False)
    if not state.quiet:
        state.err.print(f"{len(albums)} albums")


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
    store_id: Annotated[
        int | None, typer.Option("--id", min=1, max=SQLITE_MAX_INT, help="The store's own id.")
    ] = None,
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
    from jitspot.catalog import Catalog
    from jitspot.errors import AmbiguousAlbum

    if offline and refresh:
        raise typer.BadParameter("--offline and --refresh exclude each other")
    if album is None and store_id is None:
        raise typer.BadParameter("name an ALBUM (a Spotify link or id, or text) or give --id N")
    catalog = Catalog(state.get_store(), state.get_settings())
    try:
        found = catalog.find(album, store_id)
    except AmbiguousAlbum as ambiguous:
        _candidates(catalog, ambiguous, as_json)
        raise SystemExit(EXIT_PARTIAL) from None
    view = catalog.views([found], offline=offline, refresh=refresh)[0]
    catalog.close()
    if as_json:
        print_json(view)
        return
    from jitspot.terminal import show_page

    state.out.print(show_page(view))


def _candidates(catalog: Catalog, ambiguous: AmbiguousAlbum, as_json: bool) -> None:
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
def export_command(
    artist: ArtistOpt = None,
    genre: GenreOpt = None,
    year: YearOpt = None,
    tab: TabOpt = None,
    vocal: VocalOpt = None,
    query: QueryOpt = None,
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
    from jitspot import export
    from jitspot.catalog import Catalog
    from jitspot.files import check_writable, write_atomic

    if output is not None:
        check_writable(output)  # before any Spotify call is spent on an export going nowhere
    catalog = Catalog(state.get_store(), state.get_settings())
    albums = catalog.store.albums(make_filter(artist, genre, year, tab, vocal, query))
    with _progress("Fetching from Spotify") as progress:
        views = catalog.views(albums, offline=offline, progress=progress)
    catalog.close()
    if fmt is ExportFormat.json:
        text = export.render_json(views)
    elif fmt is ExportFormat.csv:
        text = export.render_csv(views)
    elif fmt is ExportFormat.md:
        text = export.render_markdown(views)
    else:
        text = export.render_html(views, generated_at=now_iso())
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


@contextmanager
def _progress(label: str) -> Iterator[Progress | None]:
    """A progress bar on a terminal; nothing otherwise (stdout stays the result only)."""
    if state.quiet or not state.err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=state.err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{label}: {phase}", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


# -- the error boundary --------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    from jitspot.logs import redact

    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    # Error texts can quote a URL with a token or a credential: never print those.
    sys.stderr.write(f"jitspot: {redact(first_line)}\n")
    raise SystemExit(code)


def _sqlite_error(exc: sqlite3.Error) -> JitspotError | None:
    """A damaged file, a full disk or a read-only home met outside a store transaction."""
    from jitspot.store import store_error

    settings = state.settings
    path = settings.store_path if settings is not None else Path("jitspot.db")
    mapped = store_error(path, exc)
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if mapped is not None and code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        # The disk cache is SQLite too: blame the store only if it is the damaged one.
        store = state.store
        try:
            healthy = store is not None and store.check(None) is None
        except sqlite3.Error:
            healthy = False
        if healthy:
            cache = settings.cache_dir if settings is not None else path.parent
            return ConfigError(
                f"the cache at {cache} is damaged ({exc}); the store is fine: move the"
                " cache aside (what it held is fetched again when needed)"
            )
    return mapped


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; map JitspotError to its exit code and one line on stderr."""
    global state
    state = State()
    try:
        app(args=argv, prog_name="jitspot")
    except JitspotError as exc:
        if state.debug:
            logging.getLogger("jitspot").exception("error")
        _fail(str(exc), exc.exit_code)
    except sqlite3.Error as exc:
        if state.debug:
            logging.getLogger("jitspot").exception("error")
        if "locked" in str(exc):
            _fail("the store is busy (another jitspot run is writing); try again", EXIT_TEMPFAIL)
        mapped = _sqlite_error(exc)
        if mapped is not None:
            _fail(str(mapped), mapped.exit_code)
        _fail(f"store error: {exc}", EXIT_PARTIAL)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        hint = " (run with --debug for the traceback)"
        if state.debug:
            # Through the redacting handler: Python's own traceback would print secrets.
            logging.getLogger("jitspot").exception("unexpected error")
            hint = ""
        _fail(f"unexpected {type(exc).__name__}: {exc}{hint}", EXIT_PARTIAL)
    finally:
        if state.store is not None:
            state.store.close()
