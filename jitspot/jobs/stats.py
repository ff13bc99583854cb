"""`stats`: how well the cache does, read from the store and the cache. Never calls, never writes.

Coverage comes from the albums and the store's cache index (never the cache
values, so it stays fast for the whole catalog); effectiveness and API
accounting from the counters the commands add; runs from the `runs` table;
the learned rate and "not before" from the shared pacing state and meta.

Definitions (also in `jitspot stats --help`):
- a *hit* is an album lookup of `show`/`export` answered from the cache
  without a request; a stale entry served is a hit, counted apart too
  (`stale_hits`); a *miss* needed a request. Offline lookups (`--offline`,
  `list`) could not call and are not counted.
- the *quota* is the Web API's rolling daily quota (`jitspot.spotify.quota`): calls used in
  the window, the budget, what bulk work and single-album look-ups have left.
- *API calls* are every request sent to the Web API or oEmbed, whatever the
  answer (429, 5xx and 401 included): what Spotify counts. Token requests apart.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from jitspot.catalog.freshness import DAY, Freshness, Lifetimes, freshness
from jitspot.catalog.resolver import NOT_BEFORE, quota_now, remembered_until
from jitspot.lock import Holder, lock_holder
from jitspot.model import CacheEntry, StoredAlbum, cache_key
from jitspot.settings import Settings
from jitspot.spotify.pacing import PACING_NAME, learned_rate
from jitspot.spotify.quota import QuotaStatus
from jitspot.store import Store

By = Literal["tab", "year"]
# How the last run of a command stands: it ended, it runs now (its process holds the
# home's lock), or it never recorded an end and nobody runs it (killed, crashed).
RunState = Literal["finished", "running", "did_not_end"]
# The freshness histogram's bins: (label, upper bound of the age in seconds).
AGE_BINS: tuple[tuple[str, float], ...] = (
    ("< 1 d", DAY),
    ("< 7 d", 7 * DAY),
    ("< 30 d", 30 * DAY),
    ("older", math.inf),
)


@dataclass(slots=True)
class Coverage:
    """What the cache holds for a set of albums (each album counted once per state)."""

    total: int = 0
    with_spotify_link: int = 0
    cover_cached: int = 0
    metadata_cached: int = 0  # tracks, label... from the Web API (not only an oEmbed cover)
    not_found: int = 0
    stale: int = 0  # found, but fetched longer ago than the lifetime
    never_fetched: int = 0  # a link, and nothing (usable) in the cache
    matched: int = 0  # of the linked: the id comes from `match` (not the sheet)
    match_review: int = 0  # no link, and search candidates wait for a person's review


@dataclass(slots=True)
class Effectiveness:
    hits: int = 0
    misses: int = 0
    stale_hits: int = 0

    @property
    def hit_rate(self) -> float | None:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "hit_rate": _round(self.hit_rate)}


@dataclass(slots=True)
class Api:
    calls: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    token_requests: int = 0
    retries: int = 0
    rate_limited_responses: int = 0
    backoff_seconds: float = 0.0  # waited before retries (429 Retry-After and 5xx backoff)
    pacing_wait_seconds: float = 0.0  # waited by the pacer to keep the learned rate
    rate: float = 0.0  # requests/s: learned from Spotify's 429s, else the start rate
    rate_learned: bool = False
    rate_limited_until: float | None = None
    saved_by_cache: int = 0  # lookups served without a call (= hits)
    saved_by_batching: int = 0  # one call per album/artist minus the batch calls made


@dataclass(slots=True)
class Stats:
    albums: Coverage
    by: dict[str, Coverage] | None
    by_kind: By | None
    cache: Effectiveness
    last_runs: dict[str, Effectiveness]
    cache_entries: int
    cache_bytes: int
    store_bytes: int
    entries_by_kind: dict[str, int]
    ages: list[tuple[str, int]]
    api: Api
    last_import: dict[str, Any] | None
    last_refresh: dict[str, Any] | None
    now: float
    quota: QuotaStatus

    def as_json(self) -> dict[str, Any]:
        api = self.api
        return {
            "albums": asdict(self.albums),
            "by": (
                {"key": self.by_kind, "groups": {k: asdict(v) for k, v in self.by.items()}}
                if self.by is not None
                else None
            ),
            "cache": {
                **self.cache.as_json(),
                "entries": self.cache_entries,
                "size_bytes": self.cache_bytes,
                "by_kind": self.entries_by_kind,
                "ages": dict(self.ages),
            },
            "last_runs": {command: e.as_json() for command, e in self.last_runs.items()},
            "api": {
                "calls": api.calls,
                "by_endpoint": api.by_endpoint,
                "token_requests": api.token_requests,
                "retries": api.retries,
                "rate_limited_responses": api.rate_limited_responses,
                "backoff_seconds": round(api.backoff_seconds, 3),
                "pacing_wait_seconds": round(api.pacing_wait_seconds, 3),
            },
            "rate": {
                "requests_per_second": round(api.rate, 3),
                "learned": api.rate_learned,
                "rate_limited_until": _iso(api.rate_limited_until),
            },
            "saved": {"by_cache": api.saved_by_cache, "by_batching": api.saved_by_batching},
            "quota": self.quota.as_json(),
            "store": {"size_bytes": self.store_bytes},
            "last_import": self.last_import,
            "last_refresh": self.last_refresh,
        }


# -- pure pieces ---------------------------------------------------------------------------


def coverage(
    albums: Iterable[StoredAlbum],
    index: Mapping[str, CacheEntry],
    *,
    now: float,
    lifetimes: Lifetimes,
) -> Coverage:
    """Count the albums' cache states from the index (one album, one count per state)."""
    result = Coverage()
    for album in albums:
        result.total += 1
        spotify_id = album.spotify_id
        if not spotify_id:
            result.match_review += album.match_state == "review" and not album.sheet_spotify_id
            continue
        result.with_spotify_link += 1
        result.matched += album.spotify_id_source == "match"
        api_row = index.get(cache_key("album", spotify_id))
        oembed_row = index.get(cache_key("oembed", spotify_id))
        usable = [
            (row, state)
            for row in (api_row, oembed_row)
            if row is not None
            and (state := freshness(row, now, lifetimes)) is not Freshness.MISSING
        ]
        if not usable:
            result.never_fetched += 1
            continue
        found = [(row, state) for row, state in usable if row.status == "found"]
        if not found:
            result.not_found += 1
            continue
        if any(row.cover_url for row, _ in found):
            result.cover_cached += 1
        if any(row.kind == "album" for row, _ in found):
            result.metadata_cached += 1
        if all(state is Freshness.STALE for _, state in found):
            result.stale += 1
    return result


