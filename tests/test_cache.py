"""The disk cache: one truth for cache state, and a damaged cache is only a missing cache."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import string
import subprocess
import sys
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url, without_write_rights
from spotify_double import SpotifyDouble

Run = Callable[..., Result]


@pytest.fixture
def sheet(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble) -> dict[str, str]:
    """Three albums the double knows (one big enough for diskcache to keep in a file)."""
    haken = spotify.add_artist("Haken", genres=("progressive metal",))
    rng = random.Random(7)
    # Random track names do not compress: this album's value goes to a file, not cache.db.
    names = ["".join(rng.choices(string.ascii_letters, k=120)) for _ in range(400)]
    ids = {
        "fauna": spotify.add_album("Fauna", [haken]),
        "virus": spotify.add_album("Virus", [haken]),
        "big": spotify.add_album("Big", [haken], track_names=names),
    }
    rows = [
        [
            "Haken",
            title.capitalize(),
            datetime(2020, 1, 1),
            "LP",
            "Prog",
            "Clean",
            "UK",
            None,
            album_url(spotify_id),
        ]
        for title, spotify_id in ids.items()
    ]
    assert run("import", str(make_sheet({"2021": rows}))).exit_code == 0
    return ids


@pytest.fixture
def fetched(run: Run, sheet: dict[str, str]) -> dict[str, str]:
    """The sheet, with every album fetched into the cache."""
    result = run("export", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert {a["cover_state"] for a in json.loads(result.stdout)} == {"fetched"}
    return sheet


LIST_WORDS = ("not cached", "not found", "no link", "cover", "cached")


def list_words(run: Run) -> dict[str, str]:
    result = run("list")
    assert result.exit_code == 0, result.stderr
    words = {}
    for line in result.stdout.splitlines():
        title = line.split(" — ")[1].split()[0]
        words[title] = next(w for w in LIST_WORDS if line.rstrip().endswith(w))
    return words


def json_states(run: Run) -> dict[str, str]:
    result = run("list", "--json")
    assert result.exit_code == 0, result.stderr
    return {a["title"]: a["cover_state"] for a in result.json()}


def offline_show(run: Run, title: str) -> tuple[dict[str, Any], Result]:
    result = run("show", f"haken {title}", "--offline", "--json")
    assert result.exit_code == 0, result.stderr
    view: dict[str, Any] = result.json()
    assert view["artist"] == "Haken" and view["title"] == title.capitalize()
    return view, result


def notice_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "Spotify cache" in line]


def disk_rows(cache_dir: Path) -> dict[str, tuple[int, str | None]]:
    """diskcache's rows: key -> (rowid, file name of a value kept in a file)."""
    with sqlite3.connect(cache_dir / "cache.db") as conn:
        rows = conn.execute("SELECT rowid, key, raw, filename FROM Cache").fetchall()
    keys = {}
    for rowid, key, _raw, filename in rows:
        keys[json.loads(zlib.decompress(key).decode())] = (rowid, filename)
    return keys


# -- one source of truth for cache state (list, list --json, show, export) ---------------------


def test_cache__list_and_list_json_agree_after_a_fetch(run: Run, fetched: dict[str, str]) -> None:
    assert list_words(run) == {"Fauna": "cover", "Virus": "cover", "Big": "cover"}
    assert set(json_states(run).values()) == {"cached"}


def test_cache__deleted_folder_makes_list_and_list_json_agree_not_cached(
    run: Run, fetched: dict[str, str], home: Path
) -> None:
    shutil.rmtree(home / "cache")
    assert list_words(run) == dict.fromkeys(("Fauna", "Virus", "Big"), "not cached")
    assert set(json_states(run).values()) == {"not_cached"}
    assert offline_show(run, "fauna")[0]["cover_state"] == "not_cached"
    export = run("export", "--offline", "--format", "json")
    assert {a["cover_state"] for a in json.loads(export.stdout)} == {"not_cached"}


