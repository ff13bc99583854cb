"""`jitspot serve` at catalog scale: the first page, a scroll through 200 tiles, 50 visitors.

In one run:
  1. writes a workbook of the real shape with bench/make_workbook.py (--rows, 18 tabs)
     and imports it into a fresh JITSPOT_HOME; a copy of the home is kept for the
     development-mode scroll, so both scrolls start with nothing cached;
  2. gives the loopback Spotify double every album of the store (serving its cover
     images itself, so the browser loads them offline);
  3. (a) first page: with the app on a loopback port (tests/serving.py's `Listening`),
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

  5. (c) load (issue 19): 50 visitors at once. `jitspot serve` runs as a process of
     its own (`python -m jitspot serve --port P`, or with --before REV the serve of git
     revision REV from a temporary worktree) on a fresh copy of the imported home
     (nothing cached, pacing not learned); the double (this process) answers every Web
     API and oEmbed call after --latency s; the visitors come from a third process:
     this bench's own bounded asyncio client (stdlib streams, HTTP/1.1 keep-alive, at
     most 6 connections per visitor like a browser; no dependency). Each visitor opens
     one URL of the set (visitor i takes URL i: different pages, so covers are cold),
     fetches the 3 static files, then asks /api/covers as serve.js does on a 1280x900
     window (16 tiles + 20 `then` ids, then 18 + 20 per 900 px scroll), thinking
     --think s (±1/3) between actions, not waiting for the covers to scroll on. Printed:
     p50/p95/p99 of pages, covers and static files, requests/s, errors, serve's CPU
     seconds, Spotify calls by endpoint, one visitor's page time before the load, and
     with --before the p95 ratio. `--profile DIR` runs py-spy on serve meanwhile.

    python bench/bench_serve.py [--only first|scroll|load]... [--rows 17600] [--runs 15]
        [--tiles 200] [--step 450]
        [--visitors 50] [--ramp 10] [--scrolls 2] [--pages 1] [--think 3] [--latency 0.2]
        [--modes development[,extended]] [--url URL]... [--repeat N] [--before REV]
        [--profile DIR] [--warm-up] [--restarted]

    Issue 19's figures: python bench/bench_serve.py --only load --before a333465 --warm-up --repeat 2
    (and --modes extended); about 20 minutes, most of it the old revision's runs. Since
    the store's schema 5, a333465 cannot open the bench's home: compare with 82fde56.
    `--restarted` adds a server started on a home used before (the warm-up in a server
    of its own): the pacing resumes from the rate that last worked, kept in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_export_pacing import serve_sample  # noqa: E402
from browser import Browser, find_chromium  # noqa: E402
from make_workbook import write_workbook  # noqa: E402
from serving import Listening  # noqa: E402
from spotify_double import API_ENDPOINTS, Mode, SpotifyDouble  # noqa: E402

from jitspot.catalog.catalog import Catalog  # noqa: E402
from jitspot.render.gallery import render_html  # noqa: E402
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


def start(settings: Settings) -> Listening:
    return Listening(settings).start()


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


# -- (c) load: 50 visitors at once -----------------------------------------------------------
#
# The load generator is this bench's own bounded client (asyncio streams, HTTP/1.1
# keep-alive, stdlib only: no new dependency), run in a process of its own so that
# neither its CPU nor the double's is counted as serve's; serve runs as
# `python -m jitspot serve` in a third process.

FIRST_SCREEN = 16  # tiles serve.js asks for on a 1280x900 window (measured in Chromium)
PER_SCROLL = 18  # new tiles a 900 px scroll brings within 300 px of the viewport
THEN = 20  # serve.js names the next 20 tiles as `then` (its BATCH)
MOST_PER_REQUEST = 60  # serve.js splits a flush into requests of at most 60 ids
BROWSER_CONNECTIONS = 6  # a browser's connections to one host (HTTP/1.1)
# Every call answers after --latency: the Web API and oEmbed alike (not the token).
DELAYED = {*API_ENDPOINTS, "oembed"}
STATIC = ("/static/gallery.css", "/static/serve.css", "/static/serve.js")
ASK = re.compile(r"<article\b[^>]*>")
DATA_ID = re.compile(r'data-id="(\d+)"')


@dataclass(frozen=True)
class Load:
    """What the visitors do (printed with the figures)."""

    visitors: int = 50
    ramp: float = 10.0  # the visitors arrive evenly over this many seconds
    scrolls: int = 2  # screens scrolled down after the first, one per think time
    pages: int = 1  # pages (URLs) each visitor opens, one after the other
    think: float = 3.0  # seconds between a visitor's actions (uniform ±1/3)
    seed: int = 19

    def describe(self, urls: Sequence[str]) -> str:
        return (
            f"{self.visitors} visitors arriving evenly over {self.ramp:.0f} s; each opens"
            f" {self.pages} page(s) ({len(urls)} URLs, visitor i takes URL i, i+N...), fetches"
            f" the 3 static files (first page only, no cache), asks /api/covers for the first"
            f" {FIRST_SCREEN} tiles still waiting for a cover (+{THEN} `then`), then scrolls"
            f" {self.scrolls} times ({PER_SCROLL} tiles +{THEN} `then` each), thinking"
            f" {self.think:.0f} s (±{self.think / 3:.0f}) between actions and not waiting for"
            f" covers to scroll on; at most {BROWSER_CONNECTIONS} keep-alive connections per"
            " visitor"
        )


class _Visit:
    """One visitor's connections (up to a browser's six), reused while idle."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(BROWSER_CONNECTIONS)
        self.opened = 0

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.slots:
            if self.idle:
                reader, writer = self.idle.pop()
                try:
                    return await self._ask(reader, writer, path)
                except (EOFError, ConnectionError, asyncio.IncompleteReadError):
                    # The server closed an idle kept-alive connection (its keep-alive
                    # timeout): a browser sends the request again on a new one.
                    writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.opened += 1
            return await self._ask(reader, writer, path)

    async def _ask(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
    ) -> tuple[int, bytes]:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Accept: */*\r\nSec-Fetch-Site: same-origin\r\n\r\n".encode()
        )
        await writer.drain()
        first = (await reader.readline()).split()
        if not first:
            raise EOFError("the connection was closed")
        status = int(first[1])
        length, chunked, close = 0, False, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            body = b""
            while size := int((await reader.readline()).strip() or b"0", 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readline()
        else:
            body = await reader.readexactly(length)
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, body

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


def _waiting_tiles(html: str) -> list[str]:
    """The ids of the page's tiles that will ask for their cover, in page order."""
    return [
        match.group(1)
        for tag in ASK.findall(html)
        if "data-ask" in tag and (match := DATA_ID.search(tag))
    ]


async def _visitor(
    index: int,
    port: int,
    urls: Sequence[str],
    load: Load,
    times: dict[str, list[float]],
    errors: list[str],
) -> None:
    rng = random.Random(load.seed * 1000 + index)
    visit = _Visit(port)
    pending: list[asyncio.Task[None]] = []

    async def timed(kind: str, path: str) -> bytes:
        started = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(visit.get(path), 150)
        except Exception as exc:  # a refused or dropped connection, a timeout
            errors.append(f"{kind}: {type(exc).__name__} {exc}")
            return b""
        times[kind].append(time.perf_counter() - started)
        if status != 200:
            errors.append(f"{kind}: HTTP {status} {body[:120]!r}")
        return body

    async def covers(ids: list[str], then: list[str]) -> None:
        query = "&".join([f"id={i}" for i in ids] + [f"then={i}" for i in then])
        await timed("covers", f"/api/covers?{query}")

    def think() -> float:
        return rng.uniform(load.think * 2 / 3, load.think * 4 / 3)

    await asyncio.sleep(load.ramp * index / load.visitors)
    try:
        for round_ in range(load.pages):
            url = urls[(index + round_ * load.visitors) % len(urls)]
            html = (await timed("page", url)).decode("utf-8", "replace")
            if round_ == 0:
                await asyncio.gather(*(timed("static", path) for path in STATIC))
            tiles = _waiting_tiles(html)
            start = 0
            for step in range(load.scrolls + 1):
                count = FIRST_SCREEN if step == 0 else PER_SCROLL
                ask, start = tiles[start : start + count], start + count
                for at in range(0, len(ask), MOST_PER_REQUEST):
                    part = ask[at : at + MOST_PER_REQUEST]
                    pending.append(asyncio.create_task(covers(part, tiles[start : start + THEN])))
                await asyncio.sleep(think())
        await asyncio.gather(*pending)
    finally:
        visit.close()


async def _all_visitors(port: int, urls: Sequence[str], load: Load) -> dict[str, Any]:
    times: dict[str, list[float]] = {"page": [], "static": [], "covers": []}
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_visitor(i, port, urls, load, times, errors) for i in range(load.visitors))
    )
    return {"times": times, "errors": errors, "seconds": time.perf_counter() - started}


def _load_process(port: int, urls: list[str], load: Load, out: Any) -> None:
    out.put(asyncio.run(_all_visitors(port, urls, load)))


def run_load(port: int, urls: list[str], load: Load) -> dict[str, Any]:
    """The visitors, from a process of their own (spawned: no state shared)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_load_process, args=(port, urls, load, out))
    process.start()
    result: dict[str, Any] = out.get()
    process.join()
    return result


def default_urls(count: int) -> list[str]:
    """Distinct pages, newest first (the landing order), so that the visitors' covers are
    cold: `/`, `/?page=2`…"""
    return ["/"] + [f"/?page={n}" for n in range(2, count + 1)]


def warm_up_urls(urls: Sequence[str]) -> list[str]:
    """For --warm-up: as many pages again, the ones that follow the default URLs (no album
    of theirs is on a measured page); after the URLs given with --url, page 1000 on."""
    start = len(urls) + 1 if list(urls) == default_urls(len(urls)) else 1000
    return [f"/?page={n}" for n in range(start, start + len(urls))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Runs serve from another checkout (--before): that tree's jitspot, not this one's.
SERVE_FROM = """
import sys
tree, args = sys.argv[1], sys.argv[2:]
import jitspot
assert jitspot.__file__.startswith(tree), jitspot.__file__
from jitspot.cli import main
sys.argv = ["jitspot", *args]
main()
"""


@contextmanager
def serve_process(home: Path, env: dict[str, str], tree: Path | None) -> Iterator[tuple[int, int]]:
    """`jitspot serve` on a free port in a process of its own: (port, pid)."""
    port = _free_port()
    args = ["--quiet", "serve", "--port", str(port)]
    environ = {**os.environ, **env, "JITSPOT_HOME": str(home)}
    if tree is None:
        command = [sys.executable, "-m", "jitspot", *args]
    else:
        command = [sys.executable, "-c", SERVE_FROM, str(tree), *args]
        environ["PYTHONPATH"] = str(tree)
    process = subprocess.Popen(command, env=environ, cwd=home)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("jitspot serve did not start") from None
                time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


def profiler(pid: int, where: Path | None, name: str) -> subprocess.Popen[bytes] | None:
    """`py-spy record` on serve while the load runs (collapsed stacks, every thread, idle
    ones too), when --profile DIR is given; py-spy is a tool, not a dependency."""
    if where is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    out = where / f"{name}.txt"
    command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--idle", "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def checkout(rev: str | None) -> Iterator[Path | None]:
    """A temporary git worktree of `rev` (None: this checkout)."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", str(tree), rev], check=True
        )
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])


def single_pages(port: int, urls: Sequence[str], runs: int) -> list[float]:
    """`GET url` by one visitor alone, one after the other (the unloaded latency)."""
    times: list[float] = []
    with requests.Session() as http:
        for url in list(urls)[:runs]:
            started = time.perf_counter()
            answer = http.get(f"http://127.0.0.1:{port}{url}", timeout=60)
            times.append(time.perf_counter() - started)
            answer.raise_for_status()
    return times


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@dataclass
class LoadRun:
    label: str
    mode: str
    single: list[float]
    times: dict[str, list[float]]
    errors: list[str]
    seconds: float
    calls: dict[str, int]
    cpu: float
    rate: list[int] = field(default_factory=list)  # Spotify calls in each 2 s of the load

    def line(self, kind: str) -> str:
        values = self.times[kind]
        return (
            f"{kind:<7} n={len(values):>5}  p50 {percentile(values, 0.5) * 1000:7.0f} ms"
            f"  p95 {percentile(values, 0.95) * 1000:7.0f} ms"
            f"  p99 {percentile(values, 0.99) * 1000:7.0f} ms"
            f"  max {max(values, default=float('nan')) * 1000:7.0f} ms"
        )


def load_run(
    pristine: Path,
    work: Path,
    double: SpotifyDouble,
    mode: Mode,
    urls: list[str],
    load: Load,
    latency: float,
    tree: Path | None,
    label: str,
    profile: Path | None = None,
    warm_urls: list[str] | None = None,
    restart: bool = False,
) -> LoadRun:
    """One load on a fresh copy of the imported home (nothing cached, pacing unlearned).

    `warm_urls`: first the same load on these pages, not measured: a server that has
    been running, its pacing learned; the measured pages' covers are still cold.
    `restart`: the warm-up runs in a server of its own (the warm pages in two loads,
    ~40 s), stopped before the measured load starts a new one on the same home: what
    the home's pacing state keeps."""
    home = work / f"home-load-{label}-{mode}"
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(pristine, home)
    double.mode = mode
    double.reset()
    double.delay(latency, endpoints=DELAYED)
    try:
        if warm_urls and restart:
            with serve_process(home, double.env(), tree) as (port, _):
                # Two loads back to back (~40 s): the pacing keeps a rate as one that
                # works once it has held for a whole 30 s window without a 429.
                half = len(warm_urls) // 2
                run_load(port, warm_urls[:half], load)
                run_load(port, warm_urls[half:], load)
            double.reset()  # count the measured load's calls only
            double.delay(latency, endpoints=DELAYED)
        with serve_process(home, double.env(), tree) as (port, pid):
            single = single_pages(port, urls, 10)
            if warm_urls and not restart:
                run_load(port, warm_urls, load)
                double.reset()  # count the measured load's calls only
                double.delay(latency, endpoints=DELAYED)
            cpu_before = cpu_seconds(pid)
            spy = profiler(pid, profile, f"{label}-{mode}")
            result = run_load(port, urls, load)
            cpu = cpu_seconds(pid) - cpu_before
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(timeout=60)
    finally:
        double.delay(0)
    shutil.rmtree(home, ignore_errors=True)
    times = [r.time for r in double.requests if r.endpoint in DELAYED]
    first = min(times, default=0.0)
    rate = [0] * (int((max(times, default=0.0) - first) // 2) + 1)
    for at in times:
        rate[int((at - first) // 2)] += 1
    return LoadRun(
        label,
        mode,
        single,
        result["times"],
        result["errors"],
        result["seconds"],
        double.counts(),
        cpu,
        rate,
    )


def report_load(run: LoadRun, load: Load) -> None:
    requests_made = sum(len(v) for v in run.times.values())
    print(
        f"(c) {run.label}, {run.mode} mode: {requests_made} requests in {run.seconds:.1f} s"
        f" = {requests_made / run.seconds:.1f} requests/s; {len(run.errors)} errors;"
        f" serve's CPU {run.cpu:.1f} s; one visitor alone first: GET page median"
        f" {statistics.median(run.single) * 1000:.0f} ms"
    )
    for kind in ("page", "covers", "static"):
        print("    " + run.line(kind))
    calls = sum(n for endpoint, n in run.calls.items() if endpoint != "token")
    print(f"    Spotify calls: {calls} ({run.calls}); per 2 s: {' '.join(map(str, run.rate))}")
    for error in sorted(set(run.errors))[:5]:
        print(f"    error: {error}")


SECTIONS = ("first", "scroll", "load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run these sections (default: all)"
    )
    parser.add_argument("--rows", type=int, default=17_600)
    parser.add_argument("--runs", type=int, default=15, help="repeats of the first-page timing")
    parser.add_argument("--tiles", type=int, default=200, help="tiles to scroll through")
    parser.add_argument("--step", type=int, default=450, help="pixels per scroll step")
    parser.add_argument("--keep", type=Path, help="keep the workbook and homes in DIR")
    load_args = parser.add_argument_group("(c) load")
    load_args.add_argument("--visitors", type=int, default=Load.visitors)
    load_args.add_argument("--ramp", type=float, default=Load.ramp, help="arrival spread (s)")
    load_args.add_argument("--scrolls", type=int, default=Load.scrolls)
    load_args.add_argument("--pages", type=int, default=Load.pages, help="pages per visitor")
    load_args.add_argument("--think", type=float, default=Load.think, help="think time (s)")
    load_args.add_argument("--latency", type=float, default=0.2, help="the double's (s)")
    load_args.add_argument(
        "--modes", default="development", help="comma-separated: development,extended"
    )
    load_args.add_argument(
        "--url",
        action="append",
        dest="urls",
        help="a page URL the visitors open (repeatable; default: /, /?page=2…50)",
    )
    load_args.add_argument("--repeat", type=int, default=1, help="loads per revision")
    load_args.add_argument("--before", metavar="REV", help="the same load against revision REV")
    load_args.add_argument("--profile", type=Path, help="py-spy serve under load into DIR")
    load_args.add_argument(
        "--warm-up",
        action="store_true",
        help="also a second scenario: the same load first on the next 50 pages, unmeasured,"
        " so serve's pacing has learned; the measured pages' covers stay cold",
    )
    load_args.add_argument(
        "--restarted",
        action="store_true",
        help="also a scenario: the warm-up in a server of its own, then a new server on the"
        " same home (its pacing state kept in the store) for the measured load",
    )
    args = parser.parse_args()
    sections = args.only or list(SECTIONS)
    chromium = find_chromium()
    if "scroll" in sections and chromium is None:
        raise SystemExit("chromium is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        sheet = write_workbook(work / "sheet.xlsx", rows=args.rows, tabs=18)
        home = work / "home"
        if home.exists():
            shutil.rmtree(home)
        jitspot(home, {}, "import", str(sheet))
        pristine = work / "home-pristine"
        if pristine.exists():
            shutil.rmtree(pristine)
        shutil.copytree(home, pristine)
        shutil.copytree(home, work / "home-development", dirs_exist_ok=True)
        print(f"built and imported the workbook in {time.perf_counter() - started:.0f} s")

        if "first" in sections:
            first_section(home, args.runs)

        with SpotifyDouble(images_served=True) as double:
            served_albums = serve_sample(double, home, year=None)
            print(f"the double serves {served_albums:,} albums")
            if "scroll" in sections:
                assert chromium is not None
                scroll_section(home, work, double, chromium, args.tiles, args.step)
            if "load" in sections:
                load = Load(args.visitors, args.ramp, args.scrolls, args.pages, args.think)
                urls = args.urls or default_urls(args.visitors)
                load_section(pristine, work, double, urls, load, args)
    load_avg = os.getloadavg()
    print(f"load average: {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}")


def first_section(home: Path, runs: int) -> None:
    a = first_page(home, runs)
    ratio = a["whole"] / a["page"]
    verdict = "met" if a["page"] < GOAL_SECONDS else "NOT met"
    print(
        f"(a) first page, {a['albums']:,} albums: GET / median {a['page'] * 1000:.0f} ms"
        f" (min {a['page_min'] * 1000:.0f}, max {a['page_max'] * 1000:.0f}, {runs} runs,"
        f" {a['page_bytes'] / 1e3:.0f} KB); whole catalog as one page (views + render_html)"
        f" {a['whole'] * 1000:.0f} ms ({a['whole_bytes'] / 1e6:.1f} MB):"
        f" {ratio:.0f}x faster; `jitspot export --offline --format html`"
        f" {a['export']:.2f} s. Goal < {GOAL_SECONDS:.0f} s: {verdict}"
    )


def scroll_section(
    home: Path, work: Path, double: SpotifyDouble, chromium: str, tiles: int, step: int
) -> None:
    for mode, where in (("extended", home), ("development", work / "home-development")):
        s = scroll(where, double, mode, chromium, tiles, step)  # type: ignore[arg-type]
        batches = s.counts.get("albums_batch", 0)
        singles = s.counts.get("album", 0)
        asked = s.covers_ids
        per20 = s.api_calls / (asked / 20) if asked else float("nan")
        print(
            f"(b) {mode}: through {s.tiles_passed} tiles in {s.steps} steps of"
            f" {step} px, {s.seconds:.1f} s; the server was asked {asked} covers in"
            f" {s.covers_requests} /api/covers requests; {s.images_set} of the"
            f" {s.tiles_passed} tiles got an image ({s.tiles_waiting} never asked)."
            f" At the double: {batches} batch calls, {singles} single album calls,"
            f" {s.api_calls} API calls in all = {per20:.1f} per 20 covers asked"
            f" (least possible {-(-asked // PER_BATCH)} calls, {PER_BATCH / 20:.0f}"
            f" per 20; one call per album, no coalescing: {asked})"
        )
        print(f"    every endpoint: {s.counts}")


def load_section(
    pristine: Path,
    work: Path,
    double: SpotifyDouble,
    urls: list[str],
    load: Load,
    args: argparse.Namespace,
) -> None:
    print(f"(c) the load: {load.describe(urls)}; the double answers after {args.latency} s")
    print(f"    URLs: {' '.join(urls[:6])}{' …' if len(urls) > 6 else ''}")
    revisions: list[tuple[str, str | None]] = [("this tree", None)]
    if args.before:
        revisions.insert(0, (f"before ({args.before})", args.before))
    scenarios: list[tuple[str, list[str] | None, bool]] = [("fresh server", None, False)]
    warm = warm_up_urls(urls)
    if args.warm_up:
        scenarios.append((f"after a warm-up on {warm[0]}…", warm, False))
    if args.restarted:
        # Twice as many pages (the warm-up's, then as many after them): ~40 s of load.
        twice = warm + [f"/?page={int(u.split('=')[1]) + len(warm)}" for u in warm]
        scenarios.append((f"restarted after a warm-up on {warm[0]}…", twice, True))
    for mode in args.modes.split(","):
        for scenario, warm_urls, restart in scenarios:
            p95: dict[str, dict[str, list[float]]] = {}
            for label, rev in revisions:
                with checkout(rev) as tree:
                    for _ in range(args.repeat):
                        run = load_run(
                            pristine,
                            work,
                            double,
                            mode,  # type: ignore[arg-type]
                            urls,
                            load,
                            args.latency,
                            tree,
                            label.split()[0].replace("(", ""),
                            args.profile,
                            warm_urls,
                            restart,
                        )
                        run.label = f"{label}, {scenario}"
                        report_load(run, load)
                        for kind in ("page", "covers"):
                            p95.setdefault(label, {}).setdefault(kind, []).append(
                                percentile(run.times[kind], 0.95)
                            )
            summary(p95, mode, scenario, args, revisions)


def summary(
    p95: dict[str, dict[str, list[float]]],
    mode: str,
    scenario: str,
    args: argparse.Namespace,
    revisions: list[tuple[str, str | None]],
) -> None:
    """The p95s of this tree (median of --repeat) against the goals and the revision before."""
    goals = {"page": 0.3, "covers": 1.0}
    for kind in ("page", "covers"):
        median = statistics.median(p95["this tree"][kind])
        verdict = "met" if median <= goals[kind] else "NOT met"
        line = (
            f"    {mode}, {scenario}: {kind} p95 median of {args.repeat}: {median * 1000:.0f} ms"
            f" (goal ≤ {goals[kind] * 1000:.0f} ms: {verdict})"
        )
        if args.before:
            old = statistics.median(p95[revisions[0][0]][kind])
            line += f"; before {old * 1000:.0f} ms: {old / median:.1f}x"
        print(line)


if __name__ == "__main__":
    main()
