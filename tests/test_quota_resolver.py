"""Living on a development-mode quota: the shared ledger, the shares, a refusal learned once,
covers from oEmbed at no quota, and covers that never wait for track pages.

Against the loopback double with a rolling quota (`quota_limit`), on jitspot's fake
clock (the double's clock too), with real SQLite stores opened like separate processes.
"""

from __future__ import annotations

import pytest
from conftest import START, FakeClock, Processes
from spotify_double import SpotifyDouble

from jitspot.catalog.catalog import Catalog
from jitspot.catalog.freshness import Need, Policy
from jitspot.catalog.resolver import Resolution, Resolver
from jitspot.errors import QuotaExhausted, RateLimited
from jitspot.model import cache_key
from jitspot.spotify.quota import (
    ALBUMS_BATCH_ALLOWED_UNTIL,
    ALBUMS_BATCH_FORBIDDEN_UNTIL,
    ARTISTS_BATCH_FORBIDDEN_UNTIL,
    EXCEEDED,
    LEARNED,
    NOT_BEFORE,
    OEMBED_NOT_BEFORE,
    Share,
    span_of,
)
from jitspot.store import QuotaLedger

DAY = 86_400.0


@pytest.fixture
def dev(fake_spotify: SpotifyDouble) -> SpotifyDouble:
    """The double as a development-mode app sees it: no batch lookups, no label."""
    fake_spotify.mode = "development"
    return fake_spotify


def development(resolver: Resolver) -> Resolver:
    """A resolver that knows the app is in development mode (an earlier run's 403)."""
    resolver.store.set_meta(ALBUMS_BATCH_FORBIDDEN_UNTIL, START + DAY)
    resolver.store.set_meta(ARTISTS_BATCH_FORBIDDEN_UNTIL, START + DAY)
    return resolver


def bulk(resolver: Resolver, ids: list[str], policy: Policy = Policy.MISSING) -> Resolution:
    """What `refresh` asks: the albums' metadata, bulk work, artists by the mode's default."""
    return resolver.resolve(ids, policy, need=Need.ALBUM, share=Share.BULK, artists=None)


# -- the ledger ---------------------------------------------------------------------------------


def test_ledger__takes_calls_up_to_the_limit_then_says_when_one_is_free(
    processes: Processes,
) -> None:
    resolver = processes.resolver()  # opens (and creates) the store
    ledger = QuotaLedger(resolver.store.path)
    try:
        tickets = [ledger.take(START + i, DAY, 3, "album", "bulk").ticket for i in range(3)]
        refused = ledger.take(START + 10, DAY, 3, "album", "bulk")
        assert all(t is not None for t in tickets)
        assert refused.ticket is None
        assert refused.used == 3
        assert refused.next_free_at == START + DAY  # the oldest leaves, there is room
        # An interactive look-up has a higher limit: it gets the call.
        assert ledger.take(START + 10, DAY, 4, "album", "interactive").ticket is not None
        # Calls older than the window are gone.
        assert ledger.take(START + DAY + 20, DAY, 3, "album", "bulk").used == 1
    finally:
        ledger.close()


def test_ledger__a_refusal_learns_the_calls_before_it_and_stops_every_process(
    processes: Processes,
) -> None:
    resolver = processes.resolver()
    ledger = QuotaLedger(resolver.store.path)
    try:
        tickets = [ledger.take(START + i, DAY, None, "album", "bulk").ticket for i in range(61)]
        last = tickets[-1]
        assert last is not None
        learned = ledger.refused(last, START + 61, DAY, START + 9000, None)
    finally:
        ledger.close()
    assert learned == 60
    store = processes.resolver().store  # another process reads what it learned
    assert store.get_meta(LEARNED)["budget"] == 60
    assert store.get_meta(NOT_BEFORE) == START + 9000
    assert store.counters()[EXCEEDED] == 1


def test_ledger__a_refusal_after_a_few_calls_teaches_nothing(processes: Processes) -> None:
    """Other apps of the developer account spend the same quota: a refusal after three
    calls of jitspot's says nothing of the budget (learning 3 would stop it for a month)."""
    resolver = processes.resolver()
    ledger = QuotaLedger(resolver.store.path)
    try:
        ticket = [ledger.take(START + i, DAY, None, "album", "bulk").ticket for i in range(4)][-1]
        assert ticket is not None
        assert ledger.refused(ticket, START + 5, DAY, START + 3600, None) is None
    finally:
        ledger.close()
    assert resolver.store.get_meta(NOT_BEFORE) == START + 3600  # the wait holds all the same


# -- never draw a refusal that can be foreseen ------------------------------------------------


