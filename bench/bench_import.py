"""Time `jitspot import` against a naive openpyxl load of the same workbook.

One run measures, on a real-shaped ~18k-row workbook (generated unless given):

  naive     openpyxl.load_workbook(path) + reading every cell of every sheet
  read      jitspot.sheets.xlsx.read_xlsx(path) alone, in this process
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

With --phases it also prints where an import's time goes: CPU seconds of each
phase in this process (median of --repeat), and the CLI's start-up as a process.

    python bench/bench_import.py [--workbook PATH] [--rows N] [--repeat N] [--phases]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_workbook import DEFAULT_ROWS, write_workbook  # noqa: E402
from jitspot.sheets.xlsx import read_xlsx  # noqa: E402

DEFAULT_WORKBOOK = ROOT / "bench" / "out" / "releases-18k.xlsx"
IMPORT_GOAL = 8.0
REIMPORT_GOAL = 0.10


def measured(action: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of `action`: CPU counts this process and the children it
    waited for (user + system), so a subprocess's CPU is counted too."""
    wall, cpu = time.perf_counter(), _cpu_now()
    action()
    return time.perf_counter() - wall, _cpu_now() - cpu


def _cpu_now() -> float:
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


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


def _append_import(out: list[subprocess.CompletedProcess[str]], path: Path, home: Path) -> None:
    out.append(run_import(path, home))


def time_command(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(args, capture_output=True, check=True, env=env)
    return time.perf_counter() - start


def cpu(action: Callable[[], object], runs: int) -> float:
    """Median CPU seconds of `action` in this process (steadier than wall time under load)."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return statistics.median(times)


def print_phases(path: Path, runs: int) -> None:
    """Where a first import's time goes, phase by phase."""
    from jitspot.sheets import xlsx, zipguard
    from jitspot.sheets.importer import interpret_rows
    from jitspot.store import ImportReport, open_store

    workbook = xlsx._checked_workbook(path, ())
    tabs = list(workbook.sheet_parts)
    data = xlsx.read_xlsx(path)
    rows = interpret_rows(data, ImportReport(source=str(path)))

    def check_zip() -> None:
        # The parts read_xlsx keeps are kept here too: figures stay comparable with earlier runs.
        with zipguard.checked_zip(path) as archive:
            archive.check_xml_parts(keep=workbook.parts, skip=())

    def apply() -> None:
        with tempfile.TemporaryDirectory(prefix="jitspot-bench-") as home:
            store = open_store(Path(home) / "store.sqlite3")
            store.apply_import(rows, data.tabs, str(path), ImportReport(source=str(path)))
            store.close()

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    startup = statistics.median(
        time_command([sys.executable, "-m", "jitspot", "--version"], env) for _ in range(runs)
    )
    phases = {
        "CLI start-up (`jitspot --version`, wall)": startup,
        "zip checks (sizes, CRCs, no DTD)": cpu(check_zip, runs),
        "calamine cell values": cpu(lambda: xlsx._calamine_sheets(path, ()), runs),
        "link scan (hyperlinks, HYPERLINK())": cpu(
            lambda: [workbook.sheet_links(tab) for tab in tabs], runs
        ),
        "read_xlsx in all": cpu(lambda: xlsx.read_xlsx(path), runs),
        "interpreting rows": cpu(
            lambda: interpret_rows(data, ImportReport(source=str(path))), runs
        ),
        "store: diff, derived columns, insert, commit": cpu(apply, runs),
    }
    for name, seconds in phases.items():
        print(f"  {name:45} {seconds:6.3f} s")


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
    parser.add_argument("--phases", action="store_true", help="also print time per phase")
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
    runs: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("naive", "read", "import", "reimport", "pass", "typer")
    }
    for repeat in range(args.repeat):
        if repeat < args.naive_repeat:
            runs["naive"].append(measured(lambda: naive_load(path)))
        runs["read"].append(measured(lambda: read_xlsx(path)))
        with tempfile.TemporaryDirectory(prefix="jitspot-bench-") as home:
            for name in ("import", "reimport"):
                result: list[subprocess.CompletedProcess[str]] = []
                runs[name].append(measured(partial(_append_import, result, path, Path(home))))
                if result[0].returncode != 0:
                    lines = (result[0].stderr or result[0].stdout).strip().splitlines()
                    problem = lines[-1] if lines else "no output"
                    print(f"jitspot import: unavailable (exit {result[0].returncode}: {problem})")
                    return 1
        runs["pass"].append(measured(lambda: time_command([sys.executable, "-c", "pass"])))
        runs["typer"].append(measured(lambda: time_command([sys.executable, "-c", "import typer"])))
    print(f"load after: {os.getloadavg()[0]:.2f}")
    if args.phases:
        print("where a first import's time goes (CPU s in-process, median):")
        print_phases(path, args.repeat)

    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu_s = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    n, first, again = wall["naive"], wall["import"], wall["reimport"]
    ok_import = "ok" if n / first >= IMPORT_GOAL else "MISSED"
    ok_again = "ok" if again / first <= REIMPORT_GOAL else "MISSED"
    print("                                    wall s   CPU s   ratio (wall; CPU)")
    table = [
        ("naive openpyxl load + iterate", "naive", ""),
        (f"read_xlsx alone ({rows} rows)", "read", "naive/read"),
        ("jitspot import", "import", "naive/import"),
        ("jitspot import, unchanged", "reimport", "reimport/import"),
        ("floor: python -c pass", "pass", "/import"),
        ("floor: python -c 'import typer'", "typer", "/import"),
    ]
    for label, key, ratio in table:
        text = f"{label:34} {wall[key]:7.3f} {cpu_s[key]:7.3f}"
        if ratio.startswith("naive/"):
            text += f"   {ratio} = {n / wall[key]:4.1f}x; {cpu_s['naive'] / cpu_s[key]:4.1f}x"
        elif ratio:
            text += f"   {ratio} = {wall[key] / first:4.2f}; {cpu_s[key] / cpu_s['import']:4.2f}"
        print(text)
    print(f"goal naive/import >= {IMPORT_GOAL:g} (wall): {ok_import}")
    print(f"goal reimport/import <= {REIMPORT_GOAL:g} (wall): {ok_again}")
    return 0 if ok_import == ok_again == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
