"""`jitspot serve`'s app for tests (and benches): in process, or on a real loopback port.

Both run the app `create_app` makes over the home in the environment (JITSPOT_HOME, the
Spotify double's URLs), write down every HTTP request it gets, and stop it cleanly: the
app's shutdown closes its coalescer, its sync and its store connections.

`InProcess` drives the app through Starlette's test client: no socket, no server
thread, nothing to wait for at the start and the end, which is most of a web test's
time on a real port. `Listening` runs uvicorn in a thread on a free port, as
`jitspot serve` does: for what only a socket shows (slow or many clients, keep-alive),
the command itself, and Chromium, which needs a URL to open.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

import requests
from starlette.testclient import TestClient

from jitspot.cli.serve import DEFAULT_PORT
from jitspot.settings import Settings, load_settings
from jitspot.web import create_app
from jitspot.web.server import bind, server_for

TIMEOUT = 60  # seconds a request to a real port may take before the test fails


class Answer(Protocol):
    """What a test reads of an answer (requests' and httpx's responses alike)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    @property
    def content(self) -> bytes: ...

    def json(self, **kwargs: Any) -> Any: ...


class Served(ABC):
    """The app with its requests written down; `get`/`post` speak to it with its own
    origin by default. `start()` it, `stop()` it; `InProcess` and `Listening` say how."""

    def __init__(self, settings: Settings, port: int, **options: Any) -> None:
        """`options` go to `create_app`."""
        self.app = create_app(settings, **options)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.requests: list[tuple[str, str]] = []  # (path, query) of every HTTP request

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

    @abstractmethod
    def start(self) -> Served: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        """`method` `path` on the app; `kwargs` as requests and httpx both take them."""

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, *, origin: str | None = "own", **kwargs: Any) -> Answer:
        headers = dict(kwargs.pop("headers", {}))
        if origin == "own":
            headers["Origin"] = self.url
        elif origin is not None:
            headers["Origin"] = origin
        return self.request("POST", path, headers=headers, **kwargs)


class InProcess(Served):
    """The app driven in this process through Starlette's test client (httpx).

    The client's base URL is the address of a default `jitspot serve`, so the Host
    header, and the Origin `post` sends, are what a browser on it would send (the
    client's own `testserver` is a foreign host: a 421). A bug is the 500 a socket
    would answer, not an exception in the test. The client runs the app's lifespan
    when it starts and when it stops, and one event loop for every request, from any
    thread, as uvicorn does.
    """

    def __init__(self, settings: Settings, **options: Any) -> None:
        """`options` go to `create_app`."""
        super().__init__(settings, DEFAULT_PORT, **options)
        self.http = TestClient(self._recorded, base_url=self.url, raise_server_exceptions=False)

    def start(self) -> InProcess:
        self.http.__enter__()
        return self

    def stop(self) -> None:
        self.http.__exit__(None, None, None)

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        return self.http.request(method, path, **kwargs)


class Listening(Served):
    """uvicorn in a thread on a free loopback port, the socket and server of `jitspot
    serve`; `requests` speaks to it."""

    def __init__(
        self, settings: Settings, *, server: dict[str, Any] | None = None, **options: Any
    ) -> None:
        """`options` go to `create_app`, `server` to `server_for` (timeouts, limits)."""
        self.sock = bind("127.0.0.1", 0)
        super().__init__(settings, self.sock.getsockname()[1], **options)
        self.server = server_for(self._recorded, **(server or {}))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.http = requests.Session()

    def start(self) -> Listening:
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

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.http.request(method, self.url + path, **kwargs)


def serve(home: Path | None = None, *, listening: bool = False, **options: Any) -> Served:
    """A started app over the home the environment names (JITSPOT_HOME): in process, or
    `listening` on a loopback port."""
    settings = load_settings(home or Path("unused"))
    kind = Listening if listening else InProcess
    return kind(settings, **options).start()