def test_refresh__bulk_work_stops_at_its_share_without_a_refusal(
    dev: SpotifyDouble, processes: Processes
) -> None:
    ids = dev.populate(40, 4)
    dev.quota_limit(100, DAY)  # Spotify would take 100: jitspot is told 20
    resolver = processes.resolver(daily_quota=20, quota_reserve=0.25)

    result = bulk(resolver, ids)

    assert isinstance(result.error, QuotaExhausted)
    assert not result.error.refused
    assert dev.quota_refusals == 0
    assert dev.api_calls() == 15  # 75 % of 20: the batch probe (403) and 14 albums
    assert dev.count("albums_batch", status=403) == 1
    assert dev.count("artist") == 0  # the sheet names genres: no call of the quota for them
    # Every album has its cover in the first run: with its metadata, or from oEmbed.
    assert len(result.fetched_api) == 14
    assert result.fetched_covers == set(ids) - result.fetched_api
    assert sum(1 for i in ids if result.failed.get(i) == "quota") == 26
    # Bulk work may call again when the oldest calls leave the window.
    assert result.quota_until == pytest.approx(START + span_of(DAY), abs=10)
    assert "14 of 20" not in str(result.error) and "15 of 20" in str(result.error)


def test_refresh__an_interactive_look_up_uses_the_reserve_bulk_work_left(
    dev: SpotifyDouble, processes: Processes
) -> None:
    ids = dev.populate(40, 4)
    dev.quota_limit(100, DAY)
    first = processes.resolver(daily_quota=20)
    bulk(first, ids)
    waiting = [i for i in ids if i not in first.current.fetched_api]  # type: ignore[union-attr]

    show = processes.resolver(daily_quota=20)
    looked = show.resolve([waiting[0]], Policy.MISSING, artists=False)  # interactive

    assert looked.error is None
    assert waiting[0] in looked.fetched_api
    assert looked.entries[cache_key("album", waiting[0])].found
    # The reserve ends too (20 calls in all), and is never overdrawn.
    for spotify_id in waiting[1:5]:
        assert show.resolve([spotify_id], Policy.MISSING, artists=False).error is None
    over = show.resolve([waiting[5]], Policy.MISSING, artists=False)
    assert isinstance(over.error, QuotaExhausted)
    assert dev.api_calls() == 20
    assert dev.quota_refusals == 0


def test_refresh__two_processes_share_one_ledger(dev: SpotifyDouble, processes: Processes) -> None:
    ids = dev.populate(30, 3)
    dev.quota_limit(100, DAY)
    development(processes.resolver())
    bulk(processes.resolver(daily_quota=20), ids[:20])
    calls = dev.api_calls()

    second = bulk(processes.resolver(daily_quota=20), ids[20:])

    assert calls == 15
    assert isinstance(second.error, QuotaExhausted)  # the first spent bulk work's share
    assert dev.api_calls() == calls
    assert second.fetched_covers == set(ids[20:])  # covers cost no quota


