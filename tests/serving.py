"""`jitspot serve`'s app on a real loopback port, for tests (and benches).

`Served` starts uvicorn in a thread on a free port, over the home in the
environment (JITSPOT_HOME, the Spotify double's URLs), and stops it cleanly:
the app's shutdown closes its coalescer, its sync and its store connections.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import requests

from jitspot.settings import Settings, load_settings
from jitspot.web import create_app
from jitspot.web.server import bind, server_for


class Served:
    """A running server; `get`/`post` speak to it with its own origin by default."""

    def __init__(
        self, settings: Settings, *, server: dict[str, Any] | None = None, **options: Any
    ) -> None:
        """`options` go to `create_app`, `server` to `server_for` (timeouts, limits)."""
        self.app = create_app(settings, **options)
        self.sock = bind("127.0.0.1", 0)  # the socket and the server of `jitspot serve`
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, str]] = []  # (path, query) of every HTTP request
        self.server = server_for(self._recorded, **(server or {}))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.http = requests.Session()

    async def _recorded(self, scope: Any, receive: Any, send: Any) -> None:
        """The app, with each HTTP request it gets written down (what a test counts)."""
        if scope["type"] == "http":
            self.requests.append((scope["path"], scope["query_string"].decode("latin-1")))
        await self.app(scope, receive, send)

    def asked_covers(self) -> list[int]:
        """The album ids the pages asked covers for (`/api/covers?id=…`), in order."""
        return [
            int(value)
            for path, query in self.requests
            if path == "/api/covers"
            for name, value in parse_qsl(query)
            if name == "id"
        ]

    @property
    def site(self) -> Any:
        return self.app.state.site

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.http.get(self.url + path, **kwargs)

    def post(self, path: str, *, origin: str | None = "own", **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if origin == "own":
            headers["Origin"] = self.url
        elif origin is not None:
            headers["Origin"] = origin
        return self.http.post(self.url + path, headers=headers, timeout=60, **kwargs)


def serve(home: Path | None = None, **options: Any) -> Served:
    """A started server over the home the environment names (JITSPOT_HOME)."""
    settings = load_settings(home or Path("unused"))
    return Served(settings, **options).start()
