"""`serve`'s "Sync now": import the configured sheet, then fetch what the import added.

It runs in a thread of the server under the home's run lock, so a sync, a
`refresh`, a `match` or a `cache clear` never run at the same time: a second
"Sync now" (from this server, or while a cron refresh holds the lock) is
refused at once. Its status is what the page polls: the stage, how far it
is, when the sheet was last synced and, when something went wrong, in words.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from jitspot.catalog.catalog import Catalog
from jitspot.catalog.freshness import Need, Policy
from jitspot.errors import (
    ConfigError,
    DiskFull,
    JitspotError,
    Locked,
    QuotaExhausted,
    RateLimited,
)
from jitspot.lock import RunLock
from jitspot.logs import redact
from jitspot.settings import Settings
from jitspot.sheets.importer import import_source
from jitspot.spotify.quota import Share
from jitspot.stopping import Stop
from jitspot.store import Store, now_iso
from jitspot.timetext import until_text

log = logging.getLogger("jitspot.jobs.sync")

SyncState = Literal["idle", "running", "done", "failed"]
NO_SHEET = (
    "no sheet to sync: set JITSPOT_SHEET_URL (or sheet_url in config.toml in JITSPOT_HOME)"
    " to the sheet's URL, then restart jitspot serve"
)
# The resolver's phases, as the page names them.
_STAGES = {"albums": "covers", "covers": "covers", "tracks": "covers", "artists": "artists"}


class SyncRefused(JitspotError):
    """A sync cannot start now: one is running, another job holds the lock, or no sheet."""


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Where the current (or last) sync is. `done`/`total` count the stage's albums."""

    state: SyncState = "idle"
    stage: str | None = None  # "import", "covers", "artists"
    done: int = 0
    total: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None  # what went wrong, in words (a partial sync says so too)
    added: int | None = None
    updated: int | None = None
    removed: int | None = None

    def as_json(self, last_synced: str | None, sheet_configured: bool) -> dict[str, Any]:
        return {**asdict(self), "last_synced": last_synced, "sheet_configured": sheet_configured}


def last_synced(store: Store) -> str | None:
    """When the sheet was last imported successfully (by a sync or `jitspot import`)."""
    run = store.last_run("import", succeeded=True)
    return run["finished_at"] if run else None


def last_synced_text(store: Store) -> str | None:
    """What the last import counted, and the covers the sync after it fetched, in words.

    "2,222 albums imported (5 new), 40 covers fetched": what "Last synced" stands for.
    """
    imported = store.last_run("import", succeeded=True)
    if imported is None:
        return None
    synced = store.last_run("sync")
    fetched = None
    if synced and synced["started_at"] >= (imported["started_at"] or ""):
        fetched = (synced["summary"] or {}).get("fetched")
    return synced_words(imported["summary"] or {}, fetched)


def synced_words(summary: dict[str, Any], fetched: int | None) -> str:
    """An import's summary (and the covers fetched after it) for "Last synced …"."""
    rows = int(summary.get("rows") or 0)
    added = int(summary.get("added") or 0)
    words = f"{rows:,} {'album' if rows == 1 else 'albums'} imported"
    if added:
        words += f" ({added:,} new)"
    if fetched is not None:
        words += f", {fetched:,} {'cover' if fetched == 1 else 'covers'} fetched"
    return words


class Syncer:
    """Runs one sync at a time in a background thread and tells how it goes."""

    command = "sync"

    def __init__(
        self,
        settings: Settings,
        open_catalog: Callable[[Stop], Catalog],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._open_catalog = open_catalog
        self._clock = clock
        self._guard = threading.Lock()
        self._status = SyncStatus()
        self._stop = Stop()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> SyncStatus:
        with self._guard:
            return self._status

    def start(self) -> SyncStatus:
        """Start a sync; SyncRefused when there is no sheet or one cannot run now."""
        if not self.settings.sheet_url:
            raise SyncRefused(NO_SHEET)
        with self._guard:
            if self._status.state == "running":
                raise SyncRefused(f"a sync is already running (since {self._status.started_at})")
            lock = RunLock(self.settings.home, "serve sync", clock=self._clock)
            try:
                lock.acquire()
            except Locked as exc:
                raise SyncRefused(
                    f"{exc.holder} is running on this JITSPOT_HOME; sync when it ends"
                ) from None
            except (ConfigError, DiskFull) as exc:  # a read-only home, a full disk: say so
                raise SyncRefused(str(exc)) from None
            self._status = SyncStatus("running", "import", started_at=now_iso())
            self._thread = threading.Thread(
                target=self._run, args=(lock,), name="jitspot-sync", daemon=True
            )
            self._thread.start()
            return self._status

    def wait(self, timeout: float | None = None) -> SyncStatus:
        """The status once the running sync has ended (or `timeout` has passed)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status

    def close(self) -> None:
        """Stop a running sync (what it finished is kept) and wait for it."""
        self._stop.request("signal")
        self.wait(timeout=30)

    # -- the thread ----------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        with self._guard:
            self._status = replace(self._status, **changes)

    def _progress(self, phase: str, done: int, total: int) -> None:
        self._update(stage=_STAGES.get(phase, phase), done=done, total=total)

    def _run(self, lock: RunLock) -> None:
        catalog: Catalog | None = None
        try:
            catalog = self._open_catalog(self._stop)
            self._sync(catalog)
        except JitspotError as exc:
            self._update(state="failed", error=redact(str(exc)), finished_at=now_iso())
        except Exception as exc:
            log.exception("sync failed")
            self._update(
                state="failed", error=redact(f"unexpected error: {exc}"), finished_at=now_iso()
            )
        finally:
            if catalog is not None:
                catalog.close()
                catalog.store.close()
            lock.release()

    def _sync(self, catalog: Catalog) -> None:
        started_at = now_iso()
        source = self.settings.sheet_url or ""
        report = import_source(catalog.store, self.settings, source)
        self._update(added=report.added, updated=report.updated, removed=report.removed)
        # What the import added, and rows it updated (a new link is a new album to
        # Spotify); of those, only what the cache misses is fetched.
        changed = report.added_ids + report.updated_ids
        albums = [a for a in catalog.store.albums_by_ids(changed) if a.spotify_id]
        wanted = set(catalog.resolver.missing([a.spotify_id for a in albums if a.spotify_id]))
        self._update(stage="covers", done=0, total=len(wanted))
        error: str | None = None
        failed: set[str] = set()
        if wanted:
            # Bulk work: the covers (from oEmbed for a development-mode app, no quota),
            # within the quota's bulk share; metadata comes when an album is opened.
            resolution = catalog.resolve(
                albums,
                Policy.MISSING,
                need=Need.COVER,
                share=Share.BULK,
                artists=False,
                progress=self._progress,
            )
            catalog.record(self.command, started_at, len(albums))
            failed = set(resolution.failed)
            if resolution.error is not None:
                error = _partial(resolution.error, self._clock())
        # The end counts albums again (the last phase may have been their artists).
        self._update(
            state="done",
            stage="covers",
            done=len(wanted - failed),
            total=len(wanted),
            error=error,
            finished_at=now_iso(),
        )


def _partial(error: JitspotError, now: float) -> str:
    """The sheet is imported, but not every new cover was fetched: why, in words."""
    if isinstance(error, QuotaExhausted):
        why = str(error)
    elif isinstance(error, RateLimited):
        why = f"Spotify asked to wait until {until_text(error.not_before.timestamp(), now)}"
    else:
        why = redact(str(error))
    return f"imported; some new covers were not fetched ({why}): they come as they are viewed"
