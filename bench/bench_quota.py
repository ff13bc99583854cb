"""A nightly `refresh --missing` cron against Spotify's rolling daily quota, time compressed.

The development-mode app's case: the real sample workbook (every year, ~2,000
linked albums), the whole CLI in a subprocess, a fresh JITSPOT_HOME, against
the loopback Spotify double in development mode (batch lookups refused: one
call per album) with a true quota of Q `/v1` calls per rolling window W (oEmbed
and the token endpoint are not counted). A day is compressed to W seconds:

    JITSPOT_QUOTA_WINDOW=W
    JITSPOT_MAX_RETRY_AFTER=60 * margin(W)  (--max-retry-after)

A day's wait cap is 60 s against a ledger margin of 1 s (`quota.span_of`: a
second of a day, at least 0.05 s): a nightly run may follow the previous
night's calls out of the window for ~60 nights before the margin it adds each
night exceeds the cap and one night is lost. Scaling the cap with W (0.02 s)
but not the margin (its floor covers a loopback round trip) would lose a slot
every few windows, which a real day's scale does not; so the cap keeps the
day's ratio to the margin: 60 x 0.05 s = 3 s at W = 30 s.

`jitspot refresh --missing --json` runs at t0 + k*W (k = 0, 1, 2, ...; a run
that ends after its next slot is followed at once) until every linked album
has its metadata cached (`stats --json`), or --max-runs. Scenarios, each in its
own home and double:

- `below`: JITSPOT_DAILY_QUOTA = floor(0.95 Q) (jitspot configured below Spotify);
- `above`: JITSPOT_DAILY_QUOTA = 2 Q: the first run draws Spotify's QUOTA_EXCEEDED.

After the first run after which `stats --json` says the bulk share is spent
(bulk_left 0) while a single-album look-up may call now (no "not before" in
force, interactive calls left), one `jitspot show --id N --json` of an album
without metadata shows whether the reserve answers a look-up.

Printed per run as it ends, then per scenario: QUOTA_EXCEEDED drawn (goal: 0
in `below`; 1 in `above`'s first run, 0 later), covers after the first run
(goal 100 %), quota windows until all metadata was cached against the floor
ceil(calls / (Q * (1 - reserve))), where calls are the `/v1` calls the double
answered during the refresh runs, measured in the same run (goal <= 1.1x;
windows: from t0 to the end of the run that completed the metadata), and
whether the show was answered with metadata (goal: yes).

    python bench/bench_quota.py [--only below above] [--quota 300] [--window 30]
        [--latency 0.01] [--max-retry-after S] [--max-runs N] [--sheet XLSX]

Each scenario takes ~10 windows (~5 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_export_pacing import SAMPLE, jitspot, serve_sample
from spotify_double import SpotifyDouble

from jitspot.spotify.quota import span_of

SCENARIOS = ("below", "above")
RESERVE = 0.25  # JITSPOT_QUOTA_RESERVE, set explicitly so the floor uses the same share
DAY = 86_400.0


@dataclass
class Run:
    """One cron run of `refresh --missing` and what the double saw during it."""

    index: int
    slot: int
    started: float  # seconds since t0
    seconds: float
    exit_code: int
    report: dict[str, Any]
    answered: int  # /v1 calls the double answered (not refused)
    refusals: int  # QUOTA_EXCEEDED answered by the double
    metadata: int  # linked albums with metadata cached after the run
    linked: int
    covers: int  # linked albums with a cover cached after the run
    quota: dict[str, Any]  # `stats --json`'s quota object after the run


@dataclass
class Show:
    """The interactive look-up made while bulk work had spent its share."""

    after_run: int
    store_id: int
    answered: bool  # metadata from the Web API, tracks present
    source: str | None
    tracks: int
    calls: int
    refusals: int


@dataclass
class Figures:
    name: str
    configured: int
    runs: list[Run] = field(default_factory=list)
    show: Show | None = None
    complete: bool = False
    seconds: float = 0.0
    api_calls: int = 0
    oembed_calls: int = 0
    refusals: int = 0
    learned: int | None = None  # the budget a refusal taught jitspot


def cli_json(home: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = jitspot(home, env, *args, "--json")
    try:
        data: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"`jitspot {' '.join(args)}` exited {done.returncode}"
            f" with no JSON: {done.stderr.strip()[-2000:]}"
        ) from None
    return done.returncode, data


def stats_of(home: Path, env: dict[str, str]) -> tuple[dict[str, int], dict[str, Any]]:
    """`stats --json`: its albums' counts and its quota object."""
    code, stats = cli_json(home, env, "stats")
    if code != 0:
        raise SystemExit(f"stats exited {code}")
    albums: dict[str, int] = stats["albums"]
    quota: dict[str, Any] = stats["quota"]
    return albums, quota


