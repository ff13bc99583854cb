"""Reading sources: Google Sheets URL forms, downloads (naming, deadline, web pages), stdin."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import Result

from jitspot.sheets.readers import downloaded_csv_tab, google_export_url

Run = Callable[..., Result]
MakeSheet = Callable[..., Path]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ID = "1AbC-dEf_GhIjKlMnOpQrStUvWxYz0123456789abcd"
PUB = "2PACX-1vQabcDEF_ghi-JKL"
EXPORT = f"https://docs.google.com/spreadsheets/d/{ID}/export?format=xlsx"
PUB_EXPORT = f"https://docs.google.com/spreadsheets/d/e/{PUB}/pub?output=xlsx"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://docs.google.com/spreadsheets/d/{ID}/edit#gid=0", EXPORT),
        (f"https://docs.google.com/spreadsheets/d/{ID}/edit?usp=sharing", EXPORT),
        (f"https://docs.google.com/spreadsheets/d/{ID}", EXPORT),
        (f"https://docs.google.com/spreadsheets/d/{ID}/", EXPORT),
        (f"https://docs.google.com/spreadsheets/d/{ID}/htmlview", EXPORT),
        (f"http://docs.google.com/spreadsheets/d/{ID}/view", EXPORT),
        (f"https://docs.google.com/spreadsheets/u/1/d/{ID}/edit", EXPORT),
        (f"https://docs.google.com/spreadsheets/u/0/d/{ID}/edit#gid=5", EXPORT),
        (f"https://docs.google.com/a/example.org/spreadsheets/d/{ID}/edit", EXPORT),
        (f"https://docs.google.com/spreadsheets/d/e/{PUB}/pubhtml", PUB_EXPORT),
        (f"https://docs.google.com/spreadsheets/d/e/{PUB}/pubhtml?gid=1&single=true", PUB_EXPORT),
        (f"https://docs.google.com/spreadsheets/d/e/{PUB}/pub", PUB_EXPORT),
        # Already data: left as given.
        (f"https://docs.google.com/spreadsheets/d/{ID}/export?format=csv&gid=123", None),
        (f"https://docs.google.com/spreadsheets/d/{ID}/export?format=xlsx", None),
        (f"https://docs.google.com/spreadsheets/d/{ID}/gviz/tq?tqx=out:csv&sheet=2021", None),
        (f"https://docs.google.com/spreadsheets/d/e/{PUB}/pub?gid=0&single=true&output=csv", None),
        # Not Google Sheets.
        ("https://example.com/spreadsheets/d/abc/edit", None),
        ("https://docs.google.com/document/d/abc/edit", None),
        ("https://example.com/releases.xlsx", None),
    ],
)
def test_google_export_url__url_forms(url: str, expected: str | None) -> None:
    assert google_export_url(url) == (expected or url)


@pytest.mark.parametrize(
    ("url", "filename", "tab"),
    [
        (f"https://docs.google.com/spreadsheets/d/{ID}/export?format=csv&gid=0", None, "gid 0"),
        (f"https://docs.google.com/spreadsheets/d/{ID}/export?format=csv&gid=12", None, "gid 12"),
        (f"https://docs.google.com/spreadsheets/d/{ID}/export?format=csv", None, "gid 0"),
        (
            f"https://docs.google.com/spreadsheets/d/{ID}/export?format=csv&gid=12",
            "Releases - 2020 Prog-metal.csv",
            "2020 Prog-metal",
        ),
        (
            f"https://docs.google.com/spreadsheets/d/{ID}/export?format=csv",
            "Prog - Rock - 2021.csv",
            "2021",
        ),
        ("https://example.com/dl?id=7", "2023 Prog-metal.csv", "2023 Prog-metal"),
        ("https://example.com/files/2023%20Prog.csv", None, "2023 Prog"),
        ("https://example.com/dl?gid=4", None, "gid 4"),
    ],
)
def test_downloaded_csv_tab__never_a_path_shared_by_every_tab(
    url: str, filename: str | None, tab: str
) -> None:
    assert downloaded_csv_tab(url, filename) == tab


# -- a loopback server ---------------------------------------------------------------------

Reply = Callable[[http.server.BaseHTTPRequestHandler], None]


@contextmanager
def serving(reply: Reply) -> Iterator[str]:
    """A loopback HTTP server answering every GET with `reply`; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # The client may give up mid-answer: that is what some tests want.
            with suppress(BrokenPipeError, ConnectionResetError):
                reply(self)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send(
    handler: http.server.BaseHTTPRequestHandler,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def csv_for(gid: str) -> bytes:
    artist = {"0": "Haken", "123": "Leprous"}[gid]
    return f"Artist,Album,Release Date\n{artist},Album {gid},2023-03-03\n".encode()


def listed(run: Run) -> list[dict[str, Any]]:
    result = run("list", "--json")
    assert result.exit_code == 0, result.stderr
    albums: list[dict[str, Any]] = result.json()
    return albums


def test_import__csv_tabs_of_one_google_sheet_keep_apart(run: Run) -> None:
    def reply(handler: http.server.BaseHTTPRequestHandler) -> None:
        gid = parse_qs(urlsplit(handler.path).query)["gid"][0]
        send(handler, csv_for(gid), "text/csv")

    with serving(reply) as base:
        sheet = f"{base}/spreadsheets/d/{ID}/export?format=csv"
        for gid in ("0", "123"):
            result = run("import", f"{sheet}&gid={gid}", "--json")
            assert result.exit_code == 0, result.stderr
            assert result.json()["removed"] == 0
    assert sorted((a["tab"], a["artist"]) for a in listed(run)) == [
        ("gid 0", "Haken"),
        ("gid 123", "Leprous"),
    ]


def test_import__downloaded_csv_tab_named_from_content_disposition(run: Run) -> None:
    names = {"0": "2023 Prog-metal", "123": "2023 Prog-rock"}

    def reply(handler: http.server.BaseHTTPRequestHandler) -> None:
        gid = parse_qs(urlsplit(handler.path).query)["gid"][0]
        filename = f"Releases - {names[gid]}.csv"
        disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''" + filename.replace(
            " ", "%20"
        )
        send(handler, csv_for(gid), "text/csv", {"Content-Disposition": disposition})

    with serving(reply) as base:
        sheet = f"{base}/spreadsheets/d/{ID}/export?format=csv"
        assert run("import", f"{sheet}&gid=0").exit_code == 0
        assert run("import", f"{sheet}&gid=123").exit_code == 0
    assert sorted((a["tab"], a["artist"], a["year"]) for a in listed(run)) == [
        ("2023 Prog-metal", "Haken", 2023),
        ("2023 Prog-rock", "Leprous", 2023),
    ]


