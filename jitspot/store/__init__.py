"""The store: the sheet's albums, the cache index, counters and state shared between
processes, in one SQLite file in JITSPOT_HOME.

Each part is a module with one responsibility: `db` (the file, its schema,
opening, damage, the re-fold, and `Database`, the connection and its
transactions), `albums`, `imports`, `matches`, `meta`, `cache_index`,
`pacing_state`, and `folded` (what the folded columns hold, for an import and
a re-fold alike). `Store` is those parts as small mixins over the one
`Database`: every part needs the same connection and the same transactions
(counters pending from reads go in with the next write, whichever part makes
it), and call sites keep one object and its plain methods (`store.albums()`),
where a facade would make each of them name a part. A second backend would
sit beside `db` with parts of its own.

This module is the package's face: it assembles `Store` and re-exports what
callers use (the album types live in `jitspot.model`).
"""

from __future__ import annotations

from pathlib import Path

from jitspot.store.albums import Albums
from jitspot.store.cache_index import CACHE_IDENTITY, CacheIndex
from jitspot.store.db import damaged_store, now_iso, refold, store_error
from jitspot.store.imports import ImportReport, Imports, RowChange
from jitspot.store.matches import Matches
from jitspot.store.meta import Meta, QuotaLedger
from jitspot.store.pacing_state import PacingDocuments, PacingState

__all__ = [
    "CACHE_IDENTITY",
    "ImportReport",
    "PacingState",
    "QuotaLedger",
    "RowChange",
    "Store",
    "damaged_store",
    "now_iso",
    "open_store",
    "refold",
    "store_error",
]


class Store(Albums, Imports, Matches, Meta, CacheIndex, PacingDocuments):
    """A connection to the store with every part's methods. Use `open_store` to get one.

    A store opened on a read-only home (or file) has `read_only` set: reads
    work, writes raise ConfigError.
    """


def open_store(path: Path) -> Store:
    """Open (creating and migrating as needed) the store at `path`.

    On a read-only home, or a full disk, an existing store is opened read-only
    so that `list`, `show --offline` and `export --offline` still work.
    Opening stays cheap (no integrity check): damage is reported when met.
    """
    return Store.open(path)
