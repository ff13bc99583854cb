"""The stats as a node_exporter textfile (`stats --prometheus PATH`, `refresh --prometheus PATH`).

prometheus_client builds the exposition (its registry, metric families and
`write_to_textfile`, which writes a temporary file beside PATH and renames it
over PATH, so a collector never reads half a file). It is imported only here,
only when a textfile is asked for.

Names follow Prometheus' conventions: base units (seconds, bytes), counters
end in `_total`, timestamps are `*_timestamp_seconds` gauges, no sample
timestamps. For batch jobs the key series is the last success's time; series
jitspot knows of are written as 0 rather than left out, so alerts on them
never see "no data".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from jitspot.errors import OutputNotWritable
from jitspot.jobs.stats import AGE_BINS, Stats, timestamp
from jitspot.model import Kind

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

# Endpoints always written (0 when unused): what jitspot can call.
ENDPOINTS = (
    "album",
    "album_tracks",
    "albums_batch",
    "artist",
    "artists_batch",
    "oembed",
    "search",
)
AGE_LABELS = {"< 1 d": "1d", "< 7 d": "7d", "< 30 d": "30d", "older": "older"}
REFRESH_OUTCOMES = ("refreshed", "not_found", "failed", "skipped", "up_to_date", "left")


def families(stats: Stats) -> Iterator[Metric]:
    """Every metric of the textfile, built from one `Stats`."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def gauge(name: str, doc: str, value: float | None = None, labels: Any = None) -> Any:
        return GaugeMetricFamily(f"jitspot_{name}", doc, value=value, labels=labels)

    def counter(name: str, doc: str, value: float | None = None, labels: Any = None) -> Any:
        return CounterMetricFamily(f"jitspot_{name}", doc, value=value, labels=labels)

    albums = gauge("albums", "Albums in the store by cache state.", labels=["state"])
    for state, count in asdict(stats.albums).items():
        albums.add_metric([state], count)
    yield albums

    cache = stats.cache
    yield counter(
        "cache_hits", "Album lookups answered from the cache (stale included).", cache.hits
    )
    yield counter("cache_misses", "Album lookups that needed a request to Spotify.", cache.misses)
    yield counter(
        "cache_stale_hits", "Lookups answered with an entry past its lifetime.", cache.stale_hits
    )
    entries = gauge("cache_entries", "Entries in the Spotify cache by kind.", labels=["kind"])
    for kind in get_args(Kind):  # every kind the cache holds, 0 when it holds none
        entries.add_metric([kind], stats.entries_by_kind.get(kind, 0))
    yield entries
    ages = gauge(
        "cache_entries_by_age", "Cached entries by age bin (1d: under a day).", labels=["age"]
    )
    counts = dict(stats.ages)
    for label, _ in AGE_BINS:
        ages.add_metric([AGE_LABELS[label]], counts.get(label, 0))
    yield ages
    yield gauge("cache_size_bytes", "Bytes of the Spotify cache on disk.", stats.cache_bytes)
    yield gauge("store_size_bytes", "Bytes of the SQLite store on disk.", stats.store_bytes)

    api = stats.api
    requests = counter(
        "api_requests",
        "Requests sent to the Web API and oEmbed, whatever the answer.",
        labels=["endpoint"],
    )
    for endpoint in sorted(set(ENDPOINTS) | set(api.by_endpoint)):
        requests.add_metric([endpoint], api.by_endpoint.get(endpoint, 0))
    yield requests
    yield counter("api_token_requests", "Access tokens requested.", api.token_requests)
    yield counter(
        "api_retries", "Requests tried again (429 within the cap, 5xx, timeouts).", api.retries
    )
    yield counter(
        "api_rate_limited_responses", "429 answers from Spotify.", api.rate_limited_responses
    )
    yield counter("api_backoff_seconds", "Seconds waited before retries.", api.backoff_seconds)
    yield counter(
        "api_pacing_wait_seconds",
        "Seconds the pacer waited to keep the rate.",
        api.pacing_wait_seconds,
    )
    saved = counter(
        "api_calls_saved", "Calls not made thanks to the cache or batching.", labels=["by"]
    )
    saved.add_metric(["cache"], api.saved_by_cache)
    saved.add_metric(["batching"], api.saved_by_batching)
    yield saved
    yield gauge("rate_requests_per_second", "The request rate pacing allows now.", api.rate)
    yield gauge(
        "rate_learned", "1 when the rate was learned from Spotify's 429s.", int(api.rate_learned)
    )
    yield gauge(
        "rate_limited_until_seconds",
        "Unix time before which Spotify must not be called (0: not rate-limited).",
        api.rate_limited_until or 0,
    )

    yield from _quota(stats, gauge, counter)
    yield from _runs(stats, gauge)


