"""The store under damage and pressure: races on shared times, damaged files, a full
disk, a read-only home, and counters that reads must not write."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url, store_tables, without_write_rights
from spotify_double import API_ENDPOINTS, SpotifyDouble

from jitspot.catalog.catalog import Catalog
from jitspot.catalog.resolver import NOT_BEFORE
from jitspot.errors import EXIT_CONFIG, EXIT_TEMPFAIL, ConfigError, DiskFull
from jitspot.settings import Settings, load_settings
from jitspot.sheets.importer import import_source
from jitspot.store import Store, open_store
from jitspot.store.db import _enter_wal
from jitspot.timetext import until_text

Run = Callable[..., Result]
HOUR = 3600.0
NOON = datetime(2027, 1, 15, 12, 0, tzinfo=UTC).timestamp()


def _rows(n: int, spotify_id: str | None = None) -> list[list[object]]:
    link = album_url(spotify_id) if spotify_id else None
    long_title = "x" * 200  # rows big enough that 400 of them need new pages
    rest = ["Clean", "UK", None, link]
    return [
        [f"Band {i}", f"Album {i} {long_title}", datetime(2021, 1, 1), "LP", "Prog", *rest]
        for i in range(n)
    ]


@pytest.fixture
def imported(run: Run, make_sheet: Callable[..., Path], home: Path) -> Path:
    """A home with a store that holds a few albums; the store is closed."""
    sheet = make_sheet({"2021": _rows(5)})
    assert run("import", str(sheet)).exit_code == 0
    return sheet


def _store_file(home: Path) -> Path:
    return load_settings(home).store_path


# -- 8: the shared "rate-limited until" ---------------------------------------------------


def test_raise_meta_time__keeps_the_later_time_another_process_wrote(settings: Settings) -> None:
    with open_store(settings.store_path) as first, open_store(settings.store_path) as second:
        assert first.raise_meta_time(NOT_BEFORE, NOON + 2 * HOUR) == NOON + 2 * HOUR
        # A process that saw a shorter Retry-After must not shorten the wait.
        assert second.raise_meta_time(NOT_BEFORE, NOON + HOUR) == NOON + 2 * HOUR
        assert first.get_meta(NOT_BEFORE) == NOON + 2 * HOUR
        assert second.raise_meta_time(NOT_BEFORE, NOON + 3 * HOUR) == NOON + 3 * HOUR
        assert first.get_meta(NOT_BEFORE) == NOON + 3 * HOUR


def test_raise_meta_time__replaces_a_value_that_is_not_a_time(settings: Settings) -> None:
    with open_store(settings.store_path) as store:
        store.set_meta(NOT_BEFORE, "garbage")
        assert store.raise_meta_time(NOT_BEFORE, NOON) == NOON


@pytest.mark.parametrize(
    ("until", "text"),
    [
        (NOON + 2.5 * HOUR, "14:30"),
        (NOON + 11 * HOUR + 59 * 60, "23:59"),
        (NOON + 12 * HOUR, "2027-01-16 00:00"),
        (NOON + 26.5 * HOUR, "2027-01-16 14:30"),
        (None, "later"),
    ],
)
def test_until_text__gives_the_date_when_it_is_not_today(until: float | None, text: str) -> None:
    assert until_text(until, NOON, UTC) == text


def test_until_text__today_is_the_local_day_of_the_zone() -> None:
    plus_13 = timezone(timedelta(hours=13))  # noon UTC is 01:00 next day there
    assert until_text(NOON + 12 * HOUR, NOON, plus_13) == "13:00"


def test_show__rate_limited_for_two_days_says_the_date(
    run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble
) -> None:
    band = spotify.add_artist("Haken")
    album = spotify.add_album("Fauna", [band])
    assert run("import", str(make_sheet({"2021": _rows(1, album)}))).exit_code == 0
    spotify.rate_limit(2 * 86_400, endpoints={*API_ENDPOINTS, "oembed"})
    result = run("show", "band 0", "--json")
    assert result.exit_code == 0, result.stderr
    note = result.json()["cover_note"]
    assert re.fullmatch(r"rate-limited until \d{4}-\d\d-\d\d \d\d:\d\d", note), note


# -- 10: a damaged store ------------------------------------------------------------------


def _garble(path: Path, page: int, page_size: int = 4096, keep: int = 0) -> None:
    with path.open("r+b") as handle:
        handle.seek((page - 1) * page_size + keep)
        handle.write(b"\xa5\x5a" * ((page_size - keep) // 2))


def _albums_root_page(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'albums'").fetchone()
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return int(root[0]), int(size)


def test_store__garbled_header_says_damaged_and_how_to_recover(
    run: Run, imported: Path, home: Path
) -> None:
    path = _store_file(home)
    with path.open("r+b") as handle:
        handle.write(b"this is not a database at all!!" * 4)
    result = run("list")
    assert result.exit_code == EXIT_CONFIG
    assert "unexpected" not in result.stderr
    assert f"the store at {path} is damaged" in result.stderr
    assert "move it aside and re-import the sheet" in result.stderr


def test_list__corrupt_albums_pages_exit_78_with_recovery_advice(
    run: Run, imported: Path, home: Path
) -> None:
    path = _store_file(home)
    root, size = _albums_root_page(path)
    _garble(path, root, size)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM meta").fetchone()[0] > 0
    result = run("list")
    assert result.exit_code == EXIT_CONFIG, result.stderr
    assert "unexpected" not in result.stderr
    assert "is damaged (database disk image is malformed)" in result.stderr
    assert "the Spotify cache is kept" in result.stderr


def test_import__same_file_on_a_damaged_store_is_not_reported_unchanged(
    run: Run, imported: Path, home: Path
) -> None:
    path = _store_file(home)
    root, size = _albums_root_page(path)
    _garble(path, root, size)
    result = run("import", str(imported), "--json")
    assert result.exit_code == EXIT_CONFIG, result.stdout
    assert result.stdout == ""
    assert "is damaged" in result.stderr


# -- 11: a full disk ----------------------------------------------------------------------


@pytest.fixture
def full_store(imported: Path, settings: Settings) -> Iterator[Store]:
    """The store opened with no room to grow: SQLite's own SQLITE_FULL, no full disk needed."""
    with open_store(settings.store_path) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")
        yield store


