"""The web app: the catalog and album pages, and the JSON API under /api/.

Pages are Jinja2 templates with autoescape on; the only files served are the
package's own `jitspot/static/`. Page requests read the store and the cache
on the server's worker threads (one store connection each); everything that
calls Spotify goes through one `Coalescer`, and "Sync now" through one
`Syncer` under the home's run lock.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from jitspot.bounds import MAX_STORE_ID, store_id
from jitspot.catalog.browse import BadQuery, BrowsePage, browse, landing, parse_browse
from jitspot.catalog.catalog import Catalog
from jitspot.catalog.covers import WINDOW, Closed, Coalescer, Looked
from jitspot.catalog.resolver import NOT_BEFORE, remembered_until
from jitspot.catalog.views import AlbumView
from jitspot.errors import AlbumNotFound, JitspotError
from jitspot.jobs.sync import Syncer, SyncRefused, last_synced, last_synced_text
from jitspot.model import AlbumOrder, Facets, StoredAlbum
from jitspot.render.presentation import cover_reason, has_cover
from jitspot.render.templating import environment
from jitspot.settings import Settings
from jitspot.spotify.gateway import Gates, Gateway
from jitspot.stopping import Stop
from jitspot.store import open_store
from jitspot.text import vocal_facet
from jitspot.timetext import until_text
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
    env = environment(PackageLoader("jitspot.web", "templates"))
    env.globals.update(
        vocal_facet=vocal_facet,
        orders=[
            (AlbumOrder.DATE, "Newest first"),
            (AlbumOrder.ARTIST, "Artist"),
            (AlbumOrder.TITLE, "Title"),
        ],
    )
    return env


def tile_reason(view: AlbumView, until: float | None, now: float) -> str:
    """Why a tile shows no cover, in words; a rate limit says until when, in plain sight."""
    if view["cover_state"] == "rate_limited" and until is not None:
        return f"Rate-limited until {until_text(until, now)}"
    return cover_reason(view)


def cover_json(looked: Looked, album_id: int, now: float) -> dict[str, Any]:
    """The cover endpoint's answer: `cover_url`, `cover_state`, `note`, and words for a tile."""
    view = looked.views[album_id]
    answer = looked.cover(album_id).as_json()
    if has_cover(view):
        answer["reason"] = None
    else:
        answer["reason"] = tile_reason(view, looked.rate_limited_until, now)
        answer["cover_url"] = None  # only http(s) images, as everywhere
    return answer


def back_to_catalog(back: str | None, referer: str | None, host: str | None) -> str:
    """Where an album page's "← Catalog" leads: the catalog address the visitor came from.

    `back` (a parameter) or the `Referer` of this server's own catalog page, kept only
    when it is a path on this server's catalog (`/` and its query): never another site.
    """
    if back is not None:
        parts = urlsplit(back)
        if not parts.scheme and not parts.netloc and parts.path == "/" and "\\" not in back:
            return back
    if referer and host:
        parts = urlsplit(referer)
        if parts.scheme in ("http", "https") and parts.netloc == host and parts.path == "/":
            return "/" + (f"?{parts.query}" if parts.query else "")
    return "/"


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
        store = site.catalog().store
        now = site.clock()
        until = remembered_until(store, NOT_BEFORE, now)
        context.update(
            request=request,
            sheet_configured=bool(settings.sheet_url),
            last_synced=last_synced(store),
            last_synced_text=last_synced_text(store),
            reason=lambda view: tile_reason(view, until, now),
        )
        return HTMLResponse(env.get_template(name).render(context), status_code=status)

    def browsed(request: Request, *, landing_page: bool = False) -> BrowsePage:
        query = _multi(request)
        today = date.fromtimestamp(site.clock())
        return browse(
            site.catalog(), parse_browse(landing(query) if landing_page else query, today=today)
        )

    def catalog_page(request: Request) -> Response:
        result = browsed(request, landing_page=True)
        facets = site.facets()
        empty_store = result.total == 0 and not site.catalog().store.has_albums()
        return page(
            request,
            "catalog.html",
            result=result,
            b=result.browse,
            facets=facets,
            empty_store=empty_store,
        )

    def album_page(request: Request) -> Response:
        album = site.album(_path_id(request))
        back = back_to_catalog(
            request.query_params.get("back"),
            request.headers.get("referer"),
            request.headers.get("host"),
        )
        return page(request, "album.html", album=site.offline_view(album), back=back)

    def api_albums(request: Request) -> Response:
        result = browsed(request)
        return JSONResponse(result.albums, headers=_paging_headers(request, result))

    # The endpoints that may wait for Spotify are async: the store is read on a worker
    # thread, the wait for the coalescer happens on the event loop.

    async def api_album(request: Request) -> Response:
        album = await run_in_threadpool(site.album, _path_id(request))
        if _offline(request):
            return JSONResponse(await run_in_threadpool(site.offline_view, album))
        looked = await site.look_up([album], details=True)
        return JSONResponse(looked.views[album.id])

    async def api_cover(request: Request) -> Response:
        album = await run_in_threadpool(site.album, _path_id(request))
        if _offline(request):
            view = await run_in_threadpool(site.offline_view, album)
            looked = Looked({album.id: view}, None)
        else:
            looked = await site.look_up([album], details=False)
        return JSONResponse(cover_json(looked, album.id, site.clock()))

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
        now = site.clock()
        covers = [cover_json(looked, i, now) for i in dict.fromkeys(ids) if i in looked.views]
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
            Route("/albums/{album_id}", album_page),
            Route("/api/albums", api_albums),
            Route("/api/albums/{album_id}", _spends(api_album)),
            Route("/api/albums/{album_id}/cover", _spends(api_cover)),
            Route("/api/covers", _spends(api_covers)),
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


