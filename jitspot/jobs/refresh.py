"""`refresh`: renew the cached Spotify data of chosen albums, unattended, within Spotify's limits.

What to select, what a run would cost and what it did to each album are pure
decisions here (how a run ends, `jobs/outcome.py`, is shared with `match`);
`Refresher` does the I/O through the same `Resolver` as `show` and
`export` (batches, the 403 fallback, retries, pacing), so a refresh spends
exactly the calls a `show`/`export` of the same albums would. Every finished
batch is written at once, so a run that is stopped or killed keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jitspot.catalog.catalog import Catalog
from jitspot.catalog.freshness import (
    DAY,
    FetchPlan,
    Freshness,
    Lifetimes,
    Need,
    Policy,
    album_entry,
    freshness,
)
from jitspot.catalog.resolver import (
    OEMBED_PACING_NAME,
    WAITING,
    Progress,
    Resolution,
    current_mode,
    quota_now,
    remembered_until,
)
from jitspot.jobs.job import Job
from jitspot.jobs.outcome import RunReport
from jitspot.model import AlbumFilter, CacheEntry, StoredAlbum, cache_key
from jitspot.spotify.gateway import ALBUM_BATCH, ARTIST_BATCH
from jitspot.spotify.pacing import PACING_NAME, learned_rate
from jitspot.spotify.quota import (
    ARTISTS_BATCH_FORBIDDEN_UNTIL,
    NO_GENRES_UNTIL,
    NOT_BEFORE,
    AppMode,
    QuotaStatus,
    Share,
    windows_needed,
)

COMMAND = "refresh"

# -- what the user chose -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    """The selectors of `refresh`: ALBUMs and FILTERS choose albums, the rest entries."""

    refs: tuple[str, ...] = ()
    filters: AlbumFilter = field(default_factory=AlbumFilter)
    everything: bool = False  # --all
    missing: bool = False  # --missing
    stale_days: float | None = None  # --stale DAYS
    # --artists / --no-artists; None: unless each artist costs a call of the daily quota
    artists: bool | None = None

    @property
    def chooses_albums(self) -> bool:
        return bool(self.refs) or self.filters != AlbumFilter()

    def problem(self) -> str | None:
        """Why this choice is not a usable one (a usage error), or None."""
        if not (self.chooses_albums or self.everything or self.missing) and self.stale_days is None:
            return (
                "choose what to refresh: ALBUMs, FILTERS (--artist, --genre, --year, --tab,"
                " --vocal, --query), --all, --missing or --stale DAYS"
            )
        if self.everything and self.chooses_albums:
            return "--all is the whole catalog: give it without ALBUMs or FILTERS"
        return None

    @property
    def policy(self) -> Policy:
        """--missing and --stale choose entries (either, when both); otherwise every album."""
        if not self.missing and self.stale_days is None:
            return Policy.ALL
        return Policy(
            missing=self.missing,
            stale=self.stale_days is not None,
            max_age=None if self.stale_days is None else self.stale_days * DAY,
        )


def choose_albums(catalog: Catalog, choice: Choice) -> list[StoredAlbum]:
    """The albums a choice names: its ALBUMs and the FILTERS' albums, or the whole catalog.

    An ALBUM that matches nothing or several albums raises (AlbumNotFound,
    AmbiguousAlbum), as with `show`.
    """
    chosen: dict[int, StoredAlbum] = {}
    for ref in choice.refs:
        album = catalog.find(ref)
        chosen.setdefault(album.id, album)
    if choice.filters != AlbumFilter() or not choice.refs:
        for album in catalog.store.albums(choice.filters):
            chosen.setdefault(album.id, album)
    return list(chosen.values())


# -- the plan: what would be fetched, and what it costs ------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One album a refresh would fetch, with what the cache says of it now."""

    album: StoredAlbum
    state: str  # "never fetched", "cached", "stale", "not found"
    age: float | None  # seconds since it was fetched


