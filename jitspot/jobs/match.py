"""`match`: find the Spotify album of rows that have no link, by search and scoring.

Which albums to search, and what a run decided, are pure decisions here; the calls
go through the same `Resolver` as `refresh` (one gateway, pacing, the 429
rules, the cache), under the same lock, recorded in the same `runs` table.
Every search answer is cached as it lands, so a stopped or killed run costs
nothing again; what was decided is written in one transaction at the end.

A match is kept apart from the sheet's link (`match_id`, never `spotify_id`):
a re-import never erases it, a sheet link that appears later wins over it,
and a person's `--accept`/`--reject` is kept until the row's artist or title
changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jitspot.catalog.catalog import Catalog
from jitspot.catalog.freshness import Policy
from jitspot.catalog.resolver import NOT_BEFORE, Progress, Resolution, quota_now, remembered_until
from jitspot.errors import JitspotError, NotMatchable, Stopped
from jitspot.jobs.job import Job
from jitspot.jobs.matching import DECIDED, Decision, decide, search_query
from jitspot.jobs.outcome import RunReport
from jitspot.model import AlbumFilter, MatchRecord, StoredAlbum, cache_key
from jitspot.spotify.links import SpotifyRef, parse_spotify_ref
from jitspot.spotify.pacing import PACING_NAME, learned_rate
from jitspot.spotify.quota import QuotaStatus, windows_needed

COMMAND = "match"
# What a run searches again: what was never searched, and "no candidate" answers past
# their lifetime; an answer with albums is kept (a re-run scores it again, no call).
SEARCH_POLICY = Policy.MISSING


# -- what the user chose -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchChoice:
    """ALBUMs and FILTERS choose albums (both: the albums of either); none: all unmatched."""

    refs: tuple[str, ...] = ()
    filters: AlbumFilter = field(default_factory=AlbumFilter)

    @property
    def chooses_albums(self) -> bool:
        return bool(self.refs) or self.filters != AlbumFilter()


def wants_match(album: StoredAlbum, *, chosen: bool) -> bool:
    """Whether a run searches (or re-scores) this album.

    Never an album with a sheet link, a person's decision, or nothing to
    search. Unchosen runs leave matched albums as they are; albums named by
    ALBUM or FILTERS are scored again (from the cache: no call).
    """
    if album.sheet_spotify_id or album.match_state in DECIDED or search_query(album) is None:
        return False
    return chosen or album.match_state != "matched"


def choose_albums(catalog: Catalog, choice: MatchChoice) -> list[StoredAlbum]:
    """The albums to match, in sheet order, once each."""
    if not choice.chooses_albums:
        return [a for a in catalog.store.albums() if wants_match(a, chosen=False)]
    chosen: dict[int, StoredAlbum] = {}
    for ref in choice.refs:
        album = catalog.find(ref)
        if album.sheet_spotify_id:
            raise NotMatchable(
                f"{album.artist} — {album.title} has a Spotify link in the sheet;"
                " the sheet's link is never replaced by a match"
            )
        chosen[album.id] = album
    if choice.filters != AlbumFilter():
        chosen.update((a.id, a) for a in catalog.store.albums(choice.filters))
    return [a for a in chosen.values() if wants_match(a, chosen=True)]


# -- what a run would do ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchPlan:
    """The chosen albums and which of them need a search (the rest are cached answers)."""

    choice: MatchChoice
    selected: list[StoredAlbum]
    to_search: list[StoredAlbum]
    rate: float
    rate_learned: bool
    not_before: float | None
    with_credentials: bool = True  # search needs an app: without one a run exits 78
    quota: QuotaStatus | None = None

    @property
    def windows(self) -> float:
        """Quota windows the searches take (bulk work: the share above the reserve)."""
        if self.quota is None:
            return 1 if self.calls else 0
        return windows_needed(self.calls, self.quota.bulk_left, self.quota.bulk_per_window)

    @property
    def calls(self) -> int:
        """One search per album (token requests aside)."""
        return len({search_query(a) for a in self.to_search})

    @property
    def seconds(self) -> float:
        return self.calls / self.rate if self.rate > 0 else 0.0


# -- how a run ended -----------------------------------------------------------------------


@dataclass(slots=True)
class MatchReport(RunReport):
    """A match run's outcome; counts are of selected albums (`left`: not searched)."""

    searched: int = 0  # searches sent to Spotify in this run
    matched: int = 0
    review: int = 0
    no_candidate: int = 0
    decisions: list[Decision] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "searched": self.searched,
            "matched": self.matched,
            "review": self.review,
            "no_candidate": self.no_candidate,
            "left": self.left,
            **self.calls_json(),
            **self.ending_json(),
            "albums": [
                {
                    "id": d.album.id,
                    "artist": d.album.artist,
                    "title": d.album.title,
                    "spotify_id": d.match_id,
                    "score": d.score,
                    "state": d.state,
                }
                for d in self.decisions
            ],
        }