def reserve_open(quota: dict[str, Any]) -> bool:
    """Bulk work has spent its share, and a single-album look-up may call now."""
    return (
        quota.get("bulk_left") == 0
        and bool(quota.get("interactive_left"))
        and quota.get("interactive_next_free_at") is None
    )


def why(report: dict[str, Any]) -> str:
    """What stopped a run, in a word or two."""
    error = str(report.get("error") or "")
    if report.get("stopped_reason") != "quota":
        return str(report.get("stopped_reason") or "-")
    if "QUOTA_EXCEEDED" in error and "no Web API call before" in error:
        return "not before"
    if "QUOTA_EXCEEDED" in error:
        return "refused"
    if "share for bulk work" in error:
        return "bulk share"
    return "quota"


def answered_calls(double: SpotifyDouble) -> int:
    """The /v1 calls the double answered with anything but a QUOTA_EXCEEDED."""
    return double.api_calls() - double.quota_refusals


def album_without_metadata(home: Path, env: dict[str, str]) -> int | None:
    """The store id of an album a `refresh --missing` would still fetch (a dry run: no call)."""
    code, plan = cli_json(home, env, "refresh", "--missing", "--dry-run")
    if code != 0:
        raise SystemExit(f"refresh --dry-run exited {code}")
    for album in plan.get("albums") or []:
        if album.get("state") in ("never fetched", "cover only"):
            return int(album["id"])
    return None


def interactive_show(
    double: SpotifyDouble, home: Path, env: dict[str, str], after_run: int
) -> Show | None:
    store_id = album_without_metadata(home, env)
    if store_id is None:
        return None
    calls, refusals = double.api_calls(), double.quota_refusals
    code, view = cli_json(home, env, "show", "--id", str(store_id))
    if code != 0:
        raise SystemExit(f"show exited {code}")
    spotify = view.get("spotify") or {}
    source = spotify.get("source")
    tracks = len(spotify.get("tracks") or [])
    return Show(
        after_run=after_run,
        store_id=store_id,
        answered=source == "api" and tracks > 0,
        source=source,
        tracks=tracks,
        calls=double.api_calls() - calls,
        refusals=double.quota_refusals - refusals,
    )


def new_home(double: SpotifyDouble, tmp: str, sheet: Path, env: dict[str, str]) -> Path:
    """A fresh home with `sheet` imported, the double serving every linked album."""
    home = Path(tmp) / "home"
    imported = jitspot(home, env, "import", str(sheet))
    if imported.returncode != 0:
        raise SystemExit(imported.stderr)
    serve_sample(double, home, None)
    return home


def print_run(run: Run) -> None:
    r = run.report
    print(
        f"  {run.index:>3} {run.slot:>4} {run.started:>7.1f} {run.seconds:>6.1f}"
        f" {run.exit_code:>4} {why(r):<10}"
        f" {r.get('refreshed', 0):>5} {r.get('left', 0):>5} {r.get('covers', 0):>6}"
        f" {run.answered:>6} {run.refusals:>5}"
        f" {run.metadata:>5}/{run.linked:<5}",
        flush=True,
    )