@dataclass(frozen=True, slots=True)
class Estimate:
    """The calls a refresh would make in the app's current mode, and how long they take.

    `album_calls` and `artist_calls` go to the Web API (and count against the
    daily quota), except without credentials, where the album calls are oEmbed's;
    `cover_calls` are oEmbed's, at oEmbed's own rate, outside the quota.
    """

    album_calls: int
    artist_calls: int
    mode: str
    rate: float  # requests per second
    rate_learned: bool  # False: the start rate (no 429 seen yet) or the ceiling
    not_before: float | None
    cover_calls: int = 0
    cover_rate: float = 0.0
    cover_rate_learned: bool = False
    quota: QuotaStatus | None = None
    with_credentials: bool = True
    # While the app's mode is not known: the Web API calls for a development-mode app.
    if_development: int | None = None

    @property
    def calls(self) -> int:
        return self.album_calls + self.artist_calls + self.cover_calls

    @property
    def quota_calls(self) -> int:
        """The calls that count against the Web API's daily quota."""
        return self.album_calls + self.artist_calls if self.with_credentials else 0

    @property
    def cover_seconds(self) -> float:
        return self.cover_calls / self.cover_rate if self.cover_rate > 0 else 0.0

    @property
    def seconds(self) -> float:
        api = (self.album_calls + self.artist_calls) / self.rate if self.rate > 0 else 0.0
        return api + self.cover_seconds

    @property
    def windows(self) -> float:
        """Quota windows the Web API calls take (1: this one; 0: none needed)."""
        if self.quota is None:
            return 1 if self.quota_calls else 0
        return windows_needed(self.quota_calls, self.quota.bulk_left, self.quota.bulk_per_window)


@dataclass(slots=True)
class Plan:
    choice: Choice
    selected: list[StoredAlbum]
    fetch: list[Planned]
    estimate: Estimate

    @property
    def skipped(self) -> int:
        """Selected albums without a Spotify link: nothing to ask Spotify for."""
        return sum(1 for a in self.selected if not a.spotify_id)


def estimate_calls(
    albums: int,
    artists: int,
    *,
    with_credentials: bool,
    album_batches: bool,
    artist_batches: bool,
    genres: bool,
    wants_artists: bool = True,
) -> tuple[int, int, str]:
    """(album calls, artist calls, the mode in words) for a refresh of this size.

    A refresh asks for no track page past the first (they come when shown).
    """
    if not with_credentials:
        return albums, 0, "no credentials: covers from oEmbed, one call per album"
    album_calls = math.ceil(albums / ALBUM_BATCH) if album_batches else albums
    artist_calls = 0
    if genres and wants_artists:
        artist_calls = math.ceil(artists / ARTIST_BATCH) if artist_batches else artists
    albums_mode = f"batches of {ALBUM_BATCH} albums" if album_batches else "one call per album"
    if not wants_artists:
        artists_mode = "no artist calls (--artists asks for genres)"
    elif not genres:
        artists_mode = "no artist calls (this app gets no genres)"
    elif artist_batches:
        artists_mode = f"batches of {ARTIST_BATCH} artists"
    else:
        artists_mode = "one call per artist"
    return album_calls, artist_calls, f"{albums_mode}, {artists_mode}"


def describe_entry(
    spotify_id: str,
    entries: dict[str, CacheEntry],
    *,
    now: float,
    lifetimes: Lifetimes,
    creds: bool,
) -> tuple[str, float | None]:
    """The cache state of an album in words (for --dry-run), and its age."""
    entry = album_entry(spotify_id, entries, with_credentials=creds)
    cover = entries.get(cache_key("oembed", spotify_id))
    if entry is None and creds and cover is not None and cover.found:
        return "cover only", now - cover.fetched_at  # from oEmbed: the metadata is due
    if entry is None:
        return "never fetched", None
    age = now - entry.fetched_at
    state = freshness(entry, now, lifetimes)
    if not entry.found:
        return ("not found" if state is Freshness.FRESH else "not found, expired"), age
    return ("stale" if state is Freshness.STALE else "cached"), age


# -- how a run ended -----------------------------------------------------------------------


@dataclass(slots=True)
class RefreshReport(RunReport):
    """A refresh's outcome; counts are of selected albums (store rows)."""

    refreshed: int = 0
    not_found: int = 0
    failed: int = 0
    skipped: int = 0  # no Spotify link
    up_to_date: int = 0  # not due under --missing / --stale
    covers: int = 0  # albums whose cover came from oEmbed in this run
    artists: int = 0
    waited_seconds: float = 0.0
    with_credentials: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "refreshed": self.refreshed,
            "failed": self.failed,
            "not_found": self.not_found,
            "skipped": self.skipped,
            "up_to_date": self.up_to_date,
            "left": self.left,
            "covers": self.covers,
            "artists": self.artists,
            **self.calls_json(),
            "waited_seconds": round(self.waited_seconds, 3),
            **self.ending_json(),
        }


