"""The coalescer: lookups from many threads answered in batches by one worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock, Result
from spotify_double import SpotifyDouble

from jitspot.catalog.catalog import Catalog
from jitspot.catalog.covers import Closed, Coalescer
from jitspot.catalog.resolver import Resolution
from jitspot.errors import ConfigError
from jitspot.model import StoredAlbum
from jitspot.settings import Settings
from jitspot.stopping import Stop
from jitspot.store import open_store

ROWS = [[f"Band {i}", f"Album {i}", None, "LP", None, None, None, None, None] for i in range(6)]


@pytest.fixture
def albums(
    make_sheet: Callable[..., Path], run: Callable[..., Result], settings: Settings
) -> list[StoredAlbum]:
    """Six albums without a Spotify link: lookups answer without any network."""
    assert run("import", str(make_sheet({"2024": ROWS}))).exit_code == 0
    with open_store(settings.store_path) as store:
        return store.albums()


class Opener:
    """What the server gives its coalescer (which closes what it opens), counting the
    catalogs it opens and the resolves asked of them: one resolve is one batch."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.opened = 0
        self.resolves = 0

    def __call__(self, stop: Stop) -> Catalog:
        self.opened += 1
        return _CountedCatalog(self, open_store(self.settings.store_path), self.settings, stop=stop)


