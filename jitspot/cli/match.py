"""`jitspot match`: find Spotify albums for rows without a link; review, accept, reject."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jitspot.cli.albums import print_candidates
from jitspot.cli.app import app, print_json, progress_bar, state
from jitspot.cli.options import JsonOpt, MaxTimeOpt, WaitLockOpt, store_id_option, with_filters
from jitspot.cli.runs import (
    live_detail,
    print_locked,
    print_not_before,
    print_quota,
    signals_stop,
    spread_text,
    why_stopped,
)
from jitspot.errors import EXIT_PARTIAL, AmbiguousAlbum, Locked
from jitspot.model import AlbumFilter

if TYPE_CHECKING:
    from jitspot.jobs.match import Matcher, MatchPlan, MatchReport
    from jitspot.jobs.matching import Decision
    from jitspot.model import StoredAlbum
    from jitspot.stopping import Stop

_DECISIONS = ("--accept", "--reject", "--reset", "--review")


@app.command("match")
@with_filters
def match_command(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ALBUM",
            help="Albums to match (as for show); with --accept: the album, then the Spotify"
            " album link, URI or id to use for it.",
            show_default=False,
        ),
    ] = None,
    *,
    filters: AlbumFilter,
    store_id: Annotated[
        int | None, store_id_option("The album by its store id (with --accept/--reject).")
    ] = None,
    accept: Annotated[
        bool,
        typer.Option("--accept", help="Use SPOTIFY_REF for ALBUM (kept by every later run)."),
    ] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help="Never use a match for ALBUM (kept by later runs).")
    ] = False,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Forget ALBUM's match and decision; match it afresh."),
    ] = False,
    review: Annotated[
        bool,
        typer.Option("--review", help="List albums waiting for a person, with their candidates."),
    ] = False,
    min_score: Annotated[
        float | None,
        typer.Option(
            "--min-score",
            metavar="S",
            min=0.0,
            max=1.0,
            help="Keep a result as the album at or above S, 0-1 (default: match_min_score, 0.9).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List the albums that would be searched; call nothing."),
    ] = False,
    max_time: MaxTimeOpt = None,
    wait_lock: WaitLockOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Find the Spotify album of rows that have no link: one search each, scored.

    Without ALBUMs or FILTERS: every album with no link, no match and no
    decision. A result scoring at least --min-score is kept as the album's
    match (never written into the sheet's columns; a sheet link wins); lower
    ones wait for --review, where --accept ALBUM SPOTIFY_REF or --reject
    ALBUM records a person's decision (--id N names an album by its store id).
    Searches are cached: a second run calls nothing. One run per JITSPOT_HOME
    at a time, with refresh.

    Exit codes: 0 done, 1 ambiguous ALBUM, 2 usage, 69 Spotify unreachable,
    75 stopped early (rate limit, --max-time, signal, lock held), 78 configuration
    (no credentials).
    """
    from jitspot.jobs.match import MatchChoice, Matcher
    from jitspot.stopping import Stop

    given = [
        name for name, on in zip(_DECISIONS, (accept, reject, reset, review), strict=True) if on
    ]
    if len(given) > 1:
        ctx.fail(f"{' and '.join(given)} go one at a time")
    positional = list(args or ())
    stop = Stop.after(max_time)
    matcher = Matcher(state.get_store(), state.get_settings(), stop=stop)
    try:
        if given and given[0] != "--review":
            _decide(ctx, matcher, given[0], positional, store_id, as_json)
            return
        if store_id is not None:
            ctx.fail("--id names the album of --accept, --reject or --reset")
        if review:
            if positional:
                ctx.fail("--review lists every album waiting for review: narrow it with FILTERS")
            _print_review(matcher, filters, as_json)
            return
        choice = MatchChoice(tuple(positional), filters)
        try:
            plan = matcher.plan(choice)
        except AmbiguousAlbum as ambiguous:
            print_candidates(matcher.catalog, ambiguous, as_json)
            raise SystemExit(EXIT_PARTIAL) from None
        if dry_run:
            _print_plan(plan, as_json)
            return
        report = _run(matcher, plan, stop, min_score, wait_lock, as_json)
    finally:
        matcher.close()
    _print_report(report, as_json)
    if report.exit_code:
        raise SystemExit(report.exit_code)


