"""`jitspot refresh`: renew cached Spotify data, by hand or from cron."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jitspot.cli.albums import print_candidates
from jitspot.cli.app import app, print_json, progress_bar, state
from jitspot.cli.options import JsonOpt, MaxTimeOpt, PrometheusOpt, WaitLockOpt, with_filters
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
    from jitspot.catalog.resolver import Progress
    from jitspot.jobs.refresh import Choice, Plan, Refresher, RefreshReport
    from jitspot.stopping import Stop

NEEDS_APP = (
    "no Spotify credentials: covers were renewed through oEmbed; tracks and metadata need an"
    " app (set SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET)"
)


@app.command("refresh")
@with_filters
def refresh_command(
    ctx: typer.Context,
    albums: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ALBUM",
            help="Albums to refresh: Spotify links or ids, or 'artist title' text (as for show).",
            show_default=False,
        ),
    ] = None,
    *,
    filters: AlbumFilter,
    everything: Annotated[
        bool, typer.Option("--all", help="The whole catalog (every album is fetched again).")
    ] = False,
    missing: Annotated[
        bool, typer.Option("--missing", help="Only albums with nothing cached yet.")
    ] = False,
    stale: Annotated[
        float | None,
        typer.Option(
            "--stale",
            metavar="DAYS",
            min=0,
            max=36_500,
            help="Only entries cached longer ago than DAYS (with --missing: either).",
        ),
    ] = None,
    artists: Annotated[
        bool | None,
        typer.Option(
            "--artists/--no-artists",
            help="Fetch the albums' artists too, for Spotify's genres (default: yes, but for a"
            " development-mode app, where each costs a call of the daily quota).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List what would be fetched, the calls it takes and the quota windows it"
            " needs; call nothing.",
        ),
    ] = False,
    max_time: MaxTimeOpt = None,
    wait_lock: WaitLockOpt = 0.0,
    prometheus: PrometheusOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch cached Spotify data again for the chosen albums (and their artists).

    ALBUMs and FILTERS choose albums (both: the albums of either); --missing
    and --stale DAYS choose entries among them (both: either), over the whole
    catalog when no album is chosen; without them every chosen album is
    fetched again. Made for cron: one run per JITSPOT_HOME at a time, each
    finished batch kept at once, SIGTERM/Ctrl-C or --max-time stop cleanly
    (exit 75), and a run stopped for any reason is safe to repeat.

    A development-mode app takes its covers from oEmbed (no quota) first, then
    spends the daily quota's bulk share on metadata and stops when it is used
    (exit 75, stopped_reason "quota"): the next night's run goes on.

    Exit codes: 0 done, 1 some albums failed, 69 Spotify unreachable,
    75 stopped early (rate limit, daily quota, --max-time, signal, lock held),
    78 configuration.
    """
    from jitspot.jobs.refresh import Choice, Refresher
    from jitspot.stopping import Stop

    choice = Choice(tuple(albums or ()), filters, everything, missing, stale, artists)
    problem = choice.problem()
    if problem is not None:
        ctx.fail(problem)  # a usage error: exit 2, with the usage line
    if prometheus is not None:
        from jitspot.files import check_writable

        check_writable(prometheus)  # before any call is spent on a run nobody would see
    stop = Stop.after(max_time)
    refresher = Refresher(state.get_store(), state.get_settings(), stop=stop)
    try:
        report = _plan_and_run(refresher, choice, stop, dry_run, wait_lock, prometheus, as_json)
    finally:
        refresher.close()
    if report is None:
        return
    _print_report(report, as_json)
    _write_metrics(prometheus)
    if report.exit_code:
        raise SystemExit(report.exit_code)


