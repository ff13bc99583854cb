"""Fixtures: a store home in tmp_path, the loopback Spotify double, the CLI, and sheets."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from serving import Served, serve
from spotify_double import SpotifyDouble

from jitspot import cli
from jitspot.catalog import views
from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.catalog import Catalog
from jitspot.catalog.resolver import Resolver
from jitspot.logs import NOISY_LOGGERS
from jitspot.model import cache_key
from jitspot.settings import Settings, load_settings
from jitspot.spotify.gateway import Gates
from jitspot.stopping import Stop
from jitspot.store import Store, open_store

HEADER = [
    "Artist",
    "Album",
    "Release Date",
    "Length",
    "Genre / Subgenres",
    "Vocal Style",
    "Country / State",
    "Bandcamp",
    "Spotify",
    "YouTube",
    "Amazon",
]
# The album object's keys fixed by the contract (DESIGN.md §1), and its `spotify` object's.
ALBUM_KEYS = frozenset(views.ALBUM_KEYS)
SPOTIFY_KEYS = frozenset(views.SPOTIFY_KEYS)
SPOTIFY_ENV = (
    "SPOTIPY_CLIENT_ID",
    "SPOTIPY_CLIENT_SECRET",
    "SPOTIFY_CLIENT_ID",
    "SPOTIFY_CLIENT_SECRET",
    "JITSPOT_SPOTIFY_API_URL",
    "JITSPOT_SPOTIFY_TOKEN_URL",
    "JITSPOT_SPOTIFY_OEMBED_URL",
)


START = 1_800_000_000.0  # fake clocks start here (2027-01-15)


class FakeClock:
    """Time that only moves when jitspot sleeps (or the test advances it)."""

    def __init__(self, start: float = START) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


class Processes:
    """Opens Store + SpotifyCache + Resolver on the shared JITSPOT_HOME, like a new process."""

    def __init__(self, home: Path, fake: FakeClock) -> None:
        self.home = home
        self.fake = fake
        self.opened: list[tuple[Store, SpotifyCache]] = []

    def resolver(
        self,
        gateway_factory: Callable[[Gates], Any] | None = None,
        *,
        stop: Stop | None = None,
        **overrides: Any,
    ) -> Resolver:
        settings = load_settings(self.home, overrides=overrides)
        store = open_store(settings.store_path)
        cache = SpotifyCache(settings.cache_dir, store)
        self.opened.append((store, cache))
        return Resolver(
            store,
            cache,
            settings,
            clock=self.fake.now,
            sleep=self.fake.sleep,
            gateway_factory=gateway_factory,
            stop=stop,
        )

    def cached_albums(self, ids: list[str]) -> set[str]:
        """Albums whose entry is in the cache, read afresh (as the next run would)."""
        entries = self.resolver().cached(ids)
        return {i for i in ids if cache_key("album", i) in entries}

    def close(self, resolver: Resolver) -> None:
        resolver.cache.close()
        resolver.store.close()

    def close_all(self) -> None:
        for store, cache in self.opened:
            cache.close()
            store.close()


@pytest.fixture
def processes(home: Path, fake: FakeClock) -> Iterator[Processes]:
    """Resolvers on the test's home, each with its own store and cache, like processes."""
    opened = Processes(home, fake)
    yield opened
    opened.close_all()


