"""The resolver: cache first, fetch the misses in as few calls as possible, write back.

`show`, `export` and `refresh` all go through `Resolver.resolve`. Fetches run
on a few worker threads (bounded by `concurrency`, paced by one shared
`Pacer`); only this thread writes, after each finished batch, so a run that
is killed or rate-limited keeps every batch it completed.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from jitspot.cache import Entry, SpotifyCache, cache_key
from jitspot.errors import ConfigError, JitspotError, RateLimited, SpotifyUnavailable
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
    failed: dict[str, str] = field(default_factory=dict)  # album id -> reason
    error: JitspotError | None = None
    rate_limited_until: float | None = None
    api_calls: int = 0
    hits: int = 0
    misses: int = 0
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
    ) -> None:
        self.store = store
        self.cache = cache
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.lifetimes = Lifetimes.from_days(settings.cache_ttl_days, settings.not_found_ttl_days)
        self._gateway_factory = gateway_factory
        self._gateway: Gateway | None = None

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
                sleep=self.sleep,
                ceiling=self.settings.rate_ceiling,
                shared=shared,
            )
            if self._gateway_factory is not None:
                self._gateway = self._gateway_factory(gate)
            else:
                from jitspot.gateway import SpotifyGateway

                self._gateway = SpotifyGateway(
                    self.settings, gate, clock=self.clock, sleep=self.sleep
                )
        return self._gateway

    # -- the one entry point -------------------------------------------------------------

    def resolve(
        self,
        spotify_ids: Sequence[str],
        policy: Policy,
        *,
        max_age: float | None = None,
        count_lookups: bool = True,
        progress: Progress | None = None,
    ) -> Resolution:
        """Entries for the albums (and their artists), fetching what `policy` asks for."""
        ids = list(dict.fromkeys(spotify_ids))
        result = Resolution(with_credentials=self.with_credentials)
        result.entries = self._cached(ids)
        now = self.clock()
        if count_lookups:
            self._count_lookups(ids, result, now)
        to_fetch = albums_to_fetch(
            ids,
            result.entries,
            policy=policy,
            now=now,
            lifetimes=self.lifetimes,
            with_credentials=self.with_credentials,
            max_age=max_age,
        )
        refetch_artists = policy is Policy.ALL
        if policy is Policy.OFFLINE:
            return result
        if not to_fetch and not self._artists_wanted(ids, result, refetch=False):
            return result  # warm: no gateway, no token, no network
        not_before = remembered_until(self.store, NOT_BEFORE, now)
        if not_before is not None:
            self._stop(result, to_fetch, RateLimited(datetime.fromtimestamp(not_before, UTC)))
            return result
        try:
            if self.with_credentials:
                self._fetch_albums(to_fetch, result, progress)
                if result.error is None:
                    wanted = self._artists_wanted(ids, result, refetch=refetch_artists)
                    self._fetch_artists(wanted, result, progress)
            else:
                self._run(
                    "covers", [self._oembed_task(i) for i in to_fetch], to_fetch, result, progress
                )
        finally:
            self._flush_meter(result)
        for spotify_id in to_fetch:
            if spotify_id not in result.fetched and spotify_id not in result.failed:
                result.failed[spotify_id] = "unavailable"
        return result

    # -- cache reads ---------------------------------------------------------------------

    def _cached(self, ids: list[str]) -> dict[str, Entry]:
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

    def _count_lookups(self, ids: list[str], result: Resolution, now: float) -> None:
        for spotify_id in ids:
            entry = album_entry(spotify_id, result.entries, with_credentials=self.with_credentials)
            if freshness(entry, now, self.lifetimes) is Freshness.MISSING:
                result.misses += 1
            else:
                result.hits += 1
        # Added with the next write, not with one of its own: `show --offline`
        # must work on a full disk or a read-only home.
        self.store.count_later({"cache.hits": result.hits, "cache.misses": result.misses})

    def _artists_wanted(self, ids: list[str], result: Resolution, *, refetch: bool) -> list[str]:
        if not self.with_credentials:
            return []
        if remembered_until(self.store, NO_GENRES_UNTIL, self.clock()) is not None:
            return []
        albums = [e for i in ids if (e := result.entries.get(cache_key("album", i))) is not None]
        again = (
            frozenset(a for e in albums if e.data for a in e.data.get("artist_ids") or [])
            if refetch
            else frozenset()
        )
        return artists_to_fetch(albums, result.entries, refetch=again)

    # -- fetching ------------------------------------------------------------------------

    def _fetch_albums(self, ids: list[str], result: Resolution, progress: Progress | None) -> None:
        """Albums in batches of 20 when the app may; one by one when it may not.

        When nobody knows yet whether batches are allowed, the first batch goes
        alone: a 403 then costs one call, not one per worker.
        """
        if not ids:
            return
        now = self.clock()
        batches_allowed = (
            len(ids) > 1 and remembered_until(self.store, ALBUMS_BATCH_FORBIDDEN_UNTIL, now) is None
        )
        if batches_allowed:
            groups = chunks(ids, ALBUM_BATCH)
            try:
                self._run("albums", [self._album_batch_task(groups[0])], ids, result, progress)
            except EndpointForbidden:
                log.info("batch album lookups are forbidden for this app: one call per album")
                self._remember(ALBUMS_BATCH_FORBIDDEN_UNTIL, ARTISTS_BATCH_FORBIDDEN_UNTIL)
            else:
                tasks = [self._album_batch_task(group) for group in groups[1:]]
                self._run("albums", tasks, ids, result, progress)
                return
        remaining = [i for i in ids if i not in result.fetched]
        self._run("albums", [self._album_task(i) for i in remaining], ids, result, progress)

    def _fetch_artists(self, ids: list[str], result: Resolution, progress: Progress | None) -> None:
        """Artists (for genres) in batches of 50, or one by one; stop once genres don't come."""
        if not ids or result.error is not None:
            return
        now = self.clock()
        batches_allowed = (
            len(ids) > 1
            and remembered_until(self.store, ARTISTS_BATCH_FORBIDDEN_UNTIL, now) is None
        )
        if batches_allowed:
            groups = chunks(ids, ARTIST_BATCH)
            try:
                self._run("artists", [self._artist_batch_task(groups[0])], [], result, progress)
            except EndpointForbidden:
                self._remember(ARTISTS_BATCH_FORBIDDEN_UNTIL)
                tasks = [self._artist_task(i) for i in ids]
            else:
                tasks = [self._artist_batch_task(group) for group in groups[1:]]
        else:
            tasks = [self._artist_task(i) for i in ids]
        if tasks and not self._genres_seen(result) and result.error is None:
            # Probe: one artist alone tells whether the app gets genres at all.
            self._run("artists", tasks[:1], [], result, progress)
            tasks = tasks[1:]
        if self._genres_withheld(result):
            log.info("this app gets no artist genres: not asking for artists")
            self._remember(NO_GENRES_UNTIL)
            return
        if result.error is None:
            self._run("artists", tasks, [], result, progress)

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

    # -- the runner ------------------------------------------------------------------------

    def _run(
        self,
        phase: str,
        tasks: list[Task],
        album_ids: list[str],
        result: Resolution,
        progress: Progress | None,
    ) -> None:
        """Run tasks on at most `concurrency` threads; write each result as it lands.

        A rate limit past the cap, an unreachable Spotify or refused credentials
        stop the run: what finished is kept, the rest is marked failed.
        EndpointForbidden is raised to the caller (it decides the fallback).
        """
        if not tasks or result.error is not None:
            return
        self.gateway()  # built here, once: workers share one token, budget and meter
        total = len(tasks)
        done = 0
        pending: set[Future[list[Entry]]] = set()
        queue = list(reversed(tasks))
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            try:
                while queue or pending:
                    while queue and len(pending) < self.settings.concurrency:
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
                        done += 1
                        if progress is not None:
                            progress(phase, done, total)
            except (RateLimited, SpotifyUnavailable, ConfigError) as error:
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

    def _flush_meter(self, result: Resolution) -> None:
        if self._gateway is None:
            return
        self.store.add_counters(self._drain_meter(result))

    def _drain_meter(self, result: Resolution) -> dict[str, float]:
        """The gateway's counts since the last drain; API calls are added to `result`."""
        counters = self.gateway().meter.drain()
        result.api_calls += int(sum(v for k, v in counters.items() if k.startswith("api.calls.")))
        return counters

    def _stop(self, result: Resolution, album_ids: list[str], error: JitspotError) -> None:
        result.error = error
        reason = "unavailable"
        if isinstance(error, RateLimited):
            reason = "rate_limited"
            # Another process may have recorded a later time: keep whichever is later.
            until = self.store.raise_meta_time(NOT_BEFORE, error.not_before.timestamp())
            result.rate_limited_until = until
        for spotify_id in album_ids:
            if spotify_id not in result.fetched:
                result.failed.setdefault(spotify_id, reason)
