"""`jitspot export`: lazy resolution of the exported albums only, in batches; formats."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url
from spotify_double import SpotifyDouble

Run = Callable[..., Result]


@pytest.fixture
def big_sheet(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble) -> list[str]:
    """45 albums by 3 artists in tab 2021, 5 more in tab 2020, one row without a link."""
    artists = [spotify.add_artist(f"Band {i}", genres=("prog",)) for i in range(3)]
    ids = [spotify.add_album(f"Album {i}", [artists[i % 3]]) for i in range(50)]
    rows_2021 = [
        [
            f"Band {i % 3}",
            f"Album {i}",
            datetime(2021, 1, 1 + i % 28),
            "LP",
            "Prog-metal",
            "Clean",
            "X",
            None,
            album_url(ids[i]),
        ]
        for i in range(45)
    ]
    rows_2021.append(["@Evil", "+SUM(1)", "TBA", "EP", "-x", "@y", "Z"])
    rows_2020 = [
        [
            f"Band {i % 3}",
            f"Album {i}",
            datetime(2020, 1, 1),
            "LP",
            "Prog-rock",
            "Clean",
            "X",
            None,
            album_url(ids[i]),
        ]
        for i in range(45, 50)
    ]
    assert run("import", str(make_sheet({"2021": rows_2021, "2020": rows_2020}))).exit_code == 0
    return ids


def test_export__resolves_exported_albums_in_batches(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    result = run("export", "--tab", "2021", "--format", "json")
    assert result.exit_code == 0, result.stderr
    albums = result.json()
    assert len(albums) == 46
    assert spotify.counts() == {"token": 1, "albums_batch": 3, "artists_batch": 1}
    batch_sizes = sorted(
        len(r.query["ids"].split(",")) for r in spotify.requests if r.endpoint == "albums_batch"
    )
    assert batch_sizes == [5, 20, 20]
    assert sum(1 for a in albums if a["cover_state"] == "fetched") == 45
    assert "Exported 46 albums" in result.stderr


def test_export__second_export_makes_no_call(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    assert run("export", "--tab", "2021").exit_code == 0
    calls = spotify.counts()
    again = run("export", "--tab", "2021")
    assert {a["cover_state"] for a in again.json()} == {"cached", "no_spotify_link"}
    assert spotify.counts() == calls


def test_export__only_fetches_the_filtered_albums(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    assert run("export", "--tab", "2020").exit_code == 0
    fetched = {
        i
        for r in spotify.requests
        if r.endpoint == "albums_batch"
        for i in r.query["ids"].split(",")
    }
    assert fetched == set(big_sheet[45:])


def test_export__offline_exports_what_is_cached(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble
) -> None:
    result = run("export", "--offline", "--format", "json")
    assert result.exit_code == 0
    assert {a["cover_state"] for a in result.json()} == {"not_cached", "no_spotify_link"}
    assert spotify.requests == []


def test_export__csv_neutralises_formula_cells(run: Run, big_sheet: list[str]) -> None:
    result = run("export", "--offline", "--format", "csv", "--tab", "2021")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    evil = next(r for r in rows if r["title"].endswith("SUM(1)"))
    assert evil["artist"] == "'@Evil"
    assert evil["title"] == "'+SUM(1)"
    assert evil["genres"] == "'-x"
    assert evil["vocal_style"] == "'@y"


def test_export__csv_round_trips_through_import(
    run: Run, big_sheet: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "catalog.csv"
    assert run("export", "--offline", "--format", "csv", "-o", str(out)).exit_code == 0
    original = run("list", "--json").json()
    monkeypatch.setenv("JITSPOT_HOME", str(tmp_path / "other"))
    report = run("import", str(out), "--json").json()
    assert report["rows"] == len(original)
    again = run("list", "--json").json()

    def key(a: dict[str, Any]) -> tuple[Any, ...]:
        return (
            a["tab"],
            a["artist"],
            a["title"],
            a["spotify_id"],
            a["release_date"],
            tuple(a["genres"]),
        )

    assert sorted(map(key, again)) == sorted(map(key, original))


def test_export__markdown_and_html_to_a_file(
    run: Run, big_sheet: list[str], tmp_path: Path
) -> None:
    md = run("export", "--offline", "--format", "md", "--tab", "2020")
    assert md.exit_code == 0
    assert md.stdout.count("\n| ") >= 5
    page = tmp_path / "gallery.html"
    result = run("export", "--format", "html", "-o", str(page))
    assert result.exit_code == 0
    assert result.stdout == ""
    text = page.read_text(encoding="utf-8")
    assert text.count(' data-c="https://') == 50  # each cover, for the page's script
    assert "<script src" not in text


def test_export__stdout_has_only_the_result(run: Run, big_sheet: list[str]) -> None:
    result = run("export", "--format", "json", "--tab", "2020")
    assert result.stdout.lstrip().startswith("[")
    assert "Exported" not in result.stdout


# -- -o: written whole or not at all ---------------------------------------------------------

OLD_GALLERY = b"<html>yesterday's good gallery</html>\n" * 20

# Runs the CLI in a process whose largest writable file is LIMIT bytes (a full disk, as
# far as the export is concerned): past it write() fails with EFBIG.
LIMITED_RUN = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from jitspot.cli import main
main(sys.argv[2:])
"""


