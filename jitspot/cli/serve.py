"""`jitspot serve`: the catalog in a browser, on loopback unless told otherwise."""

from __future__ import annotations

import errno
import ipaddress
import socket
from types import FrameType
from typing import Annotated

import typer

from jitspot.cli.app import app, state
from jitspot.errors import ConfigError

DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a ConfigError (78) that says what to change."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of a socket that
    # says it is TCP; without it, every answer on a kept-alive connection waits ~40 ms
    # (Nagle's algorithm against the browser's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use (another jitspot serve?); choose one with --port"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless --allow-remote).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = (DEFAULT_PORT),
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the catalog in the default browser.")
    ] = False,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a --host other machines can reach (anyone who can reach it can browse"
            " and sync; there is no login).",
        ),
    ] = False,
) -> None:
    """The catalog in a browser: pages of tiles, covers fetched as they come into view.

    Covers not cached yet are fetched from Spotify when their tiles near the
    viewport, coalesced into batch calls (20 albums per call with an
    extended-quota app); album pages load tracks and details on demand; "Sync
    now" imports JITSPOT_SHEET_URL and fetches what it added. The JSON API is
    under /api/. Listens on 127.0.0.1 only, unless --host and --allow-remote
    say otherwise. Ctrl-C stops it.
    """
    remote = not is_loopback(host)
    if remote and not allow_remote:
        ctx.fail(
            f"--host {host} can be reached from other machines, and the server has no login;"
            " add --allow-remote if that is what you want"
        )
    settings = state.get_settings()
    state.get_store()  # a store that cannot be opened fails here, with its exit code
    sock = bind(host, port)
    import uvicorn

    from jitspot.web import create_app

    shown_host = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/"
    if remote:
        state.err.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine"
            " can browse the catalog and start a sync (there is no login)"
        )
    state.say(f"jitspot serves the catalog at {url}  (Ctrl-C stops)")
    web_app = create_app(settings, allowed_hosts=None if remote else _loopback(host))
    config = uvicorn.Config(
        web_app,
        log_config=None,
        log_level="warning" if not state.verbose else "info",
        access_log=state.verbose,
        server_header=False,
        lifespan="on",
    )
    server = _quiet_server_class()(config)
    if open_browser:
        _open_when_ready(server, url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server ends: exit 0
    finally:
        sock.close()


def _quiet_server_class() -> type:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn, ending with exit 0 when Ctrl-C or SIGTERM stops it.

        After its graceful shutdown uvicorn raises the signal it caught again, so the
        process would die of it (130, or killed by SIGTERM): for a server stopped on
        purpose that reads as a failure to a shell or a service manager.
        """

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return QuietServer


def _loopback(host: str) -> tuple[str, ...]:
    from jitspot.web import LOOPBACK_HOSTS

    return (*LOOPBACK_HOSTS, host.strip("[]").lower())


def _open_when_ready(server: object, url: str) -> None:
    import threading
    import time
    import webbrowser

    def wait_then_open() -> None:
        for _ in range(200):
            if getattr(server, "started", False):
                webbrowser.open(url)
                return
            time.sleep(0.05)

    threading.Thread(target=wait_then_open, daemon=True).start()
