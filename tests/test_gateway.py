"""SpotifyGateway against the Spotify double over real HTTP: tokens, retries, rate limits, logs.

Time is injected (a fake clock whose sleep only records and moves time), so
Retry-After waits are asserted exactly and nothing sleeps for real.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import START, FakeClock
from spotify_double import SpotifyDouble

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Policy
from jitspot.catalog.resolver import NOT_BEFORE, Resolver
from jitspot.errors import (
    ConfigError,
    QuotaExhausted,
    RateLimited,
    SpotifyRefused,
    SpotifyUnavailable,
)
from jitspot.logs import configure_logging
from jitspot.model import cache_key
from jitspot.settings import load_settings
from jitspot.spotify.gateway import MAX_SHORT_WAITS, Gates, SpotifyGateway, parse_retry_after
from jitspot.spotify.pacing import Pacer
from jitspot.store import Store, open_store


class Opened:
    """Resolvers and gateways on the shared JITSPOT_HOME (each one like a new process)."""

    def __init__(self, home: Path, fake: FakeClock) -> None:
        self.home = home
        self.fake = fake
        self.stores: list[tuple[Store, SpotifyCache]] = []
        self.gateways: list[SpotifyGateway] = []

    def resolver(self, **overrides: Any) -> Resolver:
        settings = load_settings(self.home, overrides=overrides)
        store = open_store(settings.store_path)
        cache = SpotifyCache(settings.cache_dir, store)
        self.stores.append((store, cache))
        return Resolver(store, cache, settings, clock=self.fake.now, sleep=self.fake.sleep)

    def gateway(self, **overrides: Any) -> SpotifyGateway:
        settings = load_settings(self.home, overrides=overrides)
        gates = Gates(
            Pacer(clock=self.fake.now, sleep=self.fake.sleep, ceiling=settings.rate_ceiling),
            Pacer(clock=self.fake.now, sleep=self.fake.sleep, ceiling=settings.rate_ceiling),
        )
        gateway = SpotifyGateway(settings, gates, clock=self.fake.now, sleep=self.fake.sleep)
        self.gateways.append(gateway)
        return gateway

    def close(self) -> None:
        for store, cache in self.stores:
            cache.close()
            store.close()
        for gateway in self.gateways:
            gateway.close()


@pytest.fixture
def opened(home: Path, fake: FakeClock) -> Iterator[Opened]:
    things = Opened(home, fake)
    yield things
    things.close()


def times_of(double: SpotifyDouble, endpoint: str) -> list[float]:
    return [r.time for r in double.requests if r.endpoint == endpoint]


# -- parse_retry_after -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 3600 ", 3600.0),
        ("86400", 86400.0),
        ("1.5", 1.5),
        ("0", None),
        ("-5", None),
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_parse_retry_after__seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, START) == seconds


def test_parse_retry_after__non_finite_is_unusable() -> None:
    assert parse_retry_after("inf", START) is None


def test_parse_retry_after__http_date_is_relative_to_now() -> None:
    now = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=120), usegmt=True)
    assert parse_retry_after(header, now.timestamp()) == pytest.approx(120)
    past = format_datetime(now - timedelta(seconds=120), usegmt=True)
    assert parse_retry_after(past, now.timestamp()) is None


# -- tokens ------------------------------------------------------------------------------------


def test_token__kept_in_home_with_mode_0600_and_reused_across_gateways(
    spotify: SpotifyDouble,
    opened: Opened,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = spotify.populate(4, 2)
    first = opened.resolver()
    assert first.resolve(ids[:2], Policy.MISSING).error is None
    assert spotify.tokens_issued == 1

    token_path = first.settings.token_path
    assert token_path.parent == home
    assert token_path.exists()
    assert stat.S_IMODE(os.stat(token_path).st_mode) == 0o600
    saved = json.loads(token_path.read_text())
    assert saved["client_id"] == spotify.client_id
    bearer = {r.headers["Authorization"] for r in spotify.requests if r.endpoint != "token"}
    assert bearer == {f"Bearer {saved['token']['access_token']}"}

    # Another gateway (another process) reuses the token: no token request.
    second = opened.resolver()
    assert second.resolve(ids[2:], Policy.MISSING).error is None
    assert spotify.tokens_issued == 1
    assert spotify.count("token") == 1
    bearer = {r.headers["Authorization"] for r in spotify.requests if r.endpoint != "token"}
    assert len(bearer) == 1
    # spotipy's default cache file never appears in the working directory.
    assert not (tmp_path / ".cache").exists()
    assert not Path(".cache").exists()


def test_token__a_token_file_with_loose_permissions_is_rewritten_0600(
    spotify: SpotifyDouble, opened: Opened, home: Path
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    token_path = load_settings(home).token_path
    token_path.write_text("not json")
    token_path.chmod(0o644)
    ids = spotify.populate(1, 1)
    assert opened.resolver().resolve(ids, Policy.MISSING).error is None
    assert spotify.tokens_issued == 1
    assert stat.S_IMODE(os.stat(token_path).st_mode) == 0o600
    assert json.loads(token_path.read_text())["client_id"] == spotify.client_id


def test_token__expired_token_is_renewed_once_and_the_call_succeeds(
    spotify: SpotifyDouble, opened: Opened
) -> None:
    ids = spotify.populate(6, 2)
    resolver = opened.resolver(concurrency=1)
    assert resolver.resolve(ids[:3], Policy.MISSING).error is None
    assert spotify.tokens_issued == 1

    spotify.expire_tokens()
    result = resolver.resolve(ids[3:], Policy.MISSING)
    assert result.error is None
    assert result.fetched == set(ids[3:])
    assert spotify.tokens_issued == 2  # exactly one new token
    assert spotify.count("token") == 2
    assert spotify.count(status=401) == 1
    # The request that got the 401 was sent again, with the new token.
    after = spotify.requests[[r.status for r in spotify.requests].index(401) :]
    assert [r.endpoint for r in after[:3]] == ["albums_batch", "token", "albums_batch"]
    assert after[2].status == 200
    assert after[2].headers["Authorization"] != after[0].headers["Authorization"]


def test_token__concurrent_401s_on_one_expired_token_renew_it_once(
    spotify: SpotifyDouble, opened: Opened
) -> None:
    ids = spotify.populate(3, 1)
    gateway = opened.gateway()
    gateway.album(ids[0])
    old = spotify.requests[-1].headers["Authorization"]
    spotify.expire_tokens()

    # Both workers' requests carry the expired token and are in flight together; the
    # second learns of its 401 only after the first has renewed the token.
    spotify.hold_until_concurrent(2, endpoints={"album"})
    spotify.stagger_refusals()
    errors: list[BaseException] = []

    def fetch(album_id: str) -> None:
        try:
            gateway.album(album_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [
        threading.Thread(target=fetch, args=(ids[1],), name="A"),
        threading.Thread(target=fetch, args=(ids[2],), name="B"),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert errors == []
    assert spotify.count(status=401) == 2
    refused = [r.headers["Authorization"] for r in spotify.requests if r.status == 401]
    assert refused == [old, old]  # both workers were refused the same token...
    assert spotify.tokens_issued == 2  # ...and it was renewed once


def test_token__a_token_refused_twice_is_a_config_error(
    spotify: SpotifyDouble, opened: Opened
) -> None:
    ids = spotify.populate(1, 1)
    gateway = opened.gateway()
    gateway.album(ids[0])
    spotify.token_lifetime = -1  # every new token is already expired for the double
    spotify.expire_tokens()
    with pytest.raises(ConfigError, match="401"):
        gateway.album(ids[0])
    assert spotify.count(status=401) == 2  # renewed once, then gave up: no loop
    assert spotify.count("album") == 3


def test_token__bad_client_secret_is_a_config_error(
    spotify: SpotifyDouble, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "not-the-secret")
    ids = spotify.populate(3, 1)
    result = opened.resolver().resolve(ids, Policy.MISSING)
    assert isinstance(result.error, ConfigError)
    assert result.error.exit_code == 78
    assert spotify.count("token") == 1  # not retried: wrong credentials stay wrong
    assert spotify.api_calls() == 0


def test_token__bad_client_secret_fails_the_gateway_call_without_an_api_call(
    spotify: SpotifyDouble, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "not-the-secret")
    ids = spotify.populate(1, 1)
    gateway = opened.gateway()
    with pytest.raises(ConfigError, match="invalid_client"):
        gateway.album(ids[0])
    assert spotify.counts() == {"token": 1}
    assert opened.fake.sleeps == []
    assert not gateway.settings.token_path.exists()


# -- 5xx and timeouts ------------------------------------------------------------------------


def test_retry__5xx_is_retried_with_backoff_and_counted(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    ids = spotify.populate(1, 1)
    spotify.fail_next(2, 503)
    resolver = opened.resolver()
    result = resolver.resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    assert spotify.count("album", status=503) == 2
    assert spotify.count("album", status=200) == 1
    assert len(fake.sleeps) == 2
    assert all(0 < s <= 30 for s in fake.sleeps), fake.sleeps
    assert fake.sleeps[1] >= fake.sleeps[0]  # exponential: never shorter
    counters = resolver.store.counters()
    assert counters["api.retries"] >= 2
    assert counters["api.backoff_seconds"] == pytest.approx(sum(fake.sleeps))
    assert counters["api.calls.album"] == 3


def test_retry__spotify_always_failing_ends_in_spotify_unavailable(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    ids = spotify.populate(5, 1)
    spotify.fail_every(1)
    resolver = opened.resolver()
    result = resolver.resolve(ids, Policy.MISSING)

    assert isinstance(result.error, SpotifyUnavailable)
    assert result.error.exit_code == 69
    assert result.failed == dict.fromkeys(ids, "unavailable")
    attempts = resolver.settings.retry_attempts
    assert spotify.counts() == {"token": 1, "albums_batch": attempts}  # nothing after giving up
    assert len(fake.sleeps) == attempts - 1
    assert all(0 < s <= 30 for s in fake.sleeps)
    assert resolver.store.counters()["api.retries"] == attempts - 1
    assert resolver.store.get_meta(NOT_BEFORE) is None


def test_retry__retry_attempts_setting_bounds_the_tries(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    ids = spotify.populate(1, 1)
    spotify.fail_every(1, 500)
    gateway = opened.gateway(retry_attempts=2)
    with pytest.raises(SpotifyUnavailable):
        gateway.album(ids[0])
    assert spotify.count("album") == 2
    assert len(fake.sleeps) == 1


def test_retry__timeouts_are_retried_then_unavailable(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    ids = spotify.populate(1, 1)
    gateway = opened.gateway(http_timeout=0.05, retry_attempts=2)
    gateway.album(ids[0])  # token and a first answer, before the slowdown
    spotify.delay(0.3, endpoints={"album"})
    with pytest.raises(SpotifyUnavailable, match="Timeout"):
        gateway.album(ids[0])
    assert len(fake.sleeps) == 1
    assert gateway.meter.drain()["api.calls.album"] == 3


# -- 429 ---------------------------------------------------------------------------------------


def test_rate_limit__short_retry_after_is_waited_exactly(
    fake_spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    double = fake_spotify
    ids = double.populate(1, 1)
    double.rate_limit(7, times=1)
    resolver = opened.resolver(max_retry_after=60)
    result = resolver.resolve(ids, Policy.MISSING)

    assert result.error is None
    assert result.fetched == set(ids)
    assert fake.sleeps == [7.0]  # exactly Retry-After: never shorter
    limited, retried = [r for r in double.requests if r.endpoint == "album"]
    assert limited.status == 429
    assert retried.status == 200
    assert retried.time - limited.time == 7.0  # nothing was sent before the wait was over
    counters = resolver.store.counters()
    assert counters["api.rate_limited_responses"] == 1
    assert counters["api.retries"] == 1
    assert counters["api.backoff_seconds"] == 7.0
    assert resolver.store.get_meta(NOT_BEFORE) is None


@pytest.mark.parametrize(("retry_after", "waits"), [(60, True), (61, False)])
def test_rate_limit__the_cap_decides_between_waiting_and_stopping(
    fake_spotify: SpotifyDouble, opened: Opened, fake: FakeClock, retry_after: int, waits: bool
) -> None:
    double = fake_spotify
    ids = double.populate(1, 1)
    double.rate_limit(retry_after, times=1)
    gateway = opened.gateway(max_retry_after=60)
    if waits:
        assert gateway.album(ids[0]) is not None
        assert fake.sleeps == [float(retry_after)]
        assert double.count("album") == 2
    else:
        with pytest.raises(RateLimited) as raised:
            gateway.album(ids[0])
        assert raised.value.not_before.timestamp() == pytest.approx(START + retry_after)
        assert fake.sleeps == []
        assert double.count("album") == 1


def test_rate_limit__retry_after_past_the_cap_stops_the_gateway_without_another_call(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    ids = spotify.populate(2, 1)
    spotify.rate_limit(3600, times=1)
    gateway = opened.gateway(max_retry_after=60)
    with pytest.raises(RateLimited) as raised:
        gateway.album(ids[0])
    assert raised.value.not_before.timestamp() == pytest.approx(START + 3600)
    assert gateway.gates.api.stopped_until == pytest.approx(START + 3600)
    assert spotify.counts() == {"token": 1, "album": 1}
    # Every later request of this run stops before the network.
    with pytest.raises(RateLimited):
        gateway.album(ids[1])
    with pytest.raises(RateLimited):
        gateway.artist(spotify.artist_ids()[0])
    assert spotify.counts() == {"token": 1, "album": 1}
    assert fake.sleeps == []
    assert gateway.meter.drain()["api.rate_limited_responses"] == 1


@pytest.mark.parametrize("header", [None, 0], ids=["missing", "zero"])
def test_rate_limit__missing_retry_after_backs_off_by_itself(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock, header: int | None
) -> None:
    ids = spotify.populate(1, 1)
    spotify.rate_limit(header, times=1)
    gateway = opened.gateway()
    album = gateway.album(ids[0])
    assert album is not None
    assert album["id"] == ids[0]
    assert spotify.count("album", status=429) == 1
    assert spotify.count("album", status=200) == 1
    assert len(fake.sleeps) == 1
    assert 0 < fake.sleeps[0] <= 30
    assert gateway.meter.drain()["api.rate_limited_responses"] == 1


def test_rate_limit__repeated_short_429s_end_in_rate_limited(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    ids = spotify.populate(1, 1)
    spotify.rate_limit(2)  # for ever
    gateway = opened.gateway(max_retry_after=60)
    with pytest.raises(RateLimited) as raised:
        gateway.album(ids[0])
    assert spotify.count("album") == MAX_SHORT_WAITS
    assert fake.sleeps == [2.0] * (MAX_SHORT_WAITS - 1)
    # Gave up: no call for another max_retry_after seconds.
    assert raised.value.not_before.timestamp() == pytest.approx(fake.now() + 60)
    assert gateway.gates.api.stopped_until == pytest.approx(fake.now() + 60)


def test_rate_limit__quota_429_is_told_by_its_reason_and_an_empty_body_is_a_rate_limit(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock
) -> None:
    ids = spotify.populate(1, 1)
    spotify.rate_limit(79_892, times=1, quota=True)
    resolver = opened.resolver()
    result = resolver.resolve(ids, Policy.MISSING)
    # The body's reason QUOTA_EXCEEDED makes it the daily quota: learned, never retried.
    assert isinstance(result.error, QuotaExhausted)
    assert result.error.refused
    assert result.quota_until == pytest.approx(START + 79_892)
    assert resolver.store.get_meta(NOT_BEFORE) == pytest.approx(START + 79_892)
    assert fake.sleeps == []

    spotify.rate_limit(22_708, times=1, empty_body=True)
    fake.advance(79_893)
    again = opened.resolver().resolve(ids, Policy.MISSING)
    # No body, no reason: the rolling window's rate limit.
    assert isinstance(again.error, RateLimited)
    assert again.rate_limited_until == pytest.approx(fake.now() + 22_708)


# -- secrets never logged ----------------------------------------------------------------------


def test_logs__no_secret_or_token_at_debug_level(
    spotify: SpotifyDouble,
    opened: Opened,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    configure_logging(debug=True, verbose=False, quiet=False)
    caplog.set_level(logging.DEBUG)
    for name in ("jitspot", "spotipy", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    ids = spotify.populate(4, 2)
    resolver = opened.resolver(concurrency=1)
    assert resolver.resolve(ids[:2], Policy.MISSING).error is None  # asks for a token
    token_file = json.loads(resolver.settings.token_path.read_text())
    spotify.expire_tokens()
    assert resolver.resolve(ids[2:], Policy.MISSING).error is None  # 401, renews it
    assert spotify.tokens_issued == 2
    assert spotify.count(status=401) == 1

    basic = base64.b64encode(f"{spotify.client_id}:{spotify.client_secret}".encode()).decode()
    authorizations = {r.headers.get("Authorization", "") for r in spotify.requests}
    tokens = {a.split(" ", 1)[1] for a in authorizations if a.startswith("Bearer ")}
    assert len(tokens) == 2
    assert f"Basic {basic}" in authorizations
    renewed = json.loads(resolver.settings.token_path.read_text())["token"]["access_token"]
    assert {token_file["token"]["access_token"], renewed} == tokens
    secrets = {spotify.client_secret, basic, *tokens}

    messages = [record.getMessage() for record in caplog.records]
    logged = "\n".join([*messages, caplog.text])
    err = capfd.readouterr().err
    # Something was logged at debug level: this test could see a leak.
    assert any("renewing the token" in m for m in messages)
    assert "renewing the token" in err
    for secret in secrets:
        assert secret not in logged
        assert secret not in err


def test_logs__redaction_covers_spotipy_debug_lines(
    spotify: SpotifyDouble,
    opened: Opened,
    capfd: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    """Even if spotipy is let through at DEBUG, jitspot's handler prints no secret."""
    configure_logging(debug=True, verbose=False, quiet=False)
    ids = spotify.populate(2, 1)
    gateway = opened.gateway()  # quiets spotipy's loggers: let them through afterwards
    logging.getLogger("spotipy").setLevel(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    assert gateway.album(ids[0]) is not None
    spotify.expire_tokens()
    assert gateway.album(ids[1]) is not None
    err = capfd.readouterr().err
    assert "Sending POST" in err  # spotipy's token request line, with its headers
    basic = base64.b64encode(f"{spotify.client_id}:{spotify.client_secret}".encode()).decode()
    tokens = {
        r.headers["Authorization"].split(" ", 1)[1]
        for r in spotify.requests
        if r.endpoint != "token"
    }
    assert tokens
    for secret in {spotify.client_secret, basic, *tokens}:
        assert secret not in err


# -- answers -------------------------------------------------------------------------------


def test_gateway__batch_answers_keep_request_order_and_null_as_none(
    spotify: SpotifyDouble, opened: Opened
) -> None:
    ids = spotify.populate(3, 1)
    spotify.not_found(ids[1])
    found = opened.gateway().albums_batch(ids)
    assert list(found) == ids
    assert found[ids[1]] is None
    first = found[ids[0]]
    assert first is not None
    assert first["id"] == ids[0]


@pytest.mark.parametrize(
    ("endpoint", "status"),
    [
        ("album", 418),
        ("album", 414),
        ("albums_batch", 400),
        ("album_tracks", 404),
        ("artist", 409),
        ("artists_batch", 451),
        ("search", 418),
    ],
)
def test_gateway__an_answer_it_has_no_use_for_is_spotify_refused_exit_69_not_a_crash(
    spotify: SpotifyDouble, opened: Opened, fake: FakeClock, endpoint: str, status: int
) -> None:
    ids = spotify.populate(1, 1)
    artist = spotify.artist_ids()[0]
    gateway = opened.gateway()
    spotify.fail_every(1, status, endpoints={endpoint})
    calls: dict[str, Callable[[], object]] = {
        "album": lambda: gateway.album(ids[0]),
        "albums_batch": lambda: gateway.albums_batch(ids),
        "album_tracks": lambda: gateway.rest_of_tracks(ids[0], 50),
        "artist": lambda: gateway.artist(artist),
        "artists_batch": lambda: gateway.artists_batch([artist]),
        "search": lambda: gateway.search_albums('artist:"Artist 0"'),
    }
    with pytest.raises(SpotifyRefused) as refused:
        calls[endpoint]()
    assert isinstance(refused.value, SpotifyUnavailable)
    assert refused.value.exit_code == 69
    assert f"HTTP {status}" in str(refused.value) and endpoint in str(refused.value)
    assert spotify.count(endpoint) == 1  # final: never retried
    assert fake.sleeps == []
    assert refused.value.__traceback__ is not None  # an ordinary exception


@pytest.mark.parametrize("status", [400, 404, 414])
def test_gateway__a_search_spotify_will_not_take_has_no_candidate(
    spotify: SpotifyDouble, opened: Opened, status: int
) -> None:
    spotify.populate(1, 1)
    spotify.fail_every(1, status, endpoints={"search"})
    assert opened.gateway().search_albums('artist:"Artist 0"') == []
    assert spotify.count("search", status=status) == 1


def test_gateway__an_over_long_search_is_answered_404_and_has_no_candidate(
    spotify: SpotifyDouble, opened: Opened
) -> None:
    spotify.populate(1, 1)
    gateway = opened.gateway()
    assert gateway.search_albums('artist:"Artist 0" album:"' + "x" * 100 + '"') == []
    assert gateway.search_albums("x" * 70_000) == []  # past any front end: a 414
    assert spotify.count("search", status=404) == 1


def test_gateway__oembed_answering_an_unknown_status_is_spotify_refused(
    spotify_no_credentials: SpotifyDouble, opened: Opened
) -> None:
    ids = spotify_no_credentials.populate(1, 1)
    spotify_no_credentials.fail_every(1, 418, endpoints={"oembed"})
    with pytest.raises(SpotifyRefused, match="HTTP 418"):
        opened.gateway().oembed(ids[0])


def test_gateway__oembed_answers_title_and_300px_thumbnail(
    spotify_no_credentials: SpotifyDouble, opened: Opened
) -> None:
    double = spotify_no_credentials
    ids = double.populate(2, 1)
    double.not_found(ids[1])
    gateway = opened.gateway()
    assert not gateway.has_credentials
    cover = gateway.oembed(ids[0])
    assert cover is not None
    assert cover["title"] == "Album 0"
    assert cover["thumbnail_url"] == double.album_json(ids[0])["images"][1]["url"]
    assert (cover["thumbnail_width"], cover["thumbnail_height"]) == (300, 300)
    assert gateway.oembed(ids[1]) is None
    assert double.counts() == {"oembed": 2}
    with pytest.raises(ConfigError):
        gateway.album(ids[0])
    assert double.counts() == {"oembed": 2}


def test_resolve__cover_url_is_the_largest_image(spotify: SpotifyDouble, opened: Opened) -> None:
    ids = spotify.populate(1, 1)
    result = opened.resolver().resolve(ids, Policy.MISSING)
    entry = result.entries[cache_key("album", ids[0])]
    assert entry.key == f"album:{ids[0]}"
    widest = spotify.album_json(ids[0])["images"][0]
    assert widest["width"] == 640
    assert entry.cover_url == widest["url"]
