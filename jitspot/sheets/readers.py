"""Reading a source (xlsx, csv, json; local or http(s)) into raw rows."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from jitspot.errors import InputNotFound, InputNotReadable
from jitspot.sheets.sheet import HEADER_SEARCH_ROWS, RawRow, SheetData, header_map, tab_selected
from jitspot.text import fold

# A Google Sheets path: `/spreadsheets/d/ID/…`, also under `/u/N/` (a signed-in
# account) or `/a/DOMAIN/` (Workspace), and `/d/e/2PACX-…/` for a published sheet.
_GOOGLE_SHEET = re.compile(
    r"^(?:/a/[^/]+)?/spreadsheets(?:/u/\d+)?/d/(?P<published>e/)?(?P<id>[A-Za-z0-9_-]+)"
    r"(?P<rest>/.*)?$"
)
_DOWNLOAD_CHUNK = 1 << 16
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


def google_export_url(url: str) -> str:
    """A Google Sheets share/edit/published URL becomes its xlsx export URL.

    URLs that already ask for data (`/export…`, `/gviz/…`, a published
    `/pub?output=…`) and every other URL pass through unchanged.
    """
    parts = urlsplit(url)
    match = _GOOGLE_SHEET.match(parts.path)
    if parts.hostname != "docs.google.com" or match is None:
        return url
    rest = match["rest"] or ""
    if match["published"]:
        if rest.startswith("/pub") and not rest.startswith("/pubhtml") and "output=" in parts.query:
            return url
        return f"https://docs.google.com/spreadsheets/d/e/{match['id']}/pub?output=xlsx"
    if rest.startswith(("/export", "/gviz/")):
        return url
    return f"https://docs.google.com/spreadsheets/d/{match['id']}/export?format=xlsx"


def downloaded_csv_tab(url: str, filename: str | None) -> str:
    """The tab a downloaded CSV stands for.

    Every tab of a Google sheet downloads from the same path (`…/export`,
    `…/pub`), so the path cannot name it: the server's file name does
    (Google sends "Sheet title - Tab.csv"), else the `gid` that picks the tab.
    """
    parts = urlsplit(url)
    google = _GOOGLE_SHEET.match(parts.path) is not None
    stem = Path(filename.replace("\\", "/")).stem.strip() if filename else ""
    if stem:
        if google and " - " in stem:
            # Tab names in the real sheets have no " - "; sheet titles may.
            return stem.rpartition(" - ")[2].strip() or stem
        return stem
    for part in (parts.query, parts.fragment):
        gid = parse_qs(part).get("gid")
        if gid and gid[0].strip():
            return f"gid {gid[0].strip()}"
    if google:
        return "gid 0"  # no gid: Google exports the first tab
    return Path(unquote(parts.path)).stem or "csv"


def is_url(source: str) -> bool:
    """Whether `source` is a URL rather than a path."""
    return "://" in source


def is_stdin(source: str) -> bool:
    """Whether `source` names standard input (`-`)."""
    return source == "-"


def read_source(
    source: str,
    tab_globs: Sequence[str] = (),
    *,
    max_bytes: int = 100 * 2**20,
    timeout: float = 60.0,
) -> SheetData:
    """Read a local path, http(s) URL or `-` (stdin) into SheetData, by its kind.

    The kind (xlsx, csv, json) comes from the name or content type, else from
    the content itself. Errors name `source` as the user gave it.
    """
    with _local_copy(source, max_bytes=max_bytes, timeout=timeout) as local:
        try:
            kind = _sniff_kind(local.path, local.hint)
            if kind == "xlsx":
                from jitspot.sheets.xlsx import read_xlsx

                data = read_xlsx(local.path, tab_globs)
            elif kind == "json":
                data = read_json(local.path, tab_globs)
            else:
                data = read_csv(local.path, tab_globs, default_tab=local.default_tab)
        except InputNotReadable as exc:
            if local.path == Path(source).expanduser():
                raise
            # The readers name the file they read; a download or stdin was read from a
            # temporary file the user never saw, so name what they gave instead.
            raise InputNotReadable(str(exc).replace(str(local.path), local.label)) from None
        data.source = source
        return data


@dataclass(frozen=True, slots=True)
class _Local:
    """A source as a local file: where it is, a hint of its kind, its CSV tab, its name."""

    path: Path
    hint: str
    default_tab: str
    label: str


@contextmanager
def _local_copy(source: str, *, max_bytes: int, timeout: float) -> Iterator[_Local]:
    """`source` as a local file; downloads and streams go to a temporary directory,
    removed on every way out (the CLI turns SIGTERM into an exception for this)."""
    if is_url(source):
        url = google_export_url(source)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise InputNotFound(f"{source}: only http(s) URLs can be imported, not {scheme}:")
        with tempfile.TemporaryDirectory(prefix="jitspot-") as tmp:
            target = Path(tmp) / "download"
            got = _download(url, target, label=source, max_bytes=max_bytes, timeout=timeout)
            if _is_web_page(target, got.content_type):
                raise InputNotReadable(
                    f"{source}: the URL returned a web page (is the sheet shared/published?)"
                )
            tab = downloaded_csv_tab(source, got.filename)
            yield _Local(target, _download_hint(url, got), tab, source)
        return
    if is_stdin(source):
        if sys.stdin is None or sys.stdin.isatty():
            raise InputNotFound("-: standard input is a terminal; pipe a sheet in, or give a path")
        with tempfile.TemporaryDirectory(prefix="jitspot-") as tmp:
            target = Path(tmp) / "stdin"
            _copy_stream(sys.stdin.buffer, target, label="stdin", max_bytes=max_bytes)
            yield _Local(target, "", "stdin", "stdin")
        return
    path = Path(source).expanduser()
    if path.is_dir():
        raise InputNotFound(f"{source} is a directory; give an .xlsx, .csv or .json file")
    if not path.exists():
        raise InputNotFound(f"{source}: no such file")
    if path.is_file():
        yield _Local(path, path.suffix.lower(), path.stem or "csv", source)
        return
    # A pipe or device (`<(curl …)`, /dev/stdin) can be read once only: copy it.
    with tempfile.TemporaryDirectory(prefix="jitspot-") as tmp, _open_input(path) as stream:
        target = Path(tmp) / "stream"
        _copy_stream(stream, target, label=source, max_bytes=max_bytes)
        yield _Local(target, path.suffix.lower(), path.stem or "csv", source)


@contextmanager
def _open_input(path: Path) -> Iterator[BinaryIO]:
    try:
        with path.open("rb") as stream:
            yield stream
    except OSError as exc:
        raise InputNotFound(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _copy_stream(stream: BinaryIO, target: Path, *, label: str, max_bytes: int) -> None:
    received = 0
    with target.open("wb") as out:
        while chunk := stream.read(_DOWNLOAD_CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise InputNotReadable(f"{label}: larger than the {_mib(max_bytes)} MiB limit")
            out.write(chunk)
    if received == 0:
        raise InputNotReadable(f"{label}: nothing to import (empty input)")


def _mib(size: int) -> str:
    return f"{size / 2**20:g}"


@dataclass(frozen=True, slots=True)
class _Downloaded:
    content_type: str
    filename: str | None  # from Content-Disposition


def _download_hint(url: str, got: _Downloaded) -> str:
    query = parse_qs(urlsplit(url).query)
    asked = (query.get("format") or query.get("output") or [""])[0].lower()
    if asked in ("xlsx", "csv"):
        return "." + asked
    if "spreadsheetml" in got.content_type:
        return ".xlsx"
    if "json" in got.content_type:
        return ".json"
    if "csv" in got.content_type:
        return ".csv"
    for name in (got.filename or "", urlsplit(url).path):
        suffix = Path(name).suffix.lower()
        if suffix:
            return suffix
    return ""


def _is_web_page(path: Path, content_type: str) -> bool:
    """An HTML page where a sheet was expected: a sign-in page or the editor itself."""
    if "html" in content_type.lower():
        return True
    with path.open("rb") as handle:
        head = handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(_HTML_STARTS)


def _http_only_opener() -> Any:
    """An opener that follows redirects only to http(s): never to file: or ftp:.

    Built on first use: urllib.request (with http.client, ssl and email) costs
    start-up that an import of a local file never needs.
    """
    import urllib.request

    class HttpOnly(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: Any,
            code: int,
            msg: str,
            headers: Any,
            newurl: str,
        ) -> urllib.request.Request | None:
            if urlsplit(newurl).scheme.lower() not in ("http", "https"):
                raise InputNotFound(f"refusing a redirect to {newurl}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(HttpOnly())


def _download(
    url: str,
    target: Path,
    *,
    label: str,
    max_bytes: int,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> _Downloaded:
    """Stream `url` to `target`, at most `max_bytes` within `timeout` seconds in all.

    The socket timeout bounds each read; the deadline bounds the whole, so a
    server that trickles a byte at a time cannot keep an import running (a read
    already waiting may add up to one more `timeout`).
    """
    import http.client
    import urllib.error
    import urllib.request

    deadline = clock() + timeout
    too_big = InputNotReadable(f"{label}: larger than the {_mib(max_bytes)} MiB limit")
    late = InputNotFound(f"{label}: download did not finish within {timeout:g} s")
    opener = _http_only_opener()
    request = urllib.request.Request(url, headers={"User-Agent": "jitspot"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response, target.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise too_big
            received = 0
            # read1: one socket read at a time, so the deadline is checked between them.
            while chunk := response.read1(_DOWNLOAD_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise too_big
                if clock() > deadline:
                    raise late
                out.write(chunk)
            return _Downloaded(
                str(response.headers.get("Content-Type", "")), response.headers.get_filename()
            )
    except urllib.error.HTTPError as exc:
        raise InputNotFound(f"{label}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputNotFound(f"{label}: cannot download ({exc.reason})") from None
    except TimeoutError:
        raise InputNotFound(f"{label}: download timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise InputNotFound(f"{label}: cannot download ({exc})") from None


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


# Sheets stop at 1,048,576 rows; anything else in `row` is not a row number.
_MAX_ROW = 2**20


def _is_row_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_ROW


def read_json(path: Path, tab_globs: Sequence[str] = ()) -> SheetData:
    """jitspot's own `export --format json` (a list of album objects) read back.

    Text fields must be strings (or null where optional): a number or an
    object where the export writes text is not jitspot's export.
    """
    albums = _load_albums(path)
    data = SheetData(source=str(path))
    for index, album in enumerate(albums, start=1):
        where = f"{path}: album #{index}"
        artist = _json_text(album, "artist", where, required=True)
        title = _json_text(album, "title", where, required=True)
        tab = _json_text(album, "tab", where) or "json"
        if not tab_selected(tab, tab_globs):
            continue
        if tab not in data.tabs:
            data.tabs.append(tab)
        cells: dict[str, Any] = {
            "artist": artist,
            "title": title,
            "release": _json_text(album, "release_date", where)
            or _json_text(album, "release_text", where),
            "kind": _json_text(album, "kind", where),
            "genres": ", ".join(_json_genres(album, where)),
            "vocal_style": _json_text(album, "vocal_style", where),
            "location": _json_text(album, "location", where),
        }
        row = album.get("row")
        data.rows.append(
            RawRow(
                tab=tab,
                row_number=row if isinstance(row, int) and _is_row_number(row) else index,
                cells={k: v for k, v in cells.items() if v not in (None, "")},
                links=_json_links(album, where),
            )
        )
    return data


def _load_albums(path: Path) -> list[dict[str, Any]]:
    def no_constants(name: str) -> Any:
        raise InputNotReadable(f"{path}: not valid JSON ({name} is not a JSON number)")

    try:
        document = json.loads(_decode(path), parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise InputNotReadable(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InputNotReadable(f"{path}: not jitspot's export (JSON nested too deeply)") from None
    except ValueError:
        # The only other ValueError json raises: an integer past Python's digit limit.
        raise InputNotReadable(f"{path}: not jitspot's export (a number is too long)") from None
    albums = document.get("albums") if isinstance(document, dict) else document
    if not isinstance(albums, list) or not all(isinstance(a, dict) for a in albums):
        raise InputNotReadable(f"{path}: expected a list of album objects (jitspot's export)")
    return albums


def _json_text(album: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = album.get(key)
    if isinstance(value, str):
        return value
    if value is None and not required:
        return ""
    wanted = "a string" if required else "a string or null"
    raise InputNotReadable(f"{where}: {key} must be {wanted}, not {_json_type(value)}")


def _json_genres(album: dict[str, Any], where: str) -> list[str]:
    genres = album.get("genres")
    if genres is None:
        return []
    if isinstance(genres, str):
        return [genres]
    if isinstance(genres, list) and all(isinstance(g, str) for g in genres):
        return genres
    raise InputNotReadable(f"{where}: genres must be a list of strings")


def _json_links(album: dict[str, Any], where: str) -> dict[str, str]:
    links = album.get("links")
    if links is None:
        return {}
    if isinstance(links, dict) and all(isinstance(v, str | None) for v in links.values()):
        return {str(k): v for k, v in links.items() if v}
    raise InputNotReadable(f"{where}: links must be an object of URL strings")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an object" if isinstance(value, dict) else "a list"
