"""Reading an .xlsx workbook into raw rows: fast, and safe against hostile files.

Cell values come from python-calamine (Rust, typed values). Calamine does not
report hyperlinks or formulas, so the link cells ("S", "BC", "YT") are found by
a scan of each selected sheet's XML bytes: the `<hyperlinks>` part (targets in
the sheet's relationships) and `HYPERLINK("url", "S")` formulas, whose cached
value is usually empty in Google Sheets exports.

Before anything parses the file, `zipguard` checks the zip container (zip
bombs, DTD declarations, encryption); this module keeps, of the parts it
inflated, the ones the link scan reads.
"""

from __future__ import annotations

import functools
import html
import posixpath
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from jitspot.errors import InputNotReadable
from jitspot.sheets.sheet import HEADER_SEARCH_ROWS, RawRow, SheetData, header_map, tab_selected
from jitspot.sheets.zipguard import checked_zip
from jitspot.text import cell_text

# -- sheet XML scanning --------------------------------------------------------------------


_ROOT_PREFIX = re.compile(rb"<([\w.-]+:)?worksheet[\s>]")
_VALUE = rb"""\s*=\s*(?:"([^"]*)"|'([^']*)')"""  # two groups: "double" or 'single' quoted
_OTHER_ATTRIBUTE = rb"""[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*')"""
_SIMPLE_HYPERLINK = re.compile(r'\s*=?\s*HYPERLINK\(\s*"([^"]*)"\s*[,;)]', re.IGNORECASE)
_HYPERLINK_CALL = re.compile(r"hyperlink\s*\(\s*", re.IGNORECASE)
_STRING_LITERAL = re.compile(r"\"((?:[^\"]|\"\")*)\"|'((?:[^']|'')*)'")


def _tag(prefix: bytes, name: bytes, *captured: bytes) -> bytes:
    """A regex for a start tag capturing the `captured` attributes in any order.

    Attributes are matched one by one (wanted ones first, any other after), so a
    repeated group leaves each wanted value in its own pair of groups: one findall
    pass in C, no per-tag Python, whatever order the producer wrote them in.
    """
    wanted = b"|".join(
        re.escape(attribute).replace(rb"\*", rb"[\w.-]+") + _VALUE for attribute in captured
    )
    return (
        rb"<"
        + re.escape(prefix)
        + name
        + rb"(?:\s+(?:"
        + wanted
        + rb"|"
        + _OTHER_ATTRIBUTE
        + rb"))*\s*/?>"
    )


@dataclass(frozen=True, slots=True)
class _Patterns:
    """Scanning patterns for one namespace prefix of the sheet (`` or `x:`)."""

    formula: re.Pattern[bytes]  # any <f>: its text
    # A <c> whose first child is an <f>: r (two groups), text. Every producer seen writes
    # `r` first, which is 5x faster to match; the order-free pattern is the fallback.
    formula_cells: tuple[re.Pattern[bytes], ...]
    hyperlink: re.Pattern[bytes]  # <hyperlink>: ref, r:id (two groups each)


@functools.cache
def _patterns(prefix: bytes) -> _Patterns:
    escaped = re.escape(prefix)
    formula = rb"<" + escaped + rb"f(?:\s[^>]*)?>([^<]*)</"
    # The schema puts <f> first in <c>, so the cell tag right before a formula owns it.
    # <c> attributes (r, s, t, cm, vm, ph) never hold a `>`, so [^>]* may skip them.
    r_first = rb"<" + escaped + rb"c\s+r" + _VALUE + rb"[^>]*"
    any_order = _tag(prefix, b"c", b"r").removesuffix(rb"/?>")
    return _Patterns(
        formula=re.compile(formula),
        # No \s* before `>` after [^>]*: it would make the engine backtrack at every cell.
        formula_cells=(
            re.compile(r_first + rb">\s*" + formula),
            re.compile(any_order + rb">\s*" + formula),
        ),
        hyperlink=re.compile(_tag(prefix, b"hyperlink", b"ref", b"*:id")),
    )


