"""`jitspot serve`'s listening socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

import requests
from serving import Served

from jitspot.web.server import bind

Start = Callable[..., Served]


def test_serve_bind__connections_get_tcp_nodelay_so_keep_alive_answers_do_not_wait() -> None:
    sock = bind("127.0.0.1", 0)
    nodelay: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn = transport.get_extra_info("socket")
            nodelay.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            for _ in range(200):
                if nodelay:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    try:
        asyncio.run(accept_one())
    finally:
        sock.close()

    assert sock.proto == socket.IPPROTO_TCP
    assert nodelay and nodelay[0] != 0


# -- slow and many clients -----------------------------------------------------------------------

HEAD_START = b"GET /api/albums HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: not done
CAP = 30.0  # seconds a test waits for the server to close (the deadlines are far shorter)


def _closed_by_server(socks: list[socket.socket]) -> list[bool]:
    """Whether the server closed each socket (EOF, or a reset if our bytes crossed its
    close), waiting at most CAP seconds for them all; False for one still open then."""
    deadline = time.monotonic() + CAP
    return [_closed_before(sock, deadline) for sock in socks]


def _closed_before(sock: socket.socket, deadline: float) -> bool:
    try:
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            if not sock.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


def _connect(server: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=CAP)


def _send(sock: socket.socket, data: bytes) -> None:
    # The server may have closed it already: what the tests wait for anyway.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def _trickle(server: Served) -> list[socket.socket]:
    """40 connections: 20 that say nothing, 20 that send half a request head."""
    silent = [_connect(server) for _ in range(20)]
    trickling = [_connect(server) for _ in range(20)]
    for sock in trickling:
        _send(sock, HEAD_START)
    for sock in trickling:
        _send(sock, b"X-Slow: 1")
    return silent + trickling


def test_serve__clients_trickling_a_request_are_closed_at_the_deadline(
    start_listening_server: Start,
) -> None:
    server = start_listening_server(server={"request_timeout": 1.0})

    held = _trickle(server)

    assert _closed_by_server(held) == [True] * len(held)


def test_serve__a_client_is_served_while_40_others_trickle(start_listening_server: Start) -> None:
    server = start_listening_server(server={"request_timeout": 600.0})
    held = _trickle(server)

    try:
        served = server.get("/api/albums")
    finally:
        for sock in held:
            sock.close()

    assert served.status_code == 200


def test_serve__a_kept_alive_connection_trickling_its_next_request_is_closed(
    start_listening_server: Start,
) -> None:
    server = start_listening_server(server={"request_timeout": 1.0, "keep_alive": 600})
    sock = _connect(server)
    sock.sendall(HEAD_START + b"\r\n")
    answer = b""
    while not answer.endswith(b"[]"):  # the empty catalog's answer, whole
        answer += sock.recv(4096)

    _send(sock, HEAD_START)  # the next request starts, and never ends

    assert answer.startswith(b"HTTP/1.1 200")
    assert _closed_by_server([sock]) == [True]


def test_serve__past_the_connection_limit_a_request_is_a_503_at_once(
    start_listening_server: Start,
) -> None:
    server = start_listening_server(server={"max_connections": 3})
    held = [_connect(server) for _ in range(3)]
    for sock in held:
        _send(sock, HEAD_START)

    try:
        answer = requests.get(server.url + "/api/albums", timeout=CAP)
    finally:
        for sock in held:
            sock.close()

    assert answer.status_code == 503
