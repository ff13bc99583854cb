"""`jitspot serve`'s pages in headless Chromium, over the Spotify double on loopback.

The double serves its cover images itself (`images_served`), so the page's
images load without leaving the machine; Chromium resolves no other host.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from browser import Browser, find_chromium
from conftest import Result, album_url
from serving import Served
from spotify_double import SpotifyDouble

from jitspot.settings import load_settings
from jitspot.store import open_store

Start = Callable[..., Served]
ALBUMS = 300
NO_LINK = 3  # rows without a Spotify link, the newest of the sheet
PER_PAGE = 60
MARGIN = 300  # serve.js asks covers for tiles within 300 px of the viewport
SHOTS = Path("/tmp/serve-shots")  # copies of the screenshots, outside the repository

# Tiles that have asked for their cover (serve.js drops `data-ask` when it asks), and
# which of those are still waiting for the answer.
ASKED = "[...document.querySelectorAll('#tiles > article:not([data-ask]) .c')]"
SETTLED = (
    "document.querySelectorAll('#tiles > article').length > 0"
    " && !document.querySelector('.c .w.ld')"
    f" && {ASKED}.every(c => c.querySelector('img') || c.querySelector('.w'))"
)
NEAR = f"""[...document.querySelectorAll('#tiles > article')].filter(t => {{
  const r = t.getBoundingClientRect();
  return r.bottom >= -{MARGIN} && r.top <= innerHeight + {MARGIN};
}}).map(t => Number(t.dataset.id))"""
FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
TILE_IDS = "[...document.querySelectorAll('#tiles > article')].map(t => Number(t.dataset.id))"


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("JITSPOT_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (JITSPOT_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("chromium is not installed")
    return found


@pytest.fixture
def page(chromium: str) -> Iterator[Browser]:
    with Browser(chromium, width=1280, height=900) as browser:
        yield browser


@pytest.fixture
def catalog(
    spotify: SpotifyDouble,
    make_sheet: Callable[..., Path],
    run: Callable[..., Result],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[int, str | None]:
    """300 albums of the double and 3 rows without a link, imported; store id -> Spotify id.

    Release dates go down the sheet, so the newest-first catalog shows the rows
    without a link first, then the albums in sheet order.
    """
    monkeypatch.delenv("JITSPOT_SHEET_URL", raising=False)
    spotify.images_served = True
    ids = spotify.populate(ALBUMS, ALBUMS // 3)
    newest = date(2025, 6, 30)
    rows = [
        [f"Unlinked {i}", f"Demo {i}", newest - timedelta(days=i), "EP", "Prog-rock", "Clean"]
        for i in range(NO_LINK)
    ]
    rows += [
        [
            f"Artist {i % (ALBUMS // 3)}",
            f"Album {i}",
            newest - timedelta(days=NO_LINK + i),
            "LP",
            "Prog-metal",
            "Clean",
            "Oslo",
            None,
            album_url(spotify_id),
        ]
        for i, spotify_id in enumerate(ids)
    ]
    assert run("import", str(make_sheet({"2025 Prog": rows}))).exit_code == 0
    with open_store(load_settings(home).store_path) as store:
        return {album.id: album.spotify_id for album in store.albums()}


def settle(page: Browser) -> None:
    """Wait until the tiles in view have asked for their covers and shown the answers."""
    page.evaluate(FRAMES)  # the observers have seen what is in view now
    page.wait_for(f"{SETTLED} && document.querySelector('#tiles .c img')")


def batch_ids(spotify: SpotifyDouble) -> list[list[str]]:
    """The album ids of each batch call the double got."""
    return [r.query["ids"].split(",") for r in spotify.requests if r.endpoint == "albums_batch"]


def asked_spotify_ids(spotify: SpotifyDouble) -> list[str]:
    """The album ids the server asked the double for, in batches or one by one."""
    asked: list[str] = []
    for request in spotify.requests:
        if request.endpoint == "albums_batch":
            asked += request.query["ids"].split(",")
        elif request.endpoint == "album":
            asked.append(request.path.rsplit("/", 1)[1])
    return asked


def fetched_tiles(spotify: SpotifyDouble, catalog: dict[int, str | None]) -> set[int]:
    """The tiles whose album the server fetched from the double."""
    by_spotify_id = {spotify_id: album_id for album_id, spotify_id in catalog.items()}
    return {by_spotify_id[i] for i in asked_spotify_ids(spotify)}


def test_serve_page__asks_covers_only_near_the_viewport(
    spotify: SpotifyDouble, catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()
    spotify.reset()

    page.navigate(server.url + "/")
    settle(page)

    tiles: list[int] = page.evaluate(TILE_IDS)
    near = set(page.evaluate(NEAR))
    asked = set(server.asked_covers())  # counted at the server
    assert len(tiles) == PER_PAGE
    assert asked  # the first screen's covers were asked...
    assert asked <= near  # ...and only those near the viewport
    assert len(asked) < PER_PAGE // 2
    assert asked == set(tiles[NO_LINK : NO_LINK + len(asked)])  # the first rows, in order
    assert spotify.count("albums_batch") == -(-len(asked) // 20)  # coalesced
    assert spotify.count("album") == 0
    # The batch calls' free places went to the tiles right below, not to further ones.
    fetched = fetched_tiles(spotify, catalog)
    assert fetched >= asked
    assert len(fetched) == 20 * spotify.count("albums_batch")
    assert fetched == set(tiles[NO_LINK : NO_LINK + len(fetched)])
    # Every asked tile got its image from the double, and the image loaded.
    images = page.evaluate(
        f"{ASKED}.map(c => c.querySelector('img')).filter(Boolean)"
        ".map(i => [Number(i.closest('article').dataset.id), i.src, i.naturalWidth])"
    )
    assert {album_id for album_id, _, _ in images} == asked
    assert all(src.startswith(f"{spotify.base_url}/image/") for _, src, _ in images)
    page.wait_for(f"{ASKED}.every(c => !c.querySelector('img') || c.querySelector('img').complete)")
    widths = page.evaluate(
        f"{sorted(asked)}.map(id => document.querySelector("
        '`article[data-id="${id}"] img`).naturalWidth)'
    )
    assert all(width == 64 for width in widths)  # the double's PNG, loaded
    assert spotify.count("image") >= len(asked)
    # The rows without a link say so, and asked nothing.
    reasons = page.evaluate(
        f"{TILE_IDS}.slice(0, {NO_LINK}).map(id => document.querySelector("
        '`article[data-id="${id}"] .c .w`)?.textContent)'
    )
    assert reasons == ["No Spotify link"] * NO_LINK
    # Tiles far below the viewport still wait, placeholder only.
    far = [t for t in tiles if t not in near]
    assert far and page.evaluate(
        f'{far}.every(id => document.querySelector(`article[data-id="${{id}}"]`)'
        ".hasAttribute('data-ask') && !document.querySelector(`article[data-id=\"${id}\"] img`))"
    )


def test_serve_page__scrolling_asks_more_covers_and_appends_the_next_page(
    spotify: SpotifyDouble, catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()
    page_two = [a["id"] for a in server.get("/api/albums?page=2").json()]
    spotify.reset()
    page.navigate(server.url + "/")
    settle(page)
    first_screen = set(server.asked_covers())
    first_page: list[int] = page.evaluate(TILE_IDS)

    page.scroll_to_bottom()
    page.wait_for(f"{TILE_IDS}.length === {2 * PER_PAGE}")
    settle(page)

    tiles: list[int] = page.evaluate(TILE_IDS)
    asked = set(server.asked_covers())
    assert tiles == first_page + page_two  # page 2's tiles appended, in order
    assert page.evaluate("document.querySelector('.pager span').textContent").startswith(
        "Page 2 of"
    )
    assert page.evaluate("document.getElementById('more').href").endswith("page=3")
    assert first_page[-1] in asked  # the end of page 1 came into view...
    assert asked > first_screen
    assert asked & set(page_two)  # ...and the start of page 2 below it
    linked = {i for i in first_page if catalog[i]}
    middle = linked - asked  # tiles scrolled past at once were never near
    assert middle
    assert page.evaluate(
        f'{sorted(middle)}.every(id => document.querySelector(`article[data-id="${{id}}"]`)'
        ".hasAttribute('data-ask'))"
    )
    assert len(server.asked_covers()) == len(asked)  # no album asked twice
    assert len(asked_spotify_ids(spotify)) == len(set(asked_spotify_ids(spotify)))  # nor fetched
    images = page.evaluate(
        "[...document.querySelectorAll('#tiles > article .c img')].map(i => i.src)"
    )
    assert len(images) == len(asked)
    assert all(src.startswith(f"{spotify.base_url}/image/") for src in images)


def test_serve_album_page__loads_tracks_and_details_on_demand(
    spotify: SpotifyDouble, catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    album_id = next(i for i, spotify_id in catalog.items() if spotify_id)
    spotify_album = spotify.album_json(str(catalog[album_id]))
    server = start_server()
    served = server.get(f"/albums/{album_id}").text
    assert "Loading tracks and details" in served
    assert spotify_album["tracks"]["items"][0]["name"] not in served  # not in the page itself
    spotify.reset()

    page.navigate(f"{server.url}/albums/{album_id}")
    page.wait_for("document.querySelectorAll('#details table tr').length > 0")

    names = page.evaluate(
        "[...document.querySelectorAll('#details td:nth-child(2)')].map(td => td.textContent)"
    )
    assert names == [t["name"] for t in spotify_album["tracks"]["items"]]
    assert page.evaluate("document.querySelector('#details h3').textContent") == "10 tracks"
    facts = page.evaluate("[...document.querySelectorAll('#details dt')].map(d => d.textContent)")
    assert {"Label", "Popularity", "Length"} <= set(facts)
    assert not page.evaluate("document.querySelector('#details .loading')")
    src = page.wait_for("document.querySelector('#cover img')?.src")
    assert src == spotify_album["images"][0]["url"]
    assert spotify.api_calls() >= 1


def test_serve_album_page__without_a_link_says_so_and_asks_nothing(
    spotify: SpotifyDouble, catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    album_id = next(i for i, spotify_id in catalog.items() if spotify_id is None)
    server = start_server()
    spotify.reset()

    page.navigate(f"{server.url}/albums/{album_id}")

    assert page.evaluate("document.querySelector('#details').textContent.trim()") == (
        "No Spotify link: no tracks or details to show."
    )
    assert page.evaluate("document.querySelector('#cover .w').textContent") == "No Spotify link"
    assert spotify.api_calls() == 0


def test_serve_page__sync_now_is_disabled_and_explained_without_a_sheet_url(
    spotify: SpotifyDouble, catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()

    page.navigate(server.url + "/")
    page.evaluate("document.getElementById('sync-now').click()")

    button = page.evaluate(
        "(b => ({disabled: b.disabled, title: b.title}))(document.getElementById('sync-now'))"
    )
    assert button["disabled"] is True
    assert "JITSPOT_SHEET_URL" in button["title"]
    status = page.evaluate("document.getElementById('sync-status').textContent")
    assert status == "No sheet to sync: set JITSPOT_SHEET_URL and restart."
    assert server.get("/api/sync").json()["state"] == "idle"


def test_serve_page__sync_now_runs_shows_progress_and_says_what_it_did(
    spotify: SpotifyDouble,
    catalog: dict[int, str | None],
    start_server: Start,
    page: Browser,
    make_sheet: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A click in the page passes the server's same-origin check and polls to the end."""
    extra = spotify.populate(5, 2)
    rows = [
        ["New band", f"New {i}", "2026-01-01", "LP", "Djent", "Mixed", None, None, album_url(i)]
        for i in extra
    ]
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2026 Prog": rows}, name="new.xlsx")))
    server = start_server()
    spotify.reset()
    spotify.delay(1.0)  # long enough to see the page say it is syncing
    page.navigate(server.url + "/")

    page.evaluate("document.getElementById('sync-now').click()")
    syncing = page.wait_for(
        "(t => t.startsWith('Syncing') && t)(document.getElementById('sync-status').textContent)"
    )
    disabled = page.evaluate("document.getElementById('sync-now').disabled")
    done = page.wait_for(
        "(t => t.startsWith('Synced') && t)(document.getElementById('sync-status').textContent)",
        timeout=30,
    )

    assert syncing.startswith("Syncing: ")
    assert disabled is True  # no second press while it runs
    assert done == "Synced: 5 added, 0 updated, 0 removed. Reload to see them."
    assert page.evaluate("document.getElementById('sync-now').disabled") is False
    # The sync fetched the five new covers in one call (the page's tiles asked their own).
    syncs = [ids for ids in batch_ids(spotify) if set(ids) & set(extra)]
    assert [sorted(ids) for ids in syncs] == [sorted(extra)]
    status = server.get("/api/sync").json()
    assert status["state"] == "done" and status["last_synced"] is not None


def test_serve_pages__screenshots_show_covers_and_tracks(
    spotify: SpotifyDouble,
    catalog: dict[int, str | None],
    start_server: Start,
    page: Browser,
    tmp_path: Path,
) -> None:
    server = start_server()
    album_id = next(i for i, spotify_id in catalog.items() if spotify_id)

    page.navigate(server.url + "/")
    settle(page)
    faded_in = (
        "[...document.querySelectorAll('.c img')].every(i => getComputedStyle(i).opacity === '1')"
    )
    page.wait_for(f"document.querySelector('.c img') && {faded_in}")
    catalog_png = page.screenshot(tmp_path / "catalog.png")
    page.navigate(f"{server.url}/albums/{album_id}")
    page.wait_for(
        f"document.querySelector('#details table') && document.querySelector('#cover img') && {faded_in}"
    )
    album_png = page.screenshot(tmp_path / "album.png")

    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("catalog.png", "album.png"):
        shutil.copyfile(tmp_path / name, SHOTS / name)
    for png in (catalog_png, album_png):
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (
            1280,
            900,
        )
        assert len(png) > 20_000  # a drawn page; a blank one is a few KB
