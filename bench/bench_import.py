"""Time `jitspot import` against a naive openpyxl load of the same workbook.

One run measures, on a real-shaped ~18k-row workbook (generated unless given):

  naive     openpyxl.load_workbook(path) + reading every cell of every sheet
  read      jitspot.xlsx.read_xlsx(path) alone, in this process
  import    `python -m jitspot --quiet import PATH` into an empty JITSPOT_HOME
  reimport  the same command again, file unchanged

import/reimport run as subprocesses, so interpreter start-up and imports count, as
they do for a user. Each figure is the median of --repeat runs (naive: --naive-repeat).
Goals: naive / import >= 8, reimport / import <= 0.10.

    python bench/bench_import.py [--workbook PATH] [--rows N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_workbook import DEFAULT_ROWS, write_workbook  # noqa: E402
from jitspot.xlsx import read_xlsx  # noqa: E402

DEFAULT_WORKBOOK = ROOT / "bench" / "out" / "releases-18k.xlsx"
IMPORT_GOAL = 8.0
REIMPORT_GOAL = 0.10


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_of(runs: int, action: Callable[[], object]) -> float:
    return statistics.median(timed(action) for _ in range(runs))


def naive_load(path: Path) -> int:
    """What a straightforward reader does: full load, then every cell value."""
    import openpyxl

    workbook = openpyxl.load_workbook(path)
    cells = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                _ = cell.value
                cells += 1
    return cells


def run_import(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, JITSPOT_HOME=str(home))
    # The checkout's package, whether or not it is installed in this interpreter.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "jitspot", "--quiet", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def time_imports(path: Path, runs: int) -> tuple[float, float] | str:
    """Median (first import, re-import) seconds, or why the CLI could not import."""
    firsts: list[float] = []
    agains: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="jitspot-bench-") as home:
            results: list[subprocess.CompletedProcess[str]] = []
            for seconds in (firsts, agains):
                start = time.perf_counter()
                results.append(run_import(path, Path(home)))
                seconds.append(time.perf_counter() - start)
            failed = next((result for result in results if result.returncode != 0), None)
            if failed is not None:
                lines = (failed.stderr or failed.stdout).strip().splitlines()
                return f"exit {failed.returncode}: {lines[-1] if lines else 'no output'}"
    return statistics.median(firsts), statistics.median(agains)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark jitspot import against openpyxl.")
    parser.add_argument(
        "--workbook",
        type=Path,
        default=DEFAULT_WORKBOOK,
        help=f"workbook to use; generated when missing (default: {DEFAULT_WORKBOOK})",
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows when generating")
    parser.add_argument("--repeat", type=int, default=3, help="runs of read/import/reimport")
    parser.add_argument("--naive-repeat", type=int, default=1, help="runs of the naive load")
    args = parser.parse_args(argv)

    path: Path = args.workbook
    if not path.exists():
        print(f"generating {path} ({args.rows} rows)…", file=sys.stderr)
        write_workbook(path, rows=args.rows)
    print(f"workbook: {path} ({path.stat().st_size / 2**20:.1f} MiB)")

    naive = median_of(args.naive_repeat, lambda: naive_load(path))
    read_xlsx(path)  # warm the file cache and lazy imports, as the naive load did
    read = median_of(args.repeat, lambda: read_xlsx(path))
    rows = len(read_xlsx(path).rows)
    print(f"naive openpyxl load + iterate : {naive:7.3f} s")
    print(f"read_xlsx alone ({rows} rows) : {read:7.3f} s   naive/read    = {naive / read:5.1f}x")

    imports = time_imports(path, args.repeat)
    if isinstance(imports, str):
        print(f"jitspot import                : unavailable ({imports})")
        return 1
    first, again = imports
    ok_import = "ok" if naive / first >= IMPORT_GOAL else "MISSED"
    ok_again = "ok" if again / first <= REIMPORT_GOAL else "MISSED"
    print(
        f"jitspot import                : {first:7.3f} s   naive/import  = "
        f"{naive / first:5.1f}x  (goal >= {IMPORT_GOAL:g}: {ok_import})"
    )
    print(
        f"jitspot import, unchanged     : {again:7.3f} s   reimport/import = "
        f"{again / first:5.2f}  (goal <= {REIMPORT_GOAL:g}: {ok_again})"
    )
    return 0 if ok_import == ok_again == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
