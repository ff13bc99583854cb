"""Reading a source (xlsx, csv, json; local or http(s)) into raw rows."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jitspot.errors import InputNotFound, InputNotReadable
from jitspot.sheet import RawRow, header_map
from jitspot.text import fold

HEADER_SEARCH_ROWS = 30
_GOOGLE_SHEET = re.compile(r"^/spreadsheets/d/(?P<id>[A-Za-z0-9_-]+)")


@dataclass(slots=True)
class SheetData:
    """What a source holds: the album tabs it has and their non-empty rows.

    `tabs` lists every tab that had a header row, even an empty one: a later
    import removes rows only within these tabs.
    """

    source: str
    tabs: list[str] = field(default_factory=list)
    rows: list[RawRow] = field(default_factory=list)


def tab_selected(tab: str, globs: Sequence[str]) -> bool:
    """Whether `--tab GLOB`s select `tab` (case-insensitive; none given selects all)."""
    return not globs or any(fnmatchcase(fold(tab), fold(glob)) for glob in globs)


def google_export_url(url: str) -> str:
    """A Google Sheets share/edit URL becomes its xlsx export URL; others pass through."""
    parts = urlsplit(url)
    match = _GOOGLE_SHEET.match(parts.path)
    if parts.hostname == "docs.google.com" and match and "/export" not in parts.path:
        return f"https://docs.google.com/spreadsheets/d/{match['id']}/export?format=xlsx"
    return url


def is_url(source: str) -> bool:
    return "://" in source


def read_source(
    source: str,
    tab_globs: Sequence[str] = (),
    *,
    max_bytes: int = 100 * 2**20,
    timeout: float = 60.0,
) -> SheetData:
    """Read a local path or http(s) URL into SheetData, by its kind (xlsx, csv, json)."""
    with _local_copy(source, max_bytes=max_bytes, timeout=timeout) as (path, hint):
        kind = _sniff_kind(path, hint)
        if kind == "xlsx":
            from jitspot.xlsx import read_xlsx

            data = read_xlsx(path, tab_globs)
        elif kind == "json":
            data = read_json(path, tab_globs)
        else:
            data = read_csv(path, tab_globs, default_tab=_default_tab(source))
        data.source = source
        return data


def _default_tab(source: str) -> str:
    name = urlsplit(source).path if is_url(source) else source
    return Path(name).stem or "csv"


@contextmanager
def _local_copy(source: str, *, max_bytes: int, timeout: float) -> Iterator[tuple[Path, str]]:
    """A local path for `source` and a hint of its kind (suffix or content type)."""
    if not is_url(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise InputNotFound(f"{source}: no such file")
        yield path, path.suffix.lower()
        return
    url = google_export_url(source)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InputNotFound(f"{source}: only http(s) URLs can be imported, not {scheme}:")
    with tempfile.TemporaryDirectory(prefix="jitspot-") as tmp:
        target = Path(tmp) / "download"
        content_type = _download(url, target, max_bytes=max_bytes, timeout=timeout)
        hint = Path(urlsplit(url).path).suffix.lower()
        if "format=xlsx" in url or "spreadsheetml" in content_type:
            hint = ".xlsx"
        elif "json" in content_type:
            hint = ".json"
        elif "csv" in content_type:
            hint = ".csv"
        yield target, hint


class _HttpOnly(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s): a redirect must not reach file: or ftp:."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise InputNotFound(f"refusing a redirect to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, target: Path, *, max_bytes: int, timeout: float) -> str:
    """Stream `url` to `target`, at most `max_bytes`; return its content type."""
    opener = urllib.request.build_opener(_HttpOnly())
    request = urllib.request.Request(url, headers={"User-Agent": "jitspot"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response, target.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise InputNotReadable(f"{url}: larger than the {max_bytes // 2**20} MiB limit")
            received = 0
            while chunk := response.read(1 << 16):
                received += len(chunk)
                if received > max_bytes:
                    raise InputNotReadable(f"{url}: larger than the {max_bytes // 2**20} MiB limit")
                out.write(chunk)
            return str(response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        raise InputNotFound(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputNotFound(f"{url}: cannot download ({exc.reason})") from None
    except TimeoutError:
        raise InputNotFound(f"{url}: download timed out after {timeout:g} s") from None
    except OSError as exc:
        raise InputNotFound(f"{url}: cannot download ({exc})") from None


def _sniff_kind(path: Path, hint: str) -> str:
    if hint in (".xlsx", ".xlsm"):
        return "xlsx"
    if hint == ".json":
        return "json"
    if hint in (".csv", ".tsv", ".txt"):
        return "csv"
    with path.open("rb") as handle:
        head = handle.read(512).lstrip()
    if head.startswith(b"PK"):
        return "xlsx"
    if head[:1] in (b"[", b"{"):
        return "json"
    return "csv"


# -- CSV -------------------------------------------------------------------------------


def read_csv(path: Path, tab_globs: Sequence[str] = (), *, default_tab: str = "csv") -> SheetData:
    """A CSV with the sheet's header names (found by name, like in xlsx); plain URL links.

    The tab is the `Tab` column when there is one, else the file's name.
    """
    text = _decode(path)
    dialect: type[csv.Dialect] | csv.Dialect
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as exc:
        raise InputNotReadable(f"{path}: not a readable CSV ({exc})") from None
    header_index, columns = _find_header(records, path)
    tab_column = next(
        (i for i, name in enumerate(records[header_index]) if fold(name) == "tab"), None
    )
    data = SheetData(source=str(path))
    for offset, record in enumerate(records[header_index + 1 :], start=header_index + 2):
        tab = (
            record[tab_column].strip()
            if tab_column is not None and tab_column < len(record)
            else ""
        )
        tab = tab or default_tab
        if not tab_selected(tab, tab_globs):
            continue
        if tab not in data.tabs:
            data.tabs.append(tab)
        row = _raw_row(tab, offset, record, columns)
        if row is not None:
            data.rows.append(row)
    if tab_column is None and tab_selected(default_tab, tab_globs) and default_tab not in data.tabs:
        data.tabs.append(default_tab)
    return data


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise InputNotReadable(f"{path}: not a text file (binary content)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _find_header(records: list[list[str]], path: Path) -> tuple[int, dict[str, int]]:
    for index, record in enumerate(records[:HEADER_SEARCH_ROWS]):
        columns = header_map(record)
        if columns:
            return index, columns
    raise InputNotReadable(f"{path}: no header row with Artist and Album found")


def _raw_row(tab: str, number: int, record: list[str], columns: dict[str, int]) -> RawRow | None:
    cells: dict[str, Any] = {}
    links: dict[str, str] = {}
    for name, index in columns.items():
        value = _unneutralise(record[index].strip()) if index < len(record) else ""
        if name.startswith("link:"):
            if "://" in value or value.startswith("spotify:"):
                links[name[5:]] = value
        elif value:
            cells[name] = value
    if not cells.get("artist") and not cells.get("title"):
        return None
    return RawRow(tab=tab, row_number=number, cells=cells, links=links)


def _unneutralise(value: str) -> str:
    """Undo the `'` jitspot's CSV export puts before cells a spreadsheet would run."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value


