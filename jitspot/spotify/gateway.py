"""The Spotify gateway: the only code that talks to Spotify.

Behind a small interface (`Gateway`) that speaks jitspot's own dicts
(`spotify.data`), never spotipy types. One retry layer, ours: spotipy gets a
plain `requests.Session`, so urllib3 never retries behind our back (its
retries hide 429s and can sleep for hours); tenacity backs off on 5xx and
timeouts; a 429 waits exactly its Retry-After up to a cap, and past the cap
stops every worker.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from jitspot.errors import ConfigError, RateLimited, SpotifyRefused, SpotifyUnavailable
from jitspot.logs import register_secret
from jitspot.settings import Settings
from jitspot.spotify.data import (
    AlbumData,
    ArtistData,
    Candidate,
    OEmbedData,
    Track,
    parse_album,
    parse_artist,
    parse_candidates,
    parse_oembed,
    tracks_page,
)
from jitspot.spotify.links import album_url
from jitspot.spotify.pacing import Clock, Pacer, Sleep
from jitspot.spotify.quota import QuotaGate

if TYPE_CHECKING:
    from tenacity import RetryCallState

log = logging.getLogger("jitspot.spotify")
T = TypeVar("T")

ALBUM_BATCH = 20
ARTIST_BATCH = 50
MAX_RETRY_AFTER = 7 * 86_400.0
MAX_SHORT_WAITS = 8  # 429s with a short Retry-After tolerated for one request
TRACKS_PAGE = 50  # tracks per `GET /albums/{id}/tracks` page
QUOTA_REASON = "QUOTA_EXCEEDED"  # the 429 body's `reason` of the daily quota
# Development-mode apps get at most 10 results per search (more is a 400 "Invalid limit").
SEARCH_LIMIT = 10
# Answers a caller reads as "no such thing" (an album, an artist, an oEmbed page).
NOT_FOUND = frozenset({400, 404})
# A search Spotify will not take (400, 404 past its query length, 414 for a URI past its
# front end's) is never answered: no candidate, whatever the retries.
SEARCH_NOT_TAKEN = frozenset({400, 404, 414})


class EndpointForbidden(Exception):
    """403: the app may not use this endpoint (batch lookups in development mode)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        self.endpoint = endpoint

    @property
    def batch(self) -> bool:
        return self.endpoint.endswith("_batch")


class Meter:
    """Thread-safe counts of what the gateway did, drained into the store's counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {}

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0.0) + amount

    def drain(self) -> dict[str, float]:
        """Counts since the last drain (names like `api.calls.album`, `api.retries`)."""
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts


@dataclass(frozen=True, slots=True)
class Gates:
    """What a gateway's requests pass through: the Web API's pacing, oEmbed's own pacing
    (it has its own limits and its own "not before"), and the Web API's daily quota."""

    api: Pacer
    oembed: Pacer
    quota: QuotaGate | None = None


class Gateway(Protocol):
    """What the resolver needs from Spotify. `None` answers mean "not found"."""

    meter: Meter
    has_credentials: bool

    def albums_batch(self, ids: Sequence[str]) -> dict[str, AlbumData | None]: ...
    def album(self, album_id: str) -> AlbumData | None: ...
    def rest_of_tracks(self, album_id: str, offset: int) -> list[Track]: ...
    def artists_batch(self, ids: Sequence[str]) -> dict[str, ArtistData | None]: ...
    def artist(self, artist_id: str) -> ArtistData | None: ...
    def oembed(self, album_id: str) -> OEmbedData | None: ...
    def search_albums(self, query: str) -> list[Candidate]: ...


class HttpFailure(Exception):
    """A non-2xx answer, reduced to what the retry policy needs.

    `reason` is the error body's `reason` (Spotify's `QUOTA_EXCEEDED` tells the
    daily quota's 429 from the rolling window's), never the message text.
    """

    def __init__(
        self, status: int, retry_after: float | None, endpoint: str, reason: str | None = None
    ) -> None:
        super().__init__(f"HTTP {status} from {endpoint}")
        self.status = status
        self.retry_after = retry_after
        self.endpoint = endpoint
        self.reason = reason

    @property
    def quota(self) -> bool:
        return self.status == 429 and self.reason == QUOTA_REASON


