"""Warm `jitspot show` start-up against importing typer+rich; exports of 1,000 albums.

In one run: builds a store of N albums with every cover and metadata cached
(resolved against the loopback Spotify double), stops the double (so any
network call would fail), compiles jitspot's modules to bytecode as an install
does, then times, as subprocesses, interleaved, median of R runs:
  - baseline: python -c "import typer, rich.console"
  - typer floor: a one-command Typer app with a bool option (typer validates
    options with pydantic, so any Typer command imports it)
  - jitspot show <album> (warm: served from the cache), and with --json
  - jitspot export --format F -o FILE for json, csv, md, html (median of 5)
Goal (issue 12): warm show <= 0.25 s.

    python bench/bench_show.py [--albums 1000] [--runs 15]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import openpyxl
from conftest import HEADER
from spotify_double import SpotifyDouble

ROOT = Path(__file__).resolve().parent.parent


def median_time(command: list[str], env: dict[str, str], runs: int) -> float:
    return interleaved({"": command}, env, runs)[""][0]


def interleaved(
    commands: dict[str, list[str]], env: dict[str, str], runs: int
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each command, run in turn `runs` times, output discarded.

    CPU time (user + system of the child) moves less than wall time when other
    work shares the machine's two cores.
    """
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            wall[name].append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {
        name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in commands
    }


# The least a Typer command costs: typer builds a pydantic adapter for each option.
TYPER_FLOOR = (
    "import typer\n"
    "app = typer.Typer()\n"
    "@app.command()\n"
    "def show(album: str, offline: bool = False) -> None:\n"
    "    print(album)\n"
    "app()\n"
)
GOAL_SECONDS = 0.25


def build_home(home: Path, albums: int) -> tuple[dict[str, str], str]:
    """A store with `albums` albums, all resolved; returns the env and one album's id."""
    with SpotifyDouble() as double:
        ids = double.populate(albums, max(albums // 7, 1), long_albums=albums // 40)
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "2024 Prog-metal"
        sheet.append(["2024 Progressive Metal Albums"])
        for _ in range(3):
            sheet.append([])
        sheet.append(HEADER)
        for album_id in ids:
            album = double.album_json(album_id)
            sheet.append(
                [
                    album["artists"][0]["name"],
                    album["name"],
                    "TBA",
                    "LP",
                    "Prog-metal",
                    "Mixed",
                    "Earth",
                    None,
                    f"https://open.spotify.com/album/{album_id}",
                ]
            )
        path = home.parent / "sheet.xlsx"
        workbook.save(path)
        env = {**os.environ, "JITSPOT_HOME": str(home), **double.env()}
        jitspot = [sys.executable, "-m", "jitspot", "--quiet"]
        subprocess.run([*jitspot, "import", str(path)], env=env, check=True)
        subprocess.run([*jitspot, "export", "-o", os.devnull], env=env, check=True)
        calls = double.api_calls()
    # The double is gone: a warm command that reached for the network would fail or wait.
    return env, ids[len(ids) // 2] if calls else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--albums", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    os.chdir(ROOT)  # `python -m jitspot` must find this tree's jitspot, whatever the caller's cwd
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env, album_id = build_home(home, args.albums)
        # As installed: pip compiles modules; an editable tree under
        # PYTHONDONTWRITEBYTECODE=1 would compile jitspot from source on every run.
        compileall.compile_dir(ROOT / "jitspot", quiet=1)
        jitspot = [sys.executable, "-m", "jitspot"]
        figures = interleaved(
            {
                "baseline": [sys.executable, "-c", "import typer, rich.console"],
                "typer floor": [sys.executable, "-c", TYPER_FLOOR, "x"],
                "show": [*jitspot, "show", album_id],
                "show --json": [*jitspot, "show", album_id, "--json"],
            },
            env,
            args.runs,
        )
        (baseline, baseline_cpu), (show, show_cpu) = figures["baseline"], figures["show"]
        print(f"load {os.getloadavg()[0]:.2f} (1 min); medians of {args.runs} interleaved runs")
        labels = {
            "baseline": "baseline  python -c 'import typer, rich.console'",
            "typer floor": "a one-command Typer app (bool option)",
            "show": "warm show (terminal page)",
            "show --json": "warm show --json",
        }
        print(f"  {'':52} wall              CPU (user+sys)")
        for name, (seconds, cpu) in figures.items():
            print(
                f"  {labels[name]:52} {seconds:.3f} s {seconds / baseline:5.2f}x"
                f"   {cpu:.3f} s {cpu / baseline_cpu:5.2f}x"
            )
        verdict = "met" if show <= GOAL_SECONDS else "NOT met"
        print(
            f"goal: warm show <= {GOAL_SECONDS} s -> {verdict} ({show:.3f} s wall, {show_cpu:.3f} s CPU)"
        )
        print(f"\nexport of {args.albums} cached albums (median of 5, whole command):")
        for fmt in ("json", "csv", "md", "html"):
            out = Path(tmp) / f"catalog.{fmt}"
            seconds = median_time([*jitspot, "export", "--format", fmt, "-o", str(out)], env, 5)
            print(
                f"  {fmt:5} {seconds:.3f} s   {seconds / baseline:.2f}x baseline   {out.stat().st_size / 1024:.0f} KiB"
            )


if __name__ == "__main__":
    main()
