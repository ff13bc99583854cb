"""Shared state between processes: meta values, counters, runs, and the quota ledger."""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from pathlib import Path
from typing import Any

from jitspot.errors import JitspotError
from jitspot.spotify.quota import EXCEEDED, LEARN_FLOOR, LEARNED, NOT_BEFORE, Taken, learned_budget
from jitspot.store.db import Database, add_counters, now_iso, put_meta, raise_time, to_json

log = logging.getLogger(__name__)

RUNS_KEPT = 100  # runs of each command kept in `runs` (refresh keeps all: they are few)


class Meta(Database):
    """Meta values, counters and runs."""

    def get_meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as conn:
            put_meta(conn, key, value)

    def raise_meta_time(self, key: str, until: float) -> float:
        """Keep the later of `until` and the time stored at `key`; return the time in force.

        One statement, so two processes that both record a time can never
        replace a later one with an earlier one (a read then a write could).
        """
        with self.transaction() as conn:
            return raise_time(conn, key, until)

    # -- counters ----------------------------------------------------------------------

    def add_counters(self, deltas: dict[str, float]) -> None:
        """Add to named counters in one transaction (hits, misses, calls...)."""
        items = [(name, value) for name, value in deltas.items() if value]
        if items:
            with self.transaction() as conn:
                add_counters(conn, items)

    def counters(self) -> dict[str, float]:
        """Every counter, with those still pending in this process."""
        found = {
            name: value for name, value in self.conn.execute("SELECT name, value FROM counters")
        }
        for name, value in self._pending.items():
            found[name] = found.get(name, 0) + value
        return found

    def quota_times(self, since: float) -> list[float]:
        """When the ledger's Web API calls after `since` were sent, oldest first."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT at FROM quota_ledger WHERE at > ? ORDER BY at", (since,)
            )
        ]

    # -- runs: what each refresh (and later match, sync) did, for `stats` ---------------

    def start_run(self, command: str) -> int:
        """Record a run's start; a run killed before `finish_run` keeps no end time."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO runs(command, started_at) VALUES (?, ?)", (command, now_iso())
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(self, run_id: int, exit_code: int, summary: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (now_iso(), exit_code, to_json(summary), run_id),
            )

    def record_run(self, command: str, started_at: str, summary: dict[str, Any]) -> None:
        """Record a finished run of a quick command (show, export, import) with the
        counters still pending, in one transaction; the last RUNS_KEPT of each are kept.

        A store that takes no write (read-only, full) keeps nothing: the record is
        never worth failing a command for.
        """
        if self.read_only:
            self._pending.clear()
            return
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO runs(command, started_at, finished_at, status, summary)"
                    " VALUES (?, ?, ?, 0, ?)",
                    (command, started_at, now_iso(), to_json(summary)),
                )
                conn.execute(
                    "DELETE FROM runs WHERE command = ? AND id NOT IN"
                    " (SELECT id FROM runs WHERE command = ? ORDER BY id DESC LIMIT ?)",
                    (command, command, RUNS_KEPT),
                )
        except (JitspotError, sqlite3.Error) as exc:
            log.debug("run of %s not recorded: %s", command, exc)
            self._pending.clear()

    def last_run(self, command: str, *, succeeded: bool = False) -> dict[str, Any] | None:
        """The latest run of `command` (that exited 0, with `succeeded`): started_at,
        finished_at, exit_code and its summary."""
        row = self.conn.execute(
            "SELECT started_at, finished_at, status, summary FROM runs WHERE command = ?"
            " AND (? = 0 OR (status = 0 AND finished_at IS NOT NULL)) ORDER BY id DESC LIMIT 1",
            (command, int(succeeded)),
        ).fetchone()
        if row is None:
            return None
        return {
            "started_at": row[0],
            "finished_at": row[1],
            "exit_code": row[2],
            "summary": json.loads(row[3]) if row[3] else None,
        }


# -- the quota ledger ------------------------------------------------------------------------
# Every Web API request of every process on this JITSPOT_HOME, written down just before it
# is sent (jitspot.spotify.quota decides who may send). Like PacingState, it has its own connection:
# the gateway's worker threads write here while the resolver's thread writes the cache.


class QuotaLedger:
    """The `quota_ledger` table, taken and refused under BEGIN IMMEDIATE (see spotify.quota)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: Database | None = None
        self._lock = threading.Lock()  # one connection, one thread in it at a time

    def _conn(self) -> Database:
        if self._db is None:
            self._db = Database.open(self.path)
        return self._db

    def take(
        self, now: float, window: float, limit: int | None, endpoint: str, share: str
    ) -> Taken:
        """Write a call down if fewer than `limit` calls (None: no limit) are in the window."""
        with self._lock:
            db = self._conn()
            with db.transaction() as conn:
                horizon = now - window
                conn.execute("DELETE FROM quota_ledger WHERE at <= ?", (horizon,))
                used = -1
                if limit is not None:
                    (used,) = conn.execute(
                        "SELECT COUNT(*) FROM quota_ledger WHERE at > ?", (horizon,)
                    ).fetchone()
                    if used >= limit:
                        if limit <= 0:
                            return Taken(None, used, math.inf)
                        (oldest,) = conn.execute(
                            "SELECT at FROM quota_ledger WHERE at > ? ORDER BY at LIMIT 1 OFFSET ?",
                            (horizon, used - limit),
                        ).fetchone()
                        return Taken(None, used, oldest + window)
                cursor = conn.execute(
                    "INSERT INTO quota_ledger(at, endpoint, share) VALUES (?, ?, ?)",
                    (now, endpoint, share),
                )
        assert cursor.lastrowid is not None
        return Taken(cursor.lastrowid, used + 1 if used >= 0 else -1)

    def refused(
        self, ticket: int, now: float, window: float, until: float, configured: Any
    ) -> int | None:
        """Spotify refused the call of `ticket`: the budget is the calls written before it in
        the window (the stricter of that and what was learned before); the refusal is counted
        and every process keeps off the Web API until `until`. Returns the budget (None:
        too few calls of jitspot's in the window to say the account's quota, which other
        apps of the same developer spend too; the "not before" holds all the same)."""
        with self._lock:
            db = self._conn()
            with db.transaction() as conn:
                (before,) = conn.execute(
                    "SELECT COUNT(*) FROM quota_ledger WHERE id < ? AND at > ?",
                    (ticket, now - window),
                ).fetchone()
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (LEARNED,)).fetchone()
                known = learned_budget(json.loads(row[0]) if row else None, configured, now)
                budget = known
                if before >= LEARN_FLOOR:
                    budget = before if known is None else min(known, before)
                doc = {"budget": budget, "at": now, "configured": configured, "until": until}
                put_meta(conn, LEARNED, doc)
                add_counters(conn, [(EXCEEDED, 1)])
                raise_time(conn, NOT_BEFORE, until)
        return budget

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
