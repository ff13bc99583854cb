"""The resolver: cache first, fetch the misses in as few calls as possible, write back.

`show`, `export` and `refresh` all go through `Resolver.resolve`. Fetches run
on a few worker threads (bounded by `concurrency`, paced by one shared
`Pacer`); only this thread writes, after each finished batch, so a run that
is killed or rate-limited keeps every batch it completed.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from jitspot.cache import Entry, SpotifyCache, cache_key
from jitspot.errors import ConfigError, JitspotError, RateLimited, SpotifyUnavailable, Stopped
from jitspot.freshness import (
    DAY,
    Freshness,
    Lifetimes,
    Policy,
    album_entry,
    albums_to_fetch,
    artists_to_fetch,
    chunks,
    freshness,
)
from jitspot.gateway import ALBUM_BATCH, ARTIST_BATCH, EndpointForbidden, Gateway
from jitspot.pacing import PACING_NAME, Clock, Pacer, Sleep
from jitspot.settings import Settings
from jitspot.stopping import Stop
from jitspot.store import PacingState, Store

log = logging.getLogger("jitspot.resolver")

# Shared state in the store's meta table, seen by every jitspot process.
NOT_BEFORE = "spotify.not_before"
ALBUMS_BATCH_FORBIDDEN_UNTIL = "spotify.albums_batch_forbidden_until"
ARTISTS_BATCH_FORBIDDEN_UNTIL = "spotify.artists_batch_forbidden_until"
NO_GENRES_UNTIL = "spotify.no_genres_until"
CAPABILITY_MEMORY = DAY  # how long a 403 on a batch endpoint (or no genres) is remembered

Progress = Callable[[str, int, int], None]  # (phase, done, total); the CLI draws it
Task = Callable[[], list[Entry]]


@dataclass(slots=True)
class Resolution:
    """What a resolve found, fetched, and why some albums have nothing."""

    entries: dict[str, Entry] = field(default_factory=dict)
    fetched: set[str] = field(default_factory=set)
    fetched_artists: set[str] = field(default_factory=set)
    searched: set[str] = field(default_factory=set)  # queries answered by Spotify in this run
    failed: dict[str, str] = field(default_factory=dict)  # album id -> reason
    error: JitspotError | None = None
    rate_limited_until: float | None = None
    api_calls: int = 0
    rate_limited_responses: int = 0  # 429s met (each waited out, or the one that stopped the run)
    backoff_seconds: float = 0.0  # waited before retries (429s and 5xx)
    hits: int = 0
    misses: int = 0
    stale_hits: int = 0
    with_credentials: bool = False


def remembered_until(store: Store, key: str, now: float) -> float | None:
    """A time kept in the store's meta, if it is still in the future."""
    value = store.get_meta(key)
    return float(value) if isinstance(value, int | float) and value > now else None