def _run(
    matcher: Matcher,
    plan: MatchPlan,
    stop: Stop,
    min_score: float | None,
    wait_lock: float,
    as_json: bool,
) -> MatchReport:
    try:
        with signals_stop(stop), progress_bar("Matching", live_detail(matcher)) as bar:
            return matcher.run(plan, min_score=min_score, progress=bar, wait_lock=wait_lock)
    except Locked as locked:
        if as_json:
            from jitspot.jobs.match import MatchReport

            print_locked(MatchReport(selected=len(plan.selected)), locked)
        raise


# -- a person's decisions ------------------------------------------------------------------


def _decide(
    ctx: typer.Context,
    matcher: Matcher,
    action: str,
    positional: list[str],
    store_id: int | None,
    as_json: bool,
) -> None:
    wanted = 1 if action == "--accept" else 0  # the Spotify ref after the album
    if store_id is None:
        wanted += 1
    if len(positional) != wanted:
        shape = {
            "--accept": "--accept ALBUM SPOTIFY_REF (or --accept --id N SPOTIFY_REF)",
            "--reject": "--reject ALBUM (or --reject --id N)",
            "--reset": "--reset ALBUM (or --reset --id N)",
        }[action]
        ctx.fail(f"give it as {shape}")
    ref = positional[0] if store_id is None else None
    try:
        if action == "--accept":
            album, spotify_id = matcher.accept(ref, positional[-1], store_id)
            line = f"Accepted: {_name(album)} is spotify:album:{spotify_id}."
            result: dict[str, Any] = {"id": album.id, "state": "accepted", "spotify_id": spotify_id}
        elif action == "--reject":
            album = matcher.reject(ref, store_id)
            line = f"Rejected: {_name(album)} gets no match (jitspot match --reset undoes it)."
            result = {"id": album.id, "state": "rejected", "spotify_id": None}
        else:
            album = matcher.reset(ref, store_id)
            line = f"Reset: {_name(album)} is matched afresh by the next jitspot match."
            result = {"id": album.id, "state": None, "spotify_id": None}
    except AmbiguousAlbum as ambiguous:
        print_candidates(matcher.catalog, ambiguous, as_json)
        raise SystemExit(EXIT_PARTIAL) from None
    if as_json:
        print_json({**result, "artist": album.artist, "title": album.title})
    elif not state.quiet:
        state.out.print(line, markup=False, highlight=False)


def _name(album: StoredAlbum) -> str:
    return f"{album.artist} — {album.title} ({album.tab})"


# -- what it prints ------------------------------------------------------------------------


def _print_review(matcher: Matcher, filters: AlbumFilter, as_json: bool) -> None:
    waiting = matcher.review(filters)
    if as_json:
        print_json(
            {
                "review": len(waiting),
                "albums": [
                    {
                        "id": album.id,
                        "artist": album.artist,
                        "title": album.title,
                        "tab": album.tab,
                        "year": album.year,
                        "kind": album.kind,
                        "candidates": candidates,
                    }
                    for album, candidates in waiting
                ],
            }
        )
        return
    out = state.out
    for album, candidates in waiting:
        year = str(album.year) if album.year and str(album.year) not in album.tab else ""
        details = ", ".join(x for x in (album.tab, year, album.kind or "") if x)
        out.print(f"--id {album.id}  {album.artist} — {album.title}  ({details})", markup=False)
        for c in candidates:
            year = (c.get("release_date") or "")[:4]
            what = ", ".join(x for x in (year, c.get("album_type") or "") if x)
            out.print(
                f"  {c['score']:.2f}  {c['name']} — {', '.join(c['artists'])} ({what})",
                markup=False,
                highlight=False,
                crop=False,
                overflow="ignore",
            )
            out.print(
                f"        jitspot match --accept --id {album.id} {c['id']}",
                markup=False,
                highlight=False,
                crop=False,
                overflow="ignore",
            )
    if not state.quiet:
        if waiting:
            state.err.print(
                f"{len(waiting)} albums wait for review. Accept a candidate with the command"
                " under it, or give none with jitspot match --reject --id N.",
                markup=False,
            )
        else:
            state.err.print("No album waits for review.", markup=False)


