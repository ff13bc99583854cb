"""Time `jitspot import` against a naive openpyxl load of the same workbook.

One run measures, on a real-shaped ~18k-row workbook (generated unless given):

  naive     openpyxl.load_workbook(path) + reading every cell of every sheet
  read      jitspot.xlsx.read_xlsx(path) alone, in this process
  import    `python -m jitspot --quiet import PATH` into an empty JITSPOT_HOME
  reimport  the same command again, file unchanged

  floors    `python -c pass` and `python -c "import typer"`: what any Typer CLI pays

import/reimport run as subprocesses, so interpreter start-up and imports count, as
they do for a user. The checkout's package is byte-compiled first, as `pip install`
does (with PYTHONDONTWRITEBYTECODE set, as on the bench machine, every run would
otherwise compile jitspot's sources again). Each repeat runs naive, import,
reimport and the floors one after the other, so a load that comes and goes hits
them alike; each figure is the median of --repeat runs (naive: its first
--naive-repeat ones). Goals: naive / import >= 8, reimport / import <= 0.10.

    python bench/bench_import.py [--workbook PATH] [--rows N] [--repeat N]
"""

from __future__ import annotations

import argparse
import compileall
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


def time_command(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, capture_output=True, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark jitspot import against openpyxl.")
    parser.add_argument(
        "--workbook",
        type=Path,
        default=DEFAULT_WORKBOOK,
        help=f"workbook to use; generated when missing (default: {DEFAULT_WORKBOOK})",
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows when generating")
    parser.add_argument("--repeat", type=int, default=5, help="runs of read/import/reimport")
    parser.add_argument("--naive-repeat", type=int, default=3, help="runs of the naive load")
    args = parser.parse_args(argv)

    path: Path = args.workbook
    if not path.exists():
        print(f"generating {path} ({args.rows} rows)…", file=sys.stderr)
        write_workbook(path, rows=args.rows)
    print(f"workbook: {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    compileall.compile_dir(ROOT / "jitspot", quiet=1)
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min average, {os.cpu_count()} cores)")

    read_xlsx(path)  # the file in the page cache and the lazy imports done, for all alike
    rows = len(read_xlsx(path).rows)
    naive: list[float] = []
    read: list[float] = []
    firsts: list[float] = []
    agains: list[float] = []
    bare: list[float] = []
    typer_floor: list[float] = []
    for repeat in range(args.repeat):
        if repeat < args.naive_repeat:
            naive.append(timed(lambda: naive_load(path)))
        read.append(timed(lambda: read_xlsx(path)))
        with tempfile.TemporaryDirectory(prefix="jitspot-bench-") as home:
            for seconds in (firsts, agains):
                start = time.perf_counter()
                result = run_import(path, Path(home))
                seconds.append(time.perf_counter() - start)
                if result.returncode != 0:
                    lines = (result.stderr or result.stdout).strip().splitlines()
                    problem = lines[-1] if lines else "no output"
                    print(f"jitspot import: unavailable (exit {result.returncode}: {problem})")
                    return 1
        bare.append(time_command([sys.executable, "-c", "pass"]))
        typer_floor.append(time_command([sys.executable, "-c", "import typer"]))
    print(f"load after: {os.getloadavg()[0]:.2f}")

    n, r, first, again = map(statistics.median, (naive, read, firsts, agains))
    floor_bare, floor_typer = statistics.median(bare), statistics.median(typer_floor)
    ok_import = "ok" if n / first >= IMPORT_GOAL else "MISSED"
    ok_again = "ok" if again / first <= REIMPORT_GOAL else "MISSED"
    print(f"naive openpyxl load + iterate  : {n:7.3f} s")
    print(f"read_xlsx alone ({rows} rows)  : {r:7.3f} s   naive/read      = {n / r:5.1f}x")
    print(
        f"jitspot import                 : {first:7.3f} s   naive/import    = "
        f"{n / first:5.1f}x  (goal >= {IMPORT_GOAL:g}: {ok_import})"
    )
    print(
        f"jitspot import, unchanged      : {again:7.3f} s   reimport/import = "
        f"{again / first:5.2f}  (goal <= {REIMPORT_GOAL:g}: {ok_again})"
    )
    print(
        f"floor: python -c pass          : {floor_bare:7.3f} s   /import = {floor_bare / first:5.2f}"
    )
    print(
        f"floor: python -c 'import typer': {floor_typer:7.3f} s   /import = "
        f"{floor_typer / first:5.2f}"
    )
    return 0 if ok_import == ok_again == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
