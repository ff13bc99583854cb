"""The pacing documents every jitspot process on one JITSPOT_HOME shares (see
`jitspot.spotify.pacing`): `PacingState` writes one, the store reads them."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jitspot.store.db import Database, to_json


class PacingDocuments(Database):
    """The store's read of the pacing documents."""

    def pacing_document(self, name: str) -> Any | None:
        """The shared pacing state as last written (None before any); see PacingState."""
        return _document(self.conn, name)


def _document(conn: sqlite3.Connection, name: str) -> Any | None:
    row = conn.execute("SELECT state FROM pacing WHERE name = ?", (name,)).fetchone()
    return None if row is None else json.loads(row[0])


# -- shared pacing state ---------------------------------------------------------------------
# Every jitspot process on one JITSPOT_HOME paces its Spotify calls from one
# small document (the learned rate, who is sending how much). Behind this one
# function, so a server database can do the same with SELECT ... FOR UPDATE.


class PacingState:
    """One named pacing document, read-modified-written under BEGIN IMMEDIATE.

    It has its own connection: worker threads exchange with it while the
    resolver's thread writes through the store's, and one SQLite connection
    must not carry two threads' transactions. It never waits long for the
    write lock: pacing goes on with what it knows and tries again later.
    """

    def __init__(self, path: Path, name: str, *, wait: float = 0.05) -> None:
        self.path = path
        self.name = name
        self.wait = wait
        self._db: Database | None = None

    def exchange(self, change: Callable[[Any], Any]) -> Any | None:
        """Apply `change` to the document and return the new one; None if the store is busy."""
        if self._db is None:
            self._db = Database.open(self.path)
            self._db.conn.execute(f"PRAGMA busy_timeout = {int(self.wait * 1000)}")
        conn = self._db.conn
        try:
            with self._db.transaction():
                row = conn.execute(
                    "SELECT state FROM pacing WHERE name = ?", (self.name,)
                ).fetchone()
                state = change(None if row is None else json.loads(row[0]))
                conn.execute(
                    "INSERT OR REPLACE INTO pacing(name, state, updated_at) VALUES (?, ?, ?)",
                    (self.name, to_json(state), time.time()),
                )
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return None
            raise
        return state

    def read(self) -> Any | None:
        """The document as last written (None before any)."""
        with Database.open(self.path) as db:
            return _document(db.conn, self.name)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