# Relationships of a sheet (hyperlink targets): thousands per sheet, so one regex pass
# (~6x faster than a tree); the part was checked for DTD declarations first.
_RELATIONSHIP = re.compile(_tag(b"", rb"(?:[\w.-]+:)?Relationship", b"Id", b"Target", b"Type"))


Cell = tuple[int, int]  # (1-based sheet row, 0-based column)


def read_xlsx(path: Path, tab_globs: Sequence[str] = ()) -> SheetData:
    """Read the album tabs of an .xlsx workbook into raw rows.

    A tab is read when `tab_globs` select it (fnmatch, case-insensitive; none
    selects all, hidden tabs included) and a header row naming Artist and Album
    stands in its first rows; other tabs (`Statistics`, empty ones) are skipped.
    Cell values stay typed; link columns give the cell's hyperlink, the URL of a
    `HYPERLINK()` formula, or a URL written as text. Rows without artist and
    title are dropped.

    Raises InputNotReadable for anything that is not a safe, readable workbook.
    """
    workbook = _checked_workbook(path, tab_globs)
    if tab_globs and not workbook.sheet_parts:
        raise InputNotReadable(f"{path}: no tab matches {', '.join(tab_globs)}")

    # Calamine parses in Rust and lets go of the GIL for part of it: scanning the links
    # meanwhile saves ~20% of the read. Only now: the archive has passed its checks.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jitspot-xlsx") as pool:
        sheets = pool.submit(_calamine_sheets, path, tab_globs)
        links = {tab: workbook.sheet_links(tab) for tab in workbook.sheet_parts}
        values_by_tab = sheets.result()

    data = SheetData(source=str(path))
    fallback_links: dict[str, dict[Cell, str]] | None = None
    for tab, values, start in values_by_tab:
        found = _find_header(values, start)
        if found is None:
            continue
        header_index, columns = found
        data.tabs.append(tab)
        tab_links = links.get(tab, {})
        if tab_links is None:  # formula cells without `r`: their place needs a real parser
            if fallback_links is None:
                fallback_links = _openpyxl_links(path, list(workbook.sheet_parts))
            tab_links = fallback_links.get(tab, {})
        data.rows.extend(_rows(tab, values, start, header_index, columns, tab_links))
    if not data.tabs:
        raise InputNotReadable(f"{path}: no tab has a header row with Artist and Album")
    return data


# -- rows ------------------------------------------------------------------------------------


def _find_header(values: list[list[Any]], start: Cell) -> tuple[int, dict[str, int]] | None:
    """(index in `values`, field -> sheet column) of the header row, or None."""
    first_row, first_col = start
    for index, row in enumerate(values[: max(0, HEADER_SEARCH_ROWS - first_row + 1)]):
        columns = header_map([cell_text(value) for value in row])
        if columns:
            return index, {name: col + first_col for name, col in columns.items()}
    return None


def _rows(
    tab: str,
    values: list[list[Any]],
    start: Cell,
    header_index: int,
    columns: dict[str, int],
    links: dict[Cell, str],
) -> Iterator[RawRow]:
    """The rows under the header that name an artist or a title, as RawRows."""
    first_row, first_col = start
    # Offsets into calamine's rows (which start at `first_col`), not sheet columns.
    fields = [(name, col - first_col) for name, col in columns.items() if ":" not in name]
    link_fields = [
        (name.partition(":")[2], col, col - first_col)
        for name, col in columns.items()
        if name.startswith("link:")
    ]
    # This loop runs for every row of the workbook: plain type checks, no helpers.
    for index in range(header_index + 1, len(values)):
        row = values[index]
        width = len(row)
        cells: dict[str, Any] = {}
        for name, offset in fields:
            if offset < width:
                value = row[offset]
                if value.__class__ is str:
                    if value and not value.isspace():
                        cells[name] = value
                elif value is not None:
                    cells[name] = value
        if "artist" not in cells and "title" not in cells:
            continue  # blank rows, trailing formatting
        row_number = first_row + index
        found: dict[str, str] = {}
        for key, col, offset in link_fields:
            url = links.get((row_number, col))
            if url is None and offset < width:
                url = _text_link(row[offset])
            if url:
                found[key] = url
        yield RawRow(tab=tab, row_number=row_number, cells=cells, links=found)


