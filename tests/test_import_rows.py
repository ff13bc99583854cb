"""`jitspot import` stores exactly the expected rows for a workbook with every quirk.

The expected rows (tests/data/import_quirks.json) were written by the import as
it stood before it was made fast; every stored column is compared, through a
first import, an unchanged re-import with the digest memo defeated, and an
edited re-import (edits, renames, moves, removals, a row coming back, matches).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from conftest import Result, album_url

Run = Callable[..., Result]
MakeSheet = Callable[..., Path]

EXPECTED = Path(__file__).parent / "data" / "import_quirks.json"
ID1 = "4aawyAB9vmqN3uQ7FjRGTy"
ID2 = "1aoWxOWHJNG1VPpJZwpYl2"
ID3 = "6JWc4iAiJ9FjyK0B59ABb4"
ID4 = "2noRn2Aes5aoNVsU6iWThc"
# Timestamps differ per run: what the comparison keeps of them.
_VOLATILE = ("imported_at", "updated_at", "removed_at")


def quirky_tabs() -> dict[str, list[list[Any]]]:
    """Rows of every shape the readers and the interpretation meet."""
    gmail = "https://www.google.com/url?q=https://band.bandcamp.com/album/x&sa=D"
    return {
        "2021 Prog-metal": [
            [
                "Leprous",
                "Aphelion",
                datetime(2021, 8, 27),
                "LP",
                "Prog-metal, Art rock",
                "Clean ",
                "Norway",
                "https://leprous.bandcamp.com/album/aphelion",
                album_url(ID1),
            ],
            [1349, 3, "TBA", "EP", "Black metal;Black metal, ", "Harsh", "Norway", None, ID2],
            ["Persefone", "metanoia", "April", "2xLP", "Prog-metal,  Djent", "MIxed", "Andorra"],
            ["Untitled Band", None, "Fall", "LP", "Prog-rock", "Clean", "US"],
            [None, "Orphan Title", "2021-03-04", "LP"],
            ["Mgła", "Age of Excuse", date(2019, 9, 2), "LP", "Black metal", "harsh", "Kraków"],
            ["Þórr  Band", "Straße\nNights", "03/04/2021", "EP", "", " ", "Reykjavík, Iceland"],
            ["Dup", "Same", "2019", "LP", "Post-rock", "Instrumental", "", None, ID3],
            ["Dup", "Same", "04.03.2021", "LP", "Post-rock", "Instrumental", "", None, ID3],
            [
                "Artist Link",
                "Not An Album",
                44000,
                "Single",
                "",
                "",
                "",
                gmail,
                "https://open.spotify.com/artist/" + ID4,
            ],
            ["Uri Band", "Uri Album", "Summer", "LP", "", "", "", None, f"spotify:album:{ID4}"],
            [
                "Intl",
                "Path",
                datetime(2021, 1, 1, 12, 30),
                "LP",
                "",
                "",
                "",
                None,
                (f"https://open.spotify.com/intl-de/album/{ID2}?si=abc", "formula"),
            ],
            [],
            ["  Spaces  ", "  Around  ", None, " LP ", " Djent ; ", "Mixed", " Oslo "],
        ],
        "2020 Prog-rock": [
            ["Leprous", "Aphelion", datetime(2021, 8, 27), "LP", "Prog-metal", "Clean", "Norway"],
            ["Plain", "Text Link", None, "LP", "", "", "", None, None, None, None],
            ["Keep", "Me", 2020, "EP", "Prog-rock", "Clean", "UK", None, album_url(ID4)],
        ],
        "Empty 2019": [],
    }


def build_workbook(make_sheet: MakeSheet, tabs: dict[str, list[list[Any]]], name: str) -> Path:
    path = make_sheet(tabs, name=name, link_style="hyperlink")
    workbook = openpyxl.load_workbook(path)
    rock = workbook["2020 Prog-rock"]
    rock["I7"] = "https://open.spotify.com/album/" + ID3  # a URL typed as text
    rock["H8"] = '=HYPERLINK("https://keep.bandcamp.com/" & "album/me", "BC")'
    if "Empty 2019" in workbook.sheetnames:
        workbook["Empty 2019"].sheet_state = "hidden"
    stats = workbook.create_sheet("Statistics")
    stats["A1"] = "Albums per year"
    workbook.save(path)
    return path


def stored_rows(home: Path) -> list[dict[str, Any]]:
    """Every album column; timestamps as whether they are set and whether this import
    wrote them (they are marked as seen after each look)."""
    conn = sqlite3.connect(home / "jitspot.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            rows = [dict(row) for row in conn.execute("SELECT * FROM albums ORDER BY id")]
            conn.execute("UPDATE albums SET updated_at = 'seen'")
    finally:
        conn.close()
    shown: list[dict[str, Any]] = []
    for row in rows:
        item = {k: v for k, v in row.items() if k not in _VOLATILE}
        item["source"] = Path(row["source"]).name
        item["removed"] = row["removed_at"] is not None
        item["touched"] = row["updated_at"] != "seen"
        shown.append(item)
    return shown


def report_of(run: Run, path: Path) -> dict[str, Any]:
    result = run("import", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = result.json()
    report.pop("seconds")
    report["source"] = Path(report["source"]).name
    return report


def edited_tabs() -> dict[str, list[list[Any]]]:
    tabs = quirky_tabs()
    metal = tabs.pop("2021 Prog-metal")
    metal[0][3] = "2xLP"  # another format: same record, match kept
    metal[2][1] = "Metanoia (Deluxe)"  # another title, moved too: a new row
    metal.insert(0, ["New Band", "New Album", None, "LP", "", "", ""])  # moves the rest
    del metal[6]  # Mgła gone: removed
    tabs["2021 PROG-METAL"] = metal  # the tab renamed in case
    rock = tabs["2020 Prog-rock"]
    rock[0][1] = "Aphelion (Live)"  # another title in place: an update, match cleared
    rock[2][4] = "Prog-rock, Art rock"
    return tabs


def test_import__stores_exactly_the_expected_rows(
    run: Run, make_sheet: MakeSheet, home: Path
) -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    first_path = build_workbook(make_sheet, quirky_tabs(), "first.xlsx")

    first_report = report_of(run, first_path)
    first = stored_rows(home)
    assert first_report == expected["first"]["report"]
    assert first == expected["first"]["rows"]

    # The same file again, the digest memo defeated: a full read that writes nothing.
    conn = sqlite3.connect(home / "jitspot.sqlite3")
    with conn:
        conn.execute("DELETE FROM meta WHERE key LIKE 'import_digest:%'")
        conn.execute(
            "UPDATE albums SET match_id = ?, match_score = 95.0, match_state = 'accepted'"
            " WHERE artist IN ('Persefone', 'Leprous')",
            (ID3,),
        )
    conn.close()
    again_report = report_of(run, first_path)
    again = stored_rows(home)
    assert again_report == expected["again"]["report"]
    assert again == expected["again"]["rows"]

    edited_report = report_of(run, build_workbook(make_sheet, edited_tabs(), "edited.xlsx"))
    edited = stored_rows(home)
    assert edited_report == expected["edited"]["report"]
    assert edited == expected["edited"]["rows"]

    # Mgła comes back, with its id.
    back_report = report_of(run, first_path)
    back = stored_rows(home)
    assert back_report == expected["back"]["report"]
    assert back == expected["back"]["rows"]