def tally(
    selected: Sequence[StoredAlbum],
    resolution: Resolution,
    due: set[str],
    *,
    with_credentials: bool,
) -> RefreshReport:
    """Count what happened to each selected album (pure: from the resolution alone)."""
    report = RefreshReport(selected=len(selected), with_credentials=with_credentials)
    for album in selected:
        spotify_id = album.spotify_id
        if not spotify_id:
            report.skipped += 1
            continue
        report.covers += spotify_id in resolution.fetched_covers
        reason = resolution.failed.get(spotify_id)
        if reason is not None:
            # Its metadata was not fetched (its cover may have been): a run that stopped
            # early leaves it for the next, an error fails it.
            if reason in WAITING or reason == "stopped":
                report.left += 1
            else:
                report.failed += 1
        elif spotify_id in resolution.fetched:
            entry = _answer(spotify_id, resolution, with_credentials)
            if entry is not None and entry.found:
                report.refreshed += 1
            else:
                report.not_found += 1
        elif spotify_id in due:
            report.left += 1  # due, but the run ended before its turn
        else:
            report.up_to_date += 1
    report.artists = len(resolution.fetched_artists)
    report.waited_seconds = resolution.backoff_seconds
    report.end_with(resolution, report.failed)
    return report


def _answer(spotify_id: str, resolution: Resolution, with_credentials: bool) -> CacheEntry | None:
    """The entry fetched for an album: the Web API's, or oEmbed's when only a cover was due."""
    entry = album_entry(spotify_id, resolution.entries, with_credentials=with_credentials)
    if entry is None and spotify_id not in resolution.fetched_api:
        entry = resolution.entries.get(cache_key("oembed", spotify_id))
    return entry


# -- the run -------------------------------------------------------------------------------


