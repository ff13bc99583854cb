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

Why not playwright (with the system Chromium through `executable_path`)? Its
auto-waiting is what tests need, and `wait_for` gives the same here: the page
itself re-checks a JS condition on every DOM change (a MutationObserver) and
every 20 ms, inside one DevTools call, so a test waits exactly as long as the
page takes and no sleep decides anything. Playwright would add a Node.js
driver (~100 MB) and its own browser builds to every CI run and developer
machine for the few DevTools methods used here (navigate, evaluate, key
presses, media emulation, screenshots), each a line of this file.
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
    # Back and Forward load the page again, as when the page cache drops it (memory,
    # an open connection): what the pages must handle, tested every time.
    "--disable-back-forward-cache",
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
        self.console: list[str] = []  # errors the pages wrote to the console (CSP, scripts)

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
        self.send("Log.enable")  # CSP violations and failed loads come as Log entries
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
                self._keep(message)

    def _keep(self, event: dict[str, Any]) -> None:
        """Keep an event for `wait_event`; console errors also go to `console`."""
        method, params = event["method"], event.get("params", {})
        if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.console.append(params["entry"].get("text", ""))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append(details.get("exception", {}).get("description") or "exception")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.console.append(" ".join(str(a.get("value", "")) for a in params.get("args", [])))
        else:
            self._events.append(event)

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
                self._keep(message)

    # -- what tests use ------------------------------------------------------------------

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Open `url` and wait for its load event."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired", timeout)
        self._events.clear()  # what happened before the load is of no use (console aside)

    def wait_for_load(self, timeout: float = 30.0) -> None:
        """Wait for the load event of a navigation the page started (a click, Back)."""
        self.wait_event("Page.loadEventFired", timeout)
        self._events.clear()

    def reload(self, timeout: float = 30.0) -> None:
        """Reload the page (the history entry and its state kept) and wait for its load."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        self.send("Page.reload")
        self.wait_for_load(timeout)

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

    def wait_for(self, condition: str, timeout: float = 15.0) -> Any:
        """Wait until a JS expression is truthy (in JS: a node is); returns its value.

        The page itself re-checks the condition after every DOM change and animation
        frame (and every 20 ms besides, for what changes no node: the address, the
        scroll), so a test waits for what it needs and no longer: no sleep decides.
        """
        waiter = f"""new Promise((resolve, reject) => {{
          const check = () => {{ try {{ return (v => [!!v, v])({condition}); }}
                                 catch (e) {{ return [false, String(e)]; }} }};
          const done = (result) => {{ observer.disconnect(); clearInterval(timer);
                                      clearTimeout(limit); resolve(result); }};
          const test = () => {{ const [held, value] = check(); if (held) done([true, value]); }};
          const observer = new MutationObserver(test);
          observer.observe(document, {{subtree: true, childList: true, attributes: true,
                                       characterData: true}});
          const timer = setInterval(test, 20);
          const limit = setTimeout(() => done([false, check()[1]]), {timeout * 1000});
          test();
        }})"""
        deadline = time.monotonic() + timeout
        while True:
            try:
                held, value = self.evaluate(waiter)
                break
            except BrowserError as exc:
                # The page navigated away meanwhile: ask the next one.
                if "context" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
        if not held:
            raise BrowserError(
                f"{condition!r} did not hold within {timeout:.0f} s (last: {value!r})"
            )
        return value

    def press(self, key: str, code: int) -> None:
        """Press and release a key (`press("Tab", 9)`), as a person would."""
        for kind in ("rawKeyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=key,
                windowsVirtualKeyCode=code,
                nativeVirtualKeyCode=code,
            )

    def type_text(self, text: str) -> None:
        """Type `text` into the focused field, one character at a time."""
        for char in text:
            self.send("Input.insertText", text=char)

    def color_scheme(self, scheme: str) -> None:
        """Emulate `prefers-color-scheme: light` or `dark`."""
        self.send(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )

    def console_errors(self) -> list[str]:
        """The console's errors so far (those that came with the last answers included)."""
        self.evaluate("new Promise(r => setTimeout(r, 0))")  # a round trip: events drained
        return list(self.console)

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