class Resolver:
    """Cache first; the gateway is built only when something must be fetched."""

    def __init__(
        self,
        store: Store,
        cache: SpotifyCache,
        settings: Settings,
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        gateway_factory: Callable[[Pacer], Gateway] | None = None,
        stop: Stop | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.lifetimes = Lifetimes.from_days(settings.cache_ttl_days, settings.not_found_ttl_days)
        self._gateway_factory = gateway_factory
        self._gateway: Gateway | None = None
        self._timing_lock = threading.Lock()
        self._task_count = 0
        self._task_total = 0.0
        self.pacer: Pacer | None = None
        self.current: Resolution | None = None
        self._pacing_seen = 0.0
        # A stop (signal, --max-time) is obeyed in every wait: the pacer's and the retries'.
        self.stop = stop
        self._wait: Sleep = stop.sleep if stop is not None else sleep

    @property
    def with_credentials(self) -> bool:
        return self.settings.has_credentials

    def gateway(self) -> Gateway:
        if self._gateway is None:
            # One pacer per process, sharing the learned rate with every other
            # jitspot process on this JITSPOT_HOME through the store.
            shared = PacingState(self.store.path, PACING_NAME)
            weakref.finalize(self, shared.close)
            gate = Pacer(
                clock=self.clock,
                sleep=self._wait,
                ceiling=self.settings.rate_ceiling,
                shared=shared,
            )
            self.pacer = gate
            if self._gateway_factory is not None:
                self._gateway = self._gateway_factory(gate)
            else:
                from jitspot.gateway import SpotifyGateway

                self._gateway = SpotifyGateway(
                    self.settings, gate, clock=self.clock, sleep=self._wait
                )
        return self._gateway

    # -- the one entry point -------------------------------------------------------------

    def resolve(
        self,
        spotify_ids: Sequence[str],
        policy: Policy,
        *,
        count_lookups: bool = True,
        progress: Progress | None = None,
        artists: bool = True,
        prefetch: Sequence[str] = (),
    ) -> Resolution:
        """Entries for the albums (and their artists), fetching what `policy` asks for.

        `artists=False` fetches albums only (a cover needs no artist's genres).
        `prefetch`: albums likely to be asked next, fetched only in the places a
        batch call leaves free (never a call of their own); not counted as lookups.

        Stops early (keeping every finished batch) on a rate limit past the cap,
        an unreachable Spotify, refused credentials, or the resolver's `stop`;
        `Resolution.error` then says which.
        """
        ids = list(dict.fromkeys(spotify_ids))
        result = Resolution(with_credentials=self.with_credentials)
        self.current = result  # what a progress display reads while this runs
        result.entries = self.cached(ids)
        now = self.clock()
        if count_lookups and not policy.fetches_nothing:
            # Offline lookups are not counted: they could not call anyway, and an
            # offline command must not write (a full disk, a read-only home).
            self._count_lookups(ids, result, now, refetch=policy.everything)
        to_fetch = albums_to_fetch(
            ids,
            result.entries,
            policy=policy,
            now=now,
            lifetimes=self.lifetimes,
            with_credentials=self.with_credentials,
        )
        if policy.fetches_nothing:
            return result
        riders = self._riders(to_fetch, prefetch, now) if prefetch and to_fetch else []
        if not to_fetch and not (artists and self._artists_wanted(ids, result, policy)):
            return result  # warm: no gateway, no token, no network
        not_before = remembered_until(self.store, NOT_BEFORE, now)
        if not_before is not None:
            self._stop(result, to_fetch, RateLimited(datetime.fromtimestamp(not_before, UTC)))
            return result
        try:
            if self.with_credentials:
                self._fetch_albums(to_fetch, result, progress, riders=riders)
                if artists and result.error is None:
                    wanted = self._artists_wanted(ids, result, policy)
                    self._fetch_artists(wanted, result, progress)
            else:
                covers = _Tally("covers", len(to_fetch), progress)
                self._run([self._oembed_task(i) for i in to_fetch], to_fetch, result, covers)
        finally:
            self._flush_meter(result)
        for spotify_id in to_fetch:
            if spotify_id not in result.fetched and spotify_id not in result.failed:
                result.failed[spotify_id] = "unavailable"
        return result

    def search(
        self, queries: Sequence[str], policy: Policy, *, progress: Progress | None = None
    ) -> Resolution:
        """Album searches for `queries`, from the cache or (what `policy` asks for) Spotify.

        The same runner as albums: paced, retried, stopped by a long rate limit,
        a signal or --max-time, each answer written as it lands. An answer with
        no album is cached as "not found" (asked again after its lifetime).
        `Resolution.failed` then names the queries left unanswered.
        """
        wanted = list(dict.fromkeys(queries))
        result = Resolution(with_credentials=self.with_credentials)
        self.current = result
        result.entries = self.cache.get_many(cache_key("search", q) for q in wanted)
        now = self.clock()
        to_search = [
            q
            for q in wanted
            if not policy.fetches_nothing
            and policy.wants(result.entries.get(cache_key("search", q)), now, self.lifetimes)
        ]
        if not to_search:
            return result
        if not self.with_credentials:
            raise ConfigError(
                "searching Spotify needs an app: set SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET"
            )
        not_before = remembered_until(self.store, NOT_BEFORE, now)
        if not_before is not None:
            self._stop(result, to_search, RateLimited(datetime.fromtimestamp(not_before, UTC)))
            return result
        try:
            tally = _Tally("searches", len(to_search), progress)
            self._run([self._search_task(q) for q in to_search], to_search, result, tally)
        finally:
            self._flush_meter(result)
        return result

    # -- cache reads ---------------------------------------------------------------------

    def _riders(self, to_fetch: list[str], prefetch: Sequence[str], now: float) -> list[str]:
        """Albums of `prefetch` that ride in the places the last batch call leaves free.

        A batch call costs one request for 1 album as for 20, and a rate limit
        counts requests: when the app may batch, `serve` fills those places with
        the tiles a visitor is about to see, so scrolling on finds them cached.
        None when each album is a call of its own (a development-mode app, oEmbed).
        """
        room = (-len(to_fetch)) % ALBUM_BATCH
        if (
            not room
            or not self.with_credentials
            or remembered_until(self.store, ALBUMS_BATCH_FORBIDDEN_UNTIL, now) is not None
        ):
            return []
        asked = set(to_fetch)
        return self.missing([i for i in prefetch if i not in asked])[:room]

    def missing(self, spotify_ids: Sequence[str]) -> list[str]:
        """The albums, in order, a `Policy.MISSING` resolve would fetch (read from the cache)."""
        ids = list(dict.fromkeys(spotify_ids))
        return albums_to_fetch(
            ids,
            self.cached(ids),
            policy=Policy.MISSING,
            now=self.clock(),
            lifetimes=self.lifetimes,
            with_credentials=self.with_credentials,
        )

    def cached(self, ids: list[str]) -> dict[str, Entry]:
        """The cached entries of the albums and of their artists (no network)."""
        keys = [cache_key("album", i) for i in ids] + [cache_key("oembed", i) for i in ids]
        entries = self.cache.get_many(keys)
        artist_keys = [
            cache_key("artist", artist_id)
            for entry in entries.values()
            if entry.kind == "album" and entry.data
            for artist_id in entry.data.get("artist_ids") or []
        ]
        entries.update(self.cache.get_many(artist_keys))
        return entries

    def _count_lookups(
        self, ids: list[str], result: Resolution, now: float, *, refetch: bool
    ) -> None:
        """A hit is a lookup answered from the cache without a request (a stale entry
        served is a hit, counted apart too); a miss needs a request (`--refresh`: all)."""
        for spotify_id in ids:
            entry = album_entry(spotify_id, result.entries, with_credentials=self.with_credentials)
            state = freshness(entry, now, self.lifetimes)
            if refetch or state is Freshness.MISSING:
                result.misses += 1
            else:
                result.hits += 1
                result.stale_hits += state is Freshness.STALE
        # Added with the next write (the run's record), not with one of its own.
        self.store.count_later(
            {
                "cache.hits": result.hits,
                "cache.misses": result.misses,
                "cache.stale_hits": result.stale_hits,
            }
        )

    def _artists_wanted(self, ids: list[str], result: Resolution, policy: Policy) -> list[str]:
        if not self.with_credentials:
            return []
        if remembered_until(self.store, NO_GENRES_UNTIL, self.clock()) is not None:
            return []
        albums = [e for i in ids if (e := result.entries.get(cache_key("album", i))) is not None]
        return artists_to_fetch(
            albums, result.entries, policy=policy, now=self.clock(), lifetimes=self.lifetimes
        )

    # -- fetching ------------------------------------------------------------------------

    def _fetch_albums(
        self,
        ids: list[str],
        result: Resolution,
        progress: Progress | None,
        *,
        riders: Sequence[str] = (),
    ) -> None:
        """Albums in batches of 20 when the app may; one by one when it may not.

        When nobody knows yet whether batches are allowed, the first batch goes
        alone: a 403 then costs one call, not one per worker. `riders` fill the
        last batch's free places, and are dropped when albums go one by one.
        """
        if not ids:
            return
        asked = ids
        ids = [*ids, *riders]
        tally = _Tally("albums", len(ids), progress)
        now = self.clock()
        batches_allowed = (
            len(ids) > 1 and remembered_until(self.store, ALBUMS_BATCH_FORBIDDEN_UNTIL, now) is None
        )
        if batches_allowed:
            groups = chunks(ids, ALBUM_BATCH)
            try:
                self._run([self._album_batch_task(groups[0])], asked, result, tally)
            except EndpointForbidden:
                log.info("batch album lookups are forbidden for this app: one call per album")
                self._remember(ALBUMS_BATCH_FORBIDDEN_UNTIL, ARTISTS_BATCH_FORBIDDEN_UNTIL)
            else:
                tasks = [self._album_batch_task(group) for group in groups[1:]]
                self._run(tasks, asked, result, tally)
                return
        remaining = [i for i in asked if i not in result.fetched]
        self._run([self._album_task(i) for i in remaining], asked, result, tally)

    def _fetch_artists(self, ids: list[str], result: Resolution, progress: Progress | None) -> None:
        """Artists (for genres) in batches of 50, or one by one; stop once genres don't come."""
        if not ids or result.error is not None:
            return
        tally = _Tally("artists", len(ids), progress)
        now = self.clock()
        batches_allowed = (
            len(ids) > 1
            and remembered_until(self.store, ARTISTS_BATCH_FORBIDDEN_UNTIL, now) is None
        )
        if batches_allowed:
            groups = chunks(ids, ARTIST_BATCH)
            try:
                self._run([self._artist_batch_task(groups[0])], [], result, tally)
            except EndpointForbidden:
                self._remember(ARTISTS_BATCH_FORBIDDEN_UNTIL)
                tasks = [self._artist_task(i) for i in ids]
            else:
                tasks = [self._artist_batch_task(group) for group in groups[1:]]
        else:
            tasks = [self._artist_task(i) for i in ids]
        if tasks and not self._genres_seen(result) and result.error is None:
            # Probe: one artist alone tells whether the app gets genres at all.
            self._run(tasks[:1], [], result, tally)
            tasks = tasks[1:]
        if self._genres_withheld(result):
            log.info("this app gets no artist genres: not asking for artists")
            self._remember(NO_GENRES_UNTIL)
            return
        if result.error is None:
            self._run(tasks, [], result, tally)

    def _genres_seen(self, result: Resolution) -> bool:
        return any(
            e.kind == "artist" and e.data and e.data.get("genres") is not None
            for e in result.entries.values()
        )

    def _genres_withheld(self, result: Resolution) -> bool:
        fetched_artists = [
            e for e in result.entries.values() if e.kind == "artist" and e.found and e.data
        ]
        return bool(fetched_artists) and all(
            e.data is not None and e.data.get("genres") is None for e in fetched_artists
        )

    def _remember(self, *keys: str) -> None:
        until = self.clock() + CAPABILITY_MEMORY
        for key in keys:
            self.store.set_meta(key, until)

    # -- tasks: run on worker threads; they only talk to the gateway -----------------------

    def _entry(self, kind: str, spotify_id: str, data: object) -> Entry:
        if data is None:
            return Entry(kind, spotify_id, "not_found", self.clock())  # type: ignore[arg-type]
        return Entry(kind, spotify_id, "found", self.clock(), dict(data))  # type: ignore[arg-type, call-overload]

    def _album_batch_task(self, ids: list[str]) -> Task:
        def task() -> list[Entry]:
            found = self.gateway().albums_batch(ids)
            return [self._entry("album", i, found.get(i)) for i in ids]

        return task

    def _album_task(self, spotify_id: str) -> Task:
        return lambda: [self._entry("album", spotify_id, self.gateway().album(spotify_id))]

    def _artist_batch_task(self, ids: list[str]) -> Task:
        def task() -> list[Entry]:
            found = self.gateway().artists_batch(ids)
            return [self._entry("artist", i, found.get(i)) for i in ids]

        return task

    def _artist_task(self, artist_id: str) -> Task:
        return lambda: [self._entry("artist", artist_id, self.gateway().artist(artist_id))]

    def _oembed_task(self, spotify_id: str) -> Task:
        return lambda: [self._entry("oembed", spotify_id, self.gateway().oembed(spotify_id))]

    def _search_task(self, query: str) -> Task:
        def task() -> list[Entry]:
            candidates = self.gateway().search_albums(query)
            return [self._entry("search", query, {"albums": candidates} if candidates else None)]

        return task

    # -- the runner ------------------------------------------------------------------------

    def _run(
        self, tasks: list[Task], album_ids: list[str], result: Resolution, tally: _Tally
    ) -> None:
        """Run tasks on at most `concurrency` threads; write each result as it lands.

        A rate limit past the cap, an unreachable Spotify or refused credentials
        stop the run: what finished is kept, the rest is marked failed.
        EndpointForbidden is raised to the caller (it decides the fallback).
        """
        if not tasks or result.error is not None:
            return
        self.gateway()  # built here, once: workers share one token, budget and meter
        pending: set[Future[list[Entry]]] = set()
        queue = [self._timed(task) for task in reversed(tasks)]
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            try:
                while queue or pending:
                    while queue and len(pending) < self.settings.concurrency:
                        if self.stop is not None:
                            # No new work that would end past the deadline.
                            self.stop.check(self._task_seconds())
                        pending.add(pool.submit(queue.pop()))
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        try:
                            entries = future.result()
                        except EndpointForbidden as forbidden:
                            if forbidden.batch:
                                raise  # the caller falls back to one call per item
                            raise SpotifyUnavailable(
                                f"Spotify refuses this app the {forbidden.endpoint} endpoint (403)"
                            ) from None
                        self._keep(entries, result)
                        tally.add(len(entries))
            except (RateLimited, SpotifyUnavailable, ConfigError, Stopped) as error:
                queue.clear()
                for future in pending:
                    future.cancel()
                self._drain(pending, result)
                self._stop(result, album_ids, error)
            except BaseException:
                queue.clear()
                for future in pending:
                    future.cancel()
                raise

    def _timed(self, task: Task) -> Task:
        """The task, timing itself (for the runner's deadline check)."""

        def timed() -> list[Entry]:
            started = self.clock()
            try:
                return task()
            finally:
                with self._timing_lock:
                    self._task_count += 1
                    self._task_total += self.clock() - started

        return timed

    def _task_seconds(self) -> float:
        """How long a task has taken on average in this process (0 before the first)."""
        with self._timing_lock:
            return self._task_total / self._task_count if self._task_count else 0.0

    def _drain(self, pending: set[Future[list[Entry]]], result: Resolution) -> None:
        """Keep what in-flight requests still bring back after a stop."""
        for future in pending:
            if future.cancelled():
                continue
            try:
                self._keep(future.result(), result)
            except Exception:  # noqa: S112 - the first error already stopped the run
                continue

    def _keep(self, entries: list[Entry], result: Resolution) -> None:
        self.cache.put_many(entries, self._drain_meter(result))
        for entry in entries:
            result.entries[entry.key] = entry
            if entry.kind in ("album", "oembed"):
                result.fetched.add(entry.spotify_id)
                result.failed.pop(entry.spotify_id, None)
            elif entry.kind == "search":
                result.searched.add(entry.spotify_id)
                result.failed.pop(entry.spotify_id, None)
            else:
                result.fetched_artists.add(entry.spotify_id)

    def _flush_meter(self, result: Resolution) -> None:
        if self._gateway is None:
            return
        counters = self._drain_meter(result)
        if self.pacer is not None:
            # The pacer's own waits (the learned rate, short-429 pauses), apart from
            # the retries' backoff that the gateway counts.
            waited = self.pacer.waited_seconds
            counters["api.pacing_wait_seconds"] = waited - self._pacing_seen
            self._pacing_seen = waited
        self.store.add_counters(counters)

    def _drain_meter(self, result: Resolution) -> dict[str, float]:
        """The gateway's counts since the last drain; API calls are added to `result`."""
        counters = self.gateway().meter.drain()
        result.api_calls += int(sum(v for k, v in counters.items() if k.startswith("api.calls.")))
        result.rate_limited_responses += int(counters.get("api.rate_limited_responses", 0))
        result.backoff_seconds += counters.get("api.backoff_seconds", 0.0)
        return counters

    def _stop(self, result: Resolution, album_ids: list[str], error: JitspotError) -> None:
        result.error = error
        reason = "unavailable"
        if isinstance(error, Stopped):
            reason = "stopped"
        elif isinstance(error, RateLimited):
            reason = "rate_limited"
            # Another process may have recorded a later time: keep whichever is later.
            until = self.store.raise_meta_time(NOT_BEFORE, error.not_before.timestamp())
            result.rate_limited_until = until
        for spotify_id in album_ids:  # album ids, or search queries
            if spotify_id not in result.fetched and spotify_id not in result.searched:
                result.failed.setdefault(spotify_id, reason)


class _Tally:
    """Progress of one phase in items (albums, artists), over the runs that make it up.

    A display that fails must not lose the run's results: after its first
    error it is dropped, with a warning, and the run goes on.
    """

    def __init__(self, phase: str, total: int, progress: Progress | None) -> None:
        self.phase = phase
        self.total = total
        self.done = 0
        self.progress = progress
        if progress is not None:
            self.add(0)

    def add(self, count: int) -> None:
        self.done = min(self.done + count, self.total)
        if self.progress is None:
            return
        try:
            self.progress(self.phase, self.done, self.total)
        except Exception:
            log.warning("the progress display failed; going on without it", exc_info=True)
            self.progress = None
