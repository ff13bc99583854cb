"""read_xlsx: workbooks built here with openpyxl, shaped like the real release sheet."""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import HEADER

from jitspot.errors import InputNotReadable
from jitspot.sheets import zipguard
from jitspot.sheets.sheet import RawRow, interpret
from jitspot.sheets.xlsx import formula_url, read_xlsx
from jitspot.text import cell_text

ALBUM = "https://open.spotify.com/album/4ZKfH7ZJ8qx3YRE6KekuSk"
ALBUM_ID = "4ZKfH7ZJ8qx3YRE6KekuSk"
OTHER_ALBUM = "https://open.spotify.com/intl-de/album/6VngfhmoNUDIJS03M64kXH?si=abc"


@dataclass(frozen=True)
class Link:
    """A link cell: the label shows, the URL is a cell hyperlink or a HYPERLINK formula."""

    url: str
    label: str = "S"
    formula: bool = False


def formula(url: str, label: str = "S") -> Link:
    return Link(url, label, formula=True)


def add_tab(
    wb: openpyxl.Workbook,
    title: str,
    rows: Sequence[Sequence[Any]],
    *,
    header: Sequence[str] = HEADER,
    header_row: int = 5,
    first_col: int = 1,
    title_block: bool = True,
) -> None:
    """A tab like the real ones: title block (merged cells, formulas), header, rows."""
    ws = wb.create_sheet(title)
    if title_block:
        ws.cell(1, first_col, f"{title} Albums")
        ws.merge_cells(start_row=1, start_column=first_col, end_row=2, end_column=first_col + 1)
        ws.cell(1, first_col + 2, "Releases:")
        ws.cell(1, first_col + 3, f"=COUNTA(C{header_row + 1}:C999)")
        ws.cell(1, first_col + 7, '=HYPERLINK("https://discord.gg/prog","Images & Words")')
        ws.cell(3, first_col, '=HYPERLINK("https://docs.google.com/forms/x","Feedback")')
    for offset, name in enumerate(header):
        ws.cell(header_row, first_col + offset, name)
    for number, row in enumerate(rows, start=header_row + 1):
        for offset, value in enumerate(row):
            cell = ws.cell(number, first_col + offset)
            if isinstance(value, Link):
                if value.formula:
                    url = value.url.replace('"', '""')
                    cell.value = f'=HYPERLINK("{url}","{value.label}")'
                else:
                    cell.value = value.label
                    cell.hyperlink = value.url
            else:
                cell.value = value


def save(wb: openpyxl.Workbook, path: Path) -> Path:
    wb.remove(wb.worksheets[0])  # the default empty "Sheet"
    wb.save(path)
    return path


def workbook(path: Path, tabs: dict[str, Sequence[Sequence[Any]]], **options: Any) -> Path:
    wb = openpyxl.Workbook()
    for title, rows in tabs.items():
        add_tab(wb, title, rows, **options)
    return save(wb, path)


def album(artist: Any = "Leprous", title: Any = "Aphelion", **links: Link | None) -> list[Any]:
    """A row in HEADER order."""
    row: list[Any] = [artist, title, datetime(2021, 8, 27), "LP", "Prog-metal", "Mixed", "NO"]
    row += [links.get(key) for key in ("bandcamp", "spotify", "youtube", "amazon")]
    return row