def _path_id(request: Request) -> int:
    """The album id in the path; an id no album can have (`abc`, 2^63) is a 404 too."""
    text: str = request.path_params["album_id"]
    album_id = store_id(text)
    if album_id is None:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise AlbumNotFound(f"no album with id {shown}")
    return album_id


def _album_ids(values: list[str], *, name: str = "id") -> list[int]:
    if len(values) > MAX_COVERS_PER_REQUEST:
        raise BadQuery(f"at most {MAX_COVERS_PER_REQUEST} {name} values per request")
    ids = [store_id(value) for value in values]
    if None in ids:
        raise BadQuery(f"{name} must be a store id (a whole number from 1 to {MAX_STORE_ID})")
    return [i for i in ids if i is not None]


def _paging_headers(request: Request, result: BrowsePage) -> dict[str, str]:
    """The page's place in the whole: `X-Total-Count` and RFC 8288 `Link` (next, prev...)."""
    b = result.browse
    base = str(request.url.replace(query=""))
    links = []
    if b.last_page < result.pages:
        links.append(f'<{base}{b.query_string(page=b.last_page + 1, upto=None)}>; rel="next"')
        links.append(f'<{base}{b.query_string(page=result.pages, upto=None)}>; rel="last"')
    if b.page > 1:
        links.append(f'<{base}{b.query_string(page=b.page - 1, upto=None)}>; rel="prev"')
        links.append(f'<{base}{b.query_string(page=1, upto=None)}>; rel="first"')
    headers = {
        "X-Total-Count": str(result.total),
        "X-Page": str(b.page),
        "X-Pages": str(result.pages),
    }
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def _sync_json(site: Site) -> dict[str, Any]:
    store = site.catalog().store
    answer = site.syncer.status.as_json(
        last_synced(store), sheet_configured=bool(site.settings.sheet_url)
    )
    answer["last_synced_text"] = last_synced_text(store)
    return answer


def _same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from this server's own pages.

    Browsers send `Origin` with every POST made by `fetch` or a form; a request
    without it (nor a `Referer`) is refused too, so another site can never start
    a sync. Scripts can send the header themselves (`curl -H "Origin: …"`).
    """
    claimed = request.headers.get("origin")
    if not claimed or claimed == "null":
        claimed = request.headers.get("referer")
    return claimed is not None and _is_own(request, claimed)


def _cross_site(request: Request) -> str | None:
    """Why a request comes from another site's page, or None when it does not (or cannot
    be told: curl and scripts send neither `Sec-Fetch-Site` nor `Origin`).

    `Sec-Fetch-Site` is the browser's own word (`same-origin`, and `none` for a typed
    URL or a bookmark, are this server's; `same-site` is another port of this host,
    another server); an `Origin` must be this server's; a browser too old for either
    still sends the page's address as `Referer`.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {fetch_site}"
    origin = request.headers.get("origin")
    if origin is not None:
        return None if _is_own(request, origin) else f"Origin: {origin}"
    referer = request.headers.get("referer")
    if fetch_site is None and referer and not _is_own(request, referer):
        return "Referer of another site"
    return None


def _spends(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A route that may call Spotify: another site's page (an `<img src>` pointed at it)
    cannot make this server spend calls and quota; `?offline=1` spends none, so it stays
    open. A 403 that says why."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        why = None if _offline(request) else _cross_site(request)
        if why is not None:
            return JSONResponse(
                {
                    "error": "refused: another site's page cannot make this server call"
                    f" Spotify ({why}); open it from the server's own pages"
                },
                status_code=403,
            )
        return await handler(request)

    return guarded


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL or Origin, the port filled in; None if unreadable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _is_own(request: Request, url: str) -> bool:
    """Whether `url` (an Origin or a Referer) is on this server, as the Host header names it."""
    host = request.headers.get("host")
    own = _origin(f"{request.scope['scheme']}://{host}") if host else None
    return own is not None and _origin(url) == own


class _Guard:
    """Every answer gets the security headers; a Host that is not this server's is refused
    (421), and one that cannot be read (`[::1`) is a 400."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def with_headers(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.setdefault("headers", [])
                headers.extend(_SECURITY_HEADERS)
            await send(message)

        host = _host_name(scope)
        if host is None:
            response = Response("Bad Host header.\n", 400)
            await response(scope, receive, with_headers)
            return
        if self.allowed is not None and host not in self.allowed:
            response = Response("Unknown host: this server answers on loopback only.\n", 421)
            await response(scope, receive, with_headers)
            return
        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            # A bug still gets an answer with the security headers (Starlette's own 500 is
            # sent outside this middleware, without them); the traceback goes to the log.
            log.exception("%s %s failed", scope["method"], scope["path"])
            if started:
                raise
            if scope["path"].startswith("/api/"):
                answer: Response = JSONResponse({"error": "internal error (see the log)"}, 500)
            else:
                answer = Response("Internal error (see the server's log).\n", 500)
            await answer(scope, receive, with_headers)


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def _host_name(scope: Scope) -> str | None:
    """The Host header's name, lower-case ("" when there is none), or None when it cannot
    be read as `name[:port]` (Starlette would fail on it later, as a 500)."""
    for name, value in scope["headers"]:
        if name == b"host":
            try:
                parts = urlsplit("//" + value.decode("latin-1"))
                parts.port  # noqa: B018 (read for its ValueError: `host:x`, `host:99999`)
            except ValueError:
                return None
            return (parts.hostname or "").lower()
    return ""
