"""Pacing against rolling limits: calls, 429s drawn, seconds, and the floor the limit implies.

Runs jitspot's real resolver (real time, real HTTP) against the loopback
Spotify double in development mode (one call per album and per artist), with
a rolling limit answering Retry-After as its window implies. Each scenario
starts from an empty JITSPOT_HOME (no learned rate: the default start).

    python bench/bench_pacing.py [--only NAME ...] [--latency 0.05]

Scenarios: `above` (40 / 5 s, ~300 calls), `below` (10 / 5 s, ~120 calls),
`two` (two processes at once, 20 / 5 s, ~160 calls together), `none` (no
limit, ~1,300 calls: bound by concurrency x latency), `old` (90 / 30 s, the
old budget's own limit, ~1,300 calls: takes 7+ minutes, not run by default).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from spotify_double import SpotifyDouble

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Policy
from jitspot.catalog.resolver import Resolver
from jitspot.settings import load_settings
from jitspot.store import open_store


@dataclass(frozen=True)
class Scenario:
    name: str
    limit: tuple[int, float] | None  # (calls, window seconds)
    albums: int
    artists: int
    processes: int = 1


SCENARIOS = [
    Scenario("above", (40, 5.0), 260, 40),
    Scenario("below", (10, 5.0), 100, 20),
    Scenario("two", (20, 5.0), 140, 20, processes=2),
    Scenario("none", None, 710, 590),
    Scenario("old", (90, 30.0), 710, 590),
]
DEFAULT = ["above", "below", "two", "none"]


def resolve(home: Path, env: dict[str, str], ids: list[str]) -> None:
    """One resolve in `home`, like one `jitspot export` run."""
    settings = load_settings(home, env={"JITSPOT_HOME": str(home), **env})
    with open_store(settings.store_path) as store:
        cache = SpotifyCache(settings.cache_dir, store)
        result = Resolver(store, cache, settings).resolve(ids, Policy.MISSING)
        cache.close()
    if result.error is not None:
        raise SystemExit(f"resolve failed: {result.error}")


def run(scenario: Scenario, latency: float) -> dict[str, float]:
    with SpotifyDouble(mode="development") as double, tempfile.TemporaryDirectory() as tmp:
        ids = double.populate(scenario.albums, scenario.artists)
        double.delay(latency)
        if scenario.limit is not None:
            double.rolling_limit(*scenario.limit)
        home = Path(tmp) / "home"
        env = double.env()
        started = time.perf_counter()
        if scenario.processes == 1:
            resolve(home, env, ids)
        else:
            share = math.ceil(len(ids) / scenario.processes)
            children = [
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(home),
                        json.dumps(ids[i : i + share]),
                    ],
                    env={"PATH": "", **env},
                )
                for i in range(0, len(ids), share)
            ]
            if any(child.wait() != 0 for child in children):
                raise SystemExit("a child process failed")
        seconds = time.perf_counter() - started
        calls = double.api_calls()
        limited = double.count(status=429)
        ok = calls - limited
        figures: dict[str, float] = {"calls": calls, "429s": limited, "seconds": seconds}
        if scenario.limit is not None:
            count, window = scenario.limit
            figures["floor"] = ok / (count / window)
        else:
            # No limit: the floor is the workers' own: calls x latency / concurrency.
            figures["floor"] = ok * latency / load_settings(home, env={}).concurrency
        figures["ratio"] = seconds / figures["floor"]
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=DEFAULT, choices=[s.name for s in SCENARIOS])
    parser.add_argument("--latency", type=float, default=0.05, help="the double's answer time")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        home, ids = args.child
        env = {
            k: v
            for k, v in __import__("os").environ.items()
            if k.startswith(("JITSPOT", "SPOTIPY"))
        }
        resolve(Path(home), env, json.loads(ids))
        return
    print(f"{'scenario':<40} {'calls':>6} {'429s':>5} {'seconds':>8} {'floor':>7} {'ratio':>6}")
    for scenario in SCENARIOS:
        if scenario.name not in args.only:
            continue
        f = run(scenario, args.latency)
        limit = f"{scenario.limit[0]} / {scenario.limit[1]:g} s" if scenario.limit else "no limit"
        label = f"{scenario.name}: {limit}, {scenario.processes} process(es)"
        print(
            f"{label:<40} {f['calls']:>6.0f} {f['429s']:>5.0f} {f['seconds']:>8.1f}"
            f" {f['floor']:>7.1f} {f['ratio']:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
