"""`jitspot serve`: the catalog in a browser, on loopback unless told otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jitspot.cli.app import app, state

if TYPE_CHECKING:
    from jitspot.web.server import Server

DEFAULT_PORT = 8765


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

    The first page shows the albums already released that have a Spotify link
    (the filters and the search box choose others). Covers not cached yet are
    fetched from Spotify when their tiles near the viewport, coalesced into
    batch calls (20 albums per call with an extended-quota app; oEmbed, at no
    quota, for a development-mode app); album pages load tracks and details on
    demand; "Sync now" imports JITSPOT_SHEET_URL and fetches what it added. The
    JSON API is under /api/; another site's page cannot make it call Spotify.
    Listens on 127.0.0.1 only, unless --host and --allow-remote say otherwise.
    Ctrl-C stops it.
    """
    from jitspot.web import create_app
    from jitspot.web.server import bind, is_loopback, loopback_names, server_for

    remote = not is_loopback(host)
    if remote and not allow_remote:
        ctx.fail(
            f"--host {host} can be reached from other machines, and the server has no login;"
            " add --allow-remote if that is what you want"
        )
    settings = state.get_settings()
    state.get_store()  # a store that cannot be opened fails here, with its exit code
    sock = bind(host, port)
    shown_host = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/"
    if remote:
        state.err.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine"
            " can browse the catalog and start a sync (there is no login)"
        )
    state.say(f"jitspot serves the catalog at {url}  (Ctrl-C stops)")
    web_app = create_app(settings, allowed_hosts=None if remote else loopback_names(host))
    server = server_for(web_app, verbose=state.verbose)
    if open_browser:
        _open_when_ready(server, url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server ends: exit 0
    finally:
        sock.close()


def _open_when_ready(server: Server, url: str) -> None:
    import threading
    import time
    import webbrowser

    def wait_then_open() -> None:
        for _ in range(200):
            if server.started:
                webbrowser.open(url)
                return
            time.sleep(0.05)

    threading.Thread(target=wait_then_open, daemon=True).start()
