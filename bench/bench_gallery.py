"""The HTML gallery at catalog scale: time to a screenshot in headless Chromium, big vs small.

In one run:
  1. writes two workbooks of the real shape with bench/make_workbook.py (18 tabs):
     --small rows (300) and --big rows (17,600);
  2. imports each into its own JITSPOT_HOME and resolves every album once against
     the loopback Spotify double (so every cover and its metadata is cached), then
     stops the double and writes `jitspot export --offline --format html -o PAGE`:
     the pages a user gets, from the cache;
  3. times `chromium --headless --screenshot` of each page (fresh profile each time,
     1280x900), small and big interleaved, median of --runs. Chromium resolves no
     host (`--host-resolver-rules`), so cover requests fail at once and the figure
     does not depend on the network;
  4. prints the ratio big / small. Goal: <= 2x.
It also prints how long each `export --format html` took (Python and rendering, no
browser): the gallery's template must not make the big export slow.

    python bench/bench_gallery.py [--small 300] [--big 17600] [--runs 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_export_pacing import serve_sample
from make_workbook import write_workbook
from spotify_double import SpotifyDouble

GOAL = 2.0
WINDOW = "1280,900"


def jitspot(home: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "jitspot", "--quiet", *args],
        env={**os.environ, **env, "JITSPOT_HOME": str(home)},
        check=True,
    )


def build_page(work: Path, rows: int) -> tuple[Path, float]:
    """The gallery of a `rows`-row workbook of the real shape, every cover cached,
    and the seconds its `export --format html` took."""
    sheet = write_workbook(work / f"sheet-{rows}.xlsx", rows=rows, tabs=18)
    home = work / f"home-{rows}"
    jitspot(home, {}, "import", str(sheet))
    with SpotifyDouble() as double:
        serve_sample(double, home, year=None)
        jitspot(home, double.env(), "export", "--format", "json", "-o", os.devnull)
    page = work / f"gallery-{rows}.html"
    started = time.perf_counter()
    jitspot(home, {}, "export", "--offline", "--format", "html", "-o", str(page))
    return page, time.perf_counter() - started


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise SystemExit("chromium is not installed")
    return found


MIN_DRAWN_BYTES = 150_000


def screenshot_seconds(browser: str, page: Path, out: Path, window: str = WINDOW) -> float:
    """Seconds from starting headless Chromium to its screenshot of `page` written."""
    with tempfile.TemporaryDirectory() as profile:
        started = time.perf_counter()
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                # Draw the whole frame before the screenshot: without it headless Chromium
                # may shoot before `content-visibility` tiles are painted (a blank grid).
                "--run-all-compositor-stages-before-draw",
                f"--user-data-dir={profile}",
                f"--window-size={window}",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            capture_output=True,
            check=True,
            timeout=300,
        )
        seconds = time.perf_counter() - started
    # A screenshot of the header alone is ~20 KB; one with a grid of tiles, hundreds.
    if out.stat().st_size < MIN_DRAWN_BYTES:
        raise SystemExit(f"{out}: the screenshot shows no tiles ({out.stat().st_size} bytes)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", type=int, default=300, help="rows of the baseline export")
    parser.add_argument("--big", type=int, default=17_600, help="rows of the catalog export")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the pages and screenshots in DIR")
    args = parser.parse_args()
    browser = chromium()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        built = {rows: build_page(work, rows) for rows in (args.small, args.big)}
        print(f"built both pages in {time.perf_counter() - started:.0f} s")
        pages = {rows: page for rows, (page, _) in built.items()}
        for rows, (_, seconds) in built.items():
            print(f"{rows:>6} rows: export --offline --format html took {seconds:.2f} s")
        times: dict[int, list[float]] = {rows: [] for rows in pages}
        for _ in range(args.runs):
            for rows, page in pages.items():  # interleaved: both see the same load
                times[rows].append(screenshot_seconds(browser, page, work / f"shot-{rows}.png"))
        load = os.getloadavg()
        for rows, page in pages.items():  # read before the work folder goes
            size = page.stat().st_size
            albums = page.read_text(encoding="utf-8").count("<article")
            print(
                f"{rows:>6} rows: {albums:>6} albums  {size / 1e6:6.2f} MB  {size / albums:5.0f} B/album"
                f"  screenshot median {statistics.median(times[rows]):.2f} s"
                f"  (min {min(times[rows]):.2f}, max {max(times[rows]):.2f}, {args.runs} runs)"
            )
    ratio = statistics.median(times[args.big]) / statistics.median(times[args.small])
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"ratio {args.big} / {args.small}: {ratio:.2f}x  (goal <= {GOAL:.0f}x: {verdict})")
    print(f"load average during the timings: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