def _plan_and_run(
    refresher: Refresher,
    choice: Choice,
    stop: Stop,
    dry_run: bool,
    wait_lock: float,
    prometheus: Path | None,
    as_json: bool,
) -> RefreshReport | None:
    """The run's report; None for a dry run (its plan is printed here)."""
    try:
        plan = refresher.plan(choice)
    except AmbiguousAlbum as ambiguous:
        print_candidates(refresher.catalog, ambiguous, as_json)
        raise SystemExit(EXIT_PARTIAL) from None
    if dry_run:
        _print_plan(plan, as_json)
        return None
    try:
        with signals_stop(stop), progress_bar("Refreshing", live_detail(refresher)) as bar:
            return refresher.run(plan, progress=_plain_lines(refresher, bar), wait_lock=wait_lock)
    except Locked as locked:
        if as_json:
            from jitspot.jobs.refresh import RefreshReport

            print_locked(RefreshReport(selected=len(plan.selected), skipped=plan.skipped), locked)
        _write_metrics(prometheus)
        raise


def _write_metrics(path: Path | None) -> None:
    """The same textfile as `stats --prometheus`, after every run, stopped ones too."""
    if path is None:
        return
    from jitspot.jobs.stats import gather
    from jitspot.render.prometheus import write_textfile

    write_textfile(gather(state.get_store(), state.get_settings()), path)


# -- while it runs -------------------------------------------------------------------------


def _plain_lines(refresher: Refresher, bar: Progress | None) -> Progress | None:
    """On a terminal the bar; otherwise, with -v, one plain line per finished batch."""
    if bar is not None or not state.verbose or state.quiet:
        return bar
    detail = live_detail(refresher)

    def line(phase: str, done: int, total: int) -> None:
        if done:
            state.err.print(f"{phase} {done}/{total} · {detail()}", markup=False, highlight=False)

    return line


# -- what it prints ------------------------------------------------------------------------


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds >= 86_400:
        return f"{seconds / 86_400:.0f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{max(seconds / 60, 1):.0f} min"


def _print_plan(plan: Plan, as_json: bool) -> None:
    estimate = plan.estimate
    if as_json:
        from jitspot.timetext import iso_time

        print_json(
            {
                "dry_run": True,
                "selected": len(plan.selected),
                "to_fetch": len(plan.fetch),
                "skipped": plan.skipped,
                "calls": estimate.calls,
                "album_calls": estimate.album_calls,
                "artist_calls": estimate.artist_calls,
                "cover_calls": estimate.cover_calls,
                "quota_calls": estimate.quota_calls,
                "windows": _finite(estimate.windows),
                "mode": estimate.mode,
                "rate": round(estimate.rate, 3),
                "rate_learned": estimate.rate_learned,
                "cover_seconds": round(estimate.cover_seconds, 1),
                "seconds": round(estimate.seconds, 1),
                "not_before": iso_time(estimate.not_before),
                "quota": estimate.quota.as_json() if estimate.quota else None,
                "albums": [
                    {
                        "id": p.album.id,
                        "artist": p.album.artist,
                        "title": p.album.title,
                        "tab": p.album.tab,
                        "spotify_id": p.album.spotify_id,
                        "state": p.state,
                        "age_days": None if p.age is None else round(p.age / 86_400, 2),
                    }
                    for p in plan.fetch
                ],
            }
        )
        return
    for p in plan.fetch:
        state_text = f"{p.state} {_age(p.age)}".strip()
        state.out.print(
            f"{state_text:<22} {p.album.artist} — {p.album.title}  ({p.album.tab})",
            markup=False,
            highlight=False,
            crop=False,
            overflow="ignore",
        )
    if state.quiet:
        return
    no_link = f", {plan.skipped:,} without a Spotify link" if plan.skipped else ""
    parts = [f"{len(plan.fetch):,} albums to fetch of {len(plan.selected):,} selected{no_link}"]
    if estimate.cover_calls:
        start = (
            ""
            if estimate.cover_rate_learned
            else ", the start rate: it climbs while oEmbed answers"
        )
        parts.append(
            f"covers now via oEmbed: {estimate.cover_calls:,} calls in"
            f" {duration_text(estimate.cover_seconds)} at {estimate.cover_rate:.1f} requests/s"
            f" (no quota{start})"
        )
    if estimate.album_calls or estimate.artist_calls or not estimate.cover_calls:
        what = "metadata" if estimate.with_credentials else "covers"
        rate = f"{estimate.rate:.1f} requests/s" + (
            "" if estimate.rate_learned else " (the start rate: Spotify's limit is not learned yet)"
        )
        calls = estimate.album_calls + estimate.artist_calls
        parts.append(
            f"{what}: {calls:,} calls ({estimate.mode}) at {rate}"
            + spread_text(estimate.windows, estimate.quota, calls)
        )
    for part in parts[:-1]:
        state.err.print(f"{part};", markup=False, highlight=False)
    state.err.print(f"{parts[-1]}. Nothing was fetched (--dry-run).", markup=False, highlight=False)
    if estimate.if_development is not None and estimate.quota is not None:
        from jitspot.spotify.quota import windows_needed

        calls = estimate.if_development
        quota = estimate.quota
        windows = windows_needed(calls, quota.bulk_left, quota.bulk_per_window)
        state.err.print(
            "The app's mode is not known yet (its first batch call tells): a development-mode"
            f" app takes its covers from oEmbed and {calls:,} calls of its daily quota"
            + (spread_text(windows, quota, calls) or "")
            + ".",
            markup=False,
            highlight=False,
        )
    print_quota(estimate.quota)
    print_not_before(estimate.not_before, "refresh")