# -- JSON (jitspot's own export) ---------------------------------------------------------


def read_json(path: Path, tab_globs: Sequence[str] = ()) -> SheetData:
    """jitspot's own `export --format json` (a list of album objects) read back."""
    try:
        document = json.loads(_decode(path))
    except json.JSONDecodeError as exc:
        raise InputNotReadable(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    albums = document.get("albums") if isinstance(document, dict) else document
    if not isinstance(albums, list) or not all(isinstance(a, dict) for a in albums):
        raise InputNotReadable(f"{path}: expected a list of album objects (jitspot's export)")
    data = SheetData(source=str(path))
    for index, album in enumerate(albums, start=1):
        if "artist" not in album or "title" not in album:
            raise InputNotReadable(f"{path}: album #{index} has no artist/title")
        tab = str(album.get("tab") or "json")
        if not tab_selected(tab, tab_globs):
            continue
        if tab not in data.tabs:
            data.tabs.append(tab)
        genres = album.get("genres") or []
        links = album.get("links") or {}
        cells: dict[str, Any] = {
            "artist": album.get("artist"),
            "title": album.get("title"),
            "release": album.get("release_date") or album.get("release_text"),
            "kind": album.get("kind"),
            "genres": ", ".join(map(str, genres)) if isinstance(genres, list) else str(genres),
            "vocal_style": album.get("vocal_style"),
            "location": album.get("location"),
        }
        row_number = album.get("row") if isinstance(album.get("row"), int) else index
        data.rows.append(
            RawRow(
                tab=tab,
                row_number=row_number,
                cells={k: v for k, v in cells.items() if v not in (None, "")},
                links={str(k): str(v) for k, v in links.items() if v}
                if isinstance(links, dict)
                else {},
            )
        )
    return data