class _Transient(Exception):
    """Worth another try after a backoff (5xx, timeouts, connection errors)."""


class _RenewToken(Exception):
    """401: try again at once with a new token."""


class _ShortRateLimit(Exception):
    """429 within the cap (or without a usable Retry-After): wait, then retry."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    # Spotify's longest seen is a day; a larger value is a broken header: wait a week at most.
    return min(seconds, MAX_RETRY_AFTER)


class TokenFile:
    """spotipy's token cache, kept in JITSPOT_HOME (never ./.cache), mode 0600.

    The token is bound to the client id it was issued for, so changing
    credentials never reuses a stale token.
    """

    def __init__(self, path: Path, client_id: str, meter: Meter) -> None:
        self.path = path
        self.client_id = client_id
        self.meter = meter
        self._token: dict[str, Any] | None = None
        self._loaded = False

    # spotipy's CacheHandler interface (duck-typed: spotipy checks the base class,
    # see `spotipy_cache_handler`).
    def get_cached_token(self) -> dict[str, Any] | None:
        if not self._loaded:
            self._loaded = True
            try:
                saved = json.loads(self.path.read_text())
            except (OSError, ValueError):
                saved = None
            if isinstance(saved, dict) and saved.get("client_id") == self.client_id:
                self._token = saved.get("token")
        if self._token:
            register_secret(str(self._token.get("access_token", "")))
        return self._token

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        self.meter.add("api.token_requests")
        register_secret(str(token_info.get("access_token", "")))
        self._token = token_info
        self._loaded = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"client_id": self.client_id, "token": token_info})
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, payload.encode())
        finally:
            os.close(fd)

    def forget(self, rejected: str | None = None) -> None:
        """Drop the token Spotify refused (401): the next call asks for a new one.

        Only if it is still the `rejected` one: when two workers are refused the
        same token, the second must not throw away the first one's renewal.
        """
        current = (self._token or {}).get("access_token")
        if rejected is not None and current is not None and current != rejected:
            return
        self._token = None
        self._loaded = True
        self.path.unlink(missing_ok=True)


class SpotifyGateway:
    """The real gateway: spotipy for the Web API, plain requests for oEmbed."""

    def __init__(
        self,
        settings: Settings,
        gates: Gates,
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        import requests

        from jitspot.logs import NOISY_LOGGERS

        # spotipy logs credentials at DEBUG and every HTTP error at ERROR; we
        # report failures ourselves, so its logger stays quiet wherever jitspot runs.
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self.settings = settings
        self.gates = gates
        self.meter = Meter()
        self._clock = clock
        self._sleep = sleep
        self._session = requests.Session()  # no urllib3 retries: ours are the only ones
        self._session.headers["User-Agent"] = "jitspot"
        # A kept-alive connection for every worker: past the pool's size (10 by default)
        # each request would open, and for Spotify handshake, a connection of its own.
        pooled = requests.adapters.HTTPAdapter(pool_maxsize=max(10, settings.concurrency))
        self._session.mount("https://", pooled)
        self._session.mount("http://", pooled)
        self.has_credentials = settings.has_credentials
        self._token_lock = threading.Lock()
        self._spotify: Any = None
        self._auth: Any = None
        self._tokens: TokenFile | None = None
        if settings.client_secret is not None:
            register_secret(settings.client_secret.get_secret_value())

    def close(self) -> None:
        """Close the HTTP connections (the gateway may not be used after)."""
        self._session.close()

    # -- the Web API -------------------------------------------------------------------

    def _client(self) -> Any:
        """spotipy's client, built on first use (importing spotipy costs ~0.1 s)."""
        if self._spotify is None:
            if not self.has_credentials:
                raise ConfigError(
                    "Spotify credentials are needed: set SPOTIPY_CLIENT_ID and"
                    " SPOTIPY_CLIENT_SECRET"
                )
            import spotipy

            assert self.settings.client_id is not None
            assert self.settings.client_secret is not None
            self._tokens = TokenFile(self.settings.token_path, self.settings.client_id, self.meter)
            self._auth = spotipy.SpotifyClientCredentials(
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret.get_secret_value(),
                requests_session=self._session,
                requests_timeout=self.settings.http_timeout,
                cache_handler=spotipy_cache_handler(self._tokens),
            )
            self._auth.OAUTH_TOKEN_URL = self.settings.token_url
            client = spotipy.Spotify(
                auth_manager=self._auth,
                requests_session=self._session,
                requests_timeout=self.settings.http_timeout,
                retries=0,
            )
            api = self.settings.api_url
            client.prefix = api if api.endswith("/") else api + "/"
            self._spotify = client
        return self._spotify

    def albums_batch(self, ids: Sequence[str]) -> dict[str, AlbumData | None]:
        """Up to 20 albums in one call, each with its first page of tracks.

        Albums past 50 tracks come with `more_tracks`: their other pages wait until
        something shows the tracks (`rest_of_tracks`), so a cover never waits for them.
        """
        assert 0 < len(ids) <= ALBUM_BATCH
        client = self._client()
        raw = self._api("albums_batch", lambda: client.albums(list(ids)))
        self.meter.add("api.batch_items.albums_batch", len(ids))  # for "calls saved by batching"
        found: dict[str, AlbumData | None] = dict.fromkeys(ids)
        for item in raw.get("albums") or []:
            if isinstance(item, dict) and item.get("id") in found:
                found[str(item["id"])] = parse_album(item)
        return found

    def album(self, album_id: str) -> AlbumData | None:
        """One album with its first page of tracks (see `albums_batch`)."""
        client = self._client()
        try:
            raw = self._api("album", lambda: client.album(album_id), answers=NOT_FOUND)
        except HttpFailure:
            return None
        return parse_album(raw)

    def rest_of_tracks(self, album_id: str, offset: int) -> list[Track]:
        """The album's tracks from `offset` on: one `GET /albums/{id}/tracks` call a page."""
        client = self._client()
        tracks: list[Track] = []
        more = True
        while more:
            at = offset + len(tracks)
            page = self._api(
                "album_tracks",
                partial(client.album_tracks, album_id, limit=TRACKS_PAGE, offset=at),
            )
            found, more = tracks_page(page if isinstance(page, dict) else {})
            tracks.extend(found)
            more = more and bool(found)  # a page with nothing on it ends the paging
        return tracks

    def artists_batch(self, ids: Sequence[str]) -> dict[str, ArtistData | None]:
        assert 0 < len(ids) <= ARTIST_BATCH
        client = self._client()
        raw = self._api("artists_batch", lambda: client.artists(list(ids)))
        self.meter.add("api.batch_items.artists_batch", len(ids))
        found: dict[str, ArtistData | None] = dict.fromkeys(ids)
        for item in raw.get("artists") or []:
            if isinstance(item, dict) and item.get("id") in found:
                found[str(item["id"])] = parse_artist(item)
        return found

    def artist(self, artist_id: str) -> ArtistData | None:
        client = self._client()
        try:
            raw = self._api("artist", lambda: client.artist(artist_id), answers=NOT_FOUND)
        except HttpFailure:
            return None
        return parse_artist(raw)

    def search_albums(self, query: str) -> list[Candidate]:
        """`GET /search?type=album` with `query` (field filters allowed): the first 10 albums."""
        client = self._client()
        try:
            raw = self._api(
                "search",
                lambda: client.search(query, limit=SEARCH_LIMIT, type="album"),
                answers=SEARCH_NOT_TAKEN,
            )
        except HttpFailure as failure:
            # A query Spotify will not take is never answered: no candidate.
            log.info("search refused (%s): %.200s", failure.status, query)
            return []
        return parse_candidates(raw) if isinstance(raw, dict) else []

    def _api(
        self, endpoint: str, request: Callable[[], Any], *, answers: frozenset[int] = frozenset()
    ) -> Any:
        """One Web API request through the retry policy; spotipy errors become HttpFailure
        when their status is in `answers` (the caller reads them), SpotifyRefused else."""
        from spotipy.exceptions import SpotifyException
        from spotipy.oauth2 import SpotifyOauthError

        renewed = False
        used: str | None = None

        def attempt() -> Any:
            nonlocal renewed, used
            try:
                used = self._ensure_token()
                return request()
            except SpotifyException as exc:
                headers = exc.headers or {}
                failure = HttpFailure(
                    exc.http_status,
                    parse_retry_after(headers.get("Retry-After"), self._clock()),
                    endpoint,
                    exc.reason if isinstance(exc.reason, str) else None,
                )
            except SpotifyOauthError as exc:
                if getattr(exc, "error", None) in ("invalid_client", "unauthorized_client"):
                    raise ConfigError(
                        "Spotify rejected the client credentials (invalid_client): check"
                        " SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET"
                    ) from None
                raise _Transient(f"token request failed: {exc.error}") from None
            if failure.status == 401:
                if renewed:
                    raise ConfigError(
                        "Spotify refuses the access token (401) even after renewing it"
                    )
                # The token expired early or was revoked: renew it once, right away.
                renewed = True
                log.debug("401 from %s: renewing the token", endpoint)
                assert self._tokens is not None
                with self._token_lock:
                    self._tokens.forget(rejected=used)
                raise _RenewToken("401: renewing the access token")
            if failure.status == 403:
                raise EndpointForbidden(endpoint)
            raise failure

        return self._with_retries(endpoint, attempt, self.gates.api, answers)

    def _ensure_token(self) -> str:
        """The token for the next request, fetched under a lock so workers ask only once."""
        with self._token_lock:
            return str(self._auth.get_access_token(as_dict=False))

    # -- oEmbed: covers without credentials -------------------------------------------

    def oembed(self, album_id: str) -> OEmbedData | None:
        """Title and 300 px cover from Spotify's public oEmbed endpoint (no token)."""

        def attempt() -> Any:
            response = self._session.get(
                self.settings.oembed_url,
                params={"url": album_url(album_id)},
                timeout=self.settings.http_timeout,
            )
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise _Transient("oEmbed answered with something that is not JSON") from None
            raise HttpFailure(
                response.status_code,
                parse_retry_after(response.headers.get("Retry-After"), self._clock()),
                "oembed",
            )

        try:
            raw = self._with_retries("oembed", attempt, self.gates.oembed, NOT_FOUND)
        except HttpFailure:
            return None
        return parse_oembed(album_id, raw) if isinstance(raw, dict) else None

    # -- the retry policy --------------------------------------------------------------

    def _with_retries(
        self, endpoint: str, attempt: Callable[[], T], gate: Pacer, answers: frozenset[int]
    ) -> T:
        """Run `attempt` under `gate` (and the quota, for the Web API), retrying 5xx,
        timeouts and short 429s. A QUOTA_EXCEEDED is never retried.

        Any other answer is final: an HttpFailure when its status is in `answers` (the
        caller knows what it means), else SpotifyRefused (69) that names it, never an
        error nobody catches."""
        import requests
        from tenacity import Retrying, retry_if_exception_type, wait_exponential_jitter

        short_waits = 0
        transient_failures = 0
        scope = "oembed" if endpoint == "oembed" else "api"
        quota = self.gates.quota if scope == "api" else None

        def call() -> T:
            nonlocal short_waits, transient_failures
            sent_at = gate.admit()
            # Written down as it goes out: every try is a call Spotify counts.
            ticket = quota.take(endpoint) if quota is not None else None
            self.meter.add(f"api.calls.{endpoint}")
            started = time.perf_counter()
            try:
                result = attempt()
            except HttpFailure as failure:
                log.debug("%s -> %s", endpoint, failure.status)
                if failure.quota and quota is not None and ticket is not None:
                    self.meter.add("api.rate_limited_responses")
                    refusal = quota.refused(ticket, failure.retry_after)
                    assert refusal.next_free_at is not None
                    gate.stop(refusal.next_free_at)  # every worker, every process: no retry
                    log.info("%s: QUOTA_EXCEEDED: %s", endpoint, refusal)
                    raise refusal from None
                if failure.status == 429:
                    self.meter.add("api.rate_limited_responses")
                    gate.answered(sent_at, throttled=True)  # the learned rate goes down
                    self._on_rate_limit(failure, gate, scope)
                    short_waits += 1
                    raise _ShortRateLimit(failure.retry_after) from None
                if failure.status >= 500:
                    transient_failures += 1
                    raise _Transient(f"HTTP {failure.status}") from None
                raise
            except (requests.ConnectionError, requests.Timeout) as exc:
                transient_failures += 1
                raise _Transient(type(exc).__name__) from None
            except _Transient:
                transient_failures += 1
                raise
            log.debug("%s -> 200 in %.3f s", endpoint, time.perf_counter() - started)
            return result

        backoff = wait_exponential_jitter(multiplier=0.5, max=30, jitter=0.5)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _RenewToken):
                return 0.0
            if isinstance(error, _ShortRateLimit) and error.seconds is not None:
                return error.seconds  # exactly what Spotify asked: never shorter
            return min(backoff(state), self.settings.max_retry_after or 30)

        def stop(state: RetryCallState) -> bool:
            return (
                transient_failures >= self.settings.retry_attempts or short_waits >= MAX_SHORT_WAITS
            )

        def before_sleep(state: RetryCallState) -> None:
            seconds = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _ShortRateLimit):
                gate.pause(self._clock() + seconds)
            log.info("%s: %s; retrying in %.1f s", endpoint, error or "failed", seconds)

        def backoff_sleep(seconds: float) -> None:
            # Counted once waited: a stop (--max-time, a signal) may refuse the wait,
            # and then there is no retry either.
            self._sleep(seconds)
            self.meter.add("api.retries")
            self.meter.add("api.backoff_seconds", seconds)

        retrying = Retrying(
            retry=retry_if_exception_type((_Transient, _ShortRateLimit, _RenewToken)),
            wait=wait,
            stop=stop,
            sleep=backoff_sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(call)
        except HttpFailure as failure:
            if failure.status in answers:
                raise
            log.info("%s: HTTP %s, an answer jitspot has no use for", endpoint, failure.status)
            raise SpotifyRefused(failure.status, endpoint) from None
        except _Transient as exc:
            raise SpotifyUnavailable(
                f"Spotify unreachable after {transient_failures} tries ({exc})"
            ) from None
        except _ShortRateLimit:
            until = self._clock() + (self.settings.max_retry_after or 60)
            gate.stop(until)
            raise RateLimited(datetime.fromtimestamp(until, UTC), scope=scope) from None

    def _on_rate_limit(self, failure: HttpFailure, gate: Pacer, scope: str) -> None:
        """A 429 beyond the cap stops every worker: no call before Retry-After."""
        seconds = failure.retry_after
        if seconds is not None and seconds > self.settings.max_retry_after:
            until = self._clock() + seconds
            gate.stop(until)
            log.info(
                "%s: 429 with Retry-After %.0f s, past the cap: stopping", failure.endpoint, seconds
            )
            raise RateLimited(datetime.fromtimestamp(until, UTC), scope=scope)


def spotipy_cache_handler(tokens: TokenFile) -> Any:
    """Wrap a TokenFile in spotipy's CacheHandler base class (spotipy asserts on it)."""
    from spotipy.cache_handler import CacheHandler

    class _Handler(CacheHandler):  # type: ignore[misc]
        def get_cached_token(self) -> dict[str, Any] | None:
            return tokens.get_cached_token()

        def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
            tokens.save_token_to_cache(token_info)

    return _Handler()