def run_scenario(
    name: str,
    sheet: Path,
    quota: int,
    window: float,
    latency: float,
    max_retry_after: float,
    max_runs: int | None,
) -> Figures:
    configured = math.floor(0.95 * quota) if name == "below" else 2 * quota
    figures = Figures(name, configured)
    with SpotifyDouble(mode="development") as double, tempfile.TemporaryDirectory() as tmp:
        env = {
            **double.env(),
            "JITSPOT_DAILY_QUOTA": str(configured),
            "JITSPOT_QUOTA_WINDOW": str(window),
            "JITSPOT_QUOTA_RESERVE": str(RESERVE),
            "JITSPOT_MAX_RETRY_AFTER": str(max_retry_after),
        }
        home = new_home(double, tmp, sheet, env)
        distinct = len(double.album_ids())
        cap = max_runs or 2 * math.ceil((distinct + 1) / (quota * (1 - RESERVE))) + 3
        double.delay(latency)
        double.quota_limit(quota, window)
        print(
            f"{name}: JITSPOT_DAILY_QUOTA={configured} (Spotify's: {quota} per {window:g} s),"
            f" {distinct} distinct linked albums served, at most {cap} runs",
            flush=True,
        )
        print(
            "  run slot   start   secs exit stopped    done  left covers"
            "   /v1 refus  metadata/linked",
            flush=True,
        )
        t0 = time.monotonic()
        slot = 0
        for index in range(cap):
            wait = t0 + slot * window - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            started = time.monotonic()
            answered, refusals = answered_calls(double), double.quota_refusals
            code, report = cli_json(home, env, "refresh", "--missing")
            if code not in (0, 75):
                raise SystemExit(f"{name}: refresh exited {code}: {report}")
            ended = time.monotonic()
            albums, quota_after = stats_of(home, env)
            run = Run(
                index=index,
                slot=slot,
                started=started - t0,
                seconds=ended - started,
                exit_code=code,
                report=report,
                answered=answered_calls(double) - answered,
                refusals=double.quota_refusals - refusals,
                metadata=albums["metadata_cached"],
                linked=albums["with_spotify_link"],
                covers=albums["cover_cached"],
                quota=quota_after,
            )
            figures.runs.append(run)
            print_run(run)
            figures.complete = run.metadata >= run.linked or (code == 0 and report.get("left") == 0)
            if figures.complete:
                break
            if figures.show is None and reserve_open(quota_after):
                # Bulk work has spent its share; the reserve is left for look-ups.
                figures.show = interactive_show(double, home, env, index)
                if figures.show is not None:
                    s = figures.show
                    print(
                        f"  show --id {s.store_id} after run {index}: source={s.source},"
                        f" {s.tracks} tracks, {s.calls} /v1 calls, {s.refusals} refusals",
                        flush=True,
                    )
            # The next slot, or at once when this run ended after it.
            slot = max(slot + 1, math.floor((time.monotonic() - t0) / window))
        figures.seconds = time.monotonic() - t0
        figures.api_calls = double.api_calls()
        figures.oembed_calls = double.count("oembed")
        figures.refusals = double.quota_refusals
        learned = figures.runs[-1].quota.get("learned")
        figures.learned = learned if isinstance(learned, int) else None
    return figures


def summary(f: Figures, quota: int, window: float) -> dict[str, str]:
    runs = f.runs
    calls = sum(r.answered for r in runs)  # the refresh runs' answered /v1 calls
    floor = math.ceil(calls / (quota * (1 - RESERVE))) if calls else 0
    # Windows elapsed until the completing run ended (its slot's, when it ended in it).
    last = runs[-1]
    windows = math.floor((last.started + last.seconds) / window) + 1 if f.complete else None
    first = runs[0]
    covers = first.covers / first.linked if first.linked else 0.0
    later = sum(r.refusals for r in runs[1:])
    show = f.show
    return {
        "scenario": f.name,
        "config": str(f.configured),
        "refusals": str(f.refusals),
        "learned": "-" if f.learned is None else str(f.learned),
        "run0/later": f"{first.refusals}/{later}",
        "covers@1": f"{covers:.1%}",
        "runs": str(len(runs)),
        "windows": str(windows) if windows is not None else f">{last.slot + 1}",
        "floor": str(floor),
        "ratio": f"{windows / floor:.2f}" if windows is not None and floor else "-",
        "show": "-" if show is None else ("yes" if show.answered else "no"),
        "/v1": str(f.api_calls),
        "refresh /v1": str(calls),
        "oEmbed": str(f.oembed_calls),
        "seconds": f"{f.seconds:.0f}",
    }