def group_key(album: StoredAlbum, by: By) -> str:
    if by == "tab":
        return album.tab
    return str(album.year) if album.year is not None else "unknown"


def age_histogram(fetched_at: Iterable[float], now: float) -> list[tuple[str, int]]:
    counts = dict.fromkeys((label for label, _ in AGE_BINS), 0)
    for when in fetched_at:
        age = now - when
        for label, upper in AGE_BINS:
            if age < upper:
                counts[label] += 1
                break
    return list(counts.items())


def api_figures(counters: Mapping[str, float]) -> Api:
    """The API accounting from the store's counters."""
    prefix = "api.calls."
    by_endpoint = {
        name[len(prefix) :]: int(value)
        for name, value in sorted(counters.items())
        if name.startswith(prefix) and value
    }
    batched = 0
    for endpoint in ("albums_batch", "artists_batch"):
        items = int(counters.get(f"api.batch_items.{endpoint}", 0))
        batched += max(items - by_endpoint.get(endpoint, 0), 0)
    return Api(
        calls=sum(by_endpoint.values()),
        by_endpoint=by_endpoint,
        token_requests=int(counters.get("api.token_requests", 0)),
        retries=int(counters.get("api.retries", 0)),
        rate_limited_responses=int(counters.get("api.rate_limited_responses", 0)),
        backoff_seconds=float(counters.get("api.backoff_seconds", 0.0)),
        pacing_wait_seconds=float(counters.get("api.pacing_wait_seconds", 0.0)),
        saved_by_cache=int(counters.get("cache.hits", 0)),
        saved_by_batching=batched,
    )


def run_effectiveness(summary: Mapping[str, Any] | None) -> Effectiveness:
    summary = summary or {}
    return Effectiveness(
        int(summary.get("hits") or 0),
        int(summary.get("misses") or 0),
        int(summary.get("stale_hits") or 0),
    )


