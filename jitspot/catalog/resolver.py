"""The resolver: cache first, fetch the misses in as few calls as possible, write back.

`show`, `export`, `refresh`, `match` and `serve` all go through `Resolver`.
What to fetch is a pure plan (`freshness.plan_fetch`): covers from oEmbed or
the Web API, metadata from the Web API, every track only when something
shows them, artists (genres) when asked. Fetches run on a few worker threads
(bounded by `concurrency`, paced by one `Pacer` for the Web API and one for
oEmbed, the Web API's calls checked against the shared quota ledger); only
this thread writes, after each finished batch, so a run that is killed,
stopped or rate-limited keeps every batch it completed. Artists go along with
their albums: each round of album calls is followed by its albums' artists
(in full batches), so a killed run keeps those too.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import (
    DAY,
    FetchPlan,
    Freshness,
    Lifetimes,
    Need,
    Policy,
    album_entry,
    artists_to_fetch,
    chunks,
    cover_entry,
    cover_source,
    freshness,
    plan_fetch,
)
from jitspot.errors import (
    ConfigError,
    JitspotError,
    QuotaExhausted,
    RateLimited,
    SpotifyUnavailable,
    Stopped,
)
from jitspot.model import CacheEntry, cache_key
from jitspot.settings import Settings
from jitspot.spotify.gateway import ALBUM_BATCH, ARTIST_BATCH, EndpointForbidden, Gates, Gateway
from jitspot.spotify.pacing import PACING_NAME, Clock, Pacer, Sleep
from jitspot.spotify.quota import (
    ALBUMS_BATCH_ALLOWED_UNTIL,
    ALBUMS_BATCH_FORBIDDEN_UNTIL,
    ARTISTS_BATCH_FORBIDDEN_UNTIL,
    EXCEEDED,
    LEARNED,
    NO_GENRES_UNTIL,
    NOT_BEFORE,
    OEMBED_NOT_BEFORE,
    AppMode,
    QuotaGate,
    QuotaStatus,
    Share,
    app_mode,
    budget_for,
    learned_budget,
    limit_for,
    quota_status,
    span_of,
)
from jitspot.stopping import Stop
from jitspot.store import PacingState, QuotaLedger, Store
from jitspot.timetext import until_text

log = logging.getLogger("jitspot.catalog.resolver")

__all__ = [
    "ALBUMS_BATCH_FORBIDDEN_UNTIL",
    "ARTISTS_BATCH_FORBIDDEN_UNTIL",
    "NOT_BEFORE",
    "NO_GENRES_UNTIL",
    "OEMBED_NOT_BEFORE",
    "Listener",
    "Need",
    "Resolution",
    "Resolver",
    "Share",
    "remembered_until",
]

OEMBED_PACING_NAME = "oembed"  # oEmbed's own learned rate, apart from the Web API's
CAPABILITY_MEMORY = DAY  # how long a batch call's answer (403 or 200), or no genres, is kept
# Reasons an album is left without its data, for the views and the reports.
WAITING = frozenset({"rate_limited", "quota"})  # a later run gets it

Progress = Callable[[str, int, int], None]  # (phase, done, total); the CLI draws it
Task = Callable[[], list[CacheEntry]]
Channel = str  # "api" (the Web API) or "oembed": each is stopped on its own
JOIN_POLL = 0.02  # seconds between offers to join while covers are fetched (a listener's)


class Listener(Protocol):
    """Told of a resolve as it goes, on the resolving thread (serve's coalescer).

    `kept`: answers were just kept (written, and in `result`). `joining`: while
    the resolve fetches covers from oEmbed, more covers may join it: `admit(ids)`
    adds those albums' cover look-ups to the running resolve (the same rules:
    cache first, the same pacer), or says False when they need more than that.
    """

    def kept(self, result: Resolution) -> None: ...

    def joining(self, result: Resolution, admit: Callable[[Sequence[str]], bool]) -> None: ...


@dataclass(slots=True)
class Resolution:
    """What a resolve found, fetched, and why some albums have nothing.

    `failed` says why an album's data (the Web API's; oEmbed's without
    credentials) was not fetched: "rate_limited", "quota", "stopped" or
    "unavailable". `cover_failed` says the same of oEmbed covers asked for
    with credentials. `error` is the first error that stopped a channel.
    """

    entries: dict[str, CacheEntry] = field(default_factory=dict)
    fetched: set[str] = field(default_factory=set)  # albums with an entry written now
    fetched_api: set[str] = field(default_factory=set)  # ...of them, from the Web API
    fetched_covers: set[str] = field(default_factory=set)  # ...of them, from oEmbed
    fetched_artists: set[str] = field(default_factory=set)
    searched: set[str] = field(default_factory=set)  # queries answered by Spotify in this run
    failed: dict[str, str] = field(default_factory=dict)  # album id -> reason
    cover_failed: dict[str, str] = field(default_factory=dict)
    due: set[str] = field(default_factory=set)  # albums the plan asked Spotify for
    error: JitspotError | None = None
    error_channel: Channel | None = None
    blocked: set[Channel] = field(default_factory=set)
    rate_limited_until: float | None = None
    quota_until: float | None = None  # when the quota has a call free again (a quota stop)
    api_calls: int = 0
    rate_limited_responses: int = 0  # 429s met (each waited out, or the one that stopped the run)
    backoff_seconds: float = 0.0  # waited before retries (429s and 5xx)
    hits: int = 0
    misses: int = 0
    stale_hits: int = 0
    with_credentials: bool = False
    mode: AppMode = AppMode.UNKNOWN


def remembered_until(store: Store, key: str, now: float) -> float | None:
    """A time kept in the store's meta, if it is still in the future."""
    value = store.get_meta(key)
    return float(value) if isinstance(value, int | float) and value > now else None