def test_cache__replaced_folder_voids_the_index(
    run: Run, fetched: dict[str, str], home: Path, tmp_path: Path, spotify: SpotifyDouble
) -> None:
    other = tmp_path / "other"
    shutil.move(home / "cache", other)  # the user restores some other (empty) cache there
    (home / "cache").mkdir()
    assert list_words(run)["Fauna"] == "not cached"
    calls = spotify.api_calls()
    view = run("show", "haken fauna", "--json").json()
    assert view["cover_state"] == "fetched"
    assert spotify.api_calls() > calls
    assert list_words(run)["Fauna"] == "cover"


def test_cache__value_gone_from_disk_drops_its_index_row(
    run: Run, fetched: dict[str, str], home: Path
) -> None:
    import diskcache

    with diskcache.Cache(str(home / "cache"), disk=diskcache.JSONDisk) as disk:
        assert disk.delete(f"album:{fetched['virus']}")
    assert json_states(run)["Virus"] == "not_cached"
    assert list_words(run)["Virus"] == "not cached"
    assert list_words(run)["Fauna"] == "cover"


def test_cache__expired_not_found_reads_the_same_in_list_and_json(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    spotify.not_found(sheet["virus"])
    assert run("show", "haken virus", "--json").json()["cover_state"] == "not_found"
    # A "not found" is believed for a while only; past that both say it is not cached.
    monkeypatch.setenv("JITSPOT_NOT_FOUND_TTL_DAYS", "0.0000001")
    assert json_states(run)["Virus"] == "not_cached"
    assert list_words(run)["Virus"] == "not cached"


# -- a damaged cache is an empty cache -------------------------------------------------------


def assert_works_offline_with_one_notice(run: Run, title: str = "fauna") -> dict[str, Any]:
    view, result = offline_show(run, title)
    assert len(notice_lines(result)) == 1, result.stderr
    assert "unreadable" in notice_lines(result)[0]
    export = run("export", "--offline", "--format", "json")
    assert export.exit_code == 0, export.stderr
    assert len(json.loads(export.stdout)) == 3
    assert len(notice_lines(export)) <= 1, export.stderr
    return view


def test_cache__garbled_cache_db_is_moved_aside_and_commands_work(
    run: Run, fetched: dict[str, str], home: Path, spotify: SpotifyDouble
) -> None:
    for extra in ("cache.db-wal", "cache.db-shm"):
        (home / "cache" / extra).unlink(missing_ok=True)
    (home / "cache" / "cache.db").write_bytes(b"this is not a database" * 500)
    view = assert_works_offline_with_one_notice(run)
    assert view["cover_state"] == "not_cached"
    assert list(home.glob("cache.damaged-*"))  # kept for a look, out of the way
    # The next fetch fills a fresh cache, and the notice is not repeated.
    assert run("show", "haken fauna", "--json").json()["cover_state"] == "fetched"
    again, result = offline_show(run, "fauna")
    assert again["cover_state"] == "cached"
    assert notice_lines(result) == []
    assert list_words(run)["Fauna"] == "cover"


def test_cache__one_garbled_value_in_cache_db_is_dropped(
    run: Run, fetched: dict[str, str], home: Path
) -> None:
    rowid, filename = disk_rows(home / "cache")[f"album:{fetched['fauna']}"]
    assert filename is None  # a small value: it lives in cache.db
    with sqlite3.connect(home / "cache" / "cache.db") as conn:
        conn.execute("UPDATE Cache SET value = ? WHERE rowid = ?", (b"\x00garbled", rowid))
    view = assert_works_offline_with_one_notice(run, "fauna")
    assert view["cover_state"] == "not_cached"
    assert list_words(run) == {"Fauna": "not cached", "Virus": "cover", "Big": "cover"}
    assert offline_show(run, "virus")[0]["cover_state"] == "cached"


def test_cache__one_garbled_value_file_is_dropped(
    run: Run, fetched: dict[str, str], home: Path
) -> None:
    _, filename = disk_rows(home / "cache")[f"album:{fetched['big']}"]
    assert filename is not None  # a large value: diskcache keeps it in a file
    (home / "cache" / filename).write_bytes(b"\x00garbled")
    view = assert_works_offline_with_one_notice(run, "big")
    assert view["cover_state"] == "not_cached"
    assert list_words(run) == {"Fauna": "cover", "Virus": "cover", "Big": "not cached"}


def test_cache__folder_replaced_by_a_file_works_then_rebuilds(
    run: Run, fetched: dict[str, str], home: Path
) -> None:
    shutil.rmtree(home / "cache")
    (home / "cache").write_text("oops")
    view = assert_works_offline_with_one_notice(run)
    assert view["cover_state"] == "not_cached"
    assert run("show", "haken fauna", "--json").json()["cover_state"] == "fetched"
    assert offline_show(run, "fauna")[0]["cover_state"] == "cached"


JITSPOT = (sys.executable, "-m", "jitspot")


def test_cache__folder_not_writable_still_works_offline(
    fetched: dict[str, str], home: Path
) -> None:
    (home / "cache").chmod(0o500)
    env = {**os.environ, "JITSPOT_HOME": str(home)}
    try:
        shown = subprocess.run(
            [*without_write_rights(), *JITSPOT, "show", "haken fauna", "--offline", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        (home / "cache").chmod(0o700)

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["cover_state"] == "cached"


def test_cache__a_store_rebuilt_after_damage_keeps_the_cache(
    run: Run, fetched: dict[str, str], home: Path, spotify: SpotifyDouble, tmp_path: Path
) -> None:
    # What the damaged-store message advises: move the store aside, re-import.
    (home / "jitspot.sqlite3").rename(tmp_path / "damaged.sqlite3")
    for side in ("jitspot.sqlite3-wal", "jitspot.sqlite3-shm"):
        (home / side).unlink(missing_ok=True)
    assert run("import", str(tmp_path / "releases.xlsx")).exit_code == 0
    calls = spotify.api_calls

    words = list_words(run)
    export = run("export", "--format", "json")

    assert set(words.values()) == {"cover"}
    assert {a["cover_state"] for a in json.loads(export.stdout)} == {"cached"}
    assert spotify.api_calls == calls  # nothing fetched again


def test_cache__identity_is_read_from_cache_db_as_diskcache_wrote_it(
    fetched: dict[str, str], home: Path
) -> None:
    from jitspot.catalog.cache import IDENTITY_KEY, DirectReader
    from jitspot.store import CACHE_IDENTITY, open_store

    with open_store(home / "jitspot.sqlite3") as store:
        known = store.get_meta(CACHE_IDENTITY)
    assert isinstance(known, str)
    reader = DirectReader(home / "cache")
    try:
        assert reader.get(IDENTITY_KEY) == known
    finally:
        reader.close()


def run_noting_diskcache(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run jitspot in a fresh process; its last stderr line says whether diskcache was imported."""
    script = (
        "import sys; from jitspot import cli\n"
        f"try: cli.main({list(args)!r})\n"
        "except SystemExit: pass\n"
        "print('diskcache' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "JITSPOT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )


def test_cache__list_reads_the_index_without_opening_the_disk_cache(
    fetched: dict[str, str], home: Path
) -> None:
    listed = run_noting_diskcache(home, "list")
    assert listed.stdout.count("cover") == 3
    assert listed.stderr.splitlines()[-1] == "False"


@pytest.mark.parametrize("title", ["fauna", "big"])  # a value in cache.db, one in a file
def test_cache__cached_show_reads_values_without_opening_the_disk_cache(
    fetched: dict[str, str], home: Path, title: str
) -> None:
    shown = run_noting_diskcache(home, "show", f"haken {title}", "--offline", "--json")
    view = json.loads(shown.stdout)
    assert view["cover_state"] == "cached" and view["spotify"]["tracks"]
    assert shown.stderr.splitlines()[-1] == "False"


def test_cache__list_opens_a_cache_that_is_not_the_indexed_one(
    run: Run, fetched: dict[str, str], home: Path
) -> None:
    db = home / "cache" / "cache.db"
    with sqlite3.connect(db) as conn:  # another cache's identity, same values
        key = zlib.compress(json.dumps("jitspot:identity").encode(), 6)
        value = zlib.compress(json.dumps("someone-else").encode(), 6)
        assert conn.execute("UPDATE Cache SET value = ? WHERE key = ?", (value, key)).rowcount
    assert set(list_words(run).values()) == {"not cached"}