def _finite(value: float) -> float | None:
    import math

    return None if math.isinf(value) else value


def duration_text(seconds: float) -> str:
    """About how long, for people: "~40 s", "~25 min", "~3 h"."""
    if seconds < 90:
        return f"~{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"


def summary_line(report: RefreshReport) -> str:
    """The one line a cron log keeps of a run."""
    parts = [
        f"{report.selected} selected",
        f"{report.refreshed} refreshed",
        f"{report.failed} failed",
        f"{report.not_found} not found",
        f"{report.skipped} skipped (no link)",
    ]
    if report.up_to_date:
        parts.append(f"{report.up_to_date} up to date")
    if report.left:
        parts.append(f"{report.left} left")
    if report.covers and report.with_credentials:
        parts.append(f"{report.covers} covers via oEmbed")
    parts += [
        f"{report.artists} artists",
        f"{report.api_calls} calls",
        f"{report.rate_limited_responses} × 429",
        f"{report.seconds:.1f} s",
    ]
    return f"Refresh {_outcome(report)}: " + ", ".join(parts) + "."


def _outcome(report: RefreshReport) -> str:
    if report.exit_code == 0:
        return "done"
    reasons = {
        "signal": "signal",
        "max_time": "--max-time",
        "rate_limited": "rate limit",
        "quota": "daily quota",
    }
    if report.stopped_reason in reasons:
        return f"stopped ({reasons[report.stopped_reason]})"
    return "failed"


def _print_report(report: RefreshReport, as_json: bool) -> None:
    if as_json:
        print_json(report.as_json())
    elif not state.quiet:
        state.out.print(summary_line(report), markup=False, highlight=False)
    if not report.with_credentials and report.exit_code == 0 and not state.quiet:
        state.err.print(NEEDS_APP, markup=False)
    if report.exit_code:
        state.err.print(f"jitspot: {_why(report)}", markup=False, highlight=False)


def _why(report: RefreshReport) -> str:
    """The one-line reason a run did not end with exit 0, and what to do."""
    stopped = why_stopped(
        report.stopped_reason,
        report.not_before,
        report.left,
        "everything fetched is kept",
        error=report.error,
    )
    if stopped is not None:
        return stopped
    if report.error:
        return report.error
    return f"{report.failed} albums failed; run it again to retry them"
