"""A whole-catalog refresh in extended mode: artists along with each round of albums.

Issue 19 (item 6) makes a refresh fetch each round's artists right after its
albums, so that a kill keeps them. This checks what the rounds cost: the real
sample workbook (every year) imported into a fresh home, the loopback double in
extended mode (album batches of 20, artist batches of 50) answering each call
after --latency seconds, `jitspot refresh --all` as a subprocess with
JITSPOT_CONCURRENCY=4; the same run on --before REV (a temporary git worktree),
interleaved, --runs times. Printed: seconds, album and artist calls, and the
ratio now / before of the median times (1.00: the rounds cost nothing).

    python bench/bench_artists_along.py [--before a333465] [--runs 2] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_export_pacing import SAMPLE, jitspot, sample_home  # noqa: E402
from spotify_double import SpotifyDouble  # noqa: E402


def refresh(code: Path, latency: float) -> tuple[float, int, int, int]:
    """Seconds, album calls, artist calls and albums refreshed, with the jitspot at `code`."""
    with SpotifyDouble(mode="extended") as double, tempfile.TemporaryDirectory() as tmp:
        home, env, _ = sample_home(double, tmp, SAMPLE, latency, year=None)
        env = {**env, "PYTHONPATH": str(code), "JITSPOT_CONCURRENCY": "4"}
        started = time.perf_counter()
        done = jitspot(home, env, "refresh", "--all", "--json")
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"refresh exited {done.returncode}: {done.stderr}")
        refreshed = int(json.loads(done.stdout)["refreshed"])
        return seconds, double.count("albums_batch"), double.count("artists_batch"), refreshed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="a333465", help="the revision to compare with")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"before": [], "now": []}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", str(tree), args.before], check=True
        )
        try:
            for _ in range(args.runs):
                for label, code in (("before", tree), ("now", ROOT)):
                    seconds, albums, artists, refreshed = refresh(code, args.latency)
                    times[label].append(seconds)
                    print(
                        f"{label:6} {seconds:6.1f} s  album calls {albums}  artist calls {artists}"
                        f"  albums refreshed {refreshed}",
                        flush=True,
                    )
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])
    ratio = statistics.median(times["now"]) / statistics.median(times["before"])
    print(f"now / {args.before}: {ratio:.2f} (median of {args.runs})")


if __name__ == "__main__":
    main()