def ago(then: float | None, now: float) -> str:
    """How long ago, in words: "just now", "3 minutes ago", "2 days ago", "never"."""
    if then is None:
        return "never"
    seconds = max(now - then, 0.0)
    for unit, size in (("day", DAY), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def run_state(
    command: str, started_at: str | None, finished_at: str | None, holder: Holder | None
) -> RunState:
    """How a run recorded in `runs` stands, given who holds the home's lock now.

    A run without an end is running while a process of the same command holds
    the lock, taken before the run was recorded (a run that took the lock after
    it started is another one: this one was killed).
    """
    if finished_at is not None:
        return "finished"
    started = timestamp(started_at)
    if (
        holder is not None
        and holder.command == command
        and started is not None
        and holder.since <= started + 1.0  # `started_at` is to the second
    ):
        return "running"
    return "did_not_end"


def timestamp(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


# -- gathering -----------------------------------------------------------------------------


def gather(
    store: Store,
    settings: Settings,
    *,
    by: By | None = None,
    now: float | None = None,
) -> Stats:
    """Everything `stats` shows. Reads only: no call, no write, the counters untouched."""
    now = time.time() if now is None else now
    lifetimes = Lifetimes.from_days(settings.cache_ttl_days, settings.not_found_ttl_days)
    albums = store.albums()
    index = store.cache_index()
    groups: dict[str, Coverage] | None = None
    if by is not None:
        grouped: dict[str, list[StoredAlbum]] = {}
        for album in albums:
            grouped.setdefault(group_key(album, by), []).append(album)
        groups = {
            key: coverage(members, index, now=now, lifetimes=lifetimes)
            for key, members in sorted(grouped.items(), reverse=by == "year")
        }
    counters = store.counters()
    api = api_figures(counters)
    api.rate, api.rate_learned = learned_rate(
        store.pacing_document(PACING_NAME), now, settings.rate_ceiling
    )
    api.rate_limited_until = remembered_until(store, NOT_BEFORE, now)
    kinds: dict[str, int] = {}
    for row in index.values():
        kinds[row.kind] = kinds.get(row.kind, 0) + 1
    # Entries as the index knows them (what lookups can use); bytes as the disk holds them,
    # without opening the cache (stats reads, and diskcache's import alone costs time).
    size = _dir_size(settings.cache_dir)
    entries = len(index)
    return Stats(
        albums=coverage(albums, index, now=now, lifetimes=lifetimes),
        by=groups,
        by_kind=by,
        cache=Effectiveness(
            int(counters.get("cache.hits", 0)),
            int(counters.get("cache.misses", 0)),
            int(counters.get("cache.stale_hits", 0)),
        ),
        last_runs={
            command: run_effectiveness((store.last_run(command) or {}).get("summary"))
            for command in ("show", "export")
        },
        cache_entries=entries,
        cache_bytes=size,
        store_bytes=_files_size(store.path),
        entries_by_kind=dict(sorted(kinds.items())),
        ages=age_histogram((row.fetched_at for row in index.values()), now),
        api=api,
        last_import=_run_record(store, "import"),
        last_refresh=_run_record(store, "refresh", lock_holder(settings.home)),
        now=now,
        quota=quota_now(store, settings, now),
    )


def _dir_size(path: Path) -> int:
    """Bytes of the files under `path` (the disk cache: its database and value files)."""
    try:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    except OSError:
        return 0


def _files_size(path: Path) -> int:
    """The store's bytes on disk, its write-ahead log included."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.stat(f"{path}{suffix}").st_size
        except OSError:
            continue
    return total


def _run_record(store: Store, command: str, holder: Holder | None = None) -> dict[str, Any] | None:
    """The last run of `command`: its times, exit code (null until it ends) and summary;
    for a refresh, its `state` too (and the `pid` running it)."""
    run = store.last_run(command)
    if run is None:
        return None
    summary = run.get("summary") or {}
    record: dict[str, Any] = {
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
        "exit_code": None if run["exit_code"] is None else int(run["exit_code"]),
        **{k: v for k, v in summary.items() if k not in ("exit_code",)},
    }
    if command == "refresh":
        current = run_state(command, run["started_at"], run["finished_at"], holder)
        record["state"] = current
        record["running"] = current == "running"
        record["pid"] = holder.pid if holder is not None and current == "running" else None
        success = store.last_run(command, succeeded=True)
        record["last_success_at"] = success["finished_at"] if success else None
    return record


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