def test_refresh__waits_for_a_call_that_is_free_within_the_cap(
    dev: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    """Last night's calls leave the window as tonight's run goes: it follows them."""
    ids = dev.populate(40, 4)
    dev.quota_limit(100, 1000)
    development(processes.resolver())
    bulk(processes.resolver(daily_quota=20, quota_window=1000), ids[:15])
    fake.advance(1000 - 10)  # the oldest calls leave the window in about 11 s

    later = bulk(processes.resolver(daily_quota=20, quota_window=1000, max_retry_after=60), ids)

    assert isinstance(later.error, QuotaExhausted)  # it spent the next share, then stopped
    assert len(later.fetched_api) == 15  # the next 15: the share of the new window
    waits = [s for s in fake.sleeps if s > 5]
    assert waits and max(waits) <= 12  # waited for the calls that were leaving
    assert dev.quota_refusals == 0


def test_refresh__a_run_with_max_time_waits_until_its_deadline_and_no_longer(
    dev: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    from jitspot.stopping import Stop

    ids = dev.populate(20, 2)
    dev.quota_limit(100, 1000)
    development(processes.resolver())
    bulk(processes.resolver(daily_quota=20, quota_window=1000), ids[:15])
    stop = Stop.after(500, clock=fake.now, sleep=fake.sleep)  # the next call frees in ~1000 s

    later = bulk(processes.resolver(stop=stop, daily_quota=20, quota_window=1000), ids[15:])

    assert isinstance(later.error, QuotaExhausted)
    assert max(fake.sleeps, default=0) < 60  # did not sit through a wait past its deadline


# -- a refusal that comes all the same: learned once, never drawn again ----------------------


def test_refresh__a_refusal_is_learned_and_never_drawn_again(
    dev: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = dev.populate(150, 10)
    dev.quota_limit(60, DAY)  # jitspot is told 200: Spotify refuses the 61st call
    development(processes.resolver())

    first = bulk(processes.resolver(daily_quota=200), ids)

    assert isinstance(first.error, QuotaExhausted) and first.error.refused
    assert dev.quota_refusals == 1
    assert dev.api_calls() == 61
    assert first.fetched_covers | first.fetched_api == set(ids)
    store = processes.resolver().store
    assert store.get_meta(LEARNED)["budget"] == 60
    until = store.get_meta(NOT_BEFORE)
    assert until == pytest.approx(first.quota_until)
    assert until > fake.now() + DAY - 60  # Spotify's Retry-After: the oldest call leaving

    # Before "not before": not one Web API call, whichever process asks.
    blocked = bulk(processes.resolver(daily_quota=200), ids)
    looked = processes.resolver(daily_quota=200).resolve([ids[-1]], Policy.MISSING)
    assert isinstance(blocked.error, QuotaExhausted)
    assert isinstance(looked.error, QuotaExhausted)
    assert dev.api_calls() == 61

    # After it: 75 % of the learned 60, and no second refusal, however many runs.
    fake.advance(until - fake.now() + 2)
    again = bulk(processes.resolver(daily_quota=200), ids)
    assert isinstance(again.error, QuotaExhausted) and not again.error.refused
    assert dev.api_calls() == 61 + 45
    assert dev.quota_refusals == 1
    fake.advance(DAY + 10)
    bulk(processes.resolver(daily_quota=200), ids)
    assert dev.quota_refusals == 1


def test_refresh__quota_429_is_never_retried_even_when_retry_after_is_short(
    dev: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    ids = dev.populate(80, 4)
    dev.quota_limit(55, 30)  # a Retry-After of at most 30 s: within the 60 s cap
    development(processes.resolver())

    result = bulk(processes.resolver(daily_quota=200, quota_window=30), ids)

    assert isinstance(result.error, QuotaExhausted) and result.error.refused
    assert dev.quota_refusals == 1
    assert dev.api_calls() == 56
    assert max(fake.sleeps, default=0) < 1  # never waited for it


def test_refresh__a_window_429_is_no_quota_refusal(
    dev: SpotifyDouble, processes: Processes
) -> None:
    """Told apart by the body's reason: a 429 without it is the rolling window's."""
    ids = dev.populate(5, 1)
    dev.rate_limit(3600, endpoints={"album"})
    development(processes.resolver())
    result = bulk(processes.resolver(), ids)
    assert isinstance(result.error, RateLimited)
    assert processes.resolver().store.get_meta(LEARNED) is None
    assert result.fetched_covers == set(ids)  # covers never waited for the Web API


# -- covers cost no quota ------------------------------------------------------------------------


def test_covers__a_development_mode_app_takes_them_from_oembed(
    dev: SpotifyDouble, processes: Processes
) -> None:
    ids = dev.populate(5, 1)
    result = processes.resolver().resolve(ids, Policy.MISSING, need=Need.COVER)
    # One batch call tells the app's mode; the covers come from oEmbed.
    assert dev.counts() == {"token": 1, "albums_batch": 1, "oembed": 5}
    assert result.fetched_covers == set(ids)
    again = processes.resolver().resolve(ids, Policy.MISSING, need=Need.COVER)
    assert dev.counts()["oembed"] == 5  # cached, and the mode remembered
    assert again.fetched == set()


@pytest.mark.parametrize(
    ("source", "mode", "calls"),
    [
        ("api", "development", {"album": 3}),  # forced: covers spend the quota
        ("oembed", "extended", {"oembed": 3}),
        ("auto", "extended", {"albums_batch": 1}),  # 3 covers in one call: no quota spent
    ],
)
def test_covers__the_source_can_be_forced(
    fake_spotify: SpotifyDouble, processes: Processes, source: str, mode: str, calls: dict[str, int]
) -> None:
    fake_spotify.mode = mode  # type: ignore[assignment]
    ids = fake_spotify.populate(3, 1)
    resolver = processes.resolver(cover_source=source)
    key = ALBUMS_BATCH_FORBIDDEN_UNTIL if mode == "development" else ALBUMS_BATCH_ALLOWED_UNTIL
    resolver.store.set_meta(key, START + DAY)
    resolver.resolve(ids, Policy.MISSING, need=Need.COVER, artists=False)
    counts = fake_spotify.counts()
    counts.pop("token", None)
    assert counts == calls


def test_covers__an_oembed_rate_limit_has_its_own_not_before(
    dev: SpotifyDouble, processes: Processes
) -> None:
    ids = dev.populate(10, 1)
    dev.rate_limit(3600, endpoints={"oembed"})
    development(processes.resolver())
    result = bulk(processes.resolver(daily_quota=8), ids)  # 6 albums, then 4 covers
    store = processes.resolver().store
    assert store.get_meta(OEMBED_NOT_BEFORE) is not None
    assert store.get_meta(NOT_BEFORE) is None  # not the Web API's: it went on to its share
    assert result.fetched_api == set(ids[:6])
    assert result.cover_failed == dict.fromkeys(ids[6:], "rate_limited")
    again = bulk(processes.resolver(daily_quota=8), ids)
    assert isinstance(again.error, QuotaExhausted)
    assert again.cover_failed == dict.fromkeys(ids[6:], "rate_limited")  # oEmbed's wait holds
    assert dev.count("oembed") <= 4


def test_show__fields_the_app_cannot_get_are_withheld_not_blank(
    dev: SpotifyDouble, processes: Processes
) -> None:
    ids = dev.populate(1, 1)
    resolver = processes.resolver()
    catalog = Catalog(resolver.store, resolver.settings, clock=processes.fake.now)
    try:
        data = resolver.resolve(ids, Policy.MISSING).entries[cache_key("album", ids[0])].data
    finally:
        catalog.close()
    assert data is not None
    assert data["withheld"] == ["label", "popularity"]


# -- a cover never waits for track pages ------------------------------------------------------


def test_covers__a_long_album_is_answered_without_its_track_pages(
    fake_spotify: SpotifyDouble, processes: Processes
) -> None:
    ids = fake_spotify.populate(3, 1, long_albums=1, long_tracks=120)
    resolver = processes.resolver()

    tiles = resolver.resolve(ids, Policy.MISSING, need=Need.COVER, artists=False)

    assert fake_spotify.count("album_tracks") == 0
    assert tiles.fetched_api == set(ids)
    long_entry = tiles.entries[cache_key("album", ids[0])]
    assert long_entry.data is not None and long_entry.data["more_tracks"] is True
    assert len(long_entry.data["tracks"]) == 50


def test_show__fetches_the_rest_of_the_tracks_once(
    fake_spotify: SpotifyDouble, processes: Processes
) -> None:
    ids = fake_spotify.populate(1, 1, long_albums=1, long_tracks=120)
    processes.resolver().resolve(ids, Policy.MISSING, need=Need.ALBUM)
    assert fake_spotify.count("album_tracks") == 0

    shown = processes.resolver().resolve(ids, Policy.MISSING)  # show: every track

    data = shown.entries[cache_key("album", ids[0])].data
    assert data is not None
    assert len(data["tracks"]) == 120 and not data["more_tracks"]
    assert [t["number"] for t in data["tracks"]] == list(range(1, 121))
    assert fake_spotify.count("album_tracks") == 2  # offsets 50 and 100
    processes.resolver().resolve(ids, Policy.MISSING)
    assert fake_spotify.count("album_tracks") == 2  # kept in the cache


# -- riders are bulk work --------------------------------------------------------------------


def test_riders__none_once_bulk_work_has_spent_its_share(
    fake_spotify: SpotifyDouble, processes: Processes
) -> None:
    ids = fake_spotify.populate(10, 1)
    resolver = processes.resolver(daily_quota=4)  # bulk work's share: 3 calls
    resolver.store.set_meta(ALBUMS_BATCH_ALLOWED_UNTIL, START + DAY)
    riding = resolver.resolve(
        [ids[0]], Policy.MISSING, need=Need.COVER, artists=False, prefetch=ids[1:3]
    )
    assert riding.fetched_api == set(ids[:3])  # room: the next tiles rode along
    for spotify_id in ids[3:5]:
        resolver.resolve([spotify_id], Policy.MISSING, need=Need.COVER, artists=False)
    # Three calls in the window: bulk work's share is spent, riders with it.
    alone = resolver.resolve(
        [ids[5]], Policy.MISSING, need=Need.COVER, artists=False, prefetch=ids[6:]
    )
    assert alone.fetched_api == {ids[5]}
    assert fake_spotify.count("album") == 3


def test_refresh__a_not_before_ending_within_the_cap_is_waited_out_not_a_lost_night(
    dev: SpotifyDouble, processes: Processes, fake: FakeClock
) -> None:
    """Tonight's cron starts a moment before last night's refusal ends: it waits that
    moment (never less) and goes on, rather than losing the night."""
    ids = dev.populate(150, 10)
    dev.quota_limit(60, DAY)
    development(processes.resolver())
    bulk(processes.resolver(daily_quota=200), ids)
    until = processes.resolver().store.get_meta(NOT_BEFORE)
    fake.advance(until - fake.now() - 5)

    tonight = bulk(processes.resolver(daily_quota=200, max_retry_after=60), ids)

    assert fake.now() >= until  # waited until then, not a moment less
    # Then it spent the learned budget's bulk share (45; one less while the refused call,
    # which jitspot's ledger counts and Spotify does not, is still in the window).
    assert 44 <= len(tonight.fetched_api) <= 45
    assert isinstance(tonight.error, QuotaExhausted) and not tonight.error.refused
    assert dev.quota_refusals == 1
