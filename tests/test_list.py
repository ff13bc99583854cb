"""`jitspot list`: filters, one line per album with cache state, no Spotify."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url
from rich.console import Console
from spotify_double import SpotifyDouble

Run = Callable[..., Result]
ID1 = "4aawyAB9vmqN3uQ7FjRGTy"


@pytest.fixture
def catalog_sheet(run: Run, make_sheet: Callable[..., Path]) -> None:
    tabs = {
        "2021 Prog-metal": [
            [
                "Mötley Crüe",
                "Dr. Feelgood",
                datetime(2021, 3, 1),
                "LP",
                "Progressive metal, Djent",
                "Clean",
                "US",
                None,
                album_url(ID1),
            ],
            ["Haken", "Virus", datetime(2020, 7, 24), "LP", "Prog-metal", "Mixed ", "UK"],
            ["Sigur Rós", "Kveikur", "TBA", "EP", "Post-rock", "MIxed", "Iceland"],
        ],
        "2020 Prog-rock": [
            ["Haken", "Vector", "Fall", "2xLP", "Prog-rock", "Clean", "UK"],
        ],
    }
    assert run("import", str(make_sheet(tabs))).exit_code == 0


def ids(result: Result) -> list[tuple[str, str]]:
    assert result.exit_code == 0, result.stderr
    return [(a["artist"], a["title"]) for a in result.json()]


@pytest.mark.usefixtures("catalog_sheet")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--genre", "djent"], [("Mötley Crüe", "Dr. Feelgood")]),
        (["--artist", "motley crue"], [("Mötley Crüe", "Dr. Feelgood")]),
        (["--artist", "SIGUR ROS"], [("Sigur Rós", "Kveikur")]),
        (["--year", "2020"], [("Haken", "Vector"), ("Haken", "Virus")]),
        (["--year", "2021"], [("Mötley Crüe", "Dr. Feelgood"), ("Sigur Rós", "Kveikur")]),
        (["--tab", "2020*"], [("Haken", "Vector")]),
        (
            ["--tab", "*PROG-METAL"],
            [("Mötley Crüe", "Dr. Feelgood"), ("Haken", "Virus"), ("Sigur Rós", "Kveikur")],
        ),
        (["--vocal", "mixed"], [("Haken", "Virus"), ("Sigur Rós", "Kveikur")]),
        (["--query", "haken vec"], [("Haken", "Vector")]),
        (["--artist", "haken", "--vocal", "clean"], [("Haken", "Vector")]),
    ],
)
def test_list__filters_are_case_and_accent_insensitive(
    run: Run, args: list[str], expected: list[tuple[str, str]]
) -> None:
    assert ids(run("list", "--json", *args)) == expected


@pytest.mark.usefixtures("catalog_sheet")
def test_list__one_line_per_album_with_cache_state(run: Run) -> None:
    result = run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    first = next(line for line in lines if "Dr. Feelgood" in line)
    assert "Mötley Crüe — Dr. Feelgood" in first
    assert "2021-03-01" in first
    assert "LP" in first and "2021 Prog-metal" in first
    assert first.rstrip().endswith("not cached")
    assert next(line for line in lines if "Vector" in line).rstrip().endswith("no link")
    assert "4 albums" in result.stderr


@pytest.mark.usefixtures("catalog_sheet")
def test_list__shows_cover_cached_after_a_fetch(
    run: Run, spotify: SpotifyDouble, make_sheet: Callable[..., Path]
) -> None:
    artist = spotify.add_artist("Mötley Crüe")
    album_id = spotify.add_album("Dr. Feelgood", [artist], id=ID1)
    assert run("show", album_id).exit_code == 0
    calls = spotify.api_calls()
    line = next(line for line in run("list").stdout.splitlines() if "Feelgood" in line)
    assert line.rstrip().endswith("cover")
    assert spotify.api_calls() == calls  # list never calls Spotify


@pytest.mark.usefixtures("catalog_sheet")
def test_list__quiet_prints_no_count(run: Run) -> None:
    result = run("--quiet", "list", "--artist", "haken")
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""


def test_list__empty_store_lists_nothing(run: Run) -> None:
    result = run("list", "--json")
    assert result.exit_code == 0
    assert result.json() == []


ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.usefixtures("catalog_sheet")
def test_list__piped_prints_plain_lines_in_aligned_columns(run: Run) -> None:
    result = run("list")
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert "\x1b" not in result.stdout and "[dim]" not in result.stdout
    # Columns start at the same place on every line (here the tab's).
    assert len({line.index("Prog-") for line in lines}) == 1
    ids_column = [line.split("  ", 1)[0] for line in lines]
    assert len({len(cell) for cell in ids_column}) == 1


def test_list__piped_drops_control_characters_from_sheet_text(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "2023 Prog-metal.csv"
    path.write_text(
        "Artist,Album,Release Date,Length,Genre / Subgenres,Vocal Style,Country / State\n"
        "Bell\x07Band,Ding\x08Dong,2023-03-03,LP,Prog-metal,Clean,UK\n"
        "Haken,Fauna,2023-03-03,LP,Prog-metal,Clean,UK\n",
        encoding="utf-8",
    )
    assert run("import", str(path)).exit_code == 0
    lines = run("list").stdout.splitlines()
    bell = next(line for line in lines if "Bell" in line)
    assert bell.split("  ")[1] == "BellBand — DingDong"


@pytest.mark.usefixtures("catalog_sheet")
def test_list__on_a_terminal_renders_all_lines_at_once_in_color(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = run("list").stdout
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    renders: list[object] = []
    real_print = Console.print

    def counting_print(self: Console, *objects: Any, **kwargs: Any) -> None:
        if not self.stderr:
            renders.append(objects)
        real_print(self, *objects, **kwargs)

    monkeypatch.setattr(Console, "print", counting_print)
    result = run("list")
    assert result.exit_code == 0
    assert len(renders) == 1
    assert "\x1b[33mnot cached\x1b[0m" in result.stdout  # the state in color
    assert ANSI.sub("", result.stdout) == plain  # the same lines as piped
