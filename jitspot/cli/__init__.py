"""The command line: parse, call the core, render. The one error boundary lives here.

The app and what every command shares are in `app` and `options` (what the
job commands refresh and match share, in `runs`); each command (or group) has
a module of its own, registered by importing it here.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn

from jitspot.cli import albums, cache, importing, match, refresh, serve, stats  # noqa: F401 - registers the commands
from jitspot.cli.app import app, state
from jitspot.errors import (
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    EXIT_TEMPFAIL,
    ConfigError,
    Interrupted,
    JitspotError,
)

__all__ = ["app", "main"]


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
    state.reset()
    previous = _ctrl_c_raises()
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
        _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        hint = " (run with --debug for the traceback)"
        if state.debug:
            # Through the redacting handler: Python's own traceback would print secrets.
            logging.getLogger("jitspot").exception("unexpected error")
            hint = ""
        _fail(f"unexpected {type(exc).__name__}: {exc}{hint}", EXIT_PARTIAL)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if state.store is not None:
            state.store.close()


def _ctrl_c_raises() -> Any:
    """Ctrl-C raises Interrupted, which the boundary reports (exit 130).

    Typer turns KeyboardInterrupt into its own quiet exit, so the boundary never
    saw it; an exception of ours passes through Typer. `refresh` replaces this
    handler while it runs: there Ctrl-C stops the run cleanly instead.
    Returns the handler it replaced (None outside the main thread).
    """

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted("interrupted")

    try:
        return signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread: signals are not ours to take
        return None
