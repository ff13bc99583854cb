"""The web app: the catalog and album pages, and the JSON API under /api/.

Pages are Jinja2 templates with autoescape on; the only files served are the
package's own `jitspot/static/`. Page requests read the store and the cache
on the server's worker threads (one store connection each); everything that
calls Spotify goes through one `Coalescer`, and "Sync now" through one
`Syncer` under the home's run lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from jitspot.browse import BadQuery, BrowsePage, browse, parse_browse
from jitspot.catalog import Catalog
from jitspot.covers import WINDOW, Closed, Coalescer, Looked
from jitspot.errors import AlbumNotFound, JitspotError
from jitspot.export import (
    badges,
    cover_reason,
    format_duration,
    has_cover,
    hue,
    initials,
    safe_links,
    total_duration_ms,
)
from jitspot.gateway import Gates, Gateway
from jitspot.settings import Settings
from jitspot.stopping import Stop
from jitspot.store import AlbumOrder, Facets, StoredAlbum, open_store
from jitspot.sync import Syncer, SyncRefused, last_synced
from jitspot.views import AlbumView
from jitspot.web.server import LOOPBACK_HOSTS

log = logging.getLogger("jitspot.web")

# A visitor waits for a cover, so serve waits out a short Retry-After only; a longer
# one is remembered as "not before" for every jitspot process, as always.
INTERACTIVE_RETRY_WAIT = 5.0
LOOKUP_TIMEOUT = 120.0  # seconds a request waits for its batch before a 504
MAX_COVERS_PER_REQUEST = 200
CSP = (
    "default-src 'none'; img-src 'self' http: https:; style-src 'self'; script-src 'self';"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_STATUS = {BadQuery: 400, AlbumNotFound: 404, SyncRefused: 409}


class Site:
    """What the app's requests share: settings, store connections, the coalescer, the syncer."""

    def __init__(
        self,
        settings: Settings,
        *,
        gateway_factory: Callable[[Gates], Gateway] | None = None,
        clock: Callable[[], float] = time.time,
        window: float = WINDOW,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._gateway_factory = gateway_factory
        self._local = threading.local()
        self._opened: list[Catalog] = []
        self._guard = threading.Lock()
        self._facets: tuple[Any, Facets] | None = None  # (store generation, facets)
        # Visitors wait for covers: more requests in flight than a batch run (oEmbed is
        # one call per cover), at the rate the pacing allows, as always.
        interactive = settings.model_copy(
            update={
                "max_retry_after": min(settings.max_retry_after, INTERACTIVE_RETRY_WAIT),
                "concurrency": settings.serve_concurrency,
            }
        )
        self.coalescer = Coalescer(lambda stop: self._open(interactive, stop), window=window)
        self.syncer = Syncer(settings, lambda stop: self._open(settings, stop), clock=clock)

    def _open(self, settings: Settings, stop: Stop | None) -> Catalog:
        return Catalog(
            open_store(settings.store_path),
            settings,
            clock=self.clock,
            gateway_factory=self._gateway_factory,
            stop=stop,
        )

    def catalog(self) -> Catalog:
        """This thread's catalog (a store connection is not shared between threads)."""
        catalog: Catalog | None = getattr(self._local, "catalog", None)
        if catalog is None:
            catalog = self._open(self.settings, None)
            self._local.catalog = catalog
            with self._guard:
                self._opened.append(catalog)
        return catalog

    def facets(self) -> Facets:
        """The form's choices, read again only when an import changed the albums."""
        store = self.catalog().store
        generation = store.get_meta("generation")
        with self._guard:
            known = self._facets
        if known is None or known[0] != generation:
            known = (generation, store.facets())
            with self._guard:
                self._facets = known
        return known[1]

    def offline_view(self, album: StoredAlbum) -> AlbumView:
        """The album object from the store and the cache alone (what a page shows at once)."""
        return self.catalog().views([album], offline=True, count=False)[0]

    def album(self, album_id: int) -> StoredAlbum:
        album = self.catalog().store.album_by_id(album_id)
        if album is None:
            raise AlbumNotFound(f"no album with id {album_id}")
        return album

    async def look_up(
        self, albums: Sequence[StoredAlbum], *, details: bool, then: Sequence[StoredAlbum] = ()
    ) -> Looked:
        """The coalescer's answer, awaited on the event loop: a request waiting for Spotify
        holds no worker thread, so pages and static files never queue behind covers."""
        asked = self.coalescer.ask(albums, details=details, then=then)
        return await asyncio.wait_for(asyncio.wrap_future(asked), LOOKUP_TIMEOUT)

    def close(self) -> None:
        self.syncer.close()
        self.coalescer.close()
        with self._guard:
            opened, self._opened = self._opened, []
        for catalog in opened:
            catalog.close()
            catalog.store.close()


# -- rendering -------------------------------------------------------------------------------


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("jitspot.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        badges=badges,
        cover_reason=cover_reason,
        format_duration=format_duration,
        has_cover=has_cover,
        hue=hue,
        initials=initials,
        safe_links=safe_links,
        total_duration_ms=total_duration_ms,
        orders=[
            (AlbumOrder.DATE, "Newest first"),
            (AlbumOrder.ARTIST, "Artist"),
            (AlbumOrder.TITLE, "Title"),
        ],
    )
    return env


def cover_json(looked: Looked, album_id: int) -> dict[str, Any]:
    """The cover endpoint's answer: `cover_url`, `cover_state`, `note`, and words for a tile."""
    view = looked.views[album_id]
    answer = looked.cover(album_id).as_json()
    if has_cover(view):
        answer["reason"] = None
    else:
        answer["reason"] = cover_reason(view)
        answer["cover_url"] = None  # only http(s) images, as everywhere
    return answer


# -- the app ---------------------------------------------------------------------------------


def create_app(
    settings: Settings,
    *,
    gateway_factory: Callable[[Gates], Gateway] | None = None,
    clock: Callable[[], float] = time.time,
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS,
    window: float = WINDOW,
) -> Starlette:
    """The ASGI app over the home in `settings`. `allowed_hosts=None` takes any Host
    (for `--allow-remote`); `window` is the coalescing window (seconds)."""
    site = Site(settings, gateway_factory=gateway_factory, clock=clock, window=window)
    env = _templates()

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        catalog = site.catalog()
        context.update(
            request=request,
            sheet_configured=bool(settings.sheet_url),
            last_synced=last_synced(catalog.store),
        )
        return HTMLResponse(env.get_template(name).render(context), status_code=status)

    def browsed(request: Request) -> BrowsePage:
        return browse(site.catalog(), parse_browse(_multi(request)))

    def catalog_page(request: Request) -> Response:
        result = browsed(request)
        facets = site.facets()
        return page(request, "catalog.html", result=result, b=result.browse, facets=facets)

    def album_page(request: Request) -> Response:
        album = site.album(request.path_params["album_id"])
        return page(request, "album.html", album=site.offline_view(album))

    def api_albums(request: Request) -> Response:
        result = browsed(request)
        return JSONResponse(result.albums, headers=_paging_headers(request, result))

    # The endpoints that may wait for Spotify are async: the store is read on a worker
    # thread, the wait for the coalescer happens on the event loop.

    async def api_album(request: Request) -> Response:
        album = await run_in_threadpool(site.album, request.path_params["album_id"])
        if _offline(request):
            return JSONResponse(await run_in_threadpool(site.offline_view, album))
        looked = await site.look_up([album], details=True)
        return JSONResponse(looked.views[album.id])

    async def api_cover(request: Request) -> Response:
        album = await run_in_threadpool(site.album, request.path_params["album_id"])
        if _offline(request):
            view = await run_in_threadpool(site.offline_view, album)
            looked = Looked({album.id: view}, None)
        else:
            looked = await site.look_up([album], details=False)
        return JSONResponse(cover_json(looked, album.id))

    async def api_covers(request: Request) -> Response:
        """Covers of several albums in one request (the page asks for what came into view).

        `then=ID…`: the tiles that come next; fetched only in the places the batch
        calls leave free, so that scrolling on finds them cached. Not answered.
        """
        ids = _album_ids(request.query_params.getlist("id"))
        then = _album_ids(request.query_params.getlist("then"), name="then")

        def read() -> tuple[list[StoredAlbum], list[StoredAlbum]]:
            store = site.catalog().store
            return store.albums_by_ids(ids), store.albums_by_ids(then)

        albums, following = await run_in_threadpool(read)
        looked = await site.look_up(albums, details=False, then=following)
        covers = [cover_json(looked, i) for i in dict.fromkeys(ids) if i in looked.views]
        return JSONResponse({"covers": covers})

    def api_sync_status(request: Request) -> Response:
        return JSONResponse(_sync_json(site))

    def api_sync_start(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse(
                {"error": "refused: a sync can only be started from this server's own pages"},
                status_code=403,
            )
        site.syncer.start()
        return JSONResponse(_sync_json(site), status_code=202)

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, JitspotError)
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
        if status == 500:
            log.warning("%s: %s", request.url.path, exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=status)
        html = env.get_template("error.html").render(request=request, status=status, error=exc)
        return HTMLResponse(html, status_code=status)

    async def on_closed(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "the server is stopping"}, status_code=503)

    async def on_timeout(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "Spotify did not answer in time"}, status_code=504)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        site.close()

    app = Starlette(
        routes=[
            Route("/", catalog_page),
            Route("/albums/{album_id:int}", album_page),
            Route("/api/albums", api_albums),
            Route("/api/albums/{album_id:int}", api_album),
            Route("/api/albums/{album_id:int}/cover", api_cover),
            Route("/api/covers", api_covers),
            Route("/api/sync", api_sync_status, methods=["GET"]),
            Route("/api/sync", api_sync_start, methods=["POST"]),
            # The package's own static directory, and nothing else (Starlette refuses
            # paths that leave it, `..` and symlinks out included).
            Mount("/static", StaticFiles(packages=[("jitspot", "static")]), name="static"),
        ],
        exception_handlers={
            JitspotError: on_error,
            Closed: on_closed,
            TimeoutError: on_timeout,
        },
        lifespan=lifespan,
    )
    app.state.site = site
    app.add_middleware(_Guard, allowed_hosts=allowed_hosts)
    return app