@pytest.fixture
def fake_spotify(fake: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[SpotifyDouble]:
    """The double on jitspot's fake clock: its request times are comparable with ours."""
    with SpotifyDouble(clock=fake.now) as double:
        for name, value in double.env().items():
            monkeypatch.setenv(name, value)
        yield double


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own JITSPOT_HOME and no Spotify settings from the real env."""
    path = tmp_path / "home"
    monkeypatch.setenv("JITSPOT_HOME", str(path))
    for name in SPOTIFY_ENV:
        monkeypatch.delenv(name, raising=False)
    # Spotify must never be reached by accident: point it at a closed port.
    monkeypatch.setenv("JITSPOT_SPOTIFY_API_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("JITSPOT_SPOTIFY_TOKEN_URL", "http://127.0.0.1:9/api/token")
    monkeypatch.setenv("JITSPOT_SPOTIFY_OEMBED_URL", "http://127.0.0.1:9/oembed")
    return path


# Variables through which the caller's terminal would reach rich and click.
TERMINAL_ENV = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")


@pytest.fixture(autouse=True)
def console_width(monkeypatch: pytest.MonkeyPatch) -> int:
    """Every console is 100 columns and no terminal, whatever the machine's shell says.

    rich and click read COLUMNS when a Console or help page is made (the CLI
    makes its Consoles in `cli.main`), so output wraps the same everywhere.
    """
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "40")
    monkeypatch.setenv("TERM", "dumb")
    for name in TERMINAL_ENV:
        monkeypatch.delenv(name, raising=False)
    return 100


@pytest.fixture
def spotify(monkeypatch: pytest.MonkeyPatch) -> Iterator[SpotifyDouble]:
    """The Spotify double on loopback, with credentials in the environment."""
    with SpotifyDouble() as double:
        for name, value in double.env().items():
            monkeypatch.setenv(name, value)
        yield double


@pytest.fixture
def spotify_no_credentials(
    spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch
) -> SpotifyDouble:
    """The double, but jitspot has no client id/secret (oEmbed covers only)."""
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET", raising=False)
    return spotify


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the CLI in-process, as `jitspot ARGS...`; returns exit code and output."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings.store_path) as opened:
        yield opened


@pytest.fixture
def catalog(store: Store, settings: Settings) -> Iterator[Catalog]:
    opened = Catalog(store, settings)
    yield opened
    opened.close()


Row = Sequence[Any]


@pytest.fixture
def make_sheet(tmp_path: Path) -> Callable[..., Path]:
    """Write a real-shaped xlsx: title block, header on row `header_row`, link cells.

    `tabs` maps a tab name to rows of [artist, album, date, length, genres,
    vocals, location, bandcamp, spotify, youtube, amazon]; link values are
    written as cell hyperlinks (link_style="hyperlink") or HYPERLINK()
    formulas ("formula"), shown as "BC"/"S"/"YT"/"A".
    """
    import openpyxl

    def build(
        tabs: dict[str, list[Row]],
        *,
        name: str = "releases.xlsx",
        header_row: int = 5,
        link_style: str = "hyperlink",
        header: Sequence[str] = HEADER,
    ) -> Path:
        workbook = openpyxl.Workbook()
        workbook.remove(workbook.active)
        for tab, rows in tabs.items():
            sheet = workbook.create_sheet(tab)
            sheet["A1"] = f"{tab} Albums"
            sheet.merge_cells("A1:B2")
            sheet["C1"] = "Releases:"
            sheet["D1"] = '=COUNTIF(C6:C999, ">12/31/2019")'
            sheet["A3"] = '=HYPERLINK("https://discord.gg/prog","The Prog Discord")'
            for column, title in enumerate(header, start=1):
                sheet.cell(row=header_row, column=column, value=title)
            for offset, row in enumerate(rows, start=1):
                for column, value in enumerate(row, start=1):
                    cell = sheet.cell(row=header_row + offset, column=column)
                    title = header[column - 1] if column <= len(header) else ""
                    if title in LINK_LABELS and value:
                        label = LINK_LABELS[title]
                        style = link_style
                        if isinstance(value, tuple):
                            value, style = value
                        if style == "formula":
                            cell.value = f'=HYPERLINK("{value}","{label}")'
                        else:
                            cell.value = label
                            cell.hyperlink = value
                    else:
                        cell.value = value
        path = tmp_path / name
        workbook.save(path)
        return path

    return build


LINK_LABELS = {
    "Bandcamp": "BC",
    "Spotify": "S",
    "YouTube": "YT",
    "Amazon": "A",
    "Google Play": "GP",
}


def album_url(spotify_id: str) -> str:
    return f"https://open.spotify.com/album/{spotify_id}?si=abc123"


def without_write_rights() -> list[str]:
    """A prefix that runs a command unable to write where permissions say no.

    Tests run as root here, and root ignores file modes: dropping
    CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH) from the bounding set makes the
    child subject to them, as any user is. Not root: no prefix needed.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a read-only home")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back afterwards."""
    names = ["", "jitspot", *NOISY_LOGGERS]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg, lg.level, list(lg.handlers), list(lg.filters)) for lg in loggers]
    yield
    for lg, level, handlers, filters in saved:
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.filters[:] = filters


HOLD_LOCK = """
import sys
from pathlib import Path
from jitspot.lock import RunLock

lock = RunLock(Path(sys.argv[1]), "refresh")
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
lock.release()
"""


@pytest.fixture
def lock_holder(home: Path) -> Iterator[int]:
    """Another process holds the home's lock (as a running refresh would); yields its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        yield holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def store_tables(path: Path) -> list[tuple[object, ...]]:
    """Everything a command could write to the store: meta, counters, runs, index, pacing."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return [
            row
            for table in ("meta", "counters", "runs", "cache_index", "pacing")
            for row in conn.execute(f"SELECT '{table}', * FROM {table}")
        ]
    finally:
        conn.close()


def age_cached(home: Path, spotify_ids: Sequence[str], days: float) -> None:
    """Make the albums' cached entries look fetched `days` earlier (as if time had passed)."""
    from jitspot.model import CacheEntry

    settings = load_settings(home)
    with open_store(settings.store_path) as store:
        cache = SpotifyCache(settings.cache_dir, store)
        try:
            entries = cache.get_many(cache_key("album", i) for i in spotify_ids)
            assert len(entries) == len(spotify_ids)
            cache.put_many(
                CacheEntry(e.kind, e.spotify_id, e.status, e.fetched_at - days * 86_400, e.data)
                for e in entries.values()
            )
        finally:
            cache.close()


def _starter(*, listening: bool) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(**options: Any) -> Served:
        server = serve(listening=listening, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[..., Served]]:
    """Starts `jitspot serve`'s app in process (over the test's home and the Spotify
    settings in the environment); every app started is stopped afterwards."""
    yield from _starter(listening=False)


@pytest.fixture
def start_listening_server() -> Iterator[Callable[..., Served]]:
    """`start_server`, but the app listens on a free loopback port behind uvicorn, as
    `jitspot serve` does: for what only a socket shows, and for Chromium."""
    yield from _starter(listening=True)
