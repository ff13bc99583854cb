"""`jitspot serve`'s listening socket."""

from __future__ import annotations

import asyncio
import socket

from jitspot.web.server import bind


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