def _print_plan(plan: MatchPlan, as_json: bool) -> None:
    if as_json:
        from jitspot.timetext import iso_time

        print_json(
            {
                "dry_run": True,
                "selected": len(plan.selected),
                "to_search": len(plan.to_search),
                "calls": plan.calls,
                "rate": round(plan.rate, 3),
                "rate_learned": plan.rate_learned,
                "seconds": round(plan.seconds, 1),
                "windows": None if math.isinf(plan.windows) else plan.windows,
                "not_before": iso_time(plan.not_before),
                "quota": plan.quota.as_json() if plan.quota else None,
                "with_credentials": plan.with_credentials,
                "albums": [
                    {"id": a.id, "artist": a.artist, "title": a.title, "tab": a.tab}
                    for a in plan.to_search
                ],
            }
        )
        return
    for album in plan.to_search:
        state.out.print(f"search  {_name(album)}", markup=False, highlight=False, crop=False)
    if state.quiet:
        return
    cached = len(plan.selected) - len(plan.to_search)
    from_cache = f" ({cached} scored from cached searches)" if cached else ""
    rate = f"{plan.rate:.1f} requests/s" + ("" if plan.rate_learned else " (the start rate)")
    state.err.print(
        f"{len(plan.to_search)} albums to search of {len(plan.selected)} selected{from_cache}:"
        f" {plan.calls} calls, about {plan.seconds:.0f} s at {rate}"
        f"{spread_text(plan.windows, plan.quota, plan.calls)}."
        " Nothing was searched (--dry-run).",
        markup=False,
        highlight=False,
    )
    print_quota(plan.quota)
    if plan.to_search and not plan.with_credentials:
        state.err.print(
            "Searching Spotify needs an app: set SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET"
            " (without them a match exits 78).",
            markup=False,
        )
    print_not_before(plan.not_before, "match")


def _decision_line(decision: Decision) -> str:
    album = decision.album
    if decision.state == "matched" and decision.candidates:
        best = decision.candidates[0].candidate
        year = (best.get("release_date") or "")[:4]
        return (
            f"matched {decision.score:.2f}  {album.artist} — {album.title}"
            f"  →  {best['name']} ({year}) spotify:album:{best['id']}"
        )
    if decision.state == "review":
        return f"review  {decision.score:.2f}  {album.artist} — {album.title}"
    return f"no candidate  {album.artist} — {album.title}"


def summary_line(report: MatchReport) -> str:
    """The one line a cron log keeps of a run."""
    parts = [
        f"{report.selected} selected",
        f"{report.searched} searched",
        f"{report.matched} matched",
        f"{report.review} for review",
        f"{report.no_candidate} no candidate",
    ]
    if report.left:
        parts.append(f"{report.left} left")
    parts += [
        f"{report.api_calls} calls",
        f"{report.rate_limited_responses} × 429",
        f"{report.seconds:.1f} s",
    ]
    outcome = "done" if report.exit_code == 0 else "stopped"
    return f"Match {outcome}: " + ", ".join(parts) + "."


def _print_report(report: MatchReport, as_json: bool) -> None:
    if as_json:
        print_json(report.as_json())
    elif not state.quiet:
        for decision in report.decisions:
            if decision.state != "no_candidate" or state.verbose:
                state.out.print(
                    _decision_line(decision),
                    markup=False,
                    highlight=False,
                    crop=False,
                    overflow="ignore",
                )
        state.out.print(summary_line(report), markup=False, highlight=False)
        if report.review:
            state.err.print(
                f"{report.review} albums wait for review: jitspot match --review", markup=False
            )
    if report.exit_code:
        state.err.print(f"jitspot: {_why(report)}", markup=False, highlight=False)


def _why(report: MatchReport) -> str:
    kept = "every search answered is kept"
    stopped = why_stopped(
        report.stopped_reason, report.not_before, report.left, kept, error=report.error
    )
    return stopped or report.error or "the run failed"
