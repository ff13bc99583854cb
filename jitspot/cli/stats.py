"""`jitspot stats`: the morning screen of a curator, and the metrics of a cron monitor."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jitspot.cli.app import app, print_json, state
from jitspot.cli.options import JsonOpt, PrometheusOpt

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from jitspot.jobs.stats import Effectiveness, Stats


class ByOpt(StrEnum):
    tab = "tab"
    year = "year"


@app.command("stats")
def stats_command(
    by: Annotated[
        ByOpt | None, typer.Option("--by", help="Break the coverage down by tab or year.")
    ] = None,
    prometheus: PrometheusOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How well the cache does: coverage, hits and misses, API calls, freshness, sizes, runs.

    A hit is an album lookup of show/export answered from the cache without a
    request (a stale entry served is a hit, also counted as a stale hit); a
    miss needed a request. Offline lookups (--offline, list) could not call and
    are not counted. API calls are every request sent to the Web API or oEmbed,
    whatever the answer (429s, 5xx and 401s too); token requests apart. Calls
    saved: lookups the cache answered, and calls batching spared (one per album
    and per artist, minus the batch calls). Never calls Spotify, changes nothing.
    """
    from jitspot.jobs.stats import gather

    stats = gather(state.get_store(), state.get_settings(), by=by.value if by else None)
    if prometheus is not None:
        from jitspot.render.prometheus import write_textfile

        write_textfile(stats, prometheus)
    if as_json:
        print_json(stats.as_json())
        return
    for number, part in enumerate(screen(stats)):
        if number:
            state.out.print()
        state.out.print(part)


# -- the screen ----------------------------------------------------------------------------

BAR_WIDTH = 30


def screen(stats: Stats) -> list[RenderableType]:
    """The terminal page: readable at 80 columns; the same text when piped."""
    parts: list[RenderableType] = [_coverage(stats)]
    if stats.by is not None:
        parts.append(_breakdown(stats))
    parts += [_cache(stats), _ages(stats), _api(stats), _quota(stats), _runs(stats)]
    return parts


def _table(title: str, *columns: str) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_header=bool(columns),
        show_edge=False,
        pad_edge=False,
    )
    for column in columns:
        table.add_column(column)
    return table


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _coverage(stats: Stats) -> Table:
    c = stats.albums
    table = _table("Catalog", "", "albums", "share")
    table.columns[0].justify = "left"
    for column in table.columns[1:]:
        column.justify = "right"
    linked = c.with_spotify_link
    rows = [
        ("in the store", c.total, ""),
        ("with a Spotify link", linked, _share(linked, c.total)),
        ("  of them found by match", c.matched, _share(c.matched, linked)),
        ("cover cached", c.cover_cached, _share(c.cover_cached, linked)),
        ("metadata cached", c.metadata_cached, _share(c.metadata_cached, linked)),
        ("not found on Spotify", c.not_found, _share(c.not_found, linked)),
        ("stale (past the lifetime)", c.stale, _share(c.stale, linked)),
        ("never fetched", c.never_fetched, _share(c.never_fetched, linked)),
        ("no link, match to review", c.match_review, ""),
    ]
    for label, count, share in rows:
        table.add_row(label, _n(count), share)
    table.caption = "shares of the albums with a link" if linked else None
    table.caption_justify = "left"
    return table


def _breakdown(stats: Stats) -> Table:
    assert stats.by is not None
    table = _table(
        f"By {stats.by_kind}",
        stats.by_kind or "",
        "albums",
        "linked",
        "covers",
        "meta",
        "n/f",
        "never",
    )
    for column in table.columns[1:]:
        column.justify = "right"
    for key, c in stats.by.items():
        table.add_row(
            key,
            _n(c.total),
            _n(c.with_spotify_link),
            _n(c.cover_cached),
            _n(c.metadata_cached),
            _n(c.not_found),
            _n(c.never_fetched),
        )
    return table


def _rate(e: Effectiveness) -> str:
    return "–" if e.hit_rate is None else f"{e.hit_rate:.1%}"


def _cache(stats: Stats) -> Table:
    table = _table("Cache", "", "all time", "last show", "last export")
    for column in table.columns[1:]:
        column.justify = "right"
    runs = [stats.cache, stats.last_runs["show"], stats.last_runs["export"]]
    table.add_row("hits", *(_n(e.hits) for e in runs))
    table.add_row("misses", *(_n(e.misses) for e in runs))
    table.add_row("stale hits", *(_n(e.stale_hits) for e in runs))
    table.add_row("hit rate", *(_rate(e) for e in runs))
    kinds = " · ".join(f"{kind} {_n(n)}" for kind, n in stats.entries_by_kind.items())
    table.caption = (
        f"{_n(stats.cache_entries)} entries ({kinds or 'none'}), {_bytes(stats.cache_bytes)};"
        f" store {_bytes(stats.store_bytes)}"
    )
    table.caption_justify = "left"
    return table


def _ages(stats: Stats) -> Table:
    table = _table("Age of cached entries")
    table.add_column("age")
    table.add_column("entries", justify="right")
    table.add_column("")
    top = max((n for _, n in stats.ages), default=0)
    for label, count in stats.ages:
        width = round(BAR_WIDTH * count / top) if top else 0
        table.add_row(label, _n(count), "█" * width)
    return table