def goals(f: Figures, row: dict[str, str]) -> list[str]:
    """The goals this scenario missed, in words."""
    missed: list[str] = []
    if f.name == "below" and f.refusals:
        missed.append(f"{f.refusals} QUOTA_EXCEEDED (goal 0)")
    if f.name == "above":
        first = f.runs[0].refusals
        later = sum(r.refusals for r in f.runs[1:]) + (f.show.refusals if f.show else 0)
        if first != 1 or later:
            missed.append(f"QUOTA_EXCEEDED {first} in run 0, {later} later (goal 1, then 0)")
    if row["covers@1"] != "100.0%":
        missed.append(f"covers after the first run {row['covers@1']} (goal 100 %)")
    if not f.complete:
        missed.append("metadata not complete within the run cap")
    elif row["ratio"] != "-" and float(row["ratio"]) > 1.1:
        missed.append(f"windows/floor {row['ratio']} (goal <= 1.1)")
    if f.show is None:
        missed.append("no show made (no run stopped on the bulk share with metadata missing)")
    elif not f.show.answered:
        missed.append("the show was not answered with metadata")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--sheet", type=Path, default=SAMPLE)
    parser.add_argument("--quota", type=int, default=300, help="Spotify's calls per window (Q)")
    parser.add_argument("--window", type=float, default=30.0, help="the compressed day (W), s")
    parser.add_argument("--latency", type=float, default=0.01, help="the double's answer time")
    parser.add_argument(
        "--max-retry-after",
        type=float,
        default=None,
        help="JITSPOT_MAX_RETRY_AFTER (default: 60 x the ledger's margin at W, as in a day)",
    )
    parser.add_argument("--max-runs", type=int, default=None, help="safety cap on cron runs")
    args = parser.parse_args()
    if not args.sheet.is_file():
        raise SystemExit(f"the sample workbook is not at {args.sheet}: give --sheet XLSX")
    window: float = args.window
    max_retry_after = (
        args.max_retry_after
        if args.max_retry_after is not None
        else 60.0 * (span_of(window) - window)
    )
    print(
        f"Spotify double, development mode, quota Q={args.quota} /v1 calls per {window:g} s"
        f" (a compressed day); JITSPOT_QUOTA_WINDOW={window:g},"
        f" JITSPOT_MAX_RETRY_AFTER={max_retry_after:g}, reserve {RESERVE:g};"
        f" double latency {args.latency:g} s.\n"
        "Baseline: floor = ceil(refresh /v1 calls answered / (Q x (1 - reserve))), the"
        " fewest windows the bulk share of Spotify's true quota allows for the calls this"
        " run measured; windows = compressed days from t0 to the end of the run that"
        " completed the metadata.",
        flush=True,
    )
    rows: list[dict[str, str]] = []
    notes: list[str] = []
    for name in args.only:
        f = run_scenario(
            name,
            args.sheet,
            args.quota,
            window,
            args.latency,
            max_retry_after,
            args.max_runs,
        )
        row = summary(f, args.quota, window)
        rows.append(row)
        missed = goals(f, row)
        notes.append(f"{name}: " + ("all goals met" if not missed else "; ".join(missed)))
    print()
    widths = {key: max(len(key), *(len(r[key]) for r in rows)) for key in rows[0]}
    print(" ".join(f"{key:>{widths[key]}}" for key in widths))
    for row in rows:
        print(" ".join(f"{row[key]:>{widths[key]}}" for key in widths))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