def current_mode(store: Store, settings: Settings, now: float) -> AppMode:
    """The app's mode as the store remembers it (no call)."""
    return app_mode(
        has_credentials=settings.has_credentials,
        batch_forbidden_until=remembered_until(store, ALBUMS_BATCH_FORBIDDEN_UNTIL, now),
        batch_allowed_until=remembered_until(store, ALBUMS_BATCH_ALLOWED_UNTIL, now),
        now=now,
    )


def current_budget(store: Store, settings: Settings, mode: AppMode, now: float) -> int | None:
    """Web API calls allowed per quota window now (None: no budget)."""
    learned = learned_budget(store.get_meta(LEARNED), settings.daily_quota, now)
    return budget_for(settings.daily_quota, learned, mode)


def quota_now(store: Store, settings: Settings, now: float) -> QuotaStatus:
    """The quota as the ledger and the store's meta say it is now (reads only)."""
    mode = current_mode(store, settings, now)
    window = settings.quota_window
    counters = store.counters()
    return quota_status(
        store.quota_times(now - span_of(window)),
        now=now,
        window=window,
        configured=settings.daily_quota,
        learned=learned_budget(store.get_meta(LEARNED), settings.daily_quota, now),
        mode=mode,
        reserve=settings.quota_reserve,
        not_before=remembered_until(store, NOT_BEFORE, now),
        exceeded_total=int(counters.get(EXCEEDED, 0)),
    )