def _api(stats: Stats) -> Table:
    api = stats.api
    table = _table("Spotify API")
    table.add_column("")
    table.add_column("")
    endpoints = " · ".join(f"{name} {_n(n)}" for name, n in api.by_endpoint.items())
    table.add_row("requests", f"{_n(api.calls)}" + (f" ({endpoints})" if endpoints else ""))
    table.add_row("token requests", _n(api.token_requests))
    table.add_row(
        "retries, 429s",
        f"{_n(api.retries)} retries, {_n(api.rate_limited_responses)} × 429",
    )
    table.add_row(
        "waited",
        f"{api.backoff_seconds:,.0f} s before retries, {api.pacing_wait_seconds:,.0f} s pacing",
    )
    how = "learned from Spotify's 429s" if api.rate_learned else "start rate, nothing learned yet"
    table.add_row("rate", f"{api.rate:.1f} requests/s ({how})")
    if api.rate_limited_until is not None:
        table.add_row("rate-limited until", _when(api.rate_limited_until))
    table.add_row(
        "calls saved",
        f"{_n(api.saved_by_cache)} by the cache, {_n(api.saved_by_batching)} by batching",
    )
    return table


def _quota(stats: Stats) -> Table:
    """The daily quota: used, left for bulk work and for look-ups, the next free call."""
    from jitspot.timetext import window_text

    quota = stats.quota
    table = _table(f"Daily quota (rolling {window_text(quota.window_seconds)})")
    table.add_column("")
    table.add_column("", overflow="fold")
    if quota.mode.value == "none":
        table.add_row("budget", "none used: no Spotify app, covers come from oEmbed (no quota)")
    elif quota.budget is None:
        table.add_row("budget", "none (an extended app: no refusal has taught one)")
    else:
        if quota.learned is not None and quota.learned == quota.budget:
            source = "learned from Spotify's refusal"
        elif quota.configured is not None:
            source = "JITSPOT_DAILY_QUOTA"
        elif quota.mode.value == "unknown":
            source = "the default while the app's mode is not known"
        else:
            source = f"the default for a {quota.mode.value}-mode app"
        table.add_row("budget", f"{_n(quota.budget)} calls ({source})")
        reserve = quota.budget - (quota.bulk_per_window or 0)
        table.add_row(
            "used", f"{_n(quota.used)} ({_share(quota.used, quota.budget)} of the budget)"
        )
        table.add_row(
            "left",
            f"{_n(quota.bulk_left or 0)} for bulk work, {_n(quota.interactive_left or 0)} with"
            f" the reserve of {_n(reserve)} for single-album look-ups",
        )
    if quota.next_free_at is not None:
        free = quota.next_free_at
        table.add_row(
            "bulk work may call",
            "never (no share)" if free == float("inf") else f"at {_when(free)}",
        )
    table.add_row("QUOTA_EXCEEDED", f"{_n(quota.exceeded_total)} refusals drawn")
    return table


def _runs(stats: Stats) -> Table:
    from jitspot.jobs.stats import ago, timestamp

    table = _table("Runs")
    table.add_column("")
    table.add_column("", overflow="fold")
    imported = stats.last_import
    if imported is None:
        table.add_row("last import", "never")
    else:
        when = timestamp(imported.get("finished_at"))
        table.add_row(
            "last import",
            f"{ago(when, stats.now)} ({_when(when)}): {_n(imported.get('rows') or 0)} rows,"
            f" {_n(imported.get('added') or 0)} added, {_n(imported.get('updated') or 0)} updated,"
            f" {_n(imported.get('removed') or 0)} removed — {imported.get('source', '?')}",
        )
    refresh = stats.last_refresh
    if refresh is None:
        table.add_row("last refresh", "never")
    else:
        table.add_row("last refresh", _refresh_text(refresh, stats.now))
        success = timestamp(refresh.get("last_success_at"))
        table.add_row(
            "last success",
            f"{ago(success, stats.now)}" + (f" ({_when(success)})" if success else ""),
        )
    return table


def _refresh_text(refresh: dict[str, Any], now: float) -> str:
    from jitspot.jobs.stats import ago, timestamp

    started = timestamp(refresh.get("started_at"))
    if refresh.get("state") == "running":
        pid = refresh.get("pid")
        return f"running since {_when(started)} (pid {pid}), started {ago(started, now)}"
    code = refresh.get("exit_code")
    if code is None:
        outcome = "did not end (killed?)"
    elif code == 0:
        outcome = "exit 0"
    else:
        reason = refresh.get("stopped_reason")
        outcome = f"exit {code}" + (f", stopped: {reason}" if reason else "")
    counts = (
        f"{_n(refresh.get('refreshed') or 0)} refreshed, {_n(refresh.get('failed') or 0)} failed,"
        f" {_n(refresh.get('left') or 0)} left of {_n(refresh.get('selected') or 0)};"
        f" {_n(refresh.get('api_calls') or 0)} calls in {float(refresh.get('seconds') or 0):.0f} s"
    )
    return f"{ago(started, now)} ({_when(started)}): {outcome}; {counts}"


def _when(when: float | None) -> str:
    if when is None:
        return "–"
    return datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M")


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"
