"""`jitspot cache prune` / `cache clear`: drop what they say, keep what albums need.

Through the CLI against the Spotify double with a real store and cache; the
choice of entries (`housekeeping.prune` / `clear`) is also pinned without I/O.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url
from spotify_double import SpotifyDouble

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import DAY, Lifetimes
from jitspot.jobs.housekeeping import (
    CLEARED,
    EXPIRED,
    NOT_IN_STORE,
    NOT_INDEXED,
    UNNEEDED_ARTIST,
    UNREADABLE,
    VALUE_GONE,
    Cached,
    clear,
    prune,
)
from jitspot.model import CacheEntry, Status
from jitspot.settings import load_settings
from jitspot.store import Store, open_store

Run = Callable[..., Result]
Ids = dict[str, str]


# -- the catalog ---------------------------------------------------------------------------


def sheet_rows(ids: Ids, keys: list[str]) -> list[list[Any]]:
    titles = {
        "fauna": ("Haken", "Fauna"),
        "vector": ("Haken", "Vector"),
        "war": ("Tesseract", "War of Being"),
        "aphelion": ("Leprous", "Aphelion"),
    }
    return [
        [*titles[key], datetime(2021, 1, 1), "LP", "Prog", "Clean", "UK", None, album_url(ids[key])]
        for key in keys
    ]


@pytest.fixture
def ids(spotify: SpotifyDouble) -> Ids:
    """Four albums by three artists: Haken has two of them."""
    haken = spotify.add_artist("Haken", genres=("progressive metal",))
    tesseract = spotify.add_artist("Tesseract", genres=("djent",))
    leprous = spotify.add_artist("Leprous", genres=("progressive metal",))
    return {
        "fauna": spotify.add_album("Fauna", [haken]),
        "vector": spotify.add_album("Vector", [haken]),
        "war": spotify.add_album("War of Being", [tesseract]),
        "aphelion": spotify.add_album("Aphelion", [leprous]),
        "haken": haken,
        "tesseract": tesseract,
        "leprous": leprous,
    }


@pytest.fixture
def fetched(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble, ids: Ids) -> Ids:
    """Tab 2023: Fauna, War of Being; tab 2021: Vector, Aphelion; all of it cached."""
    tabs = {
        "2023": sheet_rows(ids, ["fauna", "war"]),
        "2021": sheet_rows(ids, ["vector", "aphelion"]),
    }
    assert run("import", str(make_sheet(tabs))).exit_code == 0
    result = run("export", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert {a["cover_state"] for a in result.json()} == {"fetched"}
    assert disk_keys() == {
        *(f"album:{ids[k]}" for k in ("fauna", "vector", "war", "aphelion")),
        *(f"artist:{ids[k]}" for k in ("haken", "tesseract", "leprous")),
    }
    spotify.reset()
    return ids


def open_cache() -> tuple[Store, SpotifyCache]:
    """The store and cache of the test's JITSPOT_HOME, opened afresh as a next run would."""
    settings = load_settings(Path(os.environ["JITSPOT_HOME"]))
    store = open_store(settings.store_path)
    return store, SpotifyCache(settings.cache_dir, store)


def disk_keys() -> set[str]:
    """The entries the disk cache holds, read afresh."""
    store, cache = open_cache()
    try:
        return {key for key, _entry, _size in cache.scan()}
    finally:
        cache.close()
        store.close()


def index_keys() -> set[str]:
    """The entries the store's cache index lists."""
    store, cache = open_cache()
    try:
        return set(store.cache_index())
    finally:
        cache.close()
        store.close()


def entry_count() -> int:
    """diskcache's own count of its entries (the identity marker included)."""
    store, cache = open_cache()
    try:
        return cache.stats()[0]
    finally:
        cache.close()
        store.close()


def put(*entries: CacheEntry) -> None:
    store, cache = open_cache()
    try:
        cache.put_many(entries)
    finally:
        cache.close()
        store.close()


def by_kind(album: int = 0, artist: int = 0, oembed: int = 0, search: int = 0) -> dict[str, int]:
    return {"album": album, "artist": artist, "oembed": oembed, "search": search}