def decide_all(
    albums: Sequence[StoredAlbum],
    resolution: Resolution,
    min_score: float,
) -> tuple[list[Decision], int]:
    """Decisions for albums whose search was answered; and how many were left unanswered."""
    decisions: list[Decision] = []
    left = 0
    for album in albums:
        query = search_query(album)
        entry = resolution.entries.get(cache_key("search", query or ""))
        if entry is None:
            left += 1
            continue
        candidates = ((entry.data or {}).get("albums") or []) if entry.found else []
        decisions.append(decide(album, candidates, min_score))
    return decisions, left


def tally(albums: Sequence[StoredAlbum], resolution: Resolution, min_score: float) -> MatchReport:
    """The report of a run, from what its searches answered (pure)."""
    decisions, left = decide_all(albums, resolution, min_score)
    report = MatchReport(selected=len(albums), left=left, decisions=decisions)
    for decision in decisions:
        if decision.state == "matched":
            report.matched += 1
        elif decision.state == "review":
            report.review += 1
        else:
            report.no_candidate += 1
    report.searched = len(resolution.searched)
    report.end_with(resolution, failed=0)
    return report


def records(decisions: Sequence[Decision]) -> list[MatchRecord]:
    return [
        MatchRecord(d.album.id, d.state, d.match_id, d.score, d.candidates_json())
        for d in decisions
    ]


# -- the run -------------------------------------------------------------------------------