def _text_link(value: object) -> str | None:
    """A URL typed into a link cell as plain text (the same rule as the CSV reader)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "://" in text or text.startswith("spotify:"):
        return text
    return None


# -- calamine --------------------------------------------------------------------------------


def _calamine_sheets(
    path: Path, tab_globs: Sequence[str]
) -> list[tuple[str, list[list[Any]], Cell]]:
    """(tab, values, (1-based row, 0-based column) of values[0][0]) of each selected worksheet."""
    # Imported here: the extension takes time to load and most commands never read xlsx.
    import python_calamine

    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
        # Chart sheets hold no cells; hidden tabs are read like the others.
        names = [
            meta.name
            for meta in workbook.sheets_metadata
            if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
            and tab_selected(meta.name, tab_globs)
        ]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3 panics derive from BaseException
        raise InputNotReadable(f"{path}: not a readable workbook ({_reason(exc)})") from None
    sheets: list[tuple[str, list[list[Any]], Cell]] = []
    try:
        for name in names:
            try:
                sheet = workbook.get_sheet_by_name(name)
                # to_python() starts at the first non-empty cell; `start` says which one.
                values: list[list[Any]] = sheet.to_python()
                row0, col0 = sheet.start or (0, 0)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                raise InputNotReadable(
                    f"{path}: tab {name!r} is not readable ({_reason(exc)})"
                ) from None
            sheets.append((name, values, (int(row0) + 1, int(col0))))
    finally:
        close = getattr(workbook, "close", None)  # python-calamine >= 0.3
        if close is not None:
            close()
    return sheets


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


# -- workbook structure ------------------------------------------------------------------------

_WORKBOOK_PART = "xl/workbook.xml"
_WORKSHEET_REL = "/worksheet"


@dataclass(slots=True)
class _Workbook:
    """A checked workbook: its selected tabs and the XML bytes the link scan needs."""

    path: Path
    sheet_parts: dict[str, str | None]  # selected tab -> zip member of its worksheet XML
    parts: dict[str, bytes]  # inflated, checked XML of the selected sheets and their rels

    def sheet_links(self, tab: str) -> dict[Cell, str] | None:
        """Links of a tab's cells; None when a formula cell has no `r` (use the fallback)."""
        part = self.sheet_parts.get(tab)
        if part is None or part not in self.parts:
            return {}
        rels = self.parts.get(_rels_part(part))
        return _scan_links(self.parts[part], _hyperlink_targets(rels) if rels else {})


def _checked_workbook(path: Path, tab_globs: Sequence[str]) -> _Workbook:
    """Open `path` as an xlsx through the zip guard; keep the parts the link scan needs."""
    with checked_zip(path) as archive:
        if _WORKBOOK_PART not in archive.members:
            raise InputNotReadable(f"{path}: not an xlsx file (no {_WORKBOOK_PART})")
        # Every XML part is inflated once, by the guard, with the real size enforced:
        # declared sizes can lie, and calamine's zip reader trusts them. Only what the
        # link scan needs is kept.
        kept = {
            name: archive.read(name)
            for name in (_WORKBOOK_PART, _rels_part(_WORKBOOK_PART))
            if name in archive.members
        }
        sheet_parts = {
            tab: part
            for tab, part in _sheet_parts(path, kept, set(archive.members)).items()
            if tab_selected(tab, tab_globs)
        }
        wanted = {part for part in sheet_parts.values() if part is not None}
        wanted |= {_rels_part(part) for part in wanted}
        kept |= archive.check_xml_parts(keep=wanted, skip=kept)
    return _Workbook(path=path, sheet_parts=sheet_parts, parts=kept)