@pytest.fixture
def large_catalog(run: Run, tmp_path: Path) -> None:
    """1,000 albums: their HTML page is far larger than anything the store writes."""
    sheet = tmp_path / "large.csv"
    lines = ["Artist,Album,Release Date,Length,Genre / Subgenres"]
    lines += [f"Band {i},Album {i},2020-01-01,LP,Prog" for i in range(1000)]
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("import", str(sheet)).exit_code == 0


def test_export__failed_write_leaves_the_old_file_untouched(
    run: Run, large_catalog: None, tmp_path: Path, home: Path
) -> None:
    site = tmp_path / "www"
    site.mkdir()
    page = site / "index.html"
    page.write_bytes(OLD_GALLERY)
    # Room for the store's WAL and shared-memory files (SQLite writes them on open),
    # not for the page.
    limit = 256 * 1024
    args = ["export", "--offline", "--format", "html", "-o", str(page)]
    env = {**os.environ, "JITSPOT_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-c", LIMITED_RUN, str(limit), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert len(run("export", "--offline", "--format", "html").stdout) > limit
    assert page.read_bytes() == OLD_GALLERY
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]  # no temp file left
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"jitspot: cannot write {page}: file too large")
    assert "unexpected" not in result.stderr


@pytest.mark.parametrize("where", ["missing_parent", "a_directory"])
def test_export__unwritable_output_fails_before_calling_spotify(
    run: Run, big_sheet: list[str], spotify: SpotifyDouble, tmp_path: Path, where: str
) -> None:
    target = tmp_path / "no" / "such" / "dir" / "x.html" if where == "missing_parent" else tmp_path
    result = run("export", "--format", "html", "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"jitspot: cannot write {target}: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "unexpected" not in result.stderr
    assert spotify.requests == []


def test_export__replaced_file_keeps_its_mode(
    run: Run, big_sheet: list[str], tmp_path: Path
) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(OLD_GALLERY)
    page.chmod(0o644)  # a web server reads it
    assert run("export", "--offline", "--format", "html", "-o", str(page)).exit_code == 0
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    assert page.read_bytes() != OLD_GALLERY


def test_export__new_file_gets_the_umask_mode(
    run: Run, big_sheet: list[str], tmp_path: Path
) -> None:
    page = tmp_path / "index.html"
    old_mask = os.umask(0o022)
    try:
        assert run("export", "--offline", "--format", "html", "-o", str(page)).exit_code == 0
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp") == []