def test_import__disk_full_says_so_and_keeps_the_old_state(
    full_store: Store, settings: Settings, make_sheet: Callable[..., Path]
) -> None:
    before = [(a.artist, a.title) for a in full_store.albums()]
    bigger = make_sheet({"2021": _rows(400)}, name="bigger.xlsx")
    with pytest.raises(DiskFull) as raised:
        import_source(full_store, settings, str(bigger))
    assert "disk full; nothing was changed" in str(raised.value)
    assert str(settings.store_path) in str(raised.value)
    assert raised.value.exit_code == EXIT_TEMPFAIL
    assert [(a.artist, a.title) for a in full_store.albums()] == before
    assert not full_store.conn.in_transaction


def test_show_offline__counts_nothing_and_writes_nothing(
    run: Run, make_sheet: Callable[..., Path], settings: Settings
) -> None:
    """Offline lookups could not call: they are not cache lookups in the hit-rate sense,
    and an offline command must work on a full disk or a read-only home."""
    sheet = make_sheet({"2021": _rows(1, "4aawyAB9vmqN3uQ7FjRGTy")})
    assert run("import", str(sheet)).exit_code == 0
    assert run("list").exit_code == 0  # the first to open the cache names it (a meta write)
    before = store_tables(settings.store_path)
    assert run("show", "band 0", "--offline").exit_code == 0
    assert run("export", "--offline").exit_code == 0
    assert store_tables(settings.store_path) == before
    with open_store(settings.store_path) as store:
        assert not [name for name in store.counters() if name.startswith("cache.")]
        assert store.last_run("show") is None
        assert store.last_run("export") is None


def test_show_offline__works_when_the_store_takes_no_write(
    run: Run, make_sheet: Callable[..., Path], settings: Settings
) -> None:
    sheet = make_sheet({"2021": _rows(1, "4aawyAB9vmqN3uQ7FjRGTy")})
    assert run("import", str(sheet)).exit_code == 0
    uri = settings.store_path.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    with Store(conn, settings.store_path) as store:  # not told it is read-only
        catalog = Catalog(store, settings)
        views = catalog.views(store.albums(), offline=True)
        catalog.close()
        assert views[0]["cover_state"] == "not_cached"


# -- 11: a read-only JITSPOT_HOME -----------------------------------------------------------