def _sheet_parts(path: Path, parts: dict[str, bytes], members: set[str]) -> dict[str, str | None]:
    """Tab name -> zip member of its worksheet XML (None if not found), in workbook order."""
    workbook = _parse_xml(path, _WORKBOOK_PART, parts[_WORKBOOK_PART])
    rels_part = _rels_part(_WORKBOOK_PART)
    rels = parts.get(rels_part)
    targets = _relationship_targets(path, rels_part, rels, _WORKSHEET_REL) if rels else {}
    result: dict[str, str | None] = {}
    for element in workbook.iter():
        if _local(element.tag) != "sheet":
            continue
        name = element.get("name")
        rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id" and "}" in k), "")
        if name is None:
            continue
        target = targets.get(rel_id)
        part = _resolve_target(_WORKBOOK_PART, target) if target else None
        result[name] = part if part in members else None
    return result


def _relationship_targets(path: Path, name: str, rels: bytes, type_suffix: str) -> dict[str, str]:
    """Id -> Target of one type of relationship in a small .rels part (already checked)."""
    targets: dict[str, str] = {}
    for element in _parse_xml(path, name, rels):
        target = element.get("Target")
        if element.get("Type", "").endswith(type_suffix) and target:
            targets[element.get("Id", "")] = target.strip()
    return targets


def _hyperlink_targets(rels: bytes) -> dict[bytes, str]:
    """Id -> URL of a sheet's hyperlink relationships (ids as bytes, like the sheet scan's)."""
    targets: dict[bytes, str] = {}
    for rel_id, rel_id1, target, target1, kind, kind1 in _RELATIONSHIP.findall(rels):
        if (kind or kind1).endswith(b"/hyperlink"):
            url = (target or target1).decode("utf-8", "replace")
            targets[rel_id or rel_id1] = (html.unescape(url) if "&" in url else url).strip()
    return targets


def _parse_xml(path: Path, name: str, data: bytes) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(data)  # noqa: S314 - declarations were refused above
    except ElementTree.ParseError as exc:
        raise InputNotReadable(f"{path}: {name} is not well-formed XML ({exc})") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _rels_part(part: str) -> str:
    """`xl/worksheets/sheet1.xml` -> `xl/worksheets/_rels/sheet1.xml.rels`."""
    folder, _, base = part.rpartition("/")
    return f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"


