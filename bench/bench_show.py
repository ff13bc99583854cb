"""Warm `jitspot show` start-up against importing typer+rich+pydantic; exports of 1,000 albums.

In one run: builds a store of N albums with every cover and metadata cached
(resolved against the loopback Spotify double), stops the double (so any
network call would fail), then times, as subprocesses, median of R runs:
  - baseline: python -c "import typer, rich.console, pydantic"
  - jitspot show <album> (warm: served from the cache)
  - jitspot export --format F -o FILE for json, csv, md, html
Goal: warm show <= 0.35 s and <= 1.5x the baseline.

    python bench/bench_show.py [--albums 1000] [--runs 15]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import openpyxl
from conftest import HEADER
from spotify_double import SpotifyDouble


def median_time(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env, album_id = build_home(home, args.albums)
        jitspot = [sys.executable, "-m", "jitspot"]
        baseline = median_time(
            [sys.executable, "-c", "import typer, rich.console, pydantic"], env, args.runs
        )
        show = median_time([*jitspot, "show", album_id], env, args.runs)
        show_json = median_time([*jitspot, "show", album_id, "--json"], env, args.runs)
        print(f"baseline  python -c 'import typer, rich.console, pydantic'   {baseline:.3f} s")
        print(
            f"warm show (terminal page)                                  {show:.3f} s   {show / baseline:.2f}x baseline"
        )
        print(
            f"warm show --json                                           {show_json:.3f} s   {show_json / baseline:.2f}x baseline"
        )
        print(
            f"goal: <= 0.35 s and <= 1.5x baseline -> {'met' if show <= 0.35 and show / baseline <= 1.5 else 'NOT met'}"
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
