"""`jitspot import`: read a source into the store. Never calls Spotify."""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from jitspot.model import SheetRow
from jitspot.settings import Settings
from jitspot.sheets.readers import is_stdin, is_url, read_source
from jitspot.sheets.sheet import SheetData, interpret
from jitspot.store import ImportReport, Store, damaged_store, now_iso


def import_source(
    store: Store, settings: Settings, source: str, tab_globs: Sequence[str] = ()
) -> ImportReport:
    """Read `source` and upsert its album rows in one transaction.

    An unchanged local file already imported with the same tab selection is
    recognised by its digest and not read again.
    """
    started, started_at = time.perf_counter(), now_iso()
    local = not is_url(source) and not is_stdin(source)
    digest = _file_digest(Path(source).expanduser()) if local else None
    memo_key = f"import_digest:{Path(source).expanduser().resolve() if digest else source}"
    memo = store.get_meta(memo_key) if digest else None
    if (
        memo
        and memo.get("digest") == digest
        and memo.get("tabs") == sorted(tab_globs)
        and memo.get("generation") == store.get_meta("generation")
    ):
        # The memo lives in meta; the albums it vouches for may be damaged
        # (checking one table is cheap next to reading the sheet again).
        problem = store.check()
        if problem is not None:
            raise damaged_store(store.path, problem)
        report = ImportReport(source=source, **memo["report"])
        report.unchanged = report.rows
        report.seconds = time.perf_counter() - started
        _record(store, report, started_at)
        return report

    with _no_cyclic_gc():
        data = read_source(
            source,
            tab_globs,
            max_bytes=int(settings.download_max_mb * 2**20),
            timeout=settings.download_timeout,
        )
        report = ImportReport(source=source, tabs=list(data.tabs))
        rows = interpret_rows(data, report)
        store.apply_import(rows, data.tabs, source, report)
    report.seconds = time.perf_counter() - started
    if digest:
        store.set_meta(
            memo_key,
            {
                "digest": digest,
                "tabs": sorted(tab_globs),
                "generation": store.get_meta("generation"),
                "report": {
                    "rows": report.rows,
                    "skipped": report.skipped,
                    "with_spotify_link": report.with_spotify_link,
                    "invalid_spotify_links": report.invalid_spotify_links,
                    "tabs": report.tabs,
                },
            },
        )
    _record(store, report, started_at)
    return report


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cycle collector paused while an import builds its rows.

    A sheet becomes hundreds of thousands of small objects (cells, rows, tuples),
    none of them in a cycle; the collector would walk them all again and again as
    they pile up (~5% of an import). It runs as usual once the import is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _record(store: Store, report: ImportReport, started_at: str) -> None:
    """The import in the store's `runs`, for `stats` ("last synced 3 hours ago")."""
    from jitspot.logs import redact

    # Without `changes`, one line per changed row: the sheet's business, not a run's record.
    summary = {
        **report.as_json(changes=False),
        "source": redact(report.source),
        "seconds": report.seconds,
    }
    store.record_run("import", started_at, summary)


def interpret_rows(data: SheetData, report: ImportReport) -> list[SheetRow]:
    """Album rows of `data`; rows that name no album are counted as skipped."""
    rows: list[SheetRow] = []
    for raw in data.rows:
        row = interpret(raw)
        if row is None:
            report.skipped += 1
            continue
        rows.append(row)
        if row.sheet_spotify_id:
            report.with_spotify_link += 1
        elif row.spotify_link_invalid:
            report.invalid_spotify_links += 1
    report.rows = len(rows)
    return rows


def _file_digest(path: Path) -> str | None:
    if not path.is_file():
        return None  # a pipe would be drained here; read_source copies it instead
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "blake2b").hexdigest()
    except OSError:
        return None  # read_source reports the problem