def rewrite_member(path: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    """Copy of the workbook with one zip member rewritten (for markup openpyxl never writes)."""
    out = path.with_name(f"rewritten-{path.name}")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for info in source.infolist():
            data = source.read(info)
            dest.writestr(info, change(data) if info.filename == member else data)
    return out


SHEET1 = "xl/worksheets/sheet1.xml"


def rows_of(data: Any, tab: str | None = None) -> list[RawRow]:
    return [row for row in data.rows if tab is None or row.tab == tab]


# -- header, columns, tabs -------------------------------------------------------------


@pytest.mark.parametrize("header_row", [5, 6])
def test_read_xlsx__header_found_by_name_below_title_block(tmp_path: Path, header_row: int) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": [album()]}, header_row=header_row)

    data = read_xlsx(path)

    assert data.tabs == ["2020 Prog-metal"]
    [row] = data.rows
    assert row.row_number == header_row + 1
    assert row.cells["artist"] == "Leprous"
    assert row.cells["title"] == "Aphelion"
    assert row.cells["kind"] == "LP"
    assert row.cells["genres"] == "Prog-metal"
    assert row.cells["vocal_style"] == "Mixed"
    assert row.cells["location"] == "NO"


def test_read_xlsx__columns_found_by_name_when_google_play_sits_between(tmp_path: Path) -> None:
    header = ["Artist", "Album", "Release Date", "Length", "Genre / Subgenres", "Vocal Style"]
    header += ["Country / State", "Bandcamp", "Spotify", "Google Play", "YouTube", "Amazon"]
    row: list[Any] = ["Haken", "Vector", "TBA", "LP", "Prog-metal", "Clean", "UK", None]
    row += [Link(ALBUM), Link("https://play.google.com/store/music/album?id=B1&tid=x", "GP")]
    row += [formula("https://www.youtube.com/watch?v=abc", "YT"), None]
    path = workbook(tmp_path / "w.xlsx", {"2018": [row]}, header=header)

    [raw] = read_xlsx(path).rows

    assert raw.links == {
        "spotify": ALBUM,
        "google_play": "https://play.google.com/store/music/album?id=B1&tid=x",
        "youtube": "https://www.youtube.com/watch?v=abc",
    }


def test_read_xlsx__columns_found_by_name_in_any_order(tmp_path: Path) -> None:
    header = ["Spotify", "Album", "Vocal Style", "Artist", "Release Date"]
    path = workbook(
        tmp_path / "w.xlsx",
        {"2019": [[Link(ALBUM), "Distance Over Time", "Clean", "Dream Theater", "TBA"]]},
        header=header,
    )

    [raw] = read_xlsx(path).rows

    assert raw.cells == {
        "artist": "Dream Theater",
        "title": "Distance Over Time",
        "vocal_style": "Clean",
        "release": "TBA",
    }
    assert raw.links == {"spotify": ALBUM}


def test_read_xlsx__statistics_and_empty_tabs_skipped(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    add_tab(wb, "2020 Prog-metal", [album()])
    wb.create_sheet("Empty")
    stats = wb.create_sheet("Statistics")
    stats["A1"] = "Statistics"
    stats["A3"] = "Releases"
    stats["B3"] = "=COUNTA('2020 Prog-metal'!A6:A999)"
    path = save(wb, tmp_path / "w.xlsx")

    data = read_xlsx(path)

    assert data.tabs == ["2020 Prog-metal"]
    assert {row.tab for row in data.rows} == {"2020 Prog-metal"}


def test_read_xlsx__tab_with_header_but_no_rows_is_listed(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": [album()], "2020 Reissues": []})

    data = read_xlsx(path)

    assert data.tabs == ["2020 Prog-metal", "2020 Reissues"]
    assert len(data.rows) == 1


def test_read_xlsx__tab_globs_select_case_insensitively_hidden_tabs_included(
    tmp_path: Path,
) -> None:
    wb = openpyxl.Workbook()
    add_tab(wb, "2020 Prog-metal", [album("A")])
    add_tab(wb, "2020 Prog-rock", [album("B")])
    add_tab(wb, "2020 Reissues & Special Release", [album("C")])
    add_tab(wb, "2019 Prog-metal", [album("D")])
    wb["2020 Reissues & Special Release"].sheet_state = "hidden"
    path = save(wb, tmp_path / "w.xlsx")

    everything = read_xlsx(path)
    metal = read_xlsx(path, ["*PROG-METAL"])
    twenty = read_xlsx(path, ["2020 *"])

    assert len(everything.tabs) == 4
    assert metal.tabs == ["2020 Prog-metal", "2019 Prog-metal"]
    assert [row.cells["artist"] for row in metal.rows] == ["A", "D"]
    assert twenty.tabs == ["2020 Prog-metal", "2020 Prog-rock", "2020 Reissues & Special Release"]


def test_read_xlsx__tab_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": [album()]})

    with pytest.raises(InputNotReadable, match="no tab matches 1999"):
        read_xlsx(path, ["1999"])


def test_read_xlsx__no_header_row_anywhere_is_an_error(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active["A1"] = "just a list"
    wb.active["A2"] = "Leprous"
    path = tmp_path / "w.xlsx"
    wb.save(path)

    with pytest.raises(InputNotReadable, match="no tab has a header row"):
        read_xlsx(path)


# -- links -----------------------------------------------------------------------------------


def test_read_xlsx__formula_links_found_when_cached_value_empty(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": [album(spotify=formula(ALBUM))]})
    with zipfile.ZipFile(path) as archive:  # what Google exports too: <f> and an empty <v>
        assert b'<f>HYPERLINK("' + ALBUM.encode() in archive.read(SHEET1)

    [raw] = read_xlsx(path).rows

    assert raw.links == {"spotify": ALBUM}
    sheet_row = interpret(raw)
    assert sheet_row is not None
    assert sheet_row.sheet_spotify_id == ALBUM_ID


def test_read_xlsx__cell_hyperlinks_and_formulas_mixed_in_one_tab(tmp_path: Path) -> None:
    youtube = "https://www.youtube.com/playlist?list=OLAK5uy&si=x1"  # `&` is XML-escaped
    rows = [
        album("A", bandcamp=Link("https://a.bandcamp.com/album/x", "BC"), spotify=Link(ALBUM)),
        album("B", spotify=formula(OTHER_ALBUM), youtube=formula(youtube, "YT")),
        album("C", youtube=Link(youtube, "YT"), amazon=formula("https://amazon.com/dp/B0", "A")),
    ]
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": rows})

    links = [row.links for row in read_xlsx(path).rows]

    assert links == [
        {"bandcamp": "https://a.bandcamp.com/album/x", "spotify": ALBUM},
        {"spotify": OTHER_ALBUM, "youtube": youtube},
        {"youtube": youtube, "amazon": "https://amazon.com/dp/B0"},
    ]


def test_read_xlsx__plain_url_text_in_link_column_is_a_link(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2017": [album(spotify=None), album("B")]})
    wb = openpyxl.load_workbook(path)
    wb["2017"]["I6"] = f" {ALBUM} "
    wb["2017"]["J7"] = "YT"  # a label without any URL is no link
    wb.save(path)

    rows = read_xlsx(path).rows

    assert rows[0].links == {"spotify": ALBUM}
    assert rows[1].links == {}


def test_read_xlsx__title_block_links_are_not_row_links(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": [album()]})

    [raw] = read_xlsx(path).rows

    assert raw.links == {}


def test_read_xlsx__hyperlink_range_and_internal_links(tmp_path: Path) -> None:
    rows = [album("A", spotify=Link(ALBUM)), album("B"), album("C", amazon=Link(OTHER_ALBUM))]
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": rows})

    def change(xml: bytes) -> bytes:
        # I6 -> a range over I6:I7; the K8 link -> an internal `location` link.
        xml = xml.replace(b'ref="I6"', b'ref="I6:I7"')
        return re.sub(
            rb'<hyperlink ([^>]*)ref="K8"[^>]*/>',
            rb'<hyperlink ref="K8" location="Sheet2!A1"/>',
            xml,
        )

    data = read_xlsx(rewrite_member(path, SHEET1, change))

    assert [row.links for row in data.rows] == [{"spotify": ALBUM}, {"spotify": ALBUM}, {}]


def test_read_xlsx__attribute_order_and_quotes_do_not_matter(tmp_path: Path) -> None:
    rows = [album("A", spotify=formula(ALBUM)), album("B", spotify=Link(OTHER_ALBUM))]
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": rows})

    def change(xml: bytes) -> bytes:
        xml = xml.replace(b'<c r="I6"', b"<c s='0' r='I6'")
        return re.sub(
            rb'<hyperlink ([^>]*?)ref="I7" (r:id="[^"]*")',
            rb"<hyperlink \2 display='S' \1ref='I7'",
            xml,
        )

    changed = rewrite_member(path, SHEET1, change)
    with zipfile.ZipFile(changed) as archive:
        assert b"ref='I7'" in archive.read(SHEET1)

    assert [row.links for row in read_xlsx(changed).rows] == [
        {"spotify": ALBUM},
        {"spotify": OTHER_ALBUM},
    ]


def test_read_xlsx__formula_cells_without_r_keep_their_links_in_place(tmp_path: Path) -> None:
    youtube = "https://www.youtube.com/watch?v=abc"
    bandcamp = "https://leprous.bandcamp.com/album/aphelion"
    rows = [
        album("Leprous", "Aphelion", spotify=formula(ALBUM), youtube=formula(youtube)),
        album("Haken", "Fauna", bandcamp=Link(bandcamp, "BC"), spotify=formula(OTHER_ALBUM)),
    ]
    path = workbook(tmp_path / "w.xlsx", {"2021": rows})
    # `r` is optional: a cell without it follows the cell written before it.
    changed = rewrite_member(
        path, SHEET1, lambda xml: xml.replace(b'<c r="J6"', b"<c").replace(b'<c r="I7"', b"<c")
    )
    with zipfile.ZipFile(changed) as archive:
        assert b'r="J6"' not in archive.read(SHEET1)

    assert [row.links for row in read_xlsx(changed).rows] == [
        {"spotify": ALBUM, "youtube": youtube},
        {"bandcamp": bandcamp, "spotify": OTHER_ALBUM},
    ]


def test_read_xlsx__namespace_prefixes_and_relative_sheet_targets(tmp_path: Path) -> None:
    rows = [album("A", spotify=formula(ALBUM)), album("B", spotify=Link(OTHER_ALBUM))]
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": rows})

    def prefixed(xml: bytes) -> bytes:  # <x:worksheet xmlns:x=...><x:c>..., as .NET writes
        xml = re.sub(rb"<(/?)([A-Za-z]+)([\s/>])", rb"<\1x:\2\3", xml)
        return xml.replace(b'<x:worksheet xmlns="', b'<x:worksheet xmlns:x="', 1)

    def relative(rels: bytes) -> bytes:
        return rels.replace(b'Target="/xl/worksheets/', b'Target="worksheets/')

    changed = rewrite_member(path, SHEET1, prefixed)
    changed = rewrite_member(changed, "xl/_rels/workbook.xml.rels", relative)
    with zipfile.ZipFile(changed) as archive:
        assert b"<x:c " in archive.read(SHEET1)
        assert b'Target="worksheets/sheet1.xml"' in archive.read("xl/_rels/workbook.xml.rels")

    assert [row.links for row in read_xlsx(changed).rows] == [
        {"spotify": ALBUM},
        {"spotify": OTHER_ALBUM},
    ]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ('HYPERLINK("https://a.b/c","S")', "https://a.b/c"),
        ('=hyperlink( "https://a.b/c" , "S" )', "https://a.b/c"),
        ('HYPERLINK("https://a.b/?x=1"&"&y=2";"S")', "https://a.b/?x=1&y=2"),
        ('HYPERLINK("https://a.b/say ""hi""")', 'https://a.b/say "hi"'),
        ("HYPERLINK('https://a.b/c', 'S')", "https://a.b/c"),
        ('IFERROR(HYPERLINK("https://a.b/c","S"),"")', "https://a.b/c"),
        ('HYPERLINK("https://a.b/"&A5,"S")', None),
        ('HYPERLINK(A5,"S")', None),
        ("HYPERLINK('Sheet 2'!A1,\"S\")", None),
        ('HYPERLINK("","S")', None),
        ("COUNTA(A1:A9)", None),
    ],
)
def test_formula_url__literal_urls_only(text: str, url: str | None) -> None:
    assert formula_url(text) == url


# -- values ------------------------------------------------------------------------------------


def test_read_xlsx__numeric_artist_and_title_stay_numbers(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "w.xlsx", {"2017": [album(1349, 3), album("Caligula's Horse", 20247)]}
    )

    rows = read_xlsx(path).rows

    assert isinstance(rows[0].cells["artist"], int | float)
    assert isinstance(rows[0].cells["title"], int | float)
    assert [cell_text(row.cells["artist"]) for row in rows] == ["1349", "Caligula's Horse"]
    assert [cell_text(row.cells["title"]) for row in rows] == ["3", "20247"]


def test_read_xlsx__vague_dates_stay_text_and_real_dates_typed(tmp_path: Path) -> None:
    rows = []
    for released in (datetime(2019, 3, 1), date(2019, 4, 5), "TBA", "April", "Fall", None):
        row = album()
        row[2] = released
        rows.append(row)
    path = workbook(tmp_path / "w.xlsx", {"2019 Prog-metal": rows})

    values = [row.cells.get("release") for row in read_xlsx(path).rows]

    assert isinstance(values[0], date)
    assert isinstance(values[1], date)
    assert (values[0].isoformat()[:10], values[1].isoformat()[:10]) == ("2019-03-01", "2019-04-05")
    assert values[2:] == ["TBA", "April", "Fall", None]


def test_read_xlsx__blank_rows_dropped_artist_only_rows_kept(tmp_path: Path) -> None:
    rows: list[list[Any]] = [album("A"), [None] * 11, ["   "] + [None] * 10, album("B", None)]
    rows.append([None, None, None, "LP", None, "Mixed"])  # trailing formatting-like cells
    rows.append([None, "Untitled artist"])
    path = workbook(tmp_path / "w.xlsx", {"2020 Prog-metal": rows})

    data = read_xlsx(path)

    assert [
        (row.row_number, row.cells.get("artist"), row.cells.get("title")) for row in data.rows
    ] == [
        (6, "A", "Aphelion"),
        (9, "B", None),
        (11, None, "Untitled artist"),
    ]
    assert interpret(data.rows[1]) is None  # no title: interpretation skips it later


def test_read_xlsx__row_numbers_exact_when_sheet_starts_with_empty_rows_and_columns(
    tmp_path: Path,
) -> None:
    # No title block: the first non-empty cell is C6, so calamine's values start there.
    rows = [album("A", spotify=Link(ALBUM)), None, album("B", spotify=formula(OTHER_ALBUM))]
    path = workbook(
        tmp_path / "w.xlsx",
        {"2020": [row or [] for row in rows]},
        header_row=6,
        first_col=3,
        title_block=False,
    )

    data = read_xlsx(path)

    assert [(row.row_number, row.cells["artist"]) for row in data.rows] == [(7, "A"), (9, "B")]
    assert [row.links for row in data.rows] == [{"spotify": ALBUM}, {"spotify": OTHER_ALBUM}]


# -- safety -----------------------------------------------------------------------------------


def test_read_xlsx__not_a_zip_is_not_readable(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    path.write_text("Artist,Album\nLeprous,Aphelion\n")

    with pytest.raises(InputNotReadable, match="not a zip archive"):
        read_xlsx(path)


def test_read_xlsx__encrypted_workbook_is_not_readable(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"  # password-protected xlsx files are OLE containers
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))

    with pytest.raises(InputNotReadable, match="encrypted"):
        read_xlsx(path)


def test_read_xlsx__zip_without_workbook_is_not_readable(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")

    with pytest.raises(InputNotReadable, match=r"no xl/workbook\.xml"):
        read_xlsx(path)


@pytest.mark.parametrize(
    ("member", "declaration"),
    [
        ("xl/workbook.xml", b'<!DOCTYPE lol [<!ENTITY lol "lol">]>'),
        ("xl/styles.xml", b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'),
        (SHEET1, b'<!ENTITY xxe SYSTEM "file:///etc/passwd">'),
    ],
)
def test_read_xlsx__dtd_declarations_are_refused(
    tmp_path: Path, member: str, declaration: bytes
) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020": [album()]})

    def change(xml: bytes) -> bytes:
        return re.sub(rb"^(<\?xml[^>]*\?>)?", lambda m: (m.group(0) or b"") + declaration, xml)

    with pytest.raises(InputNotReadable, match="DTD"):
        read_xlsx(rewrite_member(path, member, change))


def test_read_xlsx__xml_comments_are_fine(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020": [album()]})
    changed = rewrite_member(
        path, SHEET1, lambda xml: xml.replace(b"<sheetData>", b"<!-- hi --><sheetData>")
    )

    assert len(read_xlsx(changed).rows) == 1


def test_read_xlsx__zip_bomb_member_is_refused_before_parsing(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020": [album()]})
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dest:
        for info in source.infolist():
            dest.writestr(info, source.read(info))
        # Zeros deflate ~1000:1; the ratio trips the check whatever the size, so a
        # modest bomb keeps the test fast.
        with dest.open("xl/media/zeros.bin", "w") as member:
            for _ in range(24):
                member.write(bytes(1 << 20))

    with pytest.raises(InputNotReadable, match="compression ratio"):
        read_xlsx(bomb)


def test_read_xlsx__member_inflating_past_its_declared_size_is_refused(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020": [album()]})
    data = bytearray(path.read_bytes())
    # Make the sheet's central directory entry claim a much smaller size.
    name = SHEET1.encode()
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    (real_size,) = struct.unpack_from("<I", data, entry + 24)
    struct.pack_into("<I", data, entry + 24, 100)
    liar = tmp_path / "liar.xlsx"
    liar.write_bytes(bytes(data))
    assert real_size > 100

    with pytest.raises(InputNotReadable, match="beyond its declared size"):
        read_xlsx(liar)


def test_read_xlsx__too_big_or_too_many_members_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020": [album()]})

    monkeypatch.setattr(zipguard, "MAX_MEMBERS", 3)
    with pytest.raises(InputNotReadable, match="too many parts"):
        read_xlsx(path)
    monkeypatch.setattr(zipguard, "MAX_MEMBERS", 10_000)
    monkeypatch.setattr(zipguard, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(InputNotReadable, match="inflates to more than"):
        read_xlsx(path)


def test_read_xlsx__corrupt_sheet_is_not_readable(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"2020": [album()]})
    changed = rewrite_member(path, SHEET1, lambda xml: xml[: len(xml) // 2])

    with pytest.raises(InputNotReadable):
        read_xlsx(changed)
