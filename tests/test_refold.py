"""Stores folded by an older `fold` are re-folded once, so new filters and keys match."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url

from jitspot.store import Store, open_store, refold
from jitspot.text import FOLD_VERSION

Run = Callable[..., Result]
SPOTIFY = album_url("4aawyAB9vmqN3uQ7FjRGTy")
FOLDED = "key, artist_folded, search_folded, genres_folded, vocal_folded, tab_folded"


def old_fold(text: str) -> str:
    """jitspot's fold before anyascii: Unicode decomposition only (keeps ł, ø, æ...)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def folded_columns(store_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store_path) as conn:
        return conn.execute(f"SELECT id, {FOLDED} FROM albums ORDER BY id").fetchall()


def fold_the_old_way(store_path: Path) -> None:
    """Rewrite the folded columns and keys as an older jitspot wrote them."""
    with sqlite3.connect(store_path) as conn:
        rows = conn.execute(
            "SELECT id, tab, artist, title, genres, vocal_style FROM albums"
        ).fetchall()
        for album_id, tab, artist, title, genres, vocal in rows:
            names = (old_fold(tab), old_fold(artist), old_fold(title))
            conn.execute(
                "UPDATE albums SET key = ?, artist_folded = ?, search_folded = ?,"
                " genres_folded = ?, vocal_folded = ?, tab_folded = ? WHERE id = ?",
                (
                    "\x1f".join((*names, "0")),
                    names[1],
                    f"{names[1]} {names[2]}",
                    old_fold(", ".join(json.loads(genres))),
                    old_fold(vocal or ""),
                    names[0],
                    album_id,
                ),
            )
        conn.execute("DELETE FROM meta WHERE key = 'fold_version'")
        # Forget that this file was imported, so a re-import compares every row.
        conn.execute("DELETE FROM meta WHERE key LIKE 'import_digest:%'")


@pytest.fixture
def sheet(make_sheet: Callable[..., Path]) -> Path:
    return make_sheet(
        {
            "2024 Black-metal": [
                ["Mgła", "Exercises in Futility", datetime(2015, 9, 4), "LP", "Black metal"],
                ["Ørkenkjøpt", "Þögn", datetime(2024, 1, 5), "EP", "Blackgaze", "Harsh"],
                ["Darkthrone", "It Beckons Us All", datetime(2024, 4, 26), "LP", "Black metal"],
                ["Sólstafir", "Berdreyminn", "TBA", "LP", "Post-metal", None, None, None, SPOTIFY],
            ],
        }
    )


def test_refold__old_store_finds_letters_without_combining_marks(
    run: Run, sheet: Path, home: Path
) -> None:
    assert run("import", str(sheet)).exit_code == 0
    fold_the_old_way(home / "jitspot.sqlite3")

    found = run("list", "--artist", "mgla", "--json")
    by_title = run("list", "--query", "thogn", "--json")

    assert found.exit_code == 0, found.stderr
    assert [a["artist"] for a in found.json()] == ["Mgła"]
    assert [a["artist"] for a in by_title.json()] == ["Ørkenkjøpt"]


def test_refold__reimport_after_refold_sees_every_row_unchanged(
    run: Run, sheet: Path, home: Path
) -> None:
    assert run("import", str(sheet)).exit_code == 0
    fold_the_old_way(home / "jitspot.sqlite3")

    again = run("import", str(sheet), "--json")

    assert again.exit_code == 0, again.stderr
    report = again.json()
    assert (report["added"], report["updated"], report["removed"]) == (0, 0, 0)
    assert report["unchanged"] == 4


def test_refold__gives_the_columns_a_fresh_import_writes(run: Run, sheet: Path, home: Path) -> None:
    assert run("import", str(sheet)).exit_code == 0
    fresh = folded_columns(home / "jitspot.sqlite3")
    fold_the_old_way(home / "jitspot.sqlite3")
    assert folded_columns(home / "jitspot.sqlite3") != fresh

    with open_store(home / "jitspot.sqlite3"):
        pass

    assert folded_columns(home / "jitspot.sqlite3") == fresh


def test_refold__keys_that_now_fold_alike_stay_unique(
    run: Run, make_sheet: Callable[..., Path], home: Path
) -> None:
    # Old fold: `mgła` and `mgla` were two keys; now both fold to `mgla`.
    sheet = make_sheet({"2024": [["Mgła", "Age of Excuse"], ["Mgla", "Age of Excuse"]]})
    assert run("import", str(sheet)).exit_code == 0
    fold_the_old_way(home / "jitspot.sqlite3")

    again = run("import", str(sheet), "--json")

    assert again.exit_code == 0, again.stderr
    assert (again.json()["added"], again.json()["removed"]) == (0, 0)
    assert again.json()["unchanged"] == 2


def test_refold__runs_once_then_costs_one_meta_read(run: Run, sheet: Path, home: Path) -> None:
    assert run("import", str(sheet)).exit_code == 0
    fold_the_old_way(home / "jitspot.sqlite3")

    with open_store(home / "jitspot.sqlite3") as store:
        assert store.get_meta("fold_version") == FOLD_VERSION
        assert refold(store.conn) is False


def test_refold__read_only_store_is_skipped_and_ascii_filters_work(
    run: Run, sheet: Path, home: Path
) -> None:
    assert run("import", str(sheet)).exit_code == 0
    fold_the_old_way(home / "jitspot.sqlite3")
    before = folded_columns(home / "jitspot.sqlite3")
    uri = f"{(home / 'jitspot.sqlite3').as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.row_factory = sqlite3.Row

    with Store(conn, home / "jitspot.sqlite3") as store:
        assert refold(store.conn) is False
        found = store.search_albums("darkthrone")

    assert [a.artist for a in found] == ["Darkthrone"]
    assert folded_columns(home / "jitspot.sqlite3") == before