class _CountedCatalog(Catalog):
    def __init__(self, opener: Opener, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opener = opener

    def resolve(self, *args: Any, **kwargs: Any) -> Resolution:
        self.opener.resolves += 1
        return super().resolve(*args, **kwargs)


@pytest.fixture
def opened(settings: Settings) -> Opener:
    return Opener(settings)


def test_coalescer__asks_within_the_window_make_one_batch(
    albums: list[StoredAlbum], opened: Opener, fake: FakeClock
) -> None:
    # The window is timed by a clock that moves only when the test says: the three asks
    # are within it however slowly they come, and the batch goes once it is over.
    window_opened = threading.Event()

    def monotonic() -> float:
        now = fake.now()
        window_opened.set()  # the worker read the time its window starts from
        return now

    coalescer = Coalescer(opened, window=0.2, monotonic=monotonic)
    asked = [coalescer.ask(albums[:2])]
    assert window_opened.wait(30)  # the first ask's batch waits for company...
    asked += [coalescer.ask(albums[part * 2 : part * 2 + 2]) for part in (1, 2)]  # ...they come
    fake.advance(0.2)  # and the window is over
    answers = {part: set(answer.result(30).views) for part, answer in enumerate(asked)}
    coalescer.close()

    assert opened.resolves == 1
    assert answers == {part: {a.id for a in albums[part * 2 : part * 2 + 2]} for part in range(3)}


def test_coalescer__answers_each_caller_with_its_own_albums_and_states(
    albums: list[StoredAlbum], opened: Opener
) -> None:
    coalescer = Coalescer(opened, window=0.0)

    looked = coalescer.look_up(albums[:2])
    coalescer.close()

    covers = looked.covers()
    assert sorted(covers) == [albums[0].id, albums[1].id]
    assert {c.cover_state for c in covers.values()} == {"no_spotify_link"}
    assert covers[albums[0].id].as_json()["note"] == "no Spotify link"


def test_coalescer__a_catalog_that_cannot_open_fails_the_waiting_asks_and_is_tried_again(
    albums: list[StoredAlbum], opened: Opener
) -> None:
    tries: list[int] = []

    def flaky(stop: Stop) -> Catalog:
        tries.append(1)
        if len(tries) == 1:
            raise ConfigError("the store is damaged")
        return opened(stop)

    coalescer = Coalescer(flaky, window=0.0)
    with pytest.raises(ConfigError, match="damaged"):
        coalescer.look_up(albums[:1], timeout=30)
    looked = coalescer.look_up(albums[:1], timeout=30)
    coalescer.close()

    assert set(looked.views) == {albums[0].id}
    assert len(tries) == 2


def test_coalescer__refuses_asks_once_closed(albums: list[StoredAlbum], opened: Opener) -> None:
    coalescer = Coalescer(opened, window=0.0)
    coalescer.look_up(albums[:1])
    coalescer.close()

    with pytest.raises(Closed):
        coalescer.look_up(albums[:1])


def test_coalescer__nothing_asked_needs_no_worker(opened: Opener) -> None:
    coalescer = Coalescer(opened)

    assert coalescer.look_up([]).views == {}
    coalescer.close()  # a worker started would be done now, its catalog opened
    assert opened.opened == 0
    assert opened.resolves == 0


def test_coalescer__an_ask_cancelled_before_its_batch_is_left_out_and_the_rest_answered(
    albums: list[StoredAlbum], opened: Opener
) -> None:
    coalescer = Coalescer(opened, window=0.5)

    given_up = coalescer.ask(albums[:2])  # serve's visitor went away (or timed out)
    assert given_up.cancel()
    looked = coalescer.look_up(albums[2:4], timeout=30)
    coalescer.close()

    assert given_up.cancelled()
    assert set(looked.views) == {albums[2].id, albums[3].id}


@pytest.fixture
def linked(
    spotify_no_credentials: SpotifyDouble,  # first: the settings point at it
    make_sheet: Callable[..., Path],
    run: Callable[..., Result],
    settings: Settings,
) -> list[StoredAlbum]:
    """Three albums on Spotify, their covers from oEmbed (no credentials): one call each."""
    ids = spotify_no_credentials.populate(3, 1)
    rows = [
        [f"Artist {i}", f"Album {i}", None, "LP", None, None, None, None,
         f"https://open.spotify.com/album/{spotify_id}"]
        for i, spotify_id in enumerate(ids)
    ]  # fmt: skip
    assert run("import", str(make_sheet({"2024": rows}))).exit_code == 0
    with open_store(settings.store_path) as store:
        return sorted(store.albums(), key=lambda a: a.title)


def test_coalescer__answers_an_ask_when_its_own_albums_land_not_the_whole_batch(
    linked: list[StoredAlbum],
    opened: Opener,
    spotify_no_credentials: SpotifyDouble,
) -> None:
    slow, quick = linked[0], linked[1]
    assert slow.spotify_id is not None
    held = spotify_no_credentials.hold(slow.spotify_id)
    coalescer = Coalescer(opened, window=30.0, most=2)  # both asks make one batch
    try:
        waiting = coalescer.ask([slow])
        answered = coalescer.look_up([quick], timeout=20)  # its cover lands first

        assert answered.cover(quick.id).cover_state == "fetched"
        assert not waiting.done()  # its own cover is still held
        held.release()
        assert waiting.result(20).cover(slow.id).cover_state == "fetched"
        coalescer.close()  # the worker is done: every resolve it made is counted
        assert opened.resolves == 1
    finally:
        held.release()
        coalescer.close()


def test_coalescer__an_ask_made_while_covers_are_fetched_joins_them_without_waiting_for_the_batch(
    linked: list[StoredAlbum],
    opened: Opener,
    spotify_no_credentials: SpotifyDouble,
) -> None:
    slow, late = linked[0], linked[1]
    assert slow.spotify_id is not None
    held = spotify_no_credentials.hold(slow.spotify_id)
    coalescer = Coalescer(opened, window=0.0)
    try:
        waiting = coalescer.ask([slow])
        assert held.arrived.wait(20)  # the batch is fetching, its one cover held

        joined = coalescer.look_up([late], timeout=20)

        assert joined.cover(late.id).cover_state == "fetched"
        assert not waiting.done()
        held.release()
        assert waiting.result(20).cover(slow.id).cover_state == "fetched"
        coalescer.close()
        assert opened.resolves == 1  # one resolve answered both
        assert spotify_no_credentials.count("oembed") == 2
    finally:
        held.release()
        coalescer.close()


def test_coalescer__an_album_page_asked_meanwhile_waits_for_its_own_batch(
    linked: list[StoredAlbum],
    opened: Opener,
    spotify_no_credentials: SpotifyDouble,
) -> None:
    slow, page = linked[0], linked[1]
    assert slow.spotify_id is not None
    held = spotify_no_credentials.hold(slow.spotify_id)
    coalescer = Coalescer(opened, window=0.0)
    try:
        waiting = coalescer.ask([slow])
        assert held.arrived.wait(20)
        details = coalescer.ask([page], details=True)  # needs more than a cover: not joined
        held.release()

        assert details.result(20).cover(page.id).cover_state == "fetched"
        assert waiting.result(20).cover(slow.id).cover_state == "fetched"
        coalescer.close()
        assert opened.resolves == 2
    finally:
        held.release()
        coalescer.close()


def test_coalescer__lookups_that_join_a_running_batch_are_counted_for_stats(
    linked: list[StoredAlbum],
    opened: Opener,
    spotify_no_credentials: SpotifyDouble,
    settings: Settings,
) -> None:
    slow, late, again = linked
    assert slow.spotify_id is not None and late.spotify_id is not None
    held = spotify_no_credentials.hold(slow.spotify_id)
    coalescer = Coalescer(opened, window=0.0)
    try:
        waiting = coalescer.ask([slow])
        assert held.arrived.wait(20)
        coalescer.look_up([late], timeout=20)
        coalescer.look_up([late, again], timeout=20)  # `late` is known to the batch now
        held.release()
        waiting.result(20)
    finally:
        held.release()
        coalescer.close()

    with open_store(settings.store_path) as store:
        counters = store.counters()
    assert counters.get("cache.misses") == 3  # each album once, as within one batch
    assert spotify_no_credentials.count("oembed") == 3