@pytest.fixture
def read_only_home(imported: Path, home: Path) -> Iterator[Path]:
    paths = [p for p in home.rglob("*")] + [home]
    for path in paths:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield home
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _jitspot(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JITSPOT_HOME": str(home)}
    return subprocess.run(
        [*without_write_rights(), sys.executable, "-m", "jitspot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_read_only_home__the_child_really_cannot_write(read_only_home: Path) -> None:
    probe = subprocess.run(
        [*without_write_rights(), "sh", "-c", f"touch {read_only_home}/probe"],
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "--json"),
        ("show", "band 1", "--offline", "--json"),
        ("export", "--offline", "--format", "json"),
    ],
)
def test_read_only_home__read_commands_work(read_only_home: Path, args: tuple[str, ...]) -> None:
    result = _jitspot(read_only_home, *args)
    assert result.returncode == 0, result.stderr
    assert "Band 1" in result.stdout


def test_read_only_home__import_says_read_only_and_exits_78(
    read_only_home: Path, make_sheet: Callable[..., Path]
) -> None:
    sheet = make_sheet({"2021": _rows(7)}, name="more.xlsx")
    result = _jitspot(read_only_home, "import", str(sheet))
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "read-only" in result.stderr
    assert "Traceback" not in result.stderr


# Every command that takes the home's run lock (refresh, match, cache prune/clear).
LOCKING_COMMANDS = [
    ("refresh", "--all"),
    ("refresh", "--missing"),
    ("match",),
    ("cache", "prune"),
    ("cache", "clear", "--all"),
]


@pytest.mark.parametrize("args", LOCKING_COMMANDS)
def test_read_only_home__commands_that_lock_say_read_only_and_exit_78(
    read_only_home: Path, spotify: SpotifyDouble, args: tuple[str, ...]
) -> None:
    result = _jitspot(read_only_home, *args)
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "read-only" in result.stderr
    assert "JITSPOT_HOME" in result.stderr  # says what to do, as the store's message does
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    assert spotify.api_calls() == 0


@pytest.fixture
def read_only_home_with_lock_file(imported: Path, home: Path) -> Iterator[Path]:
    """A read-only home where an earlier run left its (unlocked) lock file."""
    from jitspot.lock import RunLock

    with RunLock(home, "refresh").held():
        pass
    paths = [*home.rglob("*"), home]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield home
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.mark.parametrize("args", [("refresh", "--all"), ("cache", "prune")])
def test_read_only_home__an_old_lock_file_it_cannot_open_says_read_only_and_exits_78(
    read_only_home_with_lock_file: Path, spotify: SpotifyDouble, args: tuple[str, ...]
) -> None:
    result = _jitspot(read_only_home_with_lock_file, *args)
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "read-only" in result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr


SYNC_ON_THE_HOME = """
import sys
from pathlib import Path
from jitspot.settings import load_settings
from jitspot.jobs.sync import Syncer, SyncRefused

settings = load_settings(Path(sys.argv[1]), overrides={"sheet_url": sys.argv[2]})
try:
    Syncer(settings, lambda stop: None).start()  # type: ignore[arg-type, return-value]
except SyncRefused as exc:
    print("refused:", exc)
"""


def test_read_only_home__serve_sync_is_refused_saying_read_only(
    read_only_home: Path, imported: Path
) -> None:
    env = {**os.environ, "JITSPOT_HOME": str(read_only_home)}
    command = [sys.executable, "-c", SYNC_ON_THE_HOME, str(read_only_home), str(imported)]
    result = subprocess.run(
        [*without_write_rights(), *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # refused (409 in serve), not a crash (500)
    assert result.stdout.startswith("refused: the lock file at ")
    assert "read-only" in result.stdout


def test_open_store__a_store_it_cannot_read_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "jitspot.db"
    path.write_bytes(b"\0" * 100 + b"junk" * 2000)
    with pytest.raises(ConfigError, match="damaged"):
        open_store(path).albums()


def test_read_only_home__cached_covers_are_still_shown(
    run: Run, make_sheet: Callable[..., Path], home: Path, spotify: SpotifyDouble
) -> None:
    album_id = spotify.add_album("Album 0", [spotify.add_artist("Band 0")])
    assert run("import", str(make_sheet({"2021": _rows(1, album_id)}))).exit_code == 0
    assert run("show", "band 0", "--json").json()["cover_state"] == "fetched"
    paths = [*home.rglob("*"), home]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        shown = _jitspot(home, "show", "band 0", "--offline", "--json")
        listed = _jitspot(home, "list")
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)

    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["cover_state"] == "cached"
    assert view["spotify"]["tracks"]
    assert listed.returncode == 0, listed.stderr
    assert "cover" in listed.stdout
    assert "Spotify cache" not in shown.stderr + listed.stderr  # read quietly, no warning


def _writer_on_new_file(path: Path) -> sqlite3.Connection:
    """Another process's view of a new store: rollback-journal file, write lock held."""
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    return writer


def test_open_store__a_new_file_waits_for_another_writer_before_turning_to_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite refuses the WAL switch at once while another holds the write lock; wait it out."""
    path = tmp_path / "jitspot.sqlite3"
    writer = _writer_on_new_file(path)
    wal_asked = threading.Semaphore(0)
    connect = sqlite3.connect

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        # Every statement the opener's connection starts, refused ones too: the WAL
        # switch asked twice means the first met the held lock and was refused.
        conn: sqlite3.Connection = connect(*args, **kwargs)
        conn.set_trace_callback(
            lambda sql: (
                wal_asked.release() if "journal_mode=wal" in sql.replace(" ", "").lower() else None
            )
        )
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced_connect)
    opened: list[Store] = []
    failed: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(open_store(path))
        except BaseException as exc:  # reported by the assertion below
            failed.append(exc)

    opener = threading.Thread(target=open_it)
    opener.start()
    assert wal_asked.acquire(timeout=30)  # the opener meets the held lock...
    assert wal_asked.acquire(timeout=30)  # ...and asks again: it waits
    writer.execute("COMMIT")
    writer.close()
    opener.join(timeout=30)
    assert not failed, failed
    (store,) = opened
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not store.read_only


def test_enter_wal__a_writer_that_never_lets_go_is_still_an_error_when_patience_ends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jitspot.sqlite3"
    writer = _writer_on_new_file(path)
    now = [0.0]
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        now[0] += seconds

    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _enter_wal(conn, patience=1.0, clock=lambda: now[0], sleep=sleep)
    assert 1.0 <= sum(naps) < 1.1
    writer.rollback()
    _enter_wal(conn, patience=0.0, clock=lambda: now[0], sleep=sleep)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
