"""A faithful Spotify Web API test double: a real HTTP server on loopback.

It speaks the shapes recorded in ``tests/data/spotify`` (album, tracks page,
artist, search, token, error bodies) and serves three "hosts" from one port:

* ``/api/token``  - the accounts service (client-credentials flow),
* ``/v1/...``     - the Web API (albums, album tracks, artists, search),
* ``/oembed``     - open.spotify.com's oEmbed endpoint (no credentials),
* ``/image/<hex>`` - cover images, only with ``images_served=True``: image URLs
  then point at the double, which answers each with a small solid-colour PNG
  (a browser can load them offline); by default they are ``https://i.scdn.co``.

Usage::

    with SpotifyDouble() as double:
        album_id = double.add_album("Blue Lines", [double.add_artist("Massive Attack")])
        os.environ.update(double.env())
        ...
        assert double.count("album") == 1

Faults (rate limits, 5xx, slow answers, expired tokens, unknown ids) are
injected with methods; every request is recorded for assertions. The server
never writes to stderr.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import html
import json
import math
import random
import re
import secrets
import socket
import string
import struct
import threading
import time
import unicodedata
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = [
    "API_ENDPOINTS",
    "ENDPOINTS",
    "RecordedRequest",
    "SpotifyDouble",
]

Json = dict[str, Any]
Mode = Literal["extended", "development"]

#: Endpoint names of the Web API (``/v1/...``); faults apply to these by default.
API_ENDPOINTS: frozenset[str] = frozenset(
    {"album", "albums_batch", "album_tracks", "artist", "artists_batch", "search"}
)
#: Every endpoint name a request can be recorded under (``unknown``: no route;
#: ``image``: a cover image, only served with ``images_served=True``).
ENDPOINTS: frozenset[str] = API_ENDPOINTS | {"token", "oembed", "image", "unknown"}

BASE62 = string.digits + string.ascii_letters
_ID_RE = re.compile(r"[0-9A-Za-z]{22}")
_ALBUM_MAX_IDS = 20
_ARTIST_MAX_IDS = 50
_PAGE_MAX = 50
_SEARCH_OFFSET_MAX = 1000
_MARKETS = ["AD", "AE", "AR", "AT", "AU", "BE", "BR", "CA", "DE", "ES", "FR", "GB", "JP", "US"]
_GENRES = ["indie rock", "trip hop", "jazz", "techno", "folk", "hip hop", "soul", "ambient"]
_FIVE_XX_MESSAGES = {
    500: "Server error.",
    502: "Bad gateway.",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_IMAGE_RE = re.compile(r"/image/([0-9a-f]{8,64})")
_IMAGE_SIZE = 64  # pixels a side: the browser scales it, a test only needs it to load
#: Longest search ``q`` Spotify takes: longer is a 404 "Not found." (spotipy-dev/spotipy#845).
SEARCH_QUERY_MAX = 100
#: Longest request target before a 414 URI Too Long, as a front end answers one.
URI_MAX = 8192


def _error(status: int, message: str) -> Json:
    return {"error": {"status": status, "message": message}}


def _status_message(status: int) -> str:
    if status in _FIVE_XX_MESSAGES:
        return _FIVE_XX_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _hex40(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _solid_png(key: str) -> bytes:
    """A square PNG of one colour taken from `key`'s hash (no image library needed)."""
    red, green, blue = hashlib.sha1(key.encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * _IMAGE_SIZE  # filter 0, then RGB pixels

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", _IMAGE_SIZE, _IMAGE_SIZE, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * _IMAGE_SIZE, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class RecordedRequest:
    """One request the double answered."""

    method: str
    endpoint: str
    path: str
    query: dict[str, str]
    status: int
    time: float
    headers: dict[str, str]


@dataclass
class _Artist:
    id: str
    name: str
    genres: list[str]
    popularity: int
    followers: int
    images: bool


@dataclass
class _Track:
    id: str
    name: str
    duration_ms: int
    explicit: bool
    disc_number: int
    track_number: int
    artist_ids: list[str]


@dataclass
class _Album:
    id: str
    name: str
    artist_ids: list[str]
    tracks: list[_Track]
    release_date: str
    precision: str
    label: str
    popularity: int
    images: bool
    album_type: str
    upc: str
    copyrights: list[dict[str, str]] | None = None  # None: "© year label", "℗ year label"


@dataclass
class _RateLimitRule:
    retry_after: int | None
    from_call: int
    times: int | None
    quota: bool
    empty_body: bool
    endpoints: frozenset[str]
    seen: int = 0
    fired: int = 0


@dataclass
class _RollingRule:
    max_calls: int
    window: float
    retry_after: int | None
    endpoints: frozenset[str]
    arrivals: deque[float] = field(default_factory=deque)


@dataclass
class _QuotaRule:
    max_calls: int
    window: float
    endpoints: frozenset[str]
    counted: deque[float] = field(default_factory=deque)  # calls let through, oldest first
    penalty_until: float = -math.inf
    refusals: int = 0


@dataclass
class _FailEveryRule:
    n: int
    status: int
    endpoints: frozenset[str]
    seen: int = 0


@dataclass
class _FailNextRule:
    remaining: int
    status: int
    endpoints: frozenset[str]


@dataclass
class _Response:
    status: int
    body: Json | None
    headers: dict[str, str] = field(default_factory=dict)
    png: bytes | None = None  # an image answer instead of a JSON body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Handler threads may sit on idle keep-alive connections; never join them.
    block_on_close = False

    def __init__(self, double: SpotifyDouble) -> None:
        self.double = double
        self.open_connections: set[socket.socket] = set()
        self.connections_opened = 0  # TCP connections accepted, ever
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay silent (client disconnects are normal in tests)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without TCP_NODELAY every
    # keep-alive response would wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)
            self.server.connections_opened += 1

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """No logging to stderr."""

    def do_GET(self) -> None:
        self.server.double._serve(self)

    do_POST = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET
    do_PATCH = do_GET
    do_HEAD = do_GET

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests get a JSON error body too, then the connection closes."""
        self.close_connection = True
        body = _error(code, message or _status_message(code))
        self.write_response(_Response(code, body, {"Connection": "close"}))

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def write_response(self, response: _Response) -> None:
        payload = b""
        if response.body is not None:
            payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
        elif response.png is not None:
            payload = response.png
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", _JSON_CONTENT_TYPE)
        elif response.png is not None:
            self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "private, max-age=0")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class Held:
    """Calls held by `SpotifyDouble.hold`: `arrived` is set when the first comes."""

    def __init__(self, timeout: float) -> None:
        self.arrived = threading.Event()
        self._go = threading.Event()
        self._timeout = timeout

    def wait(self) -> None:
        self.arrived.set()
        self._go.wait(self._timeout)

    def release(self) -> None:
        self._go.set()


class SpotifyDouble:
    """Spotify Web API + accounts + oEmbed double served on 127.0.0.1."""

    client_id = "test-client-id"
    client_secret = "test-client-secret-0123456789"

    def __init__(
        self,
        *,
        seed: int = 0,
        token_lifetime: int = 3600,
        mode: Mode = "extended",
        clock: Callable[[], float] = time.monotonic,
        images_served: bool = False,
    ) -> None:
        self._lock = threading.RLock()
        self._company_arrived = threading.Condition(self._lock)
        self._rng = random.Random(seed)
        self.token_lifetime = token_lifetime
        self.mode = mode
        #: False: artist objects carry no ``genres`` key at all.
        self.artist_genres = True
        #: True: image URLs are ``{base_url}/image/<hex>`` and the double serves them.
        self.images_served = images_served
        #: Longest search ``q`` answered (None: any); longer is a 404, as Spotify answers.
        self.search_query_max: int | None = SEARCH_QUERY_MAX
        #: Longest request target (path and query) answered; longer is a 414.
        self.uri_max: int | None = URI_MAX
        self._clock = clock
        self._clock_offset = 0.0
        self._artists: dict[str, _Artist] = {}
        self._albums: dict[str, _Album] = {}
        self._tokens: dict[str, float] = {}  # token -> expiry (double clock)
        self._stagger_refusals = False  # answer a second refusal only after a renewal
        self._refusals: dict[str, int] = {}  # refused token -> tokens issued at its first 401
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_concurrent = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clear_faults()

    # ------------------------------------------------------------------ server

    def __enter__(self) -> SpotifyDouble:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Bind a loopback port and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("SpotifyDouble already started")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # shutdown() waits up to one interval
            name=f"spotify-double-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving, drop open keep-alive connections, release the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        with self._lock:
            for held in self._held.values():
                held.release()
        server.shutdown()
        with server.connections_lock:
            connections = list(server.open_connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SpotifyDouble is not running (use it as a context manager)")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1/"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/api/token"

    @property
    def oembed_url(self) -> str:
        return f"{self.base_url}/oembed"

    def env(self, credentials: bool = True) -> dict[str, str]:
        """Environment variables pointing jitspot at this double."""
        values = {
            "JITSPOT_SPOTIFY_API_URL": self.api_url,
            "JITSPOT_SPOTIFY_TOKEN_URL": self.token_url,
            "JITSPOT_SPOTIFY_OEMBED_URL": self.oembed_url,
        }
        if credentials:
            values["SPOTIPY_CLIENT_ID"] = self.client_id
            values["SPOTIPY_CLIENT_SECRET"] = self.client_secret
        return values

    # ------------------------------------------------------------------- clock

    def now(self) -> float:
        """The double's clock (``clock()`` plus any :meth:`advance`)."""
        with self._lock:
            return self._clock() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the double's clock forward (token expiry, rolling windows)."""
        with self._lock:
            self._clock_offset += seconds

    # ------------------------------------------------------------------- modes

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, value: Mode) -> None:
        if value not in ("extended", "development"):
            raise ValueError(f"mode must be 'extended' or 'development', not {value!r}")
        self._mode: Mode = value

    @property
    def development(self) -> bool:
        return self._mode == "development"

    # --------------------------------------------------------------- catalogue

    def new_id(self) -> str:
        """A fresh random base62 id (22 chars), deterministic for a given seed."""
        with self._lock:
            while True:
                candidate = "".join(self._rng.choice(BASE62) for _ in range(22))
                if candidate not in self._albums and candidate not in self._artists:
                    return candidate

    def _checked_new_id(self, given: str | None) -> str:
        if given is None:
            return self.new_id()
        if not _ID_RE.fullmatch(given):
            raise ValueError(f"Spotify ids are 22 base62 characters: {given!r}")
        if given in self._albums or given in self._artists:
            raise ValueError(f"id already in the catalogue: {given!r}")
        return given

    def add_artist(
        self,
        name: str,
        genres: Iterable[str] = ("indie rock",),
        id: str | None = None,
        *,
        popularity: int = 50,
        followers: int = 12345,
        images: bool = True,
    ) -> str:
        """Add an artist; returns its id."""
        with self._lock:
            artist_id = self._checked_new_id(id)
            self._artists[artist_id] = _Artist(
                id=artist_id,
                name=name,
                genres=list(genres),
                popularity=popularity,
                followers=followers,
                images=images,
            )
            return artist_id

    def add_album(
        self,
        name: str,
        artist_ids: Iterable[str],
        n_tracks: int = 10,
        release_date: str = "2020-01-03",
        precision: str = "day",
        label: str = "Some Label",
        popularity: int = 42,
        id: str | None = None,
        images: bool = True,
        *,
        album_type: str = "album",
        upc: str | None = None,
        track_names: Iterable[str] | None = None,
    ) -> str:
        """Add an album by known artists with ``n_tracks`` tracks; returns its id."""
        if precision not in ("year", "month", "day"):
            raise ValueError(f"precision must be year, month or day, not {precision!r}")
        artists = list(artist_ids)
        names = list(track_names) if track_names is not None else []
        if names:
            n_tracks = len(names)
        with self._lock:
            unknown = [a for a in artists if a not in self._artists]
            if unknown or not artists:
                raise ValueError(f"add the artists first (unknown: {unknown})")
            album_id = self._checked_new_id(id)
            tracks = []
            for index in range(n_tracks):
                track_id = "".join(self._rng.choice(BASE62) for _ in range(22))
                tracks.append(
                    _Track(
                        id=track_id,
                        name=names[index] if names else f"{name} - Track {index + 1}",
                        duration_ms=self._rng.randint(90_000, 420_000),
                        explicit=self._rng.random() < 0.1,
                        disc_number=1,
                        track_number=index + 1,
                        artist_ids=artists,
                    )
                )
            self._albums[album_id] = _Album(
                id=album_id,
                name=name,
                artist_ids=artists,
                tracks=tracks,
                release_date=release_date,
                precision=precision,
                label=label,
                popularity=popularity,
                images=images,
                album_type=album_type,
                upc=upc or "".join(self._rng.choice(string.digits) for _ in range(13)),
            )
            return album_id

    def populate(
        self,
        n_albums: int,
        n_artists: int,
        tracks: int = 10,
        seed: int | None = None,
        *,
        long_albums: int = 0,
        long_tracks: int = 75,
    ) -> list[str]:
        """Build a catalogue; returns the album ids in creation order.

        Album ``i`` is "Album {i}" by "Artist {i % n_artists}" with ``tracks``
        tracks; the first ``long_albums`` albums get ``long_tracks`` (> 50)
        tracks. Release dates vary in year and precision (mostly ``day``,
        every 10th ``month``, every 10th+5 ``year``). ``seed`` reseeds the id
        generator, so the same call on a fresh double gives the same ids.
        """
        if n_artists < 1:
            raise ValueError("n_artists must be >= 1")
        with self._lock:
            if seed is not None:
                self._rng = random.Random(seed)
            artist_ids = [
                self.add_artist(
                    f"Artist {i}",
                    genres=[_GENRES[i % len(_GENRES)], _GENRES[(i + 3) % len(_GENRES)]],
                    popularity=self._rng.randint(0, 100),
                    followers=self._rng.randint(0, 5_000_000),
                )
                for i in range(n_artists)
            ]
            album_ids = []
            for i in range(n_albums):
                year = 1970 + i % 55
                month = 1 + i % 12
                day = 1 + i % 28
                if i % 10 == 9:
                    date, precision = f"{year}-{month:02d}", "month"
                elif i % 10 == 4:
                    date, precision = f"{year}", "year"
                else:
                    date, precision = f"{year}-{month:02d}-{day:02d}", "day"
                album_ids.append(
                    self.add_album(
                        f"Album {i}",
                        [artist_ids[i % n_artists]],
                        n_tracks=long_tracks if i < long_albums else tracks,
                        release_date=date,
                        precision=precision,
                        label=f"Label {i % 7}",
                        popularity=self._rng.randint(0, 100),
                    )
                )
            return album_ids

    def album_ids(self) -> list[str]:
        with self._lock:
            return list(self._albums)

    def artist_ids(self) -> list[str]:
        with self._lock:
            return list(self._artists)

    def set_copyrights(self, album_id: str, copyrights: list[dict[str, str]]) -> None:
        """What the album's `copyrights` say from now on (Spotify's often lack © and ℗)."""
        with self._lock:
            self._albums[album_id].copyrights = copyrights

    def album_json(self, album_id: str) -> Json:
        """The full album object as ``GET /v1/albums/{id}`` would answer now."""
        with self._lock:
            return self._album_full(self._albums[album_id])

    def artist_json(self, artist_id: str) -> Json:
        """The artist object as ``GET /v1/artists/{id}`` would answer now."""
        with self._lock:
            return self._artist_full(self._artists[artist_id])

    # ------------------------------------------------------------------ faults

    def _clear_faults(self) -> None:
        self._rate_limits: list[_RateLimitRule] = []
        self._quotas: list[_QuotaRule] = []
        self._rolling: list[_RollingRule] = []
        self._fail_every: list[_FailEveryRule] = []
        self._fail_next: list[_FailNextRule] = []
        self._not_found: set[str] = set()
        self._delay = 0.0
        self._delay_endpoints: frozenset[str] = API_ENDPOINTS
        self._company = 0  # calls wanted in flight at once before any answers; 0: no hold
        self._company_endpoints: frozenset[str] = API_ENDPOINTS
        self._company_timeout = 0.0
        self._waiting = 0
        self._held: dict[str, Held] = {}

    @staticmethod
    def _scope(endpoints: Iterable[str] | None) -> frozenset[str]:
        if endpoints is None:
            return API_ENDPOINTS
        scope = frozenset(endpoints)
        unknown = scope - ENDPOINTS
        if unknown:
            raise ValueError(f"unknown endpoint names: {sorted(unknown)}")
        return scope

    def rate_limit(
        self,
        retry_after: int | None,
        *,
        from_call: int = 1,
        times: int | None = None,
        quota: bool = False,
        empty_body: bool = False,
        endpoints: set[str] | None = None,
    ) -> None:
        """Answer 429 from the ``from_call``-th matching call on, ``times`` times.

        Calls are counted from when the rule is installed, per rule, and only
        those that got past authentication. ``retry_after=None`` omits the
        header; ``quota`` gives the daily-quota body (``reason:
        QUOTA_EXCEEDED``); ``endpoints`` defaults to all ``/v1`` endpoints
        (name ``token`` or ``oembed`` explicitly to include them).
        """
        if from_call < 1:
            raise ValueError("from_call counts from 1")
        with self._lock:
            self._rate_limits.append(
                _RateLimitRule(
                    retry_after=retry_after,
                    from_call=from_call,
                    times=times,
                    quota=quota,
                    empty_body=empty_body,
                    endpoints=self._scope(endpoints),
                )
            )

    def rolling_limit(
        self,
        max_calls: int,
        window_seconds: float,
        retry_after: int | None = None,
        *,
        endpoints: set[str] | None = None,
    ) -> None:
        """429 whenever more than ``max_calls`` calls arrived within the window.

        Rejected calls count as arrivals too (retrying early prolongs the limit).
        ``retry_after=None`` answers what the window implies, like Spotify: the
        whole seconds until enough arrivals have left it for one more call.
        """
        with self._lock:
            self._rolling.append(
                _RollingRule(max_calls, window_seconds, retry_after, self._scope(endpoints))
            )

    def quota_limit(
        self, max_calls: int, window_seconds: float = 86_400.0, *, endpoints: set[str] | None = None
    ) -> None:
        """A development-mode app's rolling daily quota: at most ``max_calls`` calls let
        through in any ``window_seconds``.

        Past it a call gets ``429`` with the ``QUOTA_EXCEEDED`` body and a Retry-After of
        the time until the oldest counted call leaves the window. A refused call is not
        counted, but one sent before that Retry-After ended is refused too and lengthens
        the penalty to a whole window from then (Spotify: early retries prolong it).
        oEmbed and the token endpoint are never counted (``endpoints`` defaults to ``/v1``).
        """
        if max_calls < 0 or window_seconds <= 0:
            raise ValueError("max_calls >= 0 and window_seconds > 0")
        with self._lock:
            self._quotas.append(_QuotaRule(max_calls, window_seconds, self._scope(endpoints)))

    @property
    def quota_refusals(self) -> int:
        """QUOTA_EXCEEDED answers given by the quota rules so far."""
        with self._lock:
            return sum(rule.refusals for rule in self._quotas)

    def quota_used(self) -> int:
        """Calls counted inside the first quota rule's window now."""
        with self._lock:
            rule = self._quotas[0]
            now = self._clock() + self._clock_offset
            return sum(1 for at in rule.counted if at > now - rule.window)

    def fail_every(self, n: int, status: int = 502, *, endpoints: set[str] | None = None) -> None:
        """Every ``n``-th matching call answers ``status`` with an error body."""
        if n < 1:
            raise ValueError("n must be >= 1")
        with self._lock:
            self._fail_every.append(_FailEveryRule(n, status, self._scope(endpoints)))

    def fail_next(self, k: int, status: int = 503, *, endpoints: set[str] | None = None) -> None:
        """The next ``k`` matching calls answer ``status`` with an error body."""
        with self._lock:
            self._fail_next.append(_FailNextRule(k, status, self._scope(endpoints)))

    def not_found(self, *ids: str) -> None:
        """Treat these ids as unknown (404 single, ``null`` in batches, oEmbed 404)."""
        with self._lock:
            self._not_found.update(ids)

    def delay(self, seconds: float, *, endpoints: set[str] | None = None) -> None:
        """Sleep ``seconds`` before answering matching calls (0 switches it off)."""
        with self._lock:
            self._delay = seconds
            self._delay_endpoints = self._scope(endpoints)

    def stagger_refusals(self) -> None:
        """Of two calls refused the same token, answer the second only once a new token
        was issued: its client learns of the 401 after another worker has renewed."""
        with self._lock:
            self._stagger_refusals = True

    def hold_until_concurrent(
        self, n: int, *, endpoints: set[str] | None = None, timeout: float = 10.0
    ) -> None:
        """Hold matching calls until ``n`` of them are in flight at once; then hold none.

        Shows that a client overlaps its requests without betting on timing: a
        client that never sends ``n`` at once waits ``timeout`` seconds once, and
        ``max_concurrent`` stays below ``n``.
        """
        with self._lock:
            self._company = n
            self._company_endpoints = self._scope(endpoints)
            self._company_timeout = timeout
            self._waiting = 0

    def hold(self, album_id: str, *, timeout: float = 30.0) -> Held:
        """Hold every call that names ``album_id`` (its album, oEmbed or a batch holding it)
        until ``release()``: what lands before it can be told apart without timing."""
        held = Held(timeout)
        with self._lock:
            self._held[album_id] = held
        return held

    def expire_tokens(self) -> None:
        """Every token issued so far expires (next API call answers 401)."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = float("-inf")

    def reset(self) -> None:
        """Forget recorded requests and counters, and remove every fault.

        The catalogue, mode switches and issued tokens stay.
        """
        with self._lock:
            self._requests.clear()
            self._max_concurrent = self._in_flight
            for held in self._held.values():
                held.release()
            self._clear_faults()
            self._company_arrived.notify_all()  # held calls go on

    # -------------------------------------------------------------- recording

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, endpoint: str | None = None, *, status: int | None = None) -> int:
        """Requests recorded for ``endpoint`` (None: every request of any kind)."""
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint name {endpoint!r}; one of {sorted(ENDPOINTS)}")
        with self._lock:
            return sum(
                1
                for r in self._requests
                if (endpoint is None or r.endpoint == endpoint)
                and (status is None or r.status == status)
            )

    def counts(self) -> dict[str, int]:
        """Requests per endpoint name (only names that were called)."""
        result: dict[str, int] = {}
        with self._lock:
            for r in self._requests:
                result[r.endpoint] = result.get(r.endpoint, 0) + 1
        return result

    def api_calls(self) -> int:
        """Number of ``/v1`` requests (any status)."""
        with self._lock:
            return sum(1 for r in self._requests if r.endpoint in API_ENDPOINTS)

    @property
    def max_concurrent(self) -> int:
        """Highest number of requests being handled at the same time."""
        with self._lock:
            return self._max_concurrent

    @property
    def connections_opened(self) -> int:
        """TCP connections clients have opened to the double (kept-alive ones count once)."""
        if self._server is None:
            return 0
        with self._server.connections_lock:
            return self._server.connections_opened

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return len(self._tokens)

    # ------------------------------------------------------------ dispatching

    def _serve(self, handler: _Handler) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)
        try:
            parts = urlsplit(handler.path)
            path = parts.path
            route_path = path.rstrip("/") or "/"
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            endpoint, path_id = self._route(route_path)
            if endpoint == "unknown" and self.images_served:
                image = _IMAGE_RE.fullmatch(route_path)
                endpoint, path_id = ("image", image.group(1)) if image else (endpoint, path_id)
            body = handler.read_body()
            response = self._respond(handler, endpoint, path_id, query, body)
            with self._lock:
                self._requests.append(
                    RecordedRequest(
                        method=handler.command,
                        endpoint=endpoint,
                        path=path,
                        query=query,
                        status=response.status,
                        time=self._clock() + self._clock_offset,
                        headers=dict(handler.headers.items()),
                    )
                )
            handler.write_response(response)
        finally:
            with self._lock:
                self._in_flight -= 1

    @staticmethod
    def _route(path: str) -> tuple[str, str | None]:
        if path == "/api/token":
            return "token", None
        if path == "/oembed":
            return "oembed", None
        segments = path.split("/")[1:]
        if not segments or segments[0] != "v1":
            return "unknown", None
        rest = [unquote(s) for s in segments[1:]]
        match rest:
            case ["albums"]:
                return "albums_batch", None
            case ["albums", album_id]:
                return "album", album_id
            case ["albums", album_id, "tracks"]:
                return "album_tracks", album_id
            case ["artists"]:
                return "artists_batch", None
            case ["artists", artist_id]:
                return "artist", artist_id
            case ["search"]:
                return "search", None
        return "unknown", None

    def _respond(
        self,
        handler: _Handler,
        endpoint: str,
        path_id: str | None,
        query: dict[str, str],
        body: bytes,
    ) -> _Response:
        method = handler.command
        expected = "POST" if endpoint == "token" else "GET"
        if endpoint == "unknown":
            return _Response(404, _error(404, "Service not found"))
        if self.uri_max is not None and len(handler.path) > self.uri_max:
            return _Response(414, _error(414, "URI Too Long"))
        if method != expected and not (method == "HEAD" and expected == "GET"):
            return _Response(405, _error(405, "Method not allowed"))
        # Held before the token is checked: calls refused a token overlap too.
        self._wait_for_company(endpoint)
        with self._lock:
            holds = [held for album_id, held in self._held.items() if album_id in handler.path]
        for held in holds:
            held.wait()
        if endpoint in API_ENDPOINTS:
            denied = self._check_bearer(handler.headers.get("Authorization"))
            if denied is not None:
                return denied
        self._sleep_if_delayed(endpoint)
        fault = self._fault_for(endpoint)
        if fault is not None:
            return fault
        with self._lock:
            if endpoint == "token":
                return self._token(handler.headers.get("Authorization"), body)
            if endpoint == "oembed":
                return self._oembed(query)
            if endpoint == "image":
                return _Response(200, None, png=_solid_png(path_id or ""))
            if endpoint == "album":
                return self._get_album(path_id or "")
            if endpoint == "album_tracks":
                return self._get_album_tracks(path_id or "", query)
            if endpoint == "albums_batch":
                return self._get_batch(query, "albums")
            if endpoint == "artist":
                return self._get_artist(path_id or "")
            if endpoint == "artists_batch":
                return self._get_batch(query, "artists")
            return self._search(query)

    def _wait_for_company(self, endpoint: str) -> None:
        with self._company_arrived:
            if not self._company or endpoint not in self._company_endpoints:
                return
            self._waiting += 1
            if self._waiting >= self._company:
                self._company = 0  # enough at once: release them, hold no more
                self._company_arrived.notify_all()
                return
            self._company_arrived.wait_for(lambda: not self._company, self._company_timeout)
            self._company = 0  # timed out: never hold again

    def _sleep_if_delayed(self, endpoint: str) -> None:
        with self._lock:
            seconds = self._delay if endpoint in self._delay_endpoints else 0.0
        if seconds > 0:
            time.sleep(seconds)

    def _fault_for(self, endpoint: str) -> _Response | None:
        """Advance every matching fault rule's counters; the first that fires wins."""
        with self._lock:
            now = self._clock() + self._clock_offset
            chosen: _Response | None = None
            for quota in self._quotas:
                if endpoint in quota.endpoints:
                    chosen = chosen or self._quota_answer(quota, now)
            for rule in self._rate_limits:
                if endpoint not in rule.endpoints:
                    continue
                rule.seen += 1
                active = rule.seen >= rule.from_call
                if active and (rule.times is None or rule.fired < rule.times) and chosen is None:
                    rule.fired += 1
                    chosen = self._too_many(rule.retry_after, rule.quota, rule.empty_body)
            for rolling in self._rolling:
                if endpoint not in rolling.endpoints:
                    continue
                arrivals = rolling.arrivals
                arrivals.append(now)
                while arrivals and arrivals[0] <= now - rolling.window:
                    arrivals.popleft()
                if len(arrivals) > rolling.max_calls and chosen is None:
                    retry_after = rolling.retry_after
                    if retry_after is None:
                        # Room for one more once all but max_calls - 1 arrivals have left.
                        leaving = arrivals[len(arrivals) - rolling.max_calls]
                        retry_after = max(1, math.ceil(leaving + rolling.window - now))
                    chosen = self._too_many(retry_after, False, False)
            for fail_next in self._fail_next:
                if endpoint in fail_next.endpoints and fail_next.remaining > 0 and chosen is None:
                    fail_next.remaining -= 1
                    chosen = _Response(
                        fail_next.status,
                        _error(fail_next.status, _status_message(fail_next.status)),
                    )
            for every in self._fail_every:
                if endpoint not in every.endpoints:
                    continue
                every.seen += 1
                if every.seen % every.n == 0 and chosen is None:
                    chosen = _Response(
                        every.status, _error(every.status, _status_message(every.status))
                    )
            return chosen

    def _quota_answer(self, rule: _QuotaRule, now: float) -> _Response | None:
        """Count the call in the quota's window, or refuse it (QUOTA_EXCEEDED)."""
        counted = rule.counted
        while counted and counted[0] <= now - rule.window:
            counted.popleft()
        if now < rule.penalty_until:
            rule.penalty_until = now + rule.window  # retried too early: a whole window more
            retry_after = math.ceil(rule.window)
        elif len(counted) >= rule.max_calls:
            leaving = counted[0] + rule.window if counted else now + rule.window
            retry_after = max(1, math.ceil(leaving - now))
            rule.penalty_until = now + retry_after
        else:
            counted.append(now)
            return None
        rule.refusals += 1
        return self._too_many(retry_after, True, False)

    @staticmethod
    def _too_many(retry_after: int | None, quota: bool, empty_body: bool) -> _Response:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        if empty_body:
            return _Response(429, None, headers)
        body = _error(429, "Too many requests" if quota else "API rate limit exceeded")
        if quota:
            body["error"]["reason"] = "QUOTA_EXCEEDED"
        return _Response(429, body, headers)

    # ------------------------------------------------------------------- auth

    def _check_bearer(self, authorization: str | None) -> _Response | None:
        if not authorization:
            return self._unauthorized("No token provided")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        with self._lock:
            expiry = self._tokens.get(token) if scheme.lower() == "bearer" else None
            now = self._clock() + self._clock_offset
        if expiry is None:
            return self._unauthorized("Invalid access token")
        if now >= expiry:
            self._stagger_refusal(token)
            return self._unauthorized("The access token expired")
        return None

    def _stagger_refusal(self, token: str) -> None:
        with self._company_arrived:
            if not self._stagger_refusals:
                return
            if token not in self._refusals:
                self._refusals[token] = len(self._tokens)  # the first refusal: answered now
                return
            first = self._refusals[token]
            self._company_arrived.wait_for(lambda: len(self._tokens) > first, 5.0)

    @staticmethod
    def _unauthorized(message: str) -> _Response:
        challenge = f'Bearer realm="spotify", error="invalid_token", error_description="{message}"'
        return _Response(401, _error(401, message), {"WWW-Authenticate": challenge})

    def _token(self, authorization: str | None, body: bytes) -> _Response:
        form = {
            k: v[0]
            for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            description = (
                "grant_type parameter is missing"
                if not grant_type
                else "grant_type must be client_credentials, authorization_code or refresh_token"
            )
            return _Response(
                400, {"error": "unsupported_grant_type", "error_description": description}
            )
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return _Response(
                400, {"error": "invalid_client", "error_description": "Invalid client"}
            )
        token = "BQ" + secrets.token_urlsafe(96)
        self._tokens[token] = self._clock() + self._clock_offset + self.token_lifetime
        self._company_arrived.notify_all()  # a staggered refusal may go on
        return _Response(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        )

    # -------------------------------------------------------------- rendering

    def _image_set(
        self, kind: str, object_id: str, sizes: tuple[tuple[str, int], ...]
    ) -> list[Json]:
        digest = _hex40(f"{kind}:{object_id}")[:24]
        host = f"{self.base_url}/image" if self.images_served else "https://i.scdn.co/image"
        return [
            {"url": f"{host}/{prefix}{digest}", "height": size, "width": size}
            for prefix, size in sizes
        ]

    def _album_images(self, album: _Album) -> list[Json]:
        if not album.images:
            return []
        sizes = (("ab67616d0000b273", 640), ("ab67616d00001e02", 300), ("ab67616d00004851", 64))
        return self._image_set("album", album.id, sizes)

    def _artist_simple(self, artist_id: str) -> Json:
        artist = self._artists[artist_id]
        return {
            "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist.id}"},
            "href": f"{self.api_url}artists/{artist.id}",
            "id": artist.id,
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }

    def _artist_full(self, artist: _Artist) -> Json:
        sizes = (("ab6761610000e5eb", 640), ("ab67616100005174", 320), ("ab6761610000f178", 160))
        result: Json = {
            "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist.id}"},
            "followers": {"href": None, "total": artist.followers},
            "genres": list(artist.genres),
            "href": f"{self.api_url}artists/{artist.id}",
            "id": artist.id,
            "images": self._image_set("artist", artist.id, sizes) if artist.images else [],
            "name": artist.name,
            "popularity": artist.popularity,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }
        if self.development:
            del result["followers"], result["popularity"]
        if not self.artist_genres:
            del result["genres"]
        return result

    def _track(self, track: _Track) -> Json:
        result: Json = {
            "artists": [self._artist_simple(a) for a in track.artist_ids],
            "available_markets": list(_MARKETS),
            "disc_number": track.disc_number,
            "duration_ms": track.duration_ms,
            "explicit": track.explicit,
            "external_urls": {"spotify": f"https://open.spotify.com/track/{track.id}"},
            "href": f"{self.api_url}tracks/{track.id}",
            "id": track.id,
            "name": track.name,
            "preview_url": (
                f"https://p.scdn.co/mp3-preview/{_hex40('preview:' + track.id)}"
                f"?cid={self.client_id}"
            ),
            "track_number": track.track_number,
            "type": "track",
            "uri": f"spotify:track:{track.id}",
            "is_local": False,
        }
        if self.development:
            del result["available_markets"]
        return result

    def _tracks_page(self, album: _Album, offset: int, limit: int) -> Json:
        base = f"{self.api_url}albums/{album.id}/tracks"
        total = len(album.tracks)

        def url(at: int) -> str:
            return f"{base}?offset={at}&limit={limit}"

        return {
            "href": url(offset),
            "limit": limit,
            "next": url(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": url(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
            "items": [self._track(t) for t in album.tracks[offset : offset + limit]],
        }

    def _album_simple(self, album: _Album) -> Json:
        """The simplified album of search results (key order as recorded)."""
        result: Json = {
            "album_type": album.album_type,
            "artists": [self._artist_simple(a) for a in album.artist_ids],
            "available_markets": list(_MARKETS),
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album.id}"},
            "href": f"{self.api_url}albums/{album.id}",
            "id": album.id,
            "images": self._album_images(album),
            "name": album.name,
            "release_date": album.release_date,
            "release_date_precision": album.precision,
            "total_tracks": len(album.tracks),
            "type": "album",
            "uri": f"spotify:album:{album.id}",
        }
        if self.development:
            del result["available_markets"]
        return result

    def _album_full(self, album: _Album) -> Json:
        year = album.release_date[:4]
        result: Json = {
            "album_type": album.album_type,
            "total_tracks": len(album.tracks),
            "available_markets": list(_MARKETS),
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album.id}"},
            "href": f"{self.api_url}albums/{album.id}",
            "id": album.id,
            "images": self._album_images(album),
            "name": album.name,
            "release_date": album.release_date,
            "release_date_precision": album.precision,
            "type": "album",
            "uri": f"spotify:album:{album.id}",
            "artists": [self._artist_simple(a) for a in album.artist_ids],
            "tracks": self._tracks_page(album, 0, _PAGE_MAX),
            "copyrights": album.copyrights
            if album.copyrights is not None
            else [
                {"text": f"© {year} {album.label}", "type": "C"},
                {"text": f"℗ {year} {album.label}", "type": "P"},
            ],
            "external_ids": {"upc": album.upc},
            "genres": [],
            "label": album.label,
            "popularity": album.popularity,
        }
        if self.development:
            del result["available_markets"], result["label"], result["popularity"]
        return result

    # -------------------------------------------------------------- endpoints

    def _lookup_album(self, album_id: str) -> _Album | None:
        if album_id in self._not_found:
            return None
        return self._albums.get(album_id)

    def _get_album(self, album_id: str) -> _Response:
        if not _ID_RE.fullmatch(album_id):
            return _Response(400, _error(400, "invalid id"))
        album = self._lookup_album(album_id)
        if album is None:
            return _Response(404, _error(404, "Resource not found"))
        return _Response(200, self._album_full(album))

    @staticmethod
    def _int_param(query: Mapping[str, str], name: str, default: int) -> int | None:
        raw = query.get(name, "")
        if raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            return None

    def _paging_params(
        self, query: Mapping[str, str], default_limit: int, max_limit: int
    ) -> tuple[int, int] | _Response:
        limit = self._int_param(query, "limit", default_limit)
        if limit is None or not 1 <= limit <= max_limit:
            return _Response(400, _error(400, "Invalid limit"))
        offset = self._int_param(query, "offset", 0)
        if offset is None or offset < 0:
            return _Response(400, _error(400, "Invalid offset"))
        return offset, limit

    def _get_album_tracks(self, album_id: str, query: Mapping[str, str]) -> _Response:
        if not _ID_RE.fullmatch(album_id):
            return _Response(400, _error(400, "invalid id"))
        paging = self._paging_params(query, 20, _PAGE_MAX)
        if isinstance(paging, _Response):
            return paging
        album = self._lookup_album(album_id)
        if album is None:
            return _Response(404, _error(404, "Resource not found"))
        offset, limit = paging
        return _Response(200, self._tracks_page(album, offset, limit))

    def _get_artist(self, artist_id: str) -> _Response:
        if not _ID_RE.fullmatch(artist_id):
            return _Response(400, _error(400, "invalid id"))
        artist = None if artist_id in self._not_found else self._artists.get(artist_id)
        if artist is None:
            return _Response(404, _error(404, "Resource not found"))
        return _Response(200, self._artist_full(artist))

    def _get_batch(self, query: Mapping[str, str], kind: Literal["albums", "artists"]) -> _Response:
        if self.development:
            return _Response(403, _error(403, "Forbidden"))
        raw = query.get("ids", "")
        ids = [i for i in raw.split(",") if i] if raw else []
        if not ids:
            return _Response(400, _error(400, "invalid request"))
        if len(ids) > (_ALBUM_MAX_IDS if kind == "albums" else _ARTIST_MAX_IDS):
            return _Response(400, _error(400, "Too many ids requested"))
        if any(not _ID_RE.fullmatch(i) for i in ids):
            return _Response(400, _error(400, "invalid id"))
        items: list[Json | None] = []
        for item_id in ids:
            if kind == "albums":
                album = self._lookup_album(item_id)
                items.append(None if album is None else self._album_full(album))
            else:
                artist = None if item_id in self._not_found else self._artists.get(item_id)
                items.append(None if artist is None else self._artist_full(artist))
        return _Response(200, {kind: items})

    def _search(self, query: Mapping[str, str]) -> _Response:
        q = query.get("q", "").strip()
        if not q:
            return _Response(400, _error(400, "No search query"))
        if self.search_query_max is not None and len(q) > self.search_query_max:
            return _Response(404, _error(404, "Not found."))
        types = [t for t in query.get("type", "").split(",") if t]
        if not types:
            return _Response(400, _error(400, "Missing parameter type"))
        if any(t not in ("album", "artist") for t in types):
            return _Response(400, _error(400, "Bad search type field"))
        paging = self._paging_params(
            query, 5 if self.development else 20, 10 if self.development else _PAGE_MAX
        )
        if isinstance(paging, _Response):
            return paging
        offset, limit = paging
        if offset > _SEARCH_OFFSET_MAX:
            return _Response(400, _error(400, "Invalid offset"))
        filters, free_words = _parse_query(q)
        result: Json = {}
        for kind in types:
            found: list[Json]
            if kind == "album":
                found = [self._album_simple(a) for a in self._search_albums(filters, free_words)]
            else:
                found = [self._artist_full(a) for a in self._search_artists(filters, free_words)]
            result[f"{kind}s"] = self._search_page(q, kind, found, offset, limit)
        return _Response(200, result)

    def _search_albums(self, filters: Mapping[str, str], words: list[str]) -> list[_Album]:
        """Albums a search finds, most relevant first, as Spotify answers loosely.

        Filters and free words match folded tokens in any order, a query token
        matching any token it starts (``ii`` finds ``III``). With an ``artist:``
        filter, another artist's album whose title holds every ``album:`` token
        as a whole word comes too (a near-miss), after the artist's own. Then
        the exact title first, then the share of the title the query covers,
        then popularity. ``year:`` and ``upc:`` are strict.
        """
        wanted_title = _tokens(filters.get("album", ""))
        wanted_artist = _tokens(filters.get("artist", ""))
        free = tuple(t for w in words for t in _tokens(w))
        query = wanted_title or free
        ranked: list[tuple[tuple[bool, bool, float, int, int], _Album]] = []
        for index, album in enumerate(self._albums.values()):
            title = _tokens(album.name)
            if not _covers(title, wanted_title) or album.id in self._not_found:
                continue  # the title first: it rules out most of a large catalogue
            if "upc" in filters and filters["upc"] != album.upc:
                continue
            if "year" in filters and not _year_matches(album.release_date[:4], filters["year"]):
                continue
            artists = _tokens(" ".join(self._artists[a].name for a in album.artist_ids))
            if not _covers(title + artists, free):
                continue
            near_miss = not _covers(artists, wanted_artist)
            if near_miss and not (wanted_title and _covers(title, wanted_title, whole=True)):
                continue
            exact = bool(wanted_title) and sorted(title) == sorted(wanted_title)
            key = (near_miss, not exact, -_coverage(title, query), -album.popularity, index)
            ranked.append((key, album))
        ranked.sort(key=lambda pair: pair[0])
        return [album for _, album in ranked]

    def _search_artists(self, filters: Mapping[str, str], words: list[str]) -> list[_Artist]:
        """Artists whose name holds the ``artist:`` filter and free words; exact names first."""
        wanted = _tokens(filters.get("artist", "")) + tuple(t for w in words for t in _tokens(w))
        ranked: list[tuple[tuple[bool, int, int], _Artist]] = []
        for index, artist in enumerate(self._artists.values()):
            if artist.id in self._not_found:
                continue
            name = _tokens(artist.name)
            if _covers(name, wanted):
                key = (sorted(name) != sorted(wanted), -artist.popularity, index)
                ranked.append((key, artist))
        ranked.sort(key=lambda pair: pair[0])
        return [artist for _, artist in ranked]

    def _search_page(self, q: str, kind: str, found: list[Json], offset: int, limit: int) -> Json:
        total = min(len(found), _SEARCH_OFFSET_MAX)

        def url(at: int) -> str:
            return f"{self.api_url}search?query={quote(q)}&type={kind}&offset={at}&limit={limit}"

        return {
            "href": url(offset),
            "items": found[offset : offset + limit],
            "limit": limit,
            "next": url(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": url(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
        }

    def _oembed(self, query: Mapping[str, str]) -> _Response:
        url = query.get("url", "")
        if not url:
            return _Response(400, _error(400, "Missing url parameter"))
        match = re.fullmatch(
            r"(?:https?://open\.spotify\.com/(?:intl-[a-z-]+/)?album/|spotify:album:)"
            r"([0-9A-Za-z]{22})(?:[?#].*)?",
            url.strip(),
        )
        album = self._lookup_album(match.group(1)) if match else None
        if album is None:
            return _Response(404, _error(404, "Not found"))
        src = f"https://open.spotify.com/embed/album/{album.id}?utm_source=oembed"
        iframe = (
            f'<iframe style="border-radius: 12px" width="100%" height="352" '
            f'title="Spotify Embed: {html.escape(album.name)}" frameborder="0" allowfullscreen '
            f'allow="autoplay; clipboard-write; encrypted-media; fullscreen; picture-in-picture" '
            f'loading="lazy" src="{src}"></iframe>'
        )
        result: Json = {
            "html": iframe,
            "width": 456,
            "height": 352,
            "version": "1.0",
            "provider_name": "Spotify",
            "provider_url": "https://spotify.com",
            "type": "rich",
            "title": album.name,
        }
        images = self._album_images(album)
        if images:
            result["thumbnail_url"] = images[1]["url"]
            result["thumbnail_width"] = 300
            result["thumbnail_height"] = 300
        return _Response(200, result)


# ------------------------------------------------------------- search helpers

_FILTER_RE = re.compile(r"\b(album|artist|year|upc|track|genre|tag):", re.IGNORECASE)


# Letters that Unicode decomposition leaves whole; Spotify's search folds them too.
_LETTERS = str.maketrans(
    {
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "Ae",
        "œ": "oe",
        "Œ": "Oe",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "Th",
        "ı": "i",
    }
)
# Dropped inside words: "Winter\u2019s" and "Winter's" are "winters", "Vol." is "vol".
_JOINERS = re.compile(r"['’‘`´.]")
_SEPARATORS = re.compile(r"[\W_]+")
# "&" and "and" are both ignored: "Blood & Iron" finds "Blood and Iron".
_IGNORED_TOKENS = frozenset({"and"})


@functools.lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    """Search tokens: case, accents and punctuation folded away (``Motörhead`` -> motorhead)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = _JOINERS.sub("", plain).replace("&", " and ")
    return tuple(t for t in _SEPARATORS.split(plain) if t and t not in _IGNORED_TOKENS)


def _covers(haystack: tuple[str, ...], needles: tuple[str, ...], *, whole: bool = False) -> bool:
    """Every needle starts a token of the haystack (``whole``: equals one)."""
    if whole:
        return all(n in haystack for n in needles)
    return all(any(t.startswith(n) for t in haystack) for n in needles)


def _coverage(title: tuple[str, ...], query: tuple[str, ...]) -> float:
    """Share of the title's tokens that some query token starts (1.0: nothing extra)."""
    if not title:
        return 0.0
    return sum(1 for t in title if any(t.startswith(q) for q in query)) / len(title)


def _parse_query(q: str) -> tuple[dict[str, str], list[str]]:
    """Split ``q`` into field filters and free words.

    A filter's value runs to the next filter (``album:The Wall artist:Pink
    Floyd``); double quotes around it are dropped.
    """
    pieces = _FILTER_RE.split(q)
    free = pieces[0]
    filters: dict[str, str] = {}
    for name, value in zip(pieces[1::2], pieces[2::2], strict=True):
        filters[name.lower()] = value.strip().strip('"').strip()
    words = [w.strip('"') for w in free.split()]
    return filters, [w for w in words if w]


def _year_matches(year: str, wanted: str) -> bool:
    low, _, high = wanted.partition("-")
    try:
        first, last = int(low), int(high or low)
        return first <= int(year) <= last
    except ValueError:
        return False
