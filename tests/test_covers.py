"""The coalescer: lookups from many threads answered in batches by one worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result

from jitspot.catalog import Catalog
from jitspot.covers import Closed, Coalescer
from jitspot.errors import ConfigError
from jitspot.settings import Settings
from jitspot.stopping import Stop
from jitspot.store import StoredAlbum, open_store

ROWS = [[f"Band {i}", f"Album {i}", None, "LP", None, None, None, None, None] for i in range(6)]


@pytest.fixture
def albums(
    make_sheet: Callable[..., Path], run: Callable[..., Result], settings: Settings
) -> list[StoredAlbum]:
    """Six albums without a Spotify link: lookups answer without any network."""
    assert run("import", str(make_sheet({"2024": ROWS}))).exit_code == 0
    with open_store(settings.store_path) as store:
        return store.albums()


@pytest.fixture
def opened(settings: Settings) -> Callable[[Stop], Catalog]:
    """What the server gives its coalescer (which closes what it opens)."""

    def open_catalog(stop: Stop) -> Catalog:
        return Catalog(open_store(settings.store_path), settings, stop=stop)

    return open_catalog


def test_coalescer__asks_within_the_window_make_one_batch(
    albums: list[StoredAlbum], opened: Callable[[Stop], Catalog]
) -> None:
    coalescer = Coalescer(opened, window=0.5)
    start = threading.Barrier(3)
    answers: dict[int, set[int]] = {}

    def ask(part: int) -> None:
        start.wait()
        looked = coalescer.look_up(albums[part * 2 : part * 2 + 2])
        answers[part] = set(looked.views)

    threads = [threading.Thread(target=ask, args=(part,)) for part in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    coalescer.close()

    assert coalescer.batches == 1
    assert answers == {part: {a.id for a in albums[part * 2 : part * 2 + 2]} for part in range(3)}


def test_coalescer__answers_each_caller_with_its_own_albums_and_states(
    albums: list[StoredAlbum], opened: Callable[[Stop], Catalog]
) -> None:
    coalescer = Coalescer(opened, window=0.0)

    looked = coalescer.look_up(albums[:2])
    coalescer.close()

    covers = looked.covers()
    assert sorted(covers) == [albums[0].id, albums[1].id]
    assert {c.cover_state for c in covers.values()} == {"no_spotify_link"}
    assert covers[albums[0].id].as_json()["note"] == "no Spotify link"


def test_coalescer__a_catalog_that_cannot_open_fails_the_waiting_asks_and_is_tried_again(
    albums: list[StoredAlbum], opened: Callable[[Stop], Catalog]
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


def test_coalescer__refuses_asks_once_closed(
    albums: list[StoredAlbum], opened: Callable[[Stop], Catalog]
) -> None:
    coalescer = Coalescer(opened, window=0.0)
    coalescer.look_up(albums[:1])
    coalescer.close()

    with pytest.raises(Closed):
        coalescer.look_up(albums[:1])


def test_coalescer__nothing_asked_needs_no_worker(opened: Callable[[Stop], Catalog]) -> None:
    coalescer = Coalescer(opened)

    assert coalescer.look_up([]).views == {}
    assert coalescer.batches == 0


def test_coalescer__an_ask_cancelled_before_its_batch_is_left_out_and_the_rest_answered(
    albums: list[StoredAlbum], opened: Callable[[Stop], Catalog]
) -> None:
    coalescer = Coalescer(opened, window=0.5)

    given_up = coalescer.ask(albums[:2])  # serve's visitor went away (or timed out)
    assert given_up.cancel()
    looked = coalescer.look_up(albums[2:4], timeout=30)
    coalescer.close()

    assert given_up.cancelled()
    assert set(looked.views) == {albums[2].id, albums[3].id}
