"""`jitspot serve` at catalog scale: the first page, and a scroll through 200 tiles.

In one run:
  1. writes a workbook of the real shape with bench/make_workbook.py (--rows, 18 tabs)
     and imports it into a fresh JITSPOT_HOME; a copy of the home is kept for the
     development-mode scroll, so both scrolls start with nothing cached;
  2. gives the loopback Spotify double every album of the store (serving its cover
     images itself, so the browser loads them offline);
  3. (a) first page: with the app on a loopback port (tests/serving.py's `Served`),
     times `GET /` (60 tiles) against rendering the whole catalog as one page, what
     `jitspot export --offline --format html` does (store -> album views -> the
     export's `render_html`), in the same process, interleaved, median of --runs;
     and, for reference, the export command itself (median of 3, with its start-up);
  4. (b) scroll: headless Chromium (tests/browser.py, 1280x900) loads `/` and scrolls
     down --step px at a time, waiting after each step until every tile asked has its
     cover, until the --tiles-th tile is in view (infinite loading appends the next
     pages). Counted at the double: album batch calls, single album calls, every API
     call, images; at the server: `/api/covers` requests and the ids they carried. Run
     in the double's "extended" mode, then again on the fresh copy of the home in its
     "development" mode (the batch endpoint answers 403: one call per album).

    python bench/bench_serve.py [--rows 17600] [--runs 15] [--tiles 200] [--step 450]
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_export_pacing import serve_sample  # noqa: E402
from browser import Browser, find_chromium  # noqa: E402
from make_workbook import write_workbook  # noqa: E402
from serving import Served  # noqa: E402
from spotify_double import Mode, SpotifyDouble  # noqa: E402

from jitspot.catalog import Catalog  # noqa: E402
from jitspot.export import render_html  # noqa: E402
from jitspot.settings import Settings, load_settings  # noqa: E402
from jitspot.store import open_store  # noqa: E402

GOAL_SECONDS = 1.0  # the issue: the first page "well under a second"
PER_BATCH = 20

# serve.js drops `data-ask` from a tile when it asks for its cover, and shows
# "Loading cover…" (`.w.ld`) until the answer comes.
SETTLED = "!document.querySelector('.c .w.ld')"
TILES = "document.querySelectorAll('#tiles > article')"
FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def jitspot(home: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "jitspot", "--quiet", *args],
        env={**os.environ, **env, "JITSPOT_HOME": str(home)},
        check=True,
    )


def settings_for(home: Path, env: dict[str, str]) -> Settings:
    return load_settings(home, env={**env, "JITSPOT_HOME": str(home)})


def start(settings: Settings) -> Served:
    return Served(settings).start()


# -- (a) the first page ------------------------------------------------------------------------


def first_page(home: Path, runs: int) -> dict[str, float]:
    settings = settings_for(home, {})
    served = start(settings)
    try:
        first = served.get("/")
        if first.status_code != 200 or first.text.count("<article") != 60:
            raise SystemExit(f"GET / did not answer the first page: {first.text[:500]}")
        page_bytes = len(first.content)
        with open_store(settings.store_path) as store:
            catalog = Catalog(store, settings)
            try:
                albums = store.albums()

                def whole() -> int:
                    views = catalog.views(albums, offline=True, count=False)
                    return len(render_html(views))

                whole_bytes = whole()  # warm both
                served_times: list[float] = []
                whole_times: list[float] = []
                for _ in range(runs):  # interleaved: both see the same load
                    started = time.perf_counter()
                    answer = served.get("/")
                    served_times.append(time.perf_counter() - started)
                    assert answer.status_code == 200
                    started = time.perf_counter()
                    whole()
                    whole_times.append(time.perf_counter() - started)
            finally:
                catalog.close()
    finally:
        served.stop()
    export_times = []
    for _ in range(3):
        started = time.perf_counter()
        jitspot(home, {}, "export", "--offline", "--format", "html", "-o", os.devnull)
        export_times.append(time.perf_counter() - started)
    return {
        "albums": len(albums),
        "page": statistics.median(served_times),
        "page_min": min(served_times),
        "page_max": max(served_times),
        "page_bytes": page_bytes,
        "whole": statistics.median(whole_times),
        "whole_bytes": whole_bytes,
        "export": statistics.median(export_times),
    }


# -- (b) the scroll ------------------------------------------------------------------------------


@dataclass
class Scroll:
    mode: str
    seconds: float = 0.0
    steps: int = 0
    tiles_passed: int = 0
    tiles_waiting: int = 0  # of the tiles passed, those that never asked (should be none)
    counts: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    covers_requests: int = 0
    covers_ids: int = 0
    images_set: int = 0


def scroll(
    home: Path, double: SpotifyDouble, mode: Mode, chromium: str, tiles: int, step: int
) -> Scroll:
    double.mode = mode
    double.reset()
    served = start(settings_for(home, double.env()))
    result = Scroll(mode)
    target = f"(t => t && t.getBoundingClientRect().bottom <= innerHeight)({TILES}[{tiles - 1}])"
    try:
        with Browser(chromium, width=1280, height=900) as page:
            started = time.perf_counter()
            page.navigate(served.url + "/")
            page.evaluate(FRAMES)
            page.wait_for(SETTLED, timeout=600)
            while not page.evaluate(target):
                before = page.evaluate(f"[scrollY, {TILES}.length]")
                page.scroll_by(step)
                result.steps += 1
                if page.evaluate("scrollY") == before[0]:  # at the end: wait for the next page
                    page.wait_for(f"{TILES}.length > {before[1]}", timeout=60)
                page.evaluate(FRAMES)  # the observers have seen the tiles now in view
                page.wait_for(SETTLED, timeout=600)
            result.seconds = time.perf_counter() - started
            result.tiles_passed = tiles
            result.tiles_waiting, result.images_set = page.evaluate(
                "(ts => [ts.filter(t => t.hasAttribute('data-ask')).length,"
                " ts.filter(t => t.querySelector('.c img')).length])"
                f"([...{TILES}].slice(0, {tiles}))"
            )
    finally:
        served.stop()
    result.counts = double.counts()
    result.api_calls = double.api_calls()
    result.covers_requests = sum(1 for path, _ in served.requests if path == "/api/covers")
    result.covers_ids = len(served.asked_covers())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=17_600)
    parser.add_argument("--runs", type=int, default=15, help="repeats of the first-page timing")
    parser.add_argument("--tiles", type=int, default=200, help="tiles to scroll through")
    parser.add_argument("--step", type=int, default=450, help="pixels per scroll step")
    parser.add_argument("--keep", type=Path, help="keep the workbook and homes in DIR")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        sheet = write_workbook(work / "sheet.xlsx", rows=args.rows, tabs=18)
        home = work / "home"
        jitspot(home, {}, "import", str(sheet))
        shutil.copytree(home, work / "home-development")
        print(f"built and imported the workbook in {time.perf_counter() - started:.0f} s")

        a = first_page(home, args.runs)
        ratio = a["whole"] / a["page"]
        verdict = "met" if a["page"] < GOAL_SECONDS else "NOT met"
        print(
            f"(a) first page, {a['albums']:,} albums: GET / median {a['page'] * 1000:.0f} ms"
            f" (min {a['page_min'] * 1000:.0f}, max {a['page_max'] * 1000:.0f}, {args.runs} runs,"
            f" {a['page_bytes'] / 1e3:.0f} KB); whole catalog as one page (views + render_html)"
            f" {a['whole'] * 1000:.0f} ms ({a['whole_bytes'] / 1e6:.1f} MB):"
            f" {ratio:.0f}x faster; `jitspot export --offline --format html`"
            f" {a['export']:.2f} s. Goal < {GOAL_SECONDS:.0f} s: {verdict}"
        )

        with SpotifyDouble(images_served=True) as double:
            served_albums = serve_sample(double, home, year=None)
            print(f"the double serves {served_albums:,} albums")
            for mode, where in (("extended", home), ("development", work / "home-development")):
                s = scroll(where, double, mode, chromium, args.tiles, args.step)  # type: ignore[arg-type]
                batches = s.counts.get("albums_batch", 0)
                singles = s.counts.get("album", 0)
                asked = s.covers_ids
                per20 = s.api_calls / (asked / 20) if asked else float("nan")
                print(
                    f"(b) {mode}: through {s.tiles_passed} tiles in {s.steps} steps of"
                    f" {args.step} px, {s.seconds:.1f} s; the server was asked {asked} covers in"
                    f" {s.covers_requests} /api/covers requests; {s.images_set} of the"
                    f" {s.tiles_passed} tiles got an image ({s.tiles_waiting} never asked)."
                    f" At the double: {batches} batch calls, {singles} single album calls,"
                    f" {s.api_calls} API calls in all = {per20:.1f} per 20 covers asked"
                    f" (least possible {-(-asked // PER_BATCH)} calls, {PER_BATCH / 20:.0f}"
                    f" per 20; one call per album, no coalescing: {asked})"
                )
                print(f"    every endpoint: {s.counts}")
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