def kind_counts(report: dict[str, Any]) -> dict[str, int]:
    return {kind: counts["entries"] for kind, counts in report["by_kind"].items()}


def drop_tab_2021_rows(run: Run, make_sheet: Callable[..., Path], ids: Ids) -> None:
    """Re-import with Vector and Aphelion gone from tab 2021 (War of Being moved there)."""
    tabs = {"2023": sheet_rows(ids, ["fauna"]), "2021": sheet_rows(ids, ["war"])}
    imported = run("import", str(make_sheet(tabs, name="edited.xlsx")), "--json")
    assert imported.exit_code == 0, imported.stderr
    assert imported.json()["removed"] == 3  # Vector, Aphelion, and War of Being's old row


# -- prune ---------------------------------------------------------------------------------


def test_prune__keeps_everything_the_albums_need(run: Run, fetched: Ids) -> None:
    before = disk_keys()
    result = run("cache", "prune", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert (report["entries"], report["bytes"], report["dry_run"]) == (0, 0, False)
    assert kind_counts(report) == by_kind()
    assert disk_keys() == before


def test_prune__drops_albums_removed_from_the_sheet_and_the_artists_only_they_need(
    run: Run, make_sheet: Callable[..., Path], fetched: Ids
) -> None:
    ids = fetched
    drop_tab_2021_rows(run, make_sheet, ids)
    entries_before = entry_count()
    result = run("cache", "prune", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    dropped = {(d["kind"], d["id"], d["reason"]) for d in report["dropped"]}
    assert dropped == {
        ("album", ids["vector"], NOT_IN_STORE),
        ("album", ids["aphelion"], NOT_IN_STORE),
        ("artist", ids["leprous"], UNNEEDED_ARTIST),  # Haken is still needed by Fauna
    }
    assert kind_counts(report) == by_kind(album=2, artist=1)
    assert report["entries"] == 3 == entries_before - entry_count()
    assert report["bytes"] == sum(d["bytes"] for d in report["dropped"]) > 0
    assert report["by_kind"]["album"]["bytes"] > 0
    kept = {f"album:{ids['fauna']}", f"album:{ids['war']}"}
    kept |= {f"artist:{ids['haken']}", f"artist:{ids['tesseract']}"}
    assert disk_keys() == kept
    assert index_keys() == kept  # the index follows the disk cache


def test_prune__a_second_prune_frees_nothing(
    run: Run, make_sheet: Callable[..., Path], fetched: Ids
) -> None:
    drop_tab_2021_rows(run, make_sheet, fetched)
    assert run("cache", "prune").exit_code == 0
    again = run("cache", "prune", "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["entries"] == 0


def test_prune__kept_albums_still_read_from_the_cache(
    run: Run, make_sheet: Callable[..., Path], fetched: Ids, spotify: SpotifyDouble
) -> None:
    drop_tab_2021_rows(run, make_sheet, fetched)
    assert run("cache", "prune").exit_code == 0
    shown = run("show", "haken fauna", "--json")
    assert shown.exit_code == 0, shown.stderr
    view = shown.json()
    assert view["cover_state"] == "cached"
    assert view["spotify"]["genres"] == ["progressive metal"]
    assert spotify.requests == []


def test_prune__drops_expired_not_found_entries_and_keeps_fresh_ones(
    run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble
) -> None:
    old, recent, old_artist = spotify.new_id(), spotify.new_id(), spotify.new_id()
    rows = [
        ["Old", "Gone Long Ago", None, "LP", None, None, None, None, album_url(old)],
        ["New", "Gone Lately", None, "LP", None, None, None, None, album_url(recent)],
    ]
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    now = time.time()
    put(
        CacheEntry("album", old, "not_found", now - 8 * DAY),  # past the 7-day default
        CacheEntry("album", recent, "not_found", now - 1 * DAY),
        CacheEntry("artist", old_artist, "not_found", now - 8 * DAY),
    )
    result = run("cache", "prune", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert {(d["key"], d["reason"]) for d in report["dropped"]} == {
        (f"album:{old}", EXPIRED),
        (f"artist:{old_artist}", EXPIRED),
    }
    assert disk_keys() == index_keys() == {f"album:{recent}"}
    words = run("list").stdout
    assert "Gone Lately" in words and "not found" in words.split("Gone Lately")[1]


@pytest.mark.parametrize(
    ("state", "score", "kept"),
    [
        ("accepted", 0.5, True),
        ("matched", 0.95, True),  # at or above the threshold: the id jitspot uses
        ("review", 0.85, False),  # below it: waits for a person
        ("rejected", 0.99, False),
    ],
)
def test_prune__keeps_a_matched_album_only_when_its_match_is_used(
    run: Run,
    make_sheet: Callable[..., Path],
    spotify: SpotifyDouble,
    state: str | None,
    score: float,
    kept: bool,
) -> None:
    matched = spotify.new_id()
    rows = [["Unlinked", "Found By Search", None, "LP", None, None, None, None, None]]
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    store, cache = open_cache()
    try:
        with store.transaction() as conn:
            conn.execute(
                "UPDATE albums SET match_id = ?, match_score = ?, match_state = ?",
                (matched, score, state),
            )
        cache.put_many([CacheEntry("album", matched, "found", time.time(), {"name": "Found"})])
    finally:
        cache.close()
        store.close()
    result = run("cache", "prune", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["entries"] == (0 if kept else 1)
    assert (f"album:{matched}" in disk_keys()) is kept


def test_prune__dry_run_lists_what_it_would_drop_and_drops_nothing(
    run: Run, make_sheet: Callable[..., Path], fetched: Ids
) -> None:
    ids = fetched
    drop_tab_2021_rows(run, make_sheet, ids)
    before = (disk_keys(), index_keys())
    plan = run("cache", "prune", "--dry-run", "--json")
    assert plan.exit_code == 0, plan.stderr
    planned = plan.json()
    assert planned["dry_run"] is True
    assert kind_counts(planned) == by_kind(album=2, artist=1)
    assert (disk_keys(), index_keys()) == before
    text = run("cache", "prune", "--dry-run")
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 3
    assert any(ids["aphelion"] in line and "Aphelion" in line for line in lines)
    assert "Would drop 3 entries" in text.stderr
    assert "Nothing was dropped" in text.stderr
    assert (disk_keys(), index_keys()) == before
    done = run("cache", "prune", "--json").json()
    assert (done["entries"], done["bytes"], done["dry_run"]) == (
        planned["entries"],
        planned["bytes"],
        False,
    )


def test_prune__prints_one_summary_line(
    run: Run, make_sheet: Callable[..., Path], fetched: Ids
) -> None:
    drop_tab_2021_rows(run, make_sheet, fetched)
    result = run("cache", "prune")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Pruned 3 entries (")
    assert "2 albums (" in result.stdout and "1 artist (" in result.stdout
    assert "oEmbed" not in result.stdout  # only the kinds it dropped
    assert len(result.stdout.splitlines()) == 1


# -- clear ---------------------------------------------------------------------------------


def test_clear__forgets_the_selected_albums_and_the_artists_nobody_else_needs(
    run: Run, fetched: Ids
) -> None:
    ids = fetched
    entries_before = entry_count()
    result = run("cache", "clear", "--tab", "2021", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert {(d["kind"], d["id"], d["reason"]) for d in report["dropped"]} == {
        ("album", ids["vector"], CLEARED),
        ("album", ids["aphelion"], CLEARED),
        ("artist", ids["leprous"], UNNEEDED_ARTIST),
    }
    assert kind_counts(report) == by_kind(album=2, artist=1)
    assert report["entries"] == entries_before - entry_count() == 3
    assert report["bytes"] > 0
    kept = {f"album:{ids['fauna']}", f"album:{ids['war']}"}
    kept |= {f"artist:{ids['haken']}", f"artist:{ids['tesseract']}"}  # Haken: Fauna's too
    assert disk_keys() == index_keys() == kept


def test_clear__cleared_albums_read_not_cached_offline(run: Run, fetched: Ids) -> None:
    assert run("cache", "clear", "--artist", "leprous").exit_code == 0
    shown = run("show", "leprous aphelion", "--offline")
    assert shown.exit_code == 0, shown.stderr
    assert "not cached" in shown.stdout + shown.stderr
    states = {a["title"]: a["cover_state"] for a in run("list", "--json").json()}
    assert states == {
        "Fauna": "cached",
        "War of Being": "cached",
        "Vector": "cached",
        "Aphelion": "not_cached",
    }
    listed = [line for line in run("list").stdout.splitlines() if "Aphelion" in line]
    assert listed[0].rstrip().endswith("not cached")


def test_clear__refresh_missing_fetches_exactly_the_cleared_albums_again(
    run: Run, fetched: Ids, spotify: SpotifyDouble
) -> None:
    ids = fetched
    assert run("cache", "clear", "--tab", "2021").exit_code == 0
    assert spotify.requests == []  # clear never calls Spotify
    result = run("refresh", "--missing", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["refreshed"] == 2
    assert spotify.count("albums_batch") == spotify.count("artist") == 1
    assert spotify.api_calls() == 2
    (batch,) = (r for r in spotify.requests if r.endpoint == "albums_batch")
    assert sorted(batch.query["ids"].split(",")) == sorted([ids["vector"], ids["aphelion"]])
    (one,) = (r for r in spotify.requests if r.endpoint == "artist")
    assert one.path.endswith(f"/artists/{ids['leprous']}")
    assert len(disk_keys()) == 7


def test_clear__forgets_oembed_covers_too(
    run: Run, make_sheet: Callable[..., Path], spotify_no_credentials: SpotifyDouble, ids: Ids
) -> None:
    tabs = {"2023": sheet_rows(ids, ["fauna", "war"]), "2021": sheet_rows(ids, ["vector"])}
    assert run("import", str(make_sheet(tabs))).exit_code == 0
    assert run("export").exit_code == 0
    assert len(disk_keys()) == 3
    result = run("cache", "clear", "--tab", "2023", "--json")
    assert result.exit_code == 0, result.stderr
    assert kind_counts(result.json()) == by_kind(oembed=2)
    assert disk_keys() == index_keys() == {f"oembed:{ids['vector']}"}


def test_clear__all_forgets_every_album_in_the_store(run: Run, fetched: Ids) -> None:
    result = run("cache", "clear", "--all", "--json")
    assert result.exit_code == 0, result.stderr
    assert kind_counts(result.json()) == by_kind(album=4, artist=3)
    assert disk_keys() == index_keys() == set()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--query", "  "],  # a filter that narrows nothing is no filter
        ["--all", "--tab", "2021"],
    ],
)
def test_clear__needs_filters_or_all(run: Run, fetched: Ids, args: list[str]) -> None:
    before = disk_keys()
    result = run("cache", "clear", *args)
    assert result.exit_code == 2
    assert "--all" in result.stderr
    assert disk_keys() == before


def test_clear__dry_run_drops_nothing(run: Run, fetched: Ids) -> None:
    before = (disk_keys(), index_keys())
    result = run("cache", "clear", "--tab", "2021", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["dry_run"] is True
    assert result.json()["entries"] == 3
    assert (disk_keys(), index_keys()) == before


# -- a kill in the middle ------------------------------------------------------------------

# `cache clear --all` in a process of its own, SIGKILLed between its two writes: after the
# first of (the index rows go, the values go) has committed, whichever comes first.
KILLED_BETWEEN_DROPS = """
import os, signal, sqlite3, sys
from pathlib import Path
from jitspot import cli
from jitspot.store import Store

database = Path(sys.argv[1]) / "cache" / "cache.db"

def values() -> int:
    conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM Cache").fetchone()[0]
    finally:
        conn.close()

before = values()
drop_index = Store.drop_cache_index

def killed_between(self, keys=None, *, identity=""):
    if keys is None:
        return drop_index(self, keys, identity=identity)
    if values() < before:  # the values went first: die before the index rows go
        os.kill(os.getpid(), signal.SIGKILL)
    drop_index(self, keys, identity=identity)
    os.kill(os.getpid(), signal.SIGKILL)  # the index rows went first: die before the values

Store.drop_cache_index = killed_between
cli.main(["cache", "clear", "--all"])
"""


def cached_states(run: Run) -> dict[str, int]:
    """What `list`, `stats` and a dry-run `cache prune` say is cached now."""
    listed = run("list", "--json")
    assert listed.exit_code == 0, listed.stderr
    stats = run("stats", "--json")
    assert stats.exit_code == 0, stats.stderr
    figures = stats.json()
    return {
        "listed as cached": sum(a["cover_state"] == "cached" for a in listed.json()),
        "covers cached": figures["albums"]["cover_cached"],
        "metadata cached": figures["albums"]["metadata_cached"],
        "index entries": figures["cache"]["entries"],
    }


NOTHING_CACHED = {
    "listed as cached": 0,
    "covers cached": 0,
    "metadata cached": 0,
    "index entries": 0,
}


def test_clear__sigkill_between_its_writes_leaves_nothing_listed_and_prune_sweeps_the_rest(
    run: Run, fetched: Ids, home: Path
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", KILLED_BETWEEN_DROPS, str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr

    # What is left is never counted as cached: list and stats agree ...
    assert cached_states(run) == NOTHING_CACHED
    # ... and prune drops what the kill left behind, whichever half it is.
    pruned = run("cache", "prune", "--json")
    assert pruned.exit_code == 0, pruned.stderr
    report = pruned.json()
    assert kind_counts(report) == by_kind(album=4, artist=3)
    assert {d["reason"] for d in report["dropped"]} <= {NOT_INDEXED, VALUE_GONE}
    assert disk_keys() == index_keys() == set()
    assert cached_states(run) == NOTHING_CACHED
    assert run("cache", "prune", "--json").json()["entries"] == 0


def test_prune__drops_index_rows_whose_values_are_gone(run: Run, fetched: Ids) -> None:
    """What an older jitspot left after a kill: the values dropped, not their index rows."""
    store, cache = open_cache()
    try:
        disk = cache._cache()
        for key in disk_keys():
            disk.delete(key)
    finally:
        cache.close()
        store.close()
    assert len(index_keys()) == 7

    result = run("cache", "prune", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert kind_counts(report) == by_kind(album=4, artist=3)
    assert {d["reason"] for d in report["dropped"]} == {VALUE_GONE}
    assert index_keys() == set()
    assert cached_states(run) == NOTHING_CACHED


def test_prune__drops_values_no_index_row_names(run: Run, fetched: Ids) -> None:
    store, _cache = open_cache()
    try:
        store.drop_cache_index([f"album:{fetched['fauna']}", f"artist:{fetched['leprous']}"])
    finally:
        store.close()

    result = run("cache", "prune", "--json")
    assert result.exit_code == 0, result.stderr
    dropped = {(d["kind"], d["id"], d["reason"]) for d in result.json()["dropped"]}
    assert dropped == {
        ("album", fetched["fauna"], NOT_INDEXED),
        ("artist", fetched["leprous"], NOT_INDEXED),
    }
    assert disk_keys() == index_keys()
    assert len(index_keys()) == 5


# -- the lock ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["prune"], ["clear", "--all"]])
def test_cache__lock_held_by_another_process_exits_75(
    run: Run, fetched: Ids, lock_holder: int, command: list[str]
) -> None:
    before = disk_keys()
    result = run("cache", *command, "--json")
    assert result.exit_code == 75
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("jitspot: refresh (pid ")
    assert f"(pid {lock_holder}, since " in result.stderr
    assert result.stdout == ""
    assert disk_keys() == before


def test_cache__wait_lock_waits_then_exits_75(run: Run, fetched: Ids, lock_holder: int) -> None:
    result = run("cache", "prune", "--wait-lock", "1")
    assert result.exit_code == 75
    assert "after waiting 1 s" in result.stderr


def test_cache__dry_run_needs_no_lock(run: Run, fetched: Ids, lock_holder: int) -> None:
    result = run("cache", "clear", "--all", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["entries"] == 7


# -- the choice, without I/O ---------------------------------------------------------------

NOW = 1_800_000_000.0
LIFETIMES = Lifetimes()


def album(spotify_id: str, *artists: str, status: Status = "found", age: float = 0.0) -> Cached:
    entry = CacheEntry("album", spotify_id, status, NOW - age)
    return Cached(f"album:{spotify_id}", "album", spotify_id, 100, entry, artists)


def artist(spotify_id: str, status: Status = "found", age: float = 0.0) -> Cached:
    entry = CacheEntry("artist", spotify_id, status, NOW - age)
    return Cached(f"artist:{spotify_id}", "artist", spotify_id, 10, entry)


def keys(drops: list[Any]) -> list[str]:
    return [d.item.key for d in drops]


def test_prune_choice__stale_found_entries_stay() -> None:
    cached = [album("a", "x", age=400 * DAY), artist("x", age=400 * DAY)]
    assert prune(cached, {"a"}, now=NOW, lifetimes=LIFETIMES) == []


def test_prune_choice__an_artist_of_a_dropped_album_goes_unless_a_kept_one_names_it() -> None:
    cached = [album("gone", "x", "y"), album("kept", "y"), artist("x"), artist("y")]
    assert keys(prune(cached, {"kept"}, now=NOW, lifetimes=LIFETIMES)) == [
        "album:gone",
        "artist:x",
    ]


def test_prune_choice__an_expired_not_found_album_no_longer_keeps_artists() -> None:
    cached = [album("a", status="not_found", age=8 * DAY), artist("x")]
    drops = prune(cached, {"a"}, now=NOW, lifetimes=LIFETIMES)
    assert [(d.item.key, d.reason) for d in drops] == [
        ("album:a", EXPIRED),
        ("artist:x", UNNEEDED_ARTIST),
    ]


def test_prune_choice__unreadable_entries_go_and_other_kinds_stay() -> None:
    cached = [
        Cached("album:a", "album", "a", 0),
        Cached("playlist:q", "playlist", "q", 50),
        Cached("oembed:b", "oembed", "b", 0),
    ]
    drops = prune(cached, {"a", "b"}, now=NOW, lifetimes=LIFETIMES)
    assert [(d.item.key, d.reason) for d in drops] == [
        ("album:a", UNREADABLE),
        ("oembed:b", UNREADABLE),
    ]


def search(query: str, status: Status = "found", age: float = 0.0) -> Cached:
    return Cached(
        f"search:{query}", "search", query, 80, CacheEntry("search", query, status, NOW - age)
    )


def test_prune_choice__searches_no_album_would_send_go_and_expired_no_candidates_too() -> None:
    week = 8 * 86_400.0
    cached = [
        search("wanted"),
        search("renamed since"),
        search("wanted, none found long ago", "not_found", age=week),
        search("wanted, none found lately", "not_found"),
    ]
    wanted = {"wanted", "wanted, none found long ago", "wanted, none found lately"}
    drops = prune(cached, set(), now=NOW, lifetimes=LIFETIMES, searches=wanted)
    assert [(d.item.key, d.reason) for d in drops] == [
        ("search:renamed since", NOT_IN_STORE),
        ("search:wanted, none found long ago", EXPIRED),
    ]


def test_clear_choice__keeps_artists_that_remaining_albums_name_even_outside_the_store() -> None:
    cached = [album("a", "x", "y"), album("orphan", "y"), artist("x"), artist("y"), artist("z")]
    assert keys(clear(cached, {"a"})) == ["album:a", "artist:x"]


def test_prune_choice__an_index_row_without_its_value_and_a_value_without_its_row_go() -> None:
    gone = Cached("album:a", "album", "a", 0, CacheEntry("album", "a", "found", NOW), stored=False)
    unindexed = replace(album("b", "x"), indexed=False)
    cached = [gone, unindexed, album("c", "y"), artist("x"), artist("y")]
    drops = prune(cached, {"a", "b", "c"}, now=NOW, lifetimes=LIFETIMES)
    assert [(d.item.key, d.reason) for d in drops] == [
        ("album:a", VALUE_GONE),
        ("album:b", NOT_INDEXED),
        ("artist:x", UNNEEDED_ARTIST),  # only the unindexed album named it
    ]