class Matcher(Job):
    """Plans and runs `match` for one JITSPOT_HOME; records a person's decisions."""

    command = COMMAND

    def plan(self, choice: MatchChoice) -> MatchPlan:
        """What a run would search and cost. No call, no lock, no write."""
        selected = choose_albums(self.catalog, choice)
        queries = [q for a in selected if (q := search_query(a))]
        entries = self.catalog.resolver.cache.get_many(cache_key("search", q) for q in queries)
        now = self.clock()
        lifetimes = self.catalog.resolver.lifetimes
        to_search = [
            a
            for a in selected
            # The rule the run's resolver applies: never searched, or "no candidate" expired.
            if SEARCH_POLICY.wants(
                entries.get(cache_key("search", search_query(a) or "")), now, lifetimes
            )
        ]
        rate, learned = learned_rate(
            self.store.pacing_document(PACING_NAME), now, self.settings.rate_ceiling
        )
        not_before = remembered_until(self.store, NOT_BEFORE, now)
        creds = self.settings.has_credentials
        return MatchPlan(
            choice,
            selected,
            to_search,
            rate,
            learned,
            not_before,
            creds,
            quota_now(self.store, self.settings, now) if creds else None,
        )

    def run(
        self,
        plan: MatchPlan,
        *,
        min_score: float | None = None,
        progress: Progress | None = None,
        wait_lock: float = 0.0,
    ) -> MatchReport:
        """Search and score the plan's albums under the home's run lock (refresh's too).

        Raises Locked (75) when another run holds it past `wait_lock`.
        """
        with self.locked(wait_lock):
            return self._run_locked(plan, min_score, progress)

    def _run_locked(
        self, plan: MatchPlan, min_score: float | None, progress: Progress | None
    ) -> MatchReport:
        threshold = self.settings.match_min_score if min_score is None else min_score
        started = self.clock()
        run_id = self.store.start_run(COMMAND)
        report: MatchReport | None = None
        try:
            queries = [q for a in plan.selected if (q := search_query(a))]
            resolution = self.catalog.resolver.search(queries, SEARCH_POLICY, progress=progress)
            report = tally(plan.selected, resolution, threshold)
            self.store.record_matches(records(report.decisions))
        except Stopped as stopped:  # stopped before the first search went out
            report = MatchReport(selected=len(plan.selected), left=len(plan.selected))
            report.stop(stopped.reason, stopped)
        except JitspotError as error:  # no credentials, a store that takes no write...
            report = MatchReport(selected=len(plan.selected), left=len(plan.selected))
            report.error, report.exit_code = str(error), error.exit_code
            raise
        finally:
            if report is None:  # an unexpected error: record the run as failed all the same
                report = MatchReport.unexpected(len(plan.selected))
            report.seconds = self.clock() - started
            summary = report.as_json()
            summary.pop("albums")  # the albums are in the store; the runs table keeps counts
            self.store.finish_run(run_id, report.exit_code, summary)
        return report

    # -- a person's decisions ------------------------------------------------------------

    def accept(
        self, ref: str | None, spotify_ref: str, store_id: int | None = None
    ) -> tuple[StoredAlbum, str]:
        """Use `spotify_ref` (an album link, URI or id) for the album, whatever the score.

        The album is named as `show` names it: `ref` text or link, or `store_id`.
        """
        album = self._linkless(ref, store_id)
        kind, spotify_id = parse_spotify_ref(spotify_ref)
        if kind is not SpotifyRef.ALBUM or spotify_id is None:
            raise NotMatchable(
                f"not a Spotify album link, URI or id: {spotify_ref!r}"
                " (e.g. https://open.spotify.com/album/<22 characters>)"
            )
        known = self.store.match_candidates([album.id]).get(album.id, [])
        score = next((c.get("score") for c in known if c.get("id") == spotify_id), None)
        self.store.decide_match(album.id, "accepted", spotify_id, score)
        return album, spotify_id

    def reject(self, ref: str | None, store_id: int | None = None) -> StoredAlbum:
        """Never use a match for the album (until its artist or title changes in the sheet)."""
        album = self._linkless(ref, store_id)
        self.store.decide_match(album.id, "rejected", album.match_id, album.match_score)
        return album

    def reset(self, ref: str | None, store_id: int | None = None) -> StoredAlbum:
        """Forget the match and any decision: the next run matches the album afresh."""
        album = self._linkless(ref, store_id)
        self.store.decide_match(album.id, None, None, None)
        return album

    def _linkless(self, ref: str | None, store_id: int | None) -> StoredAlbum:
        album = self.catalog.find(ref, store_id)
        if album.sheet_spotify_id:
            raise NotMatchable(
                f"{album.artist} — {album.title} has a Spotify link in the sheet; change it"
                " there (a match never replaces the sheet's link)"
            )
        return album

    def review(
        self, filters: AlbumFilter | None = None
    ) -> list[tuple[StoredAlbum, list[dict[str, Any]]]]:
        """Albums waiting for a person (state review), with their kept candidates."""
        waiting = [
            a
            for a in self.store.albums(filters or AlbumFilter())
            if a.match_state == "review" and not a.sheet_spotify_id
        ]
        kept = self.store.match_candidates(a.id for a in waiting)
        return [(a, kept.get(a.id, [])) for a in waiting]
