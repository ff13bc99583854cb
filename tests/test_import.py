"""`jitspot import`: reading sheets faithfully, idempotent upserts, bad input, no Spotify."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, album_url
from spotify_double import SpotifyDouble

from jitspot.catalog.views import SHEET_KEYS

ID1 = "4aawyAB9vmqN3uQ7FjRGTy"
ID2 = "1aoWxOWHJNG1VPpJZwpYl2"
ID3 = "6JWc4iAiJ9FjyK0B59ABb4"

Run = Callable[..., Result]
MakeSheet = Callable[..., Path]


def rows_2021() -> list[list[Any]]:
    return [
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
        [1349, 3, "TBA", "EP", "Black metal", "Harsh", "Norway", None, album_url(ID2)],
        ["Persefone", "metanoia", "April", "2xLP", "Prog-metal, Djent", "MIxed", "Andorra"],
        ["Untitled Band", None, "Fall", "LP", "Prog-rock", "Clean", "US"],
    ]


def db_rows(home: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(home / "jitspot.sqlite3")
    try:
        return conn.execute("SELECT * FROM albums ORDER BY id").fetchall()
    finally:
        conn.close()


def imported(run: Run, *args: str) -> dict[str, Any]:
    result = run("import", *args, "--json")
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = result.json()
    return report


def listed(run: Run, *args: str) -> list[dict[str, Any]]:
    result = run("list", "--json", *args)
    assert result.exit_code == 0, result.stderr
    albums: list[dict[str, Any]] = result.json()
    return albums


def test_import__reads_every_album_row_with_typed_values(run: Run, make_sheet: MakeSheet) -> None:
    report = imported(run, str(make_sheet({"2021 Prog-metal": rows_2021()})))
    assert report["rows"] == 3
    assert report["added"] == 3
    assert report["skipped"] == 1  # an artist without an album title yet
    assert report["with_spotify_link"] == 2
    albums = {a["artist"]: a for a in listed(run)}
    assert albums["Leprous"]["release_date"] == "2021-08-27"
    assert albums["Leprous"]["genres"] == ["Prog-metal", "Art rock"]
    assert albums["Leprous"]["vocal_style"] == "Clean"
    assert albums["Leprous"]["links"]["bandcamp"] == "https://leprous.bandcamp.com/album/aphelion"
    assert albums["Leprous"]["spotify_id"] == ID1
    assert albums["Leprous"]["spotify_id_source"] == "sheet"
    assert albums["1349"]["title"] == "3"  # numbers stay as written, not 3.0
    assert albums["1349"]["release_date"] is None
    assert albums["1349"]["release_text"] == "TBA"
    assert albums["1349"]["year"] == 2021  # the tab's year when the date is unknown
    assert albums["Persefone"]["vocal_style"] == "Mixed"
    assert albums["Persefone"]["spotify_id"] is None
    assert albums["Persefone"]["cover_state"] == "no_spotify_link"


@pytest.mark.parametrize("header_row", [5, 6])
def test_import__finds_the_header_row_by_name(
    run: Run, make_sheet: MakeSheet, header_row: int
) -> None:
    report = imported(run, str(make_sheet({"2020": rows_2021()}, header_row=header_row)))
    assert report["rows"] == 3


def test_import__columns_found_by_name_not_position(run: Run, make_sheet: MakeSheet) -> None:
    header = ["Album", "Artist", "Spotify", "Google Play", "Release Date", "Length"]
    path = make_sheet(
        {
            "2019 Prog-rock": [
                [
                    "Distant Satellites",
                    "Anathema",
                    album_url(ID1),
                    "https://play.google.com/x",
                    datetime(2019, 5, 1),
                    "LP",
                ]
            ]
        },
        header=header,
    )
    imported(run, str(path))
    (album,) = listed(run)
    assert (album["artist"], album["title"], album["spotify_id"]) == (
        "Anathema",
        "Distant Satellites",
        ID1,
    )
    assert album["links"]["google_play"] == "https://play.google.com/x"


@pytest.mark.parametrize("link_style", ["hyperlink", "formula"])
def test_import__spotify_ids_from_both_link_styles(
    run: Run, make_sheet: MakeSheet, link_style: str
) -> None:
    report = imported(run, str(make_sheet({"2021": rows_2021()}, link_style=link_style)))
    assert report["with_spotify_link"] == 2
    assert {a["spotify_id"] for a in listed(run)} == {ID1, ID2, None}


def test_import__both_link_styles_in_one_tab(run: Run, make_sheet: MakeSheet) -> None:
    rows = [
        ["A", "One", None, "LP", "", "", "", None, (album_url(ID1), "hyperlink")],
        [
            "B",
            "Two",
            None,
            "LP",
            "",
            "",
            "",
            None,
            (f"https://open.spotify.com/intl-de/album/{ID2}?si=a&b=c", "formula"),
        ],
        [
            "C",
            "Three",
            None,
            "LP",
            "",
            "",
            "",
            None,
            (f"https://open.spotify.com/artist/{ID3}", "formula"),
        ],
    ]
    report = imported(run, str(make_sheet({"2022": rows})))
    assert report["with_spotify_link"] == 2
    assert report["invalid_spotify_links"] == 1  # an artist link is not an album id
    assert [a["spotify_id"] for a in listed(run)] == [ID1, ID2, None]


def test_import__statistics_and_empty_tabs_are_skipped(
    run: Run, make_sheet: MakeSheet, tmp_path: Path
) -> None:
    import openpyxl

    path = make_sheet({"2021": rows_2021()})
    workbook = openpyxl.load_workbook(path)
    workbook.create_sheet("Statistics")["A1"] = "Spreadsheet views"
    workbook.create_sheet("2026 Prog-metal")
    workbook.save(path)
    report = imported(run, str(path))
    assert report["tabs"] == ["2021"]


def test_import__tab_glob_selects_tabs(run: Run, make_sheet: MakeSheet) -> None:
    path = make_sheet({"2021 Prog-metal": rows_2021(), "2020 Prog-rock": rows_2021()[:1]})
    report = imported(run, str(path), "--tab", "2020*")
    assert report["tabs"] == ["2020 Prog-rock"]
    assert report["rows"] == 1


def test_import__reimport_changes_nothing(run: Run, make_sheet: MakeSheet, home: Path) -> None:
    path = str(make_sheet({"2021": rows_2021()}))
    imported(run, path)
    before = db_rows(home)
    report = imported(run, path)
    assert (report["added"], report["updated"], report["removed"], report["unchanged"]) == (
        0,
        0,
        0,
        3,
    )
    assert db_rows(home) == before


def test_import__edited_row_updated_in_place(run: Run, make_sheet: MakeSheet) -> None:
    rows = rows_2021()
    imported(run, str(make_sheet({"2021": rows})))
    ids = {a["artist"]: a["id"] for a in listed(run)}
    rows[0][3] = "2xLP"
    rows[2][1] = "Metanoia"  # a fixed title: the same album, edited
    report = imported(run, str(make_sheet({"2021": rows}, name="edited.xlsx")))
    assert (report["added"], report["updated"], report["removed"]) == (0, 2, 0)
    albums = {a["artist"]: a for a in listed(run)}
    assert albums["Leprous"]["kind"] == "2xLP"
    assert albums["Leprous"]["id"] == ids["Leprous"]
    assert albums["Persefone"]["title"] == "Metanoia"
    assert albums["Persefone"]["id"] == ids["Persefone"]


def test_import__a_row_whose_artist_or_title_changed_is_matched_again(
    run: Run, make_sheet: MakeSheet, home: Path
) -> None:
    """A match (and a person's decision) was about the old names; other edits keep it."""
    rows = rows_2021()
    imported(run, str(make_sheet({"2021": rows})))
    conn = sqlite3.connect(home / "jitspot.sqlite3")
    with conn:
        conn.execute(
            "UPDATE albums SET match_id = ?, match_score = 0.95, match_state = 'accepted'"
            " WHERE artist IN ('Persefone', 'Leprous')",
            (ID3,),
        )
    rows[2][1] = "Metanoia (Deluxe)"  # another title: another record
    rows[0][3] = "2xLP"  # another format: the same record
    imported(run, str(make_sheet({"2021": rows}, name="edited.xlsx")))
    with conn:
        state = dict(
            conn.execute(
                "SELECT artist, coalesce(match_id, '') || '/' || coalesce(match_state, '')"
                " FROM albums"
            ).fetchall()
        )
    conn.close()
    assert state["Persefone"] == "/"
    assert state["Leprous"] == f"{ID3}/accepted"


def test_import__rows_moved_by_an_insert_are_not_changes(run: Run, make_sheet: MakeSheet) -> None:
    rows = rows_2021()
    imported(run, str(make_sheet({"2021": rows})))
    moved = [["New Band", "New Album", None, "LP", "", "", ""], *rows]
    report = imported(run, str(make_sheet({"2021": moved}, name="moved.xlsx")))
    assert (report["added"], report["updated"], report["unchanged"]) == (1, 0, 3)
    assert [a["artist"] for a in listed(run)][:2] == ["New Band", "Leprous"]


def test_import__removed_rows_disappear_within_imported_tabs_only(
    run: Run, make_sheet: MakeSheet
) -> None:
    rows = rows_2021()
    imported(run, str(make_sheet({"2021": rows, "2020": rows[:1]})))
    report = imported(run, str(make_sheet({"2021": rows[1:3]}, name="less.xlsx")))
    assert report["removed"] == 1
    remaining = [(a["tab"], a["artist"]) for a in listed(run)]
    assert ("2021", "Leprous") not in remaining
    assert ("2020", "Leprous") in remaining  # tab 2020 was not part of this import
    shown = run("show", "leprous aphelion", "--offline", "--json")
    assert shown.json()["tab"] == "2020"


def test_import__removed_row_comes_back_with_its_id(run: Run, make_sheet: MakeSheet) -> None:
    rows = rows_2021()
    imported(run, str(make_sheet({"2021": rows})))
    first_id = listed(run, "--artist", "leprous")[0]["id"]
    imported(run, str(make_sheet({"2021": rows[1:]}, name="b.xlsx")))
    report = imported(run, str(make_sheet({"2021": rows}, name="c.xlsx")))
    assert report["updated"] == 1
    assert listed(run, "--artist", "leprous")[0]["id"] == first_id


def test_import__verbose_prints_the_changed_rows(run: Run, make_sheet: MakeSheet) -> None:
    result = run("-v", "import", str(make_sheet({"2021": rows_2021()})))
    assert result.exit_code == 0
    assert "added    2021: Leprous — Aphelion" in result.stdout
    assert "3 added" in result.stdout


def test_import__csv_with_plain_urls(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "2023 Prog-metal.csv"
    path.write_text(
        "Artist,Album,Release Date,Length,Genre / Subgenres,Vocal Style,Country / State,Bandcamp,Spotify\n"
        f'Haken,Fauna,2023-03-03,LP,"Prog-metal, Djent",Clean,UK,,{album_url(ID1)}\n'
        "1349,The Wolf and the King,TBA,LP,Black metal,Harsh,Norway,,\n",
        encoding="utf-8",
    )
    report = imported(run, str(path))
    assert (report["rows"], report["with_spotify_link"]) == (2, 1)
    albums = listed(run)
    assert albums[0]["tab"] == "2023 Prog-metal"
    assert albums[0]["genres"] == ["Prog-metal", "Djent"]
    assert albums[0]["spotify_id"] == ID1
    assert albums[1]["artist"] == "1349"
    assert albums[1]["year"] == 2023


def test_import__own_json_export_round_trips(
    run: Run, make_sheet: MakeSheet, tmp_path: Path, home: Path
) -> None:
    imported(run, str(make_sheet({"2021": rows_2021()})))
    exported = tmp_path / "catalog.json"
    assert run("export", "--offline", "--format", "json", "-o", str(exported)).exit_code == 0
    before = [
        {
            k: a[k]
            # The sheet's facts (the store id aside: another store numbers anew).
            for k in (*SHEET_KEYS[1:], "links", "spotify_id")
        }
        for a in listed(run)
    ]
    other = tmp_path / "other-home"
    result = run("import", str(exported), "--json")  # the same store: nothing changes
    assert result.json()["unchanged"] == 3
    import os

    os.environ["JITSPOT_HOME"] = str(other)
    try:
        assert imported(run, str(exported))["added"] == 3
        after = [{k: a[k] for k in before[0]} for a in listed(run)]
    finally:
        os.environ["JITSPOT_HOME"] = str(home)
    assert after == before


def test_import__never_calls_spotify(
    run: Run, make_sheet: MakeSheet, spotify: SpotifyDouble
) -> None:
    imported(run, str(make_sheet({"2021": rows_2021()})))
    assert run("list").exit_code == 0
    assert spotify.requests == []


# -- bad input: a clear one-line error, the exit code of the contract, the store unchanged --


@pytest.fixture
def loaded(run: Run, make_sheet: MakeSheet, home: Path) -> list[tuple[Any, ...]]:
    imported(run, str(make_sheet({"2021": rows_2021()})))
    return db_rows(home)


def assert_clean_failure(
    result: Result, code: int, home: Path, before: list[tuple[Any, ...]]
) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.startswith("jitspot: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert db_rows(home) == before


def test_import__missing_file_exits_66(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    assert_clean_failure(run("import", str(tmp_path / "nope.xlsx")), 66, home, loaded)


def test_import__not_a_workbook_exits_65(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"this is not a zip file at all")
    assert_clean_failure(run("import", str(bad)), 65, home, loaded)


def test_import__zip_without_workbook_exits_65(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    bad = tmp_path / "empty.xlsx"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert_clean_failure(run("import", str(bad)), 65, home, loaded)


def test_import__zip_bomb_rejected_before_parsing(
    run: Run, home: Path, loaded: list[Any], make_sheet: MakeSheet, tmp_path: Path
) -> None:
    source = make_sheet({"2021": rows_2021()}, name="source.xlsx")
    bomb = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</worksheet>", b"<!--" + b"0" * (300 * 2**20) + b"--></worksheet>"
                )
            out.writestr(item.filename, data)
    assert_clean_failure(run("import", str(bomb)), 65, home, loaded)


def test_import__xml_entities_rejected(
    run: Run, home: Path, loaded: list[Any], make_sheet: MakeSheet, tmp_path: Path
) -> None:
    source = make_sheet({"2021": rows_2021()}, name="source.xlsx")
    evil = tmp_path / "evil.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(evil, "w") as out:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = (
                    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                    + data.split(b"?>", 1)[-1]
                )
            out.writestr(item.filename, data)
    assert_clean_failure(run("import", str(evil)), 65, home, loaded)


def test_import__sheet_without_header_exits_65(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    bad = tmp_path / "notes.csv"
    bad.write_text("just,some,notes\n1,2,3\n", encoding="utf-8")
    assert_clean_failure(run("import", str(bad)), 65, home, loaded)


def test_import__broken_json_exits_65(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    bad = tmp_path / "catalog.json"
    bad.write_text('[{"artist": "x", ', encoding="utf-8")
    assert_clean_failure(run("import", str(bad)), 65, home, loaded)


def test_import__non_http_url_refused(run: Run, home: Path, loaded: list[Any]) -> None:
    assert_clean_failure(run("import", "ftp://example.com/sheet.xlsx"), 66, home, loaded)
    assert_clean_failure(run("import", "file:///etc/passwd"), 66, home, loaded)


def test_import__unreachable_url_exits_66(run: Run, home: Path, loaded: list[Any]) -> None:
    assert_clean_failure(run("import", "http://127.0.0.1:9/sheet.xlsx"), 66, home, loaded)


def test_import__downloads_over_http_and_caps_the_size(
    run: Run, make_sheet: MakeSheet, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.server
    import threading

    path = make_sheet({"2021": rows_2021()})
    body = path.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header(
                "Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/export"
        assert imported(run, url)["rows"] == 3
        before = db_rows(home)
        monkeypatch.setenv("JITSPOT_DOWNLOAD_MAX_MB", "0.001")
        result = run("import", url)
        assert_clean_failure(result, 65, home, before)
        assert "limit" in result.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_import__failure_mid_transaction_leaves_store_unchanged(
    run: Run, make_sheet: MakeSheet, home: Path
) -> None:
    imported(run, str(make_sheet({"2021": rows_2021()})))
    before = db_rows(home)
    # A real SQLite trigger makes the store refuse the second new row, after the
    # first was written in the same transaction.
    conn = sqlite3.connect(home / "jitspot.sqlite3")
    with conn:
        conn.execute(
            "CREATE TRIGGER refuse_yet_another BEFORE INSERT ON albums"
            " WHEN NEW.artist = 'Yet Another' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    conn.close()
    rows = rows_2021()
    rows.append(["Another", "One", None, "LP", "", "", ""])
    rows.append(["Yet Another", "Two", None, "LP", "", "", ""])
    result = run("import", str(make_sheet({"2022": rows}, name="new.xlsx")))
    assert result.exit_code != 0
    assert "disk I/O error" in result.stderr
    assert "Traceback" not in result.stderr
    assert db_rows(home) == before


def test_import__json_report_has_contract_keys(run: Run, make_sheet: MakeSheet) -> None:
    report = imported(run, str(make_sheet({"2021": rows_2021()})))
    assert {
        "rows",
        "added",
        "updated",
        "unchanged",
        "removed",
        "skipped",
        "with_spotify_link",
    } <= set(report)
    json.dumps(report)


# -- a tab renamed in case or spacing is the same tab --------------------------------------


@pytest.mark.parametrize("renamed", ["2020 Prog-Metal", "2020  prog-metal"])
def test_import__tab_renamed_in_case_is_the_same_tab(
    run: Run, make_sheet: MakeSheet, renamed: str
) -> None:
    rows = rows_2021()
    imported(run, str(make_sheet({"2020 Prog-metal": rows})))
    ids = {a["artist"]: a["id"] for a in listed(run)}
    report = imported(run, str(make_sheet({renamed: rows}, name="renamed.xlsx")))
    assert (report["added"], report["removed"]) == (0, 0)
    assert report["unchanged"] + report["updated"] == 3
    albums = listed(run)
    assert {a["artist"]: a["id"] for a in albums} == ids
    assert {a["tab"] for a in albums} == {renamed}  # the display name follows the sheet
    again = imported(run, str(make_sheet({renamed: rows}, name="again.xlsx")))
    assert (again["added"], again["updated"], again["removed"], again["unchanged"]) == (
        0,
        0,
        0,
        3,
    )


def test_import__edit_in_a_renamed_tab_is_an_update(run: Run, make_sheet: MakeSheet) -> None:
    rows = rows_2021()
    imported(run, str(make_sheet({"2020 Prog-metal": rows})))
    persefone = listed(run, "--artist", "persefone")[0]["id"]
    rows[2][1] = "Metanoia"  # the title fixed while the tab got renamed
    report = imported(run, str(make_sheet({"2020 PROG-METAL": rows}, name="renamed.xlsx")))
    assert (report["added"], report["removed"]) == (0, 0)
    assert listed(run, "--artist", "persefone")[0]["id"] == persefone


# -- JSON input must be jitspot's export shape, and bad JSON is a 65 ----------------------


def write_json(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_import__deeply_nested_json_exits_65(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    path = write_json(tmp_path, "[" * 100_000)
    assert_clean_failure(run("import", str(path)), 65, home, loaded)


def test_import__json_integer_too_big_exits_65(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    path = write_json(tmp_path, '[{"artist": ' + "9" * 5000 + ', "title": "x"}]')
    assert_clean_failure(run("import", str(path)), 65, home, loaded)


@pytest.mark.parametrize(
    "album",
    [
        '{"artist": {"name": "x"}, "title": "T"}',
        '{"artist": "A", "title": ["T"]}',
        '{"artist": 1349, "title": "T"}',
        '{"artist": "A", "title": null}',
        '{"artist": "A", "title": "T", "tab": {"x": 1}}',
    ],
)
def test_import__json_artist_and_title_must_be_strings(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path, album: str
) -> None:
    path = write_json(tmp_path, f"[{album}]")
    result = run("import", str(path))
    assert_clean_failure(result, 65, home, loaded)
    assert "album #1" in result.stderr


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
def test_import__json_non_numbers_rejected(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path, constant: str
) -> None:
    path = write_json(tmp_path, f'[{{"artist": "A", "title": {constant}}}]')
    result = run("import", str(path))
    assert_clean_failure(result, 65, home, loaded)
    assert f"{constant} is not a JSON number" in result.stderr


def test_import__directory_as_source_says_so(
    run: Run, home: Path, loaded: list[Any], tmp_path: Path
) -> None:
    result = run("import", str(tmp_path))
    assert_clean_failure(result, 66, home, loaded)
    assert "is a directory" in result.stderr


@pytest.mark.parametrize("kind", ["csv", "json", "xlsx"])
def test_import__dash_reads_stdin_by_sniffing(
    run: Run, make_sheet: MakeSheet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import io
    import sys

    if kind == "csv":
        body = b"Artist,Album,Tab\nHaken,Fauna,2023 Prog-metal\n1349,3,2023 Prog-metal\n"
    elif kind == "json":
        body = b'[{"artist": "Haken", "title": "Fauna", "tab": "2023 Prog-metal"},'
        body += b' {"artist": "1349", "title": "3", "tab": "2023 Prog-metal"}]'
    else:
        rows = [["Haken", "Fauna"], [1349, 3]]
        body = make_sheet({"2023 Prog-metal": rows}).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    report = imported(run, "-")
    assert (report["rows"], report["added"]) == (2, 2)
    assert [(a["tab"], a["artist"]) for a in listed(run)] == [
        ("2023 Prog-metal", "Haken"),
        ("2023 Prog-metal", "1349"),
    ]


def test_import__dash_with_nothing_on_stdin_exits_65(
    run: Run, home: Path, loaded: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    result = run("import", "-")
    assert_clean_failure(result, 65, home, loaded)
    assert "stdin" in result.stderr


def test_import__json_row_number_out_of_range_falls_back_to_position(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    source = tmp_path / "export.json"
    source.write_text(json.dumps([{"artist": "Mgła", "title": "Age", "row": 10**30}]))

    result = run("import", str(source), "--json")

    assert result.exit_code == 0, result.stderr
    assert result.json()["added"] == 1
    assert run("list", "--json").json()[0]["row"] == 1
