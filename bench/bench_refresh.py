"""`jitspot refresh --year 2019`, development mode, against Spotify's rolling limit.

The cron job of issue 9, run as cron runs it: the whole CLI in a subprocess,
a fresh JITSPOT_HOME with the sample workbook imported, against the loopback
Spotify double in development mode (one call per album and per artist) with a
rolling limit of 90 calls per 30 s (3/s). Printed: calls, 429s, seconds, and
the time as a ratio of the shortest the limit allows for the calls it made
(calls / 3 per s, from the same run): 1.00 would be the limit's full rate.

Scenarios:
- `whole`: one run, `refresh --year 2019`;
- `resumed`: `refresh --year 2019 --max-time 120` (stops early, exit 75), then
  `refresh --year 2019 --missing`: the two runs' calls together against `whole`'s
  show that a stopped run is resumed without redoing what it finished.

    python bench/bench_refresh.py [--only whole resumed] [--sheet XLSX] [--year 2019]

Each scenario takes ~7 minutes by nature (~1,200 calls at 3/s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_export_pacing import SAMPLE, jitspot, sample_home
from spotify_double import SpotifyDouble

LIMIT_CALLS, LIMIT_WINDOW = 90, 30.0
SCENARIOS = ("whole", "resumed")


def refresh(home: Path, env: dict[str, str], *args: str) -> tuple[dict[str, object], float]:
    started = time.perf_counter()
    done = jitspot(home, env, "refresh", *args, "--json")
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 75):
        raise SystemExit(f"refresh exited {done.returncode}: {done.stderr}")
    report: dict[str, object] = json.loads(done.stdout)
    return report, seconds


def run(name: str, sheet: Path, year: int, latency: float) -> dict[str, float]:
    with SpotifyDouble(mode="development") as double, tempfile.TemporaryDirectory() as tmp:
        home, env, _ = sample_home(double, tmp, sheet, latency, year)
        double.rolling_limit(LIMIT_CALLS, LIMIT_WINDOW)
        year_opt = ("--year", str(year))
        if name == "whole":
            report, seconds = refresh(home, env, *year_opt)
            runs = 1
        else:
            first, seconds = refresh(home, env, *year_opt, "--max-time", "120")
            if first["stopped_reason"] != "max_time":
                raise SystemExit(f"the first run did not stop at --max-time: {first}")
            report, more = refresh(home, env, *year_opt, "--missing")
            seconds += more
            runs = 2
        calls = double.api_calls()
        return {
            "runs": runs,
            "refreshed": float(str(report["refreshed"])) + float(str(report["up_to_date"])),
            "calls": calls,
            "429s": double.count(status=429),
            "seconds": seconds,
            "vs_limit": seconds / (calls / (LIMIT_CALLS / LIMIT_WINDOW)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--sheet", type=Path, default=SAMPLE)
    parser.add_argument("--year", type=int, default=2019)
    parser.add_argument("--latency", type=float, default=0.05, help="the double's answer time")
    args = parser.parse_args()
    if not args.sheet.is_file():
        raise SystemExit(f"the sample workbook is not at {args.sheet}: give --sheet XLSX")
    print(
        f"{'scenario':<9} {'runs':>4} {'albums':>6} {'calls':>6} {'429s':>5}"
        f" {'seconds':>8} {'time / limit':>12}"
    )
    for name in args.only:
        f = run(name, args.sheet, args.year, args.latency)
        print(
            f"{name:<9} {f['runs']:>4.0f} {f['refreshed']:>6.0f} {f['calls']:>6.0f}"
            f" {f['429s']:>5.0f} {f['seconds']:>8.1f} {f['vs_limit']:>12.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
