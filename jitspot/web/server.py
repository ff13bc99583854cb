"""Running the app: the listening socket and uvicorn, for `jitspot serve` and the tests alike."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from types import FrameType

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from jitspot.errors import ConfigError

# The names a browser may use for a server on loopback. Any other Host header is
# refused: a page on another site whose name resolves to 127.0.0.1 (DNS rebinding)
# would otherwise be "same-origin" with the server.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# What a client may hold of the server. A browser sends a request in one packet and keeps
# at most 6 connections to a server open; a client that trickles a request or connects
# and says nothing is closed at REQUEST_TIMEOUT, an idle kept-alive one at KEEP_ALIVE.
REQUEST_TIMEOUT = 10.0  # seconds for a request (head and body) to arrive
KEEP_ALIVE = 5  # seconds a connection may wait idle for its next request (uvicorn's unit: int)
MAX_CONNECTIONS = 512  # past it a request is a 503 at once (open files stay below 1024)
BACKLOG = 128  # connections the kernel queues before the server accepts them
MAX_HEAD_BYTES = 16 * 1024  # what an unfinished request head may buffer (then a 400)

log = logging.getLogger("jitspot.web")


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
        sock.listen(BACKLOG)
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


class _DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request to arrive whole.

    uvicorn (0.55) has no such timeout (its issue #157 has asked for a
    `--timeout-request-start` since 2018): its keep-alive timer runs only between
    requests and the first byte received cancels it, so a client that trickles a
    request head a byte at a time, or connects and sends nothing, holds its
    connection for ever. An ASGI middleware cannot help, as it runs only once the
    head is complete; the guard belongs here, where the bytes arrive. The clock
    starts with the connection, or with the first byte of a kept-alive one's next
    request, and stops once the request (head and body) is in; the app's own time
    to answer is not counted.
    """

    request_timeout = REQUEST_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Start the clock while a request is on its way in; stop it once it is in."""
        arriving = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
        if arriving and not self.transport.is_closing():
            if self._deadline is None:
                self._deadline = self.loop.call_later(self.request_timeout, self._expired)
        else:
            self._stop_clock()

    def _stop_clock(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info(
                "closing a connection whose request did not arrive in %ss", self.request_timeout
            )
            self.transport.close()


def server_for(
    app: ASGIApp,
    *,
    verbose: bool = False,
    request_timeout: float = REQUEST_TIMEOUT,
    keep_alive: int = KEEP_ALIVE,
    max_connections: int = MAX_CONNECTIONS,
) -> Server:
    """uvicorn for `app` (run it with `.run(sockets=[bind(...)])`): jitspot's logging,
    access lines only when `verbose`, no Server header, the app's lifespan on, and the
    limits above on what slow or many clients may hold (the tests shorten them)."""
    protocol = type("DeadlineProtocol", (_DeadlineProtocol,), {"request_timeout": request_timeout})
    config = uvicorn.Config(
        app,
        interface="asgi3",
        http=protocol,
        log_config=None,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        server_header=False,
        lifespan="on",
        timeout_keep_alive=keep_alive,
        limit_concurrency=max_connections,
        backlog=BACKLOG,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    return Server(config)
