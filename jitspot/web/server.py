"""Running the app: the listening socket and uvicorn, for `jitspot serve` and the tests alike."""

from __future__ import annotations

import errno
import ipaddress
import socket
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from jitspot.errors import ConfigError

# The names a browser may use for a server on loopback. Any other Host header is
# refused: a page on another site whose name resolves to 127.0.0.1 (DNS rebinding)
# would otherwise be "same-origin" with the server.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_names(host: str) -> tuple[str, ...]:
    """The Host names a server listening on the loopback address `host` answers to."""
    return (*LOOPBACK_HOSTS, host.strip("[]").lower())


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


class Server(uvicorn.Server):
    """uvicorn, ending with exit 0 when Ctrl-C or SIGTERM stops it.

    After its graceful shutdown uvicorn raises the signal it caught again, so the
    process would die of it (130, or killed by SIGTERM): for a server stopped on
    purpose that reads as a failure to a shell or a service manager.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def server_for(app: ASGIApp, *, verbose: bool = False) -> Server:
    """uvicorn for `app` (run it with `.run(sockets=[bind(...)])`): jitspot's logging,
    access lines only when `verbose`, no Server header, the app's lifespan on."""
    config = uvicorn.Config(
        app,
        interface="asgi3",
        log_config=None,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        server_header=False,
        lifespan="on",
    )
    return Server(config)