class Refresher(Job):
    """Plans and runs a refresh for one JITSPOT_HOME."""

    command = COMMAND

    def plan(self, choice: Choice) -> Plan:
        """What a refresh of `choice` would fetch and cost. No call, no lock, no write."""
        selected = choose_albums(self.catalog, choice)
        ids = list(dict.fromkeys(a.spotify_id for a in selected if a.spotify_id))
        resolver = self.catalog.resolver
        entries = resolver.cached(ids)
        now = self.clock()
        creds = self.settings.has_credentials
        mode = current_mode(self.store, self.settings, now)
        fetch_plan = resolver.plan(
            ids, entries, choice.policy, need=Need.ALBUM, bulk=True, mode=mode, now=now
        )
        due = fetch_plan.due
        fetch: list[Planned] = []
        seen: set[str] = set()
        for album in selected:
            if album.spotify_id in due and album.spotify_id not in seen:
                seen.add(album.spotify_id)
                state, age = describe_entry(
                    album.spotify_id, entries, now=now, lifetimes=resolver.lifetimes, creds=creds
                )
                fetch.append(Planned(album, state, age))
        estimate = self._estimate(fetch_plan, entries, choice, mode, now)
        return Plan(choice, selected, fetch, estimate)

    def _estimate(
        self,
        fetch_plan: FetchPlan,
        entries: dict[str, CacheEntry],
        choice: Choice,
        mode: AppMode,
        now: float,
    ) -> Estimate:
        # Artists: those of cached albums that the policy wants, and (a guess) one new
        # artist for every album never fetched (its artists are not known yet).
        artists: set[str] = set()
        unknown = 0
        lifetimes = self.catalog.resolver.lifetimes
        policy = choice.policy
        for spotify_id in fetch_plan.albums:
            album = entries.get(cache_key("album", spotify_id))
            if album is None or not album.data:
                unknown += 1
                continue
            for artist_id in album.data.get("artist_ids") or []:
                cached = entries.get(cache_key("artist", artist_id))
                if cached is None or policy.wants(cached, now, lifetimes):
                    artists.add(artist_id)
        creds = self.settings.has_credentials
        wants_artists = (
            choice.artists if choice.artists is not None else mode is not AppMode.DEVELOPMENT
        )
        album_calls, artist_calls, words = estimate_calls(
            len(fetch_plan.albums) if creds else len(fetch_plan.covers),
            len(artists) + unknown,
            with_credentials=creds,
            album_batches=mode is not AppMode.DEVELOPMENT,
            artist_batches=remembered_until(self.store, ARTISTS_BATCH_FORBIDDEN_UNTIL, now) is None,
            genres=remembered_until(self.store, NO_GENRES_UNTIL, now) is None,
            wants_artists=wants_artists,
        )
        quota = quota_now(self.store, self.settings, now) if creds else None
        ceiling = self.settings.rate_ceiling
        rate, learned = learned_rate(self.store.pacing_document(PACING_NAME), now, ceiling)
        cover_rate, cover_learned = learned_rate(
            self.store.pacing_document(OEMBED_PACING_NAME), now, ceiling
        )
        return Estimate(
            album_calls,
            artist_calls,
            words,
            rate,
            learned,
            remembered_until(self.store, NOT_BEFORE, now),
            cover_calls=self._cover_calls(fetch_plan, quota) if creds else 0,
            cover_rate=cover_rate,
            cover_rate_learned=cover_learned,
            quota=quota,
            with_credentials=creds,
            if_development=self._if_development(fetch_plan, entries, choice, mode, now),
        )

    @staticmethod
    def _cover_calls(fetch_plan: FetchPlan, quota: QuotaStatus | None) -> int:
        """oEmbed calls: the covers due but for the albums the Web API answers first (as
        many as bulk work's share has left now; all of them without a budget)."""
        left = None if quota is None else quota.bulk_left
        answered = set(fetch_plan.albums if left is None else fetch_plan.albums[:left])
        return sum(1 for spotify_id in fetch_plan.covers if spotify_id not in answered)

    def _if_development(
        self,
        fetch_plan: FetchPlan,
        entries: dict[str, CacheEntry],
        choice: Choice,
        mode: AppMode,
        now: float,
    ) -> int | None:
        """While the app's mode is not known: the Web API calls of the same refresh for a
        development-mode app (the batch probe, one call per album, no artists unless
        asked), which most apps are since 2026."""
        if mode is not AppMode.UNKNOWN or not fetch_plan.albums:
            return None
        ids = list(dict.fromkeys([*fetch_plan.albums, *fetch_plan.covers]))
        resolver = self.catalog.resolver
        plan = resolver.plan(
            ids,
            entries,
            choice.policy,
            need=Need.ALBUM,
            bulk=True,
            mode=AppMode.DEVELOPMENT,
            now=now,
        )
        artists = len(plan.albums) if choice.artists else 0  # a guess: one each
        return 1 + len(plan.albums) + artists

    def run(
        self, plan: Plan, *, progress: Progress | None = None, wait_lock: float = 0.0
    ) -> RefreshReport:
        """Refresh the plan's albums under the home's lock; the run is recorded in `runs`.

        Raises Locked (75) when another run holds the lock past `wait_lock`.
        """
        with self.locked(wait_lock):
            return self._run_locked(plan, progress)

    def _run_locked(self, plan: Plan, progress: Progress | None) -> RefreshReport:
        started = self.clock()
        run_id = self.store.start_run(COMMAND)
        ids = [a.spotify_id for a in plan.selected if a.spotify_id]
        due = {p.album.spotify_id for p in plan.fetch if p.album.spotify_id}
        resolution: Resolution | None = None
        report: RefreshReport | None = None
        try:
            resolution = self.catalog.resolver.resolve(
                ids,
                plan.choice.policy,
                need=Need.ALBUM,
                share=Share.BULK,
                artists=plan.choice.artists,
                count_lookups=False,
                progress=progress,
            )
            report = tally(
                plan.selected, resolution, due, with_credentials=self.settings.has_credentials
            )
        finally:
            if report is None:  # an unexpected error: record the run as failed all the same
                report = RefreshReport.unexpected(len(plan.selected))
            report.seconds = self.clock() - started
            self.store.finish_run(run_id, report.exit_code, report.as_json())
        return report