def _offline(request: Request) -> bool:
    """`?offline=1`: answer from the cache alone, never calling Spotify."""
    return request.query_params.get("offline", "").lower() in ("1", "true", "yes")


def _multi(request: Request) -> dict[str, list[str]]:
    params = request.query_params
    return {name: params.getlist(name) for name in params}


def _album_ids(values: list[str], *, name: str = "id") -> list[int]:
    try:
        ids = [int(value) for value in values]
    except ValueError:
        raise BadQuery(f"{name} must be a store id (a whole number)") from None
    if len(ids) > MAX_COVERS_PER_REQUEST:
        raise BadQuery(f"at most {MAX_COVERS_PER_REQUEST} {name} values per request")
    return ids


def _paging_headers(request: Request, result: BrowsePage) -> dict[str, str]:
    """The page's place in the whole: `X-Total-Count` and RFC 8288 `Link` (next, prev...)."""
    b = result.browse
    base = str(request.url.replace(query=""))
    links = []
    if b.page < result.pages:
        links.append(f'<{base}{b.query_string(page=b.page + 1)}>; rel="next"')
        links.append(f'<{base}{b.query_string(page=result.pages)}>; rel="last"')
    if b.page > 1:
        links.append(f'<{base}{b.query_string(page=b.page - 1)}>; rel="prev"')
        links.append(f'<{base}{b.query_string(page=1)}>; rel="first"')
    headers = {
        "X-Total-Count": str(result.total),
        "X-Page": str(b.page),
        "X-Pages": str(result.pages),
    }
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def _sync_json(site: Site) -> dict[str, Any]:
    return site.syncer.status.as_json(
        last_synced(site.catalog().store), sheet_configured=bool(site.settings.sheet_url)
    )


def _same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from this server's own pages.

    Browsers send `Origin` with every POST made by `fetch` or a form; a request
    without it (nor a `Referer`) is refused too, so another site can never start
    a sync. Scripts can send the header themselves (`curl -H "Origin: …"`).
    """
    claimed = request.headers.get("origin")
    if not claimed or claimed == "null":
        referer = urlsplit(request.headers.get("referer", ""))
        claimed = f"{referer.scheme}://{referer.netloc}" if referer.netloc else None
    host = request.headers.get("host")
    return bool(claimed and host) and claimed == f"{request.url.scheme}://{host}"


class _Guard:
    """Every answer gets the security headers; a Host that is not this server's is refused."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed is not None and _host_name(scope) not in self.allowed:
            response = Response("Unknown host: this server answers on loopback only.\n", 421)
            await response(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.extend(_SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, with_headers)


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def _host_name(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            return (urlsplit("//" + value.decode("latin-1")).hostname or "").lower()
    return ""
