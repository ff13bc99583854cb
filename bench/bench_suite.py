"""How long the test suite takes, against an earlier revision in the same run.

    python bench/bench_suite.py --before d6b40dd --runs 2

The earlier revision is checked out in a temporary git worktree and its tests run
with this checkout's venv (PYTHONPATH puts that tree's `jitspot` first, for the
test process and the subprocesses it starts). Runs alternate, before then now, so
that a busy spell of the machine falls on both; the figure is now / before of the
median wall times. Both trees' suites must pass: a failing run is not a timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def suite_seconds(tree: Path) -> tuple[float, str]:
    """Wall time of one whole `pytest` run in `tree`, and its last line."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    if done.returncode != 0:
        raise SystemExit(f"the suite failed in {tree}: {last}")
    return seconds, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="d6b40dd", help="the revision to compare with")
    parser.add_argument("--runs", type=int, default=2, help="runs of each tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jitspot-bench-suite-") as scratch:
        before = Path(scratch) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(before), args.before],
            cwd=ROOT,
            check=True,
        )
        try:
            times: dict[str, list[float]] = {"before": [], "now": []}
            for run in range(1, args.runs + 1):
                for name, tree in (("before", before), ("now", ROOT)):
                    seconds, last = suite_seconds(tree)
                    times[name].append(seconds)
                    print(f"run {run} {name:6} {seconds:7.1f} s  {last}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT)
    before_s, now_s = statistics.median(times["before"]), statistics.median(times["now"])
    print(f"median: before ({args.before}) {before_s:.1f} s, now {now_s:.1f} s")
    print(f"now / before: {now_s / before_s:.2f}")


if __name__ == "__main__":
    main()
