"""A small Chrome DevTools Protocol driver for browser tests (and benches).

`Browser` starts headless Chromium in its own process group with a fresh
profile, talks to its page over the DevTools websocket, and kills the whole
group when the `with` block ends. Chromium resolves no host but 127.0.0.1, so
a page can reach the servers a test runs on loopback and nothing else.

    with Browser(chromium) as page:
        page.navigate(server.url + "/")
        page.wait_for("document.querySelectorAll('img').length > 3")
        page.scroll_to_bottom()
        png = page.screenshot(tmp_path / "page.png")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import websocket

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    # No test reaches beyond this machine: every name fails except loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
)
START_TIMEOUT = 30.0


def find_chromium() -> str | None:
    """The Chromium on this machine, if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    """Chromium did not start, answered an error, or a condition never held."""


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, executable: str, *, width: int = 1280, height: int = 900) -> None:
        self.executable = executable
        self.size = (width, height)
        self._profile = Path(tempfile.mkdtemp(prefix="jitspot-chromium-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: websocket.WebSocket | None = None
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # -- life ----------------------------------------------------------------------------

    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        width, height = self.size
        log = (self._profile / "chromium.log").open("wb")
        with log:
            self._process = subprocess.Popen(
                [
                    self.executable,
                    *FLAGS,
                    f"--window-size={width},{height}",
                    f"--user-data-dir={self._profile / 'profile'}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own group: close() ends every child too
            )
        port = self._port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.loads(answer.read())
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise BrowserError(f"no page target among {targets}")
        self._socket = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.send("Page.enable")
        self.send("Runtime.enable")
        # The window's size includes no browser UI in headless mode, but its viewport is
        # still smaller: make the viewport itself the size asked for.
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _port(self) -> int:
        """The DevTools port Chromium chose, from `DevToolsActivePort` in its profile."""
        assert self._process is not None
        path = self._profile / "profile" / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited {self._process.returncode}: {self.log()}")
            lines = path.read_text().splitlines() if path.exists() else []
            if lines and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium opened no DevTools port in {START_TIMEOUT:.0f} s")

    def log(self) -> str:
        """The end of what Chromium wrote to stdout and stderr."""
        path = self._profile / "chromium.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def close(self) -> None:
        """Kill Chromium's process group and remove its profile."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):  # the group's children too
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)
            self._process = None
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- protocol ------------------------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events met on the way are kept)."""
        if self._socket is None:
            raise BrowserError("the browser is not running")
        self._next_id += 1
        call_id = self._next_id
        self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self._events.append(message)

    def _receive(self) -> dict[str, Any]:
        assert self._socket is not None
        message: dict[str, Any] = json.loads(self._socket.recv())
        return message

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next event named `method` (kept ones first)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method:
                    del self._events[index]
                    return event
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} event in {timeout:.0f} s")
            assert self._socket is not None
            self._socket.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = self._receive()
            except websocket.WebSocketTimeoutException:
                continue
            finally:
                self._socket.settimeout(60)
            if "method" in message:
                self._events.append(message)

    # -- what tests use ------------------------------------------------------------------

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Open `url` and wait for its load event."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired", timeout)
        self._events.clear()  # what happened before the load is of no use

    def evaluate(self, expression: str) -> Any:
        """The value of a JS expression (a promise is awaited), as JSON-able Python."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 15.0, interval: float = 0.05) -> Any:
        """Poll a JS expression until it is truthy (in JS: a node is); returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            held, value = self.evaluate(f"(v => [!!v, v])({condition})")
            if held:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{condition!r} did not hold within {timeout:.0f} s")
            time.sleep(interval)

    def scroll_to(self, y: float) -> None:
        self.evaluate(f"window.scrollTo(0, {y})")

    def scroll_by(self, dy: float) -> None:
        self.evaluate(f"window.scrollBy(0, {dy})")

    def scroll_to_bottom(self) -> None:
        self.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")

    def screenshot(self, path: Path) -> bytes:
        """A PNG of the viewport, written to `path`; returns its bytes.

        Two animation frames go by first, so the picture is of the DOM as it is now
        (not a frame drawn before the last changes).
        """
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data