def _resolve_target(source_part: str, target: str) -> str:
    """A relationship target as a zip member name (relative to the source's folder or absolute)."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    folder = posixpath.dirname(source_part)
    return posixpath.normpath(posixpath.join(folder, target))


# -- link scanning --------------------------------------------------------------------------


def _scan_links(sheet: bytes, hyperlink_targets: dict[bytes, str]) -> dict[Cell, str] | None:
    """Cell -> URL from HYPERLINK formulas and cell hyperlinks.

    None when a HYPERLINK formula cannot be placed (its cell has no `r`, or the
    markup is too unusual for the scan): the caller then asks a real parser.
    """
    root = _ROOT_PREFIX.search(sheet, 0, 4096)
    patterns = _patterns(root.group(1) or b"" if root else b"")
    links: dict[Cell, str] = {}
    expected = sum(1 for text in patterns.formula.findall(sheet) if b"HYPERLINK" in text.upper())
    if expected:
        for pattern in patterns.formula_cells:
            formulas = [
                (ref or ref1, text)
                for ref, ref1, text in pattern.findall(sheet)
                if b"HYPERLINK" in text.upper()
            ]
            if len(formulas) == expected:
                break
        else:
            return None
        for ref, text in formulas:
            cell = _cell(ref)
            if cell is None:
                return None
            formula = text.decode("utf-8", "replace")
            url = formula_url(html.unescape(formula) if "&" in formula else formula)
            if url:
                links[cell] = url
    # Cell hyperlinks win over a formula in the same cell: they are what a click opens.
    start = sheet.find(b"hyperlinks")
    if start >= 0 and hyperlink_targets:
        for ref, ref1, rel_id, rel_id1 in patterns.hyperlink.findall(sheet, start):
            url = hyperlink_targets.get(rel_id or rel_id1)
            if not url:
                continue  # `location`-only links point inside the workbook: no r:id
            ref = ref or ref1
            if b":" in ref or b" " in ref:
                for cell in _cells(ref):
                    links[cell] = url
            else:
                cell = _cell(ref)
                if cell is not None:
                    links[cell] = url
    return links


def formula_url(formula: str) -> str | None:
    """The URL of a `HYPERLINK("url", "label")` formula, or None.

    The URL may be string literals joined by `&` (Google splits long URLs that way);
    anything else (a cell reference, a function) cannot be evaluated here and gives None.
    """
    simple = _SIMPLE_HYPERLINK.match(formula)
    if simple:
        return simple.group(1).strip() or None
    call = _HYPERLINK_CALL.search(formula)
    if call is None:
        return None
    position = call.end()
    pieces: list[str] = []
    while True:
        literal = _STRING_LITERAL.match(formula, position)
        if literal is None:
            return None
        if literal.group(1) is not None:
            pieces.append(literal.group(1).replace('""', '"'))
        else:
            pieces.append(literal.group(2).replace("''", "'"))
        position = _skip_spaces(formula, literal.end())
        if position < len(formula) and formula[position] == "&":
            position = _skip_spaces(formula, position + 1)
            continue
        if position < len(formula) and formula[position] in ",;)":
            break
        return None
    url = "".join(pieces).strip()
    return url or None


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


_COLUMNS: dict[bytes, int] = {}
_DIGITS = b"0123456789"


def _cell(ref: bytes) -> Cell | None:
    """`J9` -> (9, 9): 1-based row, 0-based column. Called for every link: no regex."""
    letters = ref.rstrip(_DIGITS)
    column = _COLUMNS.get(letters)
    if column is None:
        if not (0 < len(letters) <= 3 and letters.isalpha()):
            return None
        column = -1
        for letter in letters.upper():
            column = (column + 1) * 26 + letter - ord("A")
        _COLUMNS[letters] = column
    digits = ref[len(letters) :]
    if not 0 < len(digits) <= 7:
        return None
    return int(digits), column


# A hyperlink range can cover a whole column; links only matter where album rows are.
_MAX_RANGE_CELLS = 100_000


def _cells(ref: bytes) -> list[Cell]:
    """The cells of a ref: `J9`, `J9:J12`, or several separated by spaces."""
    if b":" not in ref and b" " not in ref:
        single = _cell(ref)
        return [single] if single else []
    cells: list[Cell] = []
    for part in ref.split():
        first, _, last = part.partition(b":")
        a = _cell(first)
        b = _cell(last) if last else a
        if a is None or b is None:
            continue
        rows = range(min(a[0], b[0]), max(a[0], b[0]) + 1)
        cols = range(min(a[1], b[1]), max(a[1], b[1]) + 1)
        if len(rows) * len(cols) > _MAX_RANGE_CELLS:
            continue
        cells.extend((row, col) for row in rows for col in cols)
    return cells


# -- fallback: openpyxl --------------------------------------------------------------------------


def _openpyxl_links(path: Path, tabs: Sequence[str]) -> dict[str, dict[Cell, str]]:
    """Links of the named tabs read with openpyxl, for sheets the scan cannot place.

    Formula cells without `r` (legal, rare) need a parser that counts cells. Slow (a
    full load), but such files are rare and small; the archive was checked already.
    """
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path)
    except Exception as exc:
        raise InputNotReadable(f"{path}: not a readable workbook ({_reason(exc)})") from None
    result: dict[str, dict[Cell, str]] = {}
    try:
        for tab in tabs:
            if tab not in workbook.sheetnames:
                continue
            links: dict[Cell, str] = {}
            for row in workbook[tab].iter_rows():
                for cell in row:
                    url = _openpyxl_cell_link(cell)
                    if url:
                        links[(cell.row, cell.column - 1)] = url
            result[tab] = links
    finally:
        workbook.close()
    return result


def _openpyxl_cell_link(cell: Any) -> str | None:
    hyperlink = getattr(cell, "hyperlink", None)
    target = getattr(hyperlink, "target", None)
    if isinstance(target, str) and target.strip():
        return target.strip()
    value = cell.value
    text = value if isinstance(value, str) else getattr(value, "text", None)
    if isinstance(text, str) and text.startswith("="):
        return formula_url(text)
    return None