def blocked_error(store: Store, key: str, now: float) -> JitspotError | None:
    """Why a channel may not call now: its "not before" in force (a quota refusal's says
    so), or None."""
    until = remembered_until(store, key, now)
    if until is None:
        return None
    if key == NOT_BEFORE:
        learned = store.get_meta(LEARNED)
        refused_until = learned.get("until") if isinstance(learned, dict) else None
        if isinstance(refused_until, int | float) and refused_until >= until:
            return QuotaExhausted(
                f"Spotify refused a call for its daily quota (QUOTA_EXCEEDED): no Web API call"
                f" before {until_text(until, now)}",
                until,
                refused=True,
            )
    scope = "oembed" if key == OEMBED_NOT_BEFORE else "api"
    return RateLimited(datetime.fromtimestamp(until, UTC), scope=scope)


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
        gateway_factory: Callable[[Gates], Gateway] | None = None,
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
        self.oembed_pacer: Pacer | None = None
        self.quota: QuotaGate | None = None
        self.current: Resolution | None = None
        self._pacing_seen = 0.0
        self._share = Share.INTERACTIVE
        self._budget: int | None = None
        self._finalizers: list[weakref.finalize[Any, Any]] = []
        self._listener: Listener | None = None
        self._joins: _Joins | None = None  # what may join the running resolve
        # A stop (signal, --max-time) is obeyed in every wait: the pacer's and the retries'.
        self.stop = stop
        self._wait: Sleep = stop.sleep if stop is not None else sleep

    @property
    def with_credentials(self) -> bool:
        return self.settings.has_credentials

    def gateway(self) -> Gateway:
        if self._gateway is None:
            # One pacer per process and endpoint family, sharing the learned rate with
            # every other jitspot process on this JITSPOT_HOME through the store; one
            # quota gate over the ledger they all write.
            path = self.store.path
            api_state = PacingState(path, PACING_NAME)
            oembed_state = PacingState(path, OEMBED_PACING_NAME)
            ledger = QuotaLedger(path)
            for closable in (api_state, oembed_state, ledger):
                # Closed by `close`, or when the resolver is collected: the connections
                # must not outlive it (the last one to close checkpoints the WAL).
                self._finalizers.append(weakref.finalize(self, closable.close))
            ceiling = self.settings.rate_ceiling
            self.pacer = Pacer(
                clock=self.clock, sleep=self._wait, ceiling=ceiling, shared=api_state
            )
            self.oembed_pacer = Pacer(
                clock=self.clock,
                sleep=self._wait,
                ceiling=ceiling,
                shared=oembed_state,
                scope="oembed",
            )
            self.quota = QuotaGate(
                ledger,
                window=self.settings.quota_window,
                reserve=self.settings.quota_reserve,
                configured=self.settings.daily_quota,
                wait_cap=self.settings.max_retry_after,
                clock=self.clock,
                sleep=self._wait,
                deadline=lambda: self.stop.deadline if self.stop is not None else None,
            )
            self.quota.budget, self.quota.share = self._budget, self._share
            gates = Gates(self.pacer, self.oembed_pacer, self.quota)
            if self._gateway_factory is not None:
                self._gateway = self._gateway_factory(gates)
            else:
                from jitspot.spotify.gateway import SpotifyGateway

                self._gateway = SpotifyGateway(
                    self.settings, gates, clock=self.clock, sleep=self._wait
                )
        return self._gateway

    def close(self) -> None:
        """Close the store connections of the pacing state and the quota ledger."""
        for finalizer in self._finalizers:
            finalizer()

    def _enter(self, share: Share, mode: AppMode, now: float) -> None:
        """Whose calls the next requests are, and the budget they answer to."""
        self._share = share
        self._budget = current_budget(self.store, self.settings, mode, now)
        if self.quota is not None:
            self.quota.share, self.quota.budget = share, self._budget

    # -- the one entry point -------------------------------------------------------------

    def resolve(
        self,
        spotify_ids: Sequence[str],
        policy: Policy,
        *,
        need: Need = Need.TRACKS,
        share: Share = Share.INTERACTIVE,
        artists: bool | None = True,
        count_lookups: bool = True,
        progress: Progress | None = None,
        prefetch: Sequence[str] = (),
        listener: Listener | None = None,
    ) -> Resolution:
        """Entries for the albums (and their artists), fetching what `policy` asks for.

        `need`: the cover alone (a tile), the album's metadata (refresh), or every
        track too (show, the album page, export). `share`: bulk work spends only the
        quota above the reserve. `artists`: fetch them for genres (None: only when
        the app is not in development mode, where each costs a call).
        `prefetch`: albums likely to be asked next, fetched only in the places a
        batch call leaves free (never a call of their own); not counted as lookups.
        `listener`: told of each answer kept; while covers come from oEmbed (for a
        `Need.COVER` resolve of missing ones) it may add more albums' covers.

        Stops early (keeping every finished batch) on a rate limit past the cap,
        the quota, an unreachable Spotify, refused credentials, or the resolver's
        `stop`; `Resolution.error` then says which.
        """
        ids = list(dict.fromkeys(spotify_ids))
        result = Resolution(with_credentials=self.with_credentials)
        self.current = result  # what a progress display reads while this runs
        result.entries = self.cached(ids)
        now = self.clock()
        mode = result.mode = current_mode(self.store, self.settings, now)
        plan = self._plan(ids, result, policy, need, share, now)
        if policy.fetches_nothing:
            return result
        if count_lookups:
            # Offline lookups are not counted: they could not call anyway, and an
            # offline command must not write (a full disk, a read-only home).
            self._count_lookups(ids, result, plan, need, now, refetch=policy.everything)
        wants_tracks = need is Need.TRACKS and bool(self._partial(ids, result))
        wants_artists = self._wants_artists(artists, mode)
        if (
            not plan.due
            and not wants_tracks
            and not (wants_artists and self._artists_wanted(ids, result, policy))
        ):
            return result  # warm: no gateway, no token, no network
        self._enter(share, mode, now)
        self._listener = listener
        if listener is not None and need is Need.COVER and policy is Policy.MISSING:
            self._joins = _Joins(set(ids), count_lookups)
        try:
            self._fetch(ids, result, plan, policy, need, share, artists, progress, prefetch)
        finally:
            self._listener = self._joins = None
            self._flush_meter(result)
        return result

    def _plan(
        self,
        ids: list[str],
        result: Resolution,
        policy: Policy,
        need: Need,
        share: Share,
        now: float,
    ) -> FetchPlan:
        plan = self.plan(
            ids,
            result.entries,
            policy,
            need=need,
            bulk=share is Share.BULK,
            mode=result.mode,
            now=now,
        )
        result.due |= plan.due
        return plan

    def plan(
        self,
        ids: Sequence[str],
        entries: dict[str, CacheEntry],
        policy: Policy,
        *,
        need: Need,
        bulk: bool,
        mode: AppMode,
        now: float,
    ) -> FetchPlan:
        """What a resolve of `ids` would ask oEmbed and the Web API for (no call)."""
        return plan_fetch(
            ids,
            entries,
            policy=policy,
            now=now,
            lifetimes=self.lifetimes,
            need=need,
            source=cover_source(self.settings.cover_source, mode),
            bulk=bulk,
            with_credentials=self.with_credentials,
        )

    def _fetch(
        self,
        ids: list[str],
        result: Resolution,
        plan: FetchPlan,
        policy: Policy,
        need: Need,
        share: Share,
        artists: bool | None,
        progress: Progress | None,
        prefetch: Sequence[str],
    ) -> None:
        """The phases of a resolve: albums (each round with its artists), tracks, the
        artists left, covers the Web API could not give. Each channel (Web API, oEmbed)
        stops on its own."""
        now = self.clock()
        for channel, key, asked in (
            ("api", NOT_BEFORE, plan.albums),
            ("oembed", OEMBED_NOT_BEFORE, plan.covers),
        ):
            error: JitspotError | None = blocked_error(self.store, key, now)
            if error is not None and asked:
                try:
                    if self._waited_out(error):
                        continue  # it ended within the wait cap: waited, never shortened
                except Stopped as stopped:
                    error = stopped  # a signal or --max-time during the wait
                self._stop(result, asked, error, channel)
            elif error is not None:
                result.blocked.add(channel)  # nothing asked of it: no error to report
        creds = self.with_credentials
        riders = self._riders(plan.albums, prefetch, result, now) if prefetch and creds else []
        albums = _Tally("albums", len(plan.albums) + len(riders), progress) if plan.albums else None
        along = _Along(ids, plan.albums, policy, artists, progress)
        if albums and result.mode is AppMode.UNKNOWN and len(plan.albums) > 1:
            # The first batch call tells whether the app may batch (and so its mode).
            probe = [*plan.albums, *riders][:ALBUM_BATCH]
            self._probe(probe, plan.albums, result, albums)
            self._artists_along(along, probe, result)
            if result.mode is not AppMode.UNKNOWN:
                self._enter(share, result.mode, now)
                replanned = self._plan(ids, result, policy, need, share, now)
                plan = FetchPlan(
                    covers=[i for i in replanned.covers if i not in result.fetched],
                    albums=[i for i in replanned.albums if i not in result.fetched_api],
                )
                riders = [i for i in riders if i not in result.fetched_api]
        if creds:
            if albums is not None:
                self._fetch_albums(plan.albums, result, albums, riders=riders, along=along)
            if need is Need.TRACKS:
                self._fetch_tracks(ids, result, progress)
            self._artists_along(along, ids, result, last=True)
        # The Web API first: an album it answered brings its cover (640 px), and a nightly
        # run's calls start when it starts, so the next night's follow them out of the
        # window from its start. Then oEmbed for every cover still due: every album has
        # one by the end of the run, however far the quota let the metadata go.
        covers = self._covers_left(plan, result)
        if covers:
            tally = _Tally("covers", len(covers), progress)
            tasks = [self._oembed_task(i) for i in covers]
            self._run(tasks, covers, result, tally, "oembed")
        self._mark_unanswered(plan, result)
        if self._joins is not None:
            self._mark_unanswered(FetchPlan(covers=self._joins.covers), result)

    def _waited_out(self, blocked: JitspotError) -> bool:
        """Wait for a "not before" in force when it ends within the wait cap (or, for a run
        with --max-time, before its deadline); False when it is too far to wait for.

        A cron run that starts a moment before the "not before" of last night's refusal
        (or the end of a rate limit) goes on a moment later instead of losing the night.
        """
        until = (
            blocked.next_free_at
            if isinstance(blocked, QuotaExhausted)
            else blocked.not_before.timestamp()
            if isinstance(blocked, RateLimited)
            else None
        )
        if until is None:
            return False
        now = self.clock()
        deadline = self.stop.deadline if self.stop is not None else None
        if until - now > self.settings.max_retry_after and (deadline is None or until > deadline):
            return False
        self._wait(max(until - now, 0.0) + 0.001)  # a signal or --max-time still stops it
        return True

    def _wants_artists(self, artists: bool | None, mode: AppMode) -> bool:
        """Artists are asked for when the caller says so; by default unless each would cost
        a call of the daily quota (a development-mode app): the sheet names genres."""
        if artists is None:
            return mode is not AppMode.DEVELOPMENT
        return artists

    def _mark_unanswered(self, plan: FetchPlan, result: Resolution) -> None:
        """Albums asked for that nothing answered (no error said why): unavailable."""
        for spotify_id in plan.albums:
            if spotify_id not in result.fetched_api:
                result.failed.setdefault(spotify_id, "unavailable")
        covers_failed = result.cover_failed if self.with_credentials else result.failed
        for spotify_id in plan.covers:
            if spotify_id not in result.fetched:
                covers_failed.setdefault(spotify_id, "unavailable")

    def search(
        self, queries: Sequence[str], policy: Policy, *, progress: Progress | None = None
    ) -> Resolution:
        """Album searches for `queries`, from the cache or (what `policy` asks for) Spotify.

        Bulk work: paced, checked against the quota's bulk share, retried, stopped
        by a long rate limit, the quota, a signal or --max-time, each answer
        written as it lands. An answer with no album is cached as "not found"
        (asked again after its lifetime). `Resolution.failed` then names the
        queries left unanswered.
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
        result.mode = current_mode(self.store, self.settings, now)
        blocked: JitspotError | None = blocked_error(self.store, NOT_BEFORE, now)
        try:
            if blocked is not None and self._waited_out(blocked):
                blocked = None
        except Stopped as stopped:
            blocked = stopped
        if blocked is not None:
            self._stop(result, to_search, blocked, "api")
            return result
        self._enter(Share.BULK, result.mode, now)
        try:
            tally = _Tally("searches", len(to_search), progress)
            self._run([self._search_task(q) for q in to_search], to_search, result, tally)
        finally:
            self._flush_meter(result)
        return result

    # -- cache reads ---------------------------------------------------------------------

    def _riders(
        self, to_fetch: list[str], prefetch: Sequence[str], result: Resolution, now: float
    ) -> list[str]:
        """Albums of `prefetch` that ride in the places the last batch call leaves free.

        A batch call costs one request for 1 album as for 20, and a rate limit
        counts requests: when the app may batch, `serve` fills those places with
        the tiles a visitor is about to see, so scrolling on finds them cached.
        None when each album is a call of its own (a development-mode app, oEmbed
        covers), and none once bulk work has spent its share of the quota.
        """
        room = (-len(to_fetch)) % ALBUM_BATCH
        if (
            not room
            or not to_fetch
            or result.mode is AppMode.DEVELOPMENT
            or cover_source(self.settings.cover_source, result.mode) != "api"
            or not self._bulk_room(now)
        ):
            return []
        asked = set(to_fetch)
        return self.missing([i for i in prefetch if i not in asked])[:room]

    def _bulk_room(self, now: float) -> bool:
        """Whether bulk work's share of the quota has a call left now."""
        limit = limit_for(self._budget, self.settings.quota_reserve, Share.BULK)
        if limit is None:
            return True
        window = span_of(self.settings.quota_window)
        return len(self.store.quota_times(now - window)) < limit

    def missing(self, spotify_ids: Sequence[str]) -> list[str]:
        """The albums, in order, whose cover a `Policy.MISSING` resolve would fetch."""
        ids = list(dict.fromkeys(spotify_ids))
        now = self.clock()
        mode = current_mode(self.store, self.settings, now)
        due = self.plan(
            ids, self.cached(ids), Policy.MISSING, need=Need.COVER, bulk=True, mode=mode, now=now
        ).due
        return [i for i in ids if i in due]

    def cached(self, ids: list[str]) -> dict[str, CacheEntry]:
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
        self,
        ids: list[str],
        result: Resolution,
        plan: FetchPlan,
        need: Need,
        now: float,
        *,
        refetch: bool,
    ) -> None:
        """A hit is a lookup answered from the cache without a request (a stale entry
        served is a hit, counted apart too); a miss needs a request (`--refresh`: all)."""
        due = plan.due
        for spotify_id in ids:
            if refetch or spotify_id in due:
                result.misses += 1
                continue
            result.hits += 1
            if need is Need.COVER:
                entry = cover_entry(spotify_id, result.entries)
            else:
                entry = album_entry(
                    spotify_id, result.entries, with_credentials=self.with_credentials
                )
            result.stale_hits += freshness(entry, now, self.lifetimes) is Freshness.STALE
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

    def _partial(self, ids: list[str], result: Resolution) -> list[CacheEntry]:
        """Found albums whose entry holds only the first page of their tracks."""
        if not self.with_credentials:
            return []
        return [
            entry
            for spotify_id in ids
            if (entry := result.entries.get(cache_key("album", spotify_id))) is not None
            and entry.found
            and entry.data
            and entry.data.get("more_tracks")
        ]

    # -- fetching ------------------------------------------------------------------------

    def _probe(self, group: list[str], asked: list[str], result: Resolution, tally: _Tally) -> None:
        """One batch call alone, so that a 403 costs one call and not one per worker; its
        answer (batches allowed or not) is remembered for a day, and gives the app's mode."""
        try:
            # A stop here stops the whole albums phase: every album asked says why.
            self._run([self._album_batch_task(group)], asked, result, tally)
        except EndpointForbidden:
            self._forbidden(result)
            return
        if any(i in result.fetched_api for i in group):
            self._remember(ALBUMS_BATCH_ALLOWED_UNTIL)
            result.mode = AppMode.EXTENDED

    def _forbidden(self, result: Resolution) -> None:
        log.info("batch album lookups are forbidden for this app: one call per album")
        self._remember(ALBUMS_BATCH_FORBIDDEN_UNTIL, ARTISTS_BATCH_FORBIDDEN_UNTIL)
        result.mode = AppMode.DEVELOPMENT

    def _fetch_albums(
        self,
        asked: list[str],
        result: Resolution,
        tally: _Tally,
        *,
        riders: Sequence[str] = (),
        along: _Along | None = None,
    ) -> None:
        """Albums in batches of 20 when the app may; one by one when it may not.

        While the app's mode is not known the first batch goes alone (a 403 then
        costs one call). `riders` fill the last batch's free places, and are dropped
        when albums go one by one. A 403 on a batch falls back to single calls.
        With `along`, the calls go in rounds (as many as run at once), each
        followed by its albums' artists (`_artists_along`).
        """
        asked = [i for i in asked if i not in result.fetched_api]
        if not asked or "api" in result.blocked:
            return
        ids = [*asked, *riders]
        if len(ids) > 1 and result.mode is not AppMode.DEVELOPMENT:
            groups = chunks(ids, ALBUM_BATCH)
            try:
                if result.mode is AppMode.UNKNOWN:
                    self._run([self._album_batch_task(groups[0])], asked, result, tally)
                    self._artists_along(along, groups[0], result)
                    groups = groups[1:]
                for batches in self._rounds(groups, result, along):
                    tasks = [self._album_batch_task(group) for group in batches]
                    self._run(tasks, asked, result, tally)
                    self._artists_along(along, [i for group in batches for i in group], result)
            except EndpointForbidden:
                self._forbidden(result)
            else:
                return
        remaining = [[i] for i in asked if i not in result.fetched_api]
        for singles in self._rounds(remaining, result, along):
            self._run([self._album_task(i) for [i] in singles], asked, result, tally)
            self._artists_along(along, [i for [i] in singles], result)

    def _rounds(
        self, calls: list[list[str]], result: Resolution, along: _Along | None
    ) -> list[list[list[str]]]:
        """The album calls (each a list of ids) in rounds: all in one when no artists go
        along with them, else as many as run at once, so that a kill loses one round."""
        if along is None or not self._wants_artists(along.artists, result.mode):
            return [calls] if calls else []
        size = self._workers("api", result)
        return [calls[start : start + size] for start in range(0, len(calls), size)]

    def _artists_along(
        self,
        along: _Along | None,
        albums: Sequence[str],
        result: Resolution,
        *,
        last: bool = False,
    ) -> None:
        """Fetch the wanted artists of `albums`, just answered, and keep them.

        So a run that is killed keeps each round's artists with its albums (the
        artists used to wait for every album). Batches stay full: artists that make
        less than a batch wait for the next round, unless this is the `last` (then
        every artist the resolve wants goes, those of albums cached before too). An
        artist is asked for once a run, however many albums name it.
        """
        if along is None or not self._wants_artists(along.artists, result.mode):
            return
        no_genres = remembered_until(self.store, NO_GENRES_UNTIL, self.clock()) is not None
        if "api" in result.blocked or no_genres:
            along.waiting.clear()  # nothing more is asked for in this run
            return
        answered = [i for i in albums if i in along.members and i in result.fetched_api]
        wanted = self._artists_wanted(along.ids if last else answered, result, along.policy)
        for artist_id in wanted:
            if artist_id not in result.fetched_artists:
                along.waiting.setdefault(artist_id)
        ready = list(along.waiting)
        if not last and self._artists_batched():
            ready = ready[: len(ready) // ARTIST_BATCH * ARTIST_BATCH]
        if not ready:
            return
        for artist_id in ready:
            del along.waiting[artist_id]
        if along.tally is None:
            along.tally = _Tally("artists", len(ready), along.progress)
        else:
            along.tally.total += len(ready)
        self._fetch_artists(ready, result, along.tally, albums=along.asked)

    def _artists_batched(self) -> bool:
        """Whether artists go in batch calls (unless one alone): not known to be forbidden."""
        forbidden = remembered_until(self.store, ARTISTS_BATCH_FORBIDDEN_UNTIL, self.clock())
        return forbidden is None

    def _fetch_tracks(self, ids: list[str], result: Resolution, progress: Progress | None) -> None:
        """The track pages past the first of albums that something shows in full."""
        partial = self._partial(ids, result)
        if partial and "api" not in result.blocked:
            tally = _Tally("tracks", len(partial), progress)
            self._run([self._tracks_task(entry) for entry in partial], [], result, tally)

    def _fetch_artists(
        self, ids: list[str], result: Resolution, tally: _Tally, *, albums: list[str]
    ) -> None:
        """Artists (for genres) in batches of 50, or one by one; stop once genres don't come.

        A stop here (a rate limit, the quota, a signal) leaves the `albums` not yet
        answered for a later run, as a stop among the albums would."""
        if not ids or "api" in result.blocked:
            return
        if len(ids) > 1 and self._artists_batched():
            groups = chunks(ids, ARTIST_BATCH)
            try:
                self._run([self._artist_batch_task(groups[0])], albums, result, tally)
            except EndpointForbidden:
                self._remember(ARTISTS_BATCH_FORBIDDEN_UNTIL)
                tasks = [self._artist_task(i) for i in ids]
            else:
                tasks = [self._artist_batch_task(group) for group in groups[1:]]
        else:
            tasks = [self._artist_task(i) for i in ids]
        if tasks and not self._genres_seen(result) and "api" not in result.blocked:
            # Probe: one artist alone tells whether the app gets genres at all.
            self._run(tasks[:1], albums, result, tally)
            tasks = tasks[1:]
        if self._genres_withheld(result):
            log.info("this app gets no artist genres: not asking for artists")
            self._remember(NO_GENRES_UNTIL)
            return
        self._run(tasks, albums, result, tally)

    def _covers_left(self, plan: FetchPlan, result: Resolution) -> list[str]:
        """The covers to ask oEmbed for (no quota): those the plan wants that the Web API
        did not just answer, and those of albums the Web API could not be asked for now
        (the quota, a rate limit) that have no cover, so that a look-up still shows one."""
        now = self.clock()
        wanted = [i for i in plan.covers if i not in result.fetched_api]
        planned = set(plan.covers)
        wanted += [
            spotify_id
            for spotify_id in plan.albums
            if spotify_id not in planned
            and result.failed.get(spotify_id) in WAITING
            and freshness(cover_entry(spotify_id, result.entries), now, self.lifetimes)
            is Freshness.MISSING
        ]
        return wanted

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

    def _entry(self, kind: str, spotify_id: str, data: object) -> CacheEntry:
        if data is None:
            return CacheEntry(kind, spotify_id, "not_found", self.clock())  # type: ignore[arg-type]
        return CacheEntry(kind, spotify_id, "found", self.clock(), dict(data))  # type: ignore[arg-type, call-overload]

    def _album_batch_task(self, ids: list[str]) -> Task:
        def task() -> list[CacheEntry]:
            found = self.gateway().albums_batch(ids)
            return [self._entry("album", i, found.get(i)) for i in ids]

        return task

    def _album_task(self, spotify_id: str) -> Task:
        return lambda: [self._entry("album", spotify_id, self.gateway().album(spotify_id))]

    def _tracks_task(self, entry: CacheEntry) -> Task:
        def task() -> list[CacheEntry]:
            data = dict(entry.data or {})
            tracks = list(data.get("tracks") or [])
            tracks += self.gateway().rest_of_tracks(entry.spotify_id, len(tracks))
            data.update(tracks=tracks, more_tracks=False)
            # The album's own facts keep their age: only the tracks were completed.
            return [CacheEntry("album", entry.spotify_id, "found", entry.fetched_at, data)]

        return task

    def _artist_batch_task(self, ids: list[str]) -> Task:
        def task() -> list[CacheEntry]:
            found = self.gateway().artists_batch(ids)
            return [self._entry("artist", i, found.get(i)) for i in ids]

        return task

    def _artist_task(self, artist_id: str) -> Task:
        return lambda: [self._entry("artist", artist_id, self.gateway().artist(artist_id))]

    def _oembed_task(self, spotify_id: str) -> Task:
        return lambda: [self._entry("oembed", spotify_id, self.gateway().oembed(spotify_id))]

    def _search_task(self, query: str) -> Task:
        def task() -> list[CacheEntry]:
            candidates = self.gateway().search_albums(query)
            return [self._entry("search", query, {"albums": candidates} if candidates else None)]

        return task

    # -- the runner ------------------------------------------------------------------------

    def _run(
        self,
        tasks: list[Task],
        album_ids: list[str],
        result: Resolution,
        tally: _Tally,
        channel: Channel = "api",
    ) -> None:
        """Run tasks on at most `concurrency` threads; write each result as it lands.

        A rate limit past the cap, the quota, an unreachable Spotify or refused
        credentials stop the channel: what finished is kept, the rest is marked
        failed. EndpointForbidden is raised to the caller (it decides the fallback).
        """
        if not tasks or channel in result.blocked:
            return
        self.gateway()  # built here, once: workers share one token, budget and meter
        pending: set[Future[list[CacheEntry]]] = set()
        queue = [self._timed(task) for task in reversed(tasks)]
        workers = self._workers(channel, result)
        joins = self._joins if channel == "oembed" else None
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                while queue or pending:
                    while queue and len(pending) < workers:
                        if self.stop is not None:
                            # No new work that would end past the deadline.
                            self.stop.check(self._task_seconds())
                        pending.add(pool.submit(queue.pop()))
                    if joins is None:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        self._collect(finished, result, tally)
                    else:
                        # Woken now and then without an answer, to take in what joins.
                        finished, pending = wait(pending, JOIN_POLL, FIRST_COMPLETED)
                        self._collect(finished, result, tally)
                        # Covers asked meanwhile go after those already queued.
                        joined = self._join(joins, album_ids, result, tally)
                        queue[:0] = [self._timed(task) for task in reversed(joined)]
            except (RateLimited, QuotaExhausted, SpotifyUnavailable, ConfigError, Stopped) as error:
                queue.clear()
                for future in pending:
                    future.cancel()
                self._drain(pending, result)
                self._stop(result, album_ids, error, channel)
            except BaseException:
                queue.clear()
                for future in pending:
                    future.cancel()
                raise

    def _collect(
        self, finished: Iterable[Future[list[CacheEntry]]], result: Resolution, tally: _Tally
    ) -> None:
        """Keep every answer among `finished`, then raise the error one of them ended on.

        All the answers first: workers that finish together may bring answers and a
        stop (a signal noticed in a wait) at once, and an answer received is kept.
        """
        error: Exception | None = None
        kept = False
        for future in finished:
            try:
                entries = future.result()
            except Exception as exc:
                if error is None or isinstance(error, Stopped):
                    error = exc  # the first error that says more than "stopped"
                continue
            self._keep(entries, result)
            tally.add(len(entries))
            kept = True
        if kept and self._listener is not None:
            self._listener.kept(result)
        if isinstance(error, EndpointForbidden) and not error.batch:
            raise SpotifyUnavailable(
                f"Spotify refuses this app the {error.endpoint} endpoint (403)"
            ) from None
        if error is not None:
            raise error  # a batch's 403: the caller falls back to one call per item

    def _join(
        self, joins: _Joins, covers: list[str], result: Resolution, tally: _Tally
    ) -> list[Task]:
        """The oEmbed tasks of the covers the listener adds to this resolve now.

        Each album offered is looked up as `resolve` would: cache first, counted,
        planned; an offer that would need the Web API (or comes after a stop, or
        once oEmbed is stopped) is refused, for a resolve of its own. The covers
        added join `covers`, so that a stop marks them too.
        """
        tasks: list[Task] = []

        def admit(spotify_ids: Sequence[str]) -> bool:
            stopped = self.stop is not None and self.stop.requested
            if stopped or "oembed" in result.blocked:
                return False
            ids = [i for i in dict.fromkeys(spotify_ids) if i not in joins.ids]
            if not ids:
                return True
            entries = self.cached(ids)
            now = self.clock()
            plan = self.plan(
                ids, entries, Policy.MISSING, need=Need.COVER, bulk=False, mode=result.mode, now=now
            )
            if plan.albums:
                return False
            for key, entry in entries.items():
                result.entries.setdefault(key, entry)
            result.due |= plan.due
            joins.ids.update(ids)
            if joins.count_lookups:
                # Counted apart: `_count_lookups` adds a resolution's totals to the store.
                counted = Resolution(entries=entries)
                self._count_lookups(ids, counted, plan, Need.COVER, now, refetch=False)
                result.hits += counted.hits
                result.misses += counted.misses
                result.stale_hits += counted.stale_hits
            covers.extend(plan.covers)
            joins.covers.extend(plan.covers)
            tally.total += len(plan.covers)
            tasks.extend(self._oembed_task(i) for i in plan.covers)
            return True

        if self._listener is not None:
            self._listener.joining(result, admit)
        return tasks

    def _workers(self, channel: Channel, result: Resolution) -> int:
        """Requests in flight at once. A development-mode app's Web API calls go one at a
        time: its daily quota, not its speed, bounds what a day fetches, and calls in flight
        together past the quota's end would each draw a refusal where one tells enough."""
        if channel == "api" and result.mode is AppMode.DEVELOPMENT and self._budget is not None:
            return 1
        return self.settings.concurrency

    def _timed(self, task: Task) -> Task:
        """The task, timing itself (for the runner's deadline check)."""

        def timed() -> list[CacheEntry]:
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

    def _drain(self, pending: set[Future[list[CacheEntry]]], result: Resolution) -> None:
        """Keep what in-flight requests still bring back after a stop."""
        for future in pending:
            if future.cancelled():
                continue
            try:
                self._keep(future.result(), result)
            except Exception:  # noqa: S112 - the first error already stopped the run
                continue

    def _keep(self, entries: list[CacheEntry], result: Resolution) -> None:
        self.cache.put_many(entries, self._drain_meter(result))
        for entry in entries:
            result.entries[entry.key] = entry
            if entry.kind == "album":
                result.fetched.add(entry.spotify_id)
                result.fetched_api.add(entry.spotify_id)
                result.failed.pop(entry.spotify_id, None)
            elif entry.kind == "oembed":
                result.fetched.add(entry.spotify_id)
                result.fetched_covers.add(entry.spotify_id)
                failed = result.cover_failed if self.with_credentials else result.failed
                failed.pop(entry.spotify_id, None)
            elif entry.kind == "search":
                result.searched.add(entry.spotify_id)
                result.failed.pop(entry.spotify_id, None)
            else:
                result.fetched_artists.add(entry.spotify_id)

    def _flush_meter(self, result: Resolution) -> None:
        if self._gateway is None:
            return
        counters = self._drain_meter(result)
        waited = sum(p.waited_seconds for p in (self.pacer, self.oembed_pacer) if p is not None)
        # The pacers' own waits (the learned rate, short-429 pauses), apart from the
        # retries' backoff that the gateway counts.
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

    def _stop(
        self, result: Resolution, album_ids: list[str], error: JitspotError, channel: Channel
    ) -> None:
        """A channel stops (a stop: both): the albums it did not answer say why. The Web
        API's error is the one reported (it says when the run may go on)."""
        if result.error is None or (channel == "api" and result.error_channel == "oembed"):
            result.error, result.error_channel = error, channel
        reason = "unavailable"
        if isinstance(error, Stopped):
            reason = "stopped"
            result.blocked |= {"api", "oembed"}
        else:
            result.blocked.add(channel)
        if isinstance(error, QuotaExhausted):
            reason = "quota"
            result.quota_until = error.next_free_at
        elif isinstance(error, RateLimited):
            reason = "rate_limited"
            key = OEMBED_NOT_BEFORE if error.scope == "oembed" else NOT_BEFORE
            # Another process may have recorded a later time: keep whichever is later.
            until = self.store.raise_meta_time(key, error.not_before.timestamp())
            result.rate_limited_until = max(until, result.rate_limited_until or 0.0)
        if channel == "oembed" and self.with_credentials:
            answered, failed = result.fetched, result.cover_failed
        else:
            answered, failed = result.fetched_api | result.searched, result.failed
            if not self.with_credentials:
                answered = result.fetched
        for spotify_id in album_ids:  # album ids, or search queries
            if spotify_id not in answered:
                failed.setdefault(spotify_id, reason)


@dataclass(slots=True)
class _Joins:
    """The albums of a running resolve that a listener may add covers to."""

    ids: set[str]  # asked so far (the resolve's and those joined)
    count_lookups: bool
    covers: list[str] = field(default_factory=list)  # covers joined (to mark if unanswered)


@dataclass(slots=True)
class _Along:
    """The artists that go along with a resolve's albums (`Resolver._artists_along`)."""

    ids: list[str]  # the resolve's albums (riders' artists are not fetched)
    asked: list[str]  # those asked of the Web API: a stop among artists leaves the rest
    policy: Policy
    artists: bool | None  # as `resolve` was asked
    progress: Progress | None
    waiting: dict[str, None] = field(default_factory=dict)  # wanted, less than a batch
    tally: _Tally | None = None
    members: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.members = frozenset(self.ids)


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