def _quota(stats: Stats, gauge: Any, counter: Any) -> Iterator[Metric]:
    quota = stats.quota
    budget = math.inf if quota.budget is None else quota.budget
    yield gauge(
        "quota_budget_calls",
        "Web API calls allowed per quota window (+Inf: no budget known).",
        budget,
    )
    yield gauge("quota_used_calls", "Web API calls in the current quota window.", quota.used)
    yield gauge(
        "quota_bulk_left_calls",
        "Calls bulk work may still make in the window (+Inf: no budget).",
        math.inf if quota.bulk_left is None else quota.bulk_left,
    )
    yield gauge("quota_window_seconds", "Length of the rolling quota window.", quota.window_seconds)
    free = quota.next_free_at
    yield gauge(
        "quota_next_free_timestamp_seconds",
        "Unix time bulk work may call again (0: now).",
        0 if free is None or math.isinf(free) else free,
    )
    yield counter(
        "quota_exceeded",
        "QUOTA_EXCEEDED refusals drawn from Spotify.",
        quota.exceeded_total,
    )


def _runs(stats: Stats, gauge: Any) -> Iterator[Metric]:
    refresh = stats.last_refresh or {}
    yield gauge(
        "refresh_last_success_timestamp_seconds",
        "Unix time the last refresh that exited 0 ended (0: never).",
        timestamp(refresh.get("last_success_at")) or 0,
    )
    yield gauge(
        "refresh_last_run_timestamp_seconds",
        "Unix time the last refresh started (0: never).",
        timestamp(refresh.get("started_at")) or 0,
    )
    running = bool(refresh.get("running"))
    yield gauge(
        "refresh_running",
        "1 while a refresh runs (it holds the home's lock).",
        int(running),
    )
    exit_code = refresh.get("exit_code")
    last_exit = gauge(
        "refresh_last_exit_code",
        "Exit code of the last refresh (-1: it never ended, e.g. killed; 0 also when none ran;"
        " no sample while one runs).",
    )
    if not running:
        last_exit.add_metric([], -1 if refresh and exit_code is None else (exit_code or 0))
    yield last_exit
    yield gauge(
        "refresh_last_duration_seconds",
        "How long the last refresh ran.",
        refresh.get("seconds") or 0,
    )
    yield gauge(
        "refresh_last_api_requests",
        "Requests the last refresh sent.",
        refresh.get("api_calls") or 0,
    )
    outcomes = gauge(
        "refresh_last_albums", "Albums of the last refresh by outcome.", labels=["outcome"]
    )
    for outcome in REFRESH_OUTCOMES:
        outcomes.add_metric([outcome], refresh.get(outcome) or 0)
    yield outcomes
    stopped = gauge(
        "refresh_last_stopped",
        "1 for the reason the last refresh stopped early.",
        labels=["reason"],
    )
    for reason in ("rate_limited", "quota", "max_time", "signal"):
        stopped.add_metric([reason], int(refresh.get("stopped_reason") == reason))
    yield stopped
    imported = stats.last_import or {}
    yield gauge(
        "import_last_success_timestamp_seconds",
        "Unix time the last import ended (0: never).",
        timestamp(imported.get("finished_at")) or 0,
    )
    yield gauge("import_last_rows", "Album rows the last import read.", imported.get("rows") or 0)


def write_textfile(stats: Stats, path: Path) -> None:
    """Write the textfile atomically (a temporary file in PATH's directory, then rename)."""
    from prometheus_client import CollectorRegistry, write_to_textfile

    from jitspot.files import check_writable

    check_writable(path)

    class _Collector:
        def collect(self) -> Iterator[Metric]:
            return families(stats)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write {path}: {exc.strerror or exc}") from None