def assert_one_line_naming(result: Result, code: int, url: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"jitspot: {url}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "jitspot-" not in result.stderr  # never the temporary download
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html; charset=utf-8", b"<!DOCTYPE html><html><body>Sign in</body></html>"),
        ("application/octet-stream", b"\n  <!doctype html>\n<html lang=en><title>Sheets</title>"),
    ],
)
def test_import__web_page_instead_of_a_sheet_says_so(
    run: Run, content_type: str, body: bytes
) -> None:
    with serving(lambda handler: send(handler, body, content_type)) as base:
        url = f"{base}/spreadsheets/d/{ID}/edit"
        result = run("import", url)
    assert_one_line_naming(result, 65, url)
    assert "the URL returned a web page (is the sheet shared/published?)" in result.stderr


def test_import__bad_download_error_names_the_url(run: Run) -> None:
    with serving(lambda handler: send(handler, b"PK not a zip", XLSX_TYPE)) as base:
        url = f"{base}/sheet.xlsx"
        result = run("import", url)
    assert_one_line_naming(result, 65, url)


def trickle(handler: http.server.BaseHTTPRequestHandler) -> None:
    """Promise a large body, then send it a byte at a time, forever (as far as a test goes)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"Artist,Album\n")
    handler.wfile.flush()
    for _ in range(600):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.05)  # the server's pace, well under the per-read timeout


def test_import__a_trickling_download_meets_its_deadline(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_DOWNLOAD_TIMEOUT", "0.5")
    with serving(trickle) as base:
        url = f"{base}/sheet.csv"
        result = run("import", url)
    assert_one_line_naming(result, 66, url)
    assert "did not finish within 0.5 s" in result.stderr


def test_import__sigterm_during_download_removes_the_temporary_file(
    tmp_path: Path, home: Path
) -> None:
    asked = threading.Event()

    def reply(handler: http.server.BaseHTTPRequestHandler) -> None:
        asked.set()  # the client made its temporary directory before it asked
        trickle(handler)

    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "JITSPOT_HOME": str(home)}
    with serving(reply) as base:
        process = subprocess.Popen(
            [sys.executable, "-m", "jitspot", "import", f"{base}/sheet.csv"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert asked.wait(30)
            assert [p.name for p in temp.iterdir() if p.name.startswith("jitspot-")]
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 75, stderr
    assert "Traceback" not in stderr
    assert [p.name for p in temp.iterdir()] == []
