"""The Typer app, its global options and state, and what every command uses to print."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

# jitspot uses no pydantic plugins; looking for them reads every installed
# package's metadata (~12 ms of a ~0.2 s `show`).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from jitspot import __version__
from jitspot.settings import Settings, load_settings
from jitspot.store import Store, open_store

if TYPE_CHECKING:
    from jitspot.catalog.resolver import Progress


# -- a reader that went away (part of the error boundary) ---------------------------------


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
    "metadata are fetched from Spotify when first needed, and served from the cache after. "
    "refresh renews the cache (made for cron); match finds the albums of rows without a "
    "link; stats tells how well it does; serve puts the catalog in a browser.",
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

    def reset(self) -> None:
        """Back to a fresh state (each `main` call; the commands hold this object)."""
        self.__dict__.update(State().__dict__)

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


# -- printing ------------------------------------------------------------------------------


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


@contextmanager
def progress_bar(label: str, detail: Callable[[], str] | None = None) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise.

    `detail` adds a live text after the counts (calls, 429s, rate).
    """
    if state.quiet or not state.err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
        console=state.err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            text = detail() if detail is not None else ""
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{label}: {phase}", total=total, detail=text)
            bar.update(tasks[phase], completed=done, total=total, detail=text)

        yield update
