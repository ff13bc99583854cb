"""`jitspot serve`'s pages in headless Chromium, over the Spotify double on loopback.

The double serves its cover images itself (`images_served`), so the page's
images load without leaving the machine; Chromium resolves no other host.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from browser import Browser, find_chromium
from conftest import Result, album_url
from serving import Served
from spotify_double import API_ENDPOINTS, SpotifyDouble

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
# The whole catalog, released or not, with a link or not (the bare address lands on
# released albums with a link).
EVERYTHING = "/?link=any"


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("JITSPOT_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (JITSPOT_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("chromium is not installed")
    return found


@pytest.fixture
def start_server(start_listening_server: Start) -> Start:
    """Chromium opens a URL: here the app listens on a loopback port, as `jitspot serve`."""
    return start_listening_server


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

    page.navigate(server.url + EVERYTHING)
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
    page.navigate(server.url + EVERYTHING)
    settle(page)
    first_screen = set(server.asked_covers())
    first_page: list[int] = page.evaluate(TILE_IDS)

    page.scroll_to_bottom()
    page.wait_for(f"{TILE_IDS}.length === {2 * PER_PAGE}")
    settle(page)

    tiles: list[int] = page.evaluate(TILE_IDS)
    asked = set(server.asked_covers())
    assert tiles == first_page + page_two  # page 2's tiles appended, in order
    assert page.evaluate("document.querySelector('.pager span').textContent") == "Pages 1–2 of 6"
    assert page.evaluate("document.getElementById('more').href").endswith("page=3")
    assert page.evaluate("location.search") == "?link=any&upto=2"
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

    page.navigate(server.url + EVERYTHING)
    page.evaluate("document.getElementById('sync-now').click()")

    button = page.evaluate(
        "(b => ({disabled: b.disabled, title: b.title}))(document.getElementById('sync-now'))"
    )
    assert button["disabled"] is True
    assert "JITSPOT_SHEET_URL" in button["title"]
    status = page.evaluate("document.getElementById('sync-status').textContent")
    assert status == "No sheet to sync: set JITSPOT_SHEET_URL and restart."
    assert server.get("/api/sync").json()["state"] == "idle"


def _sheet_of_new_albums(
    spotify: SpotifyDouble, make_sheet: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """JITSPOT_SHEET_URL names a sheet of 5 albums new to the store (Spotify has them)."""
    extra = spotify.populate(5, 2)
    rows = [
        ["New band", f"New {i}", "2026-01-01", "LP", "Djent", "Mixed", None, None, album_url(i)]
        for i in extra
    ]
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2026 Prog": rows}, name="new.xlsx")))
    return extra


def test_serve_page__sync_now_runs_shows_progress_and_says_what_it_did(
    spotify: SpotifyDouble,
    catalog: dict[int, str | None],
    start_server: Start,
    page: Browser,
    make_sheet: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A click in the page passes the server's same-origin check and polls to the end."""
    extra = _sheet_of_new_albums(spotify, make_sheet, monkeypatch)
    server = start_server()
    spotify.reset()
    held = spotify.hold(extra[0])  # the sync runs until the page has been seen saying so
    page.navigate(server.url + EVERYTHING)

    page.evaluate("document.getElementById('sync-now').click()")
    syncing = page.wait_for(
        "(t => t.startsWith('Syncing') && t)(document.getElementById('sync-status').textContent)"
    )
    disabled = page.evaluate("document.getElementById('sync-now').disabled")
    held.release()
    done = page.wait_for(
        "(t => t.startsWith('Synced') && t)(document.getElementById('sync-status').textContent)",
        timeout=30,
    )

    assert syncing.startswith("Syncing: ")
    assert disabled is True  # no second press while it runs
    assert done == "Synced: 5 added, 0 updated, 0 removed."
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

    page.navigate(server.url + EVERYTHING)
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


# -- as people use it ------------------------------------------------------------------------

TOP_TILE = """(() => {
  const below = document.querySelector('header').getBoundingClientRect().bottom;
  const tile = [...document.querySelectorAll('#tiles > article')]
    .find(t => t.getBoundingClientRect().bottom > below + 1);
  return tile && Number(tile.dataset.id);
})()"""
NO_RELOAD = "window.__same_document === true"  # set by a test, gone after a reload


def test_serve_page__search_as_you_type_swaps_the_results_and_keeps_the_address(
    catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()
    page.navigate(server.url + "/")
    page.evaluate("window.__same_document = true")
    expected = [
        a["id"] for a in server.get("/api/albums?query=album+12&released=yes&link=yes").json()
    ]
    server.requests.clear()

    page.evaluate("document.querySelector('input[name=query]').focus()")
    page.type_text("album 12")
    page.wait_for(f"{TILE_IDS}.length === {len(expected)}")

    assert page.evaluate(TILE_IDS) == expected
    assert page.evaluate("location.search") == "?query=album+12&released=yes&link=yes"
    assert page.evaluate(NO_RELOAD)  # swapped in place, not reloaded
    assert page.evaluate("document.activeElement.name") == "query"  # typing goes on
    searches = [q for path, q in server.requests if path == "/"]
    assert searches[-1] == "query=album+12&released=yes&link=yes"
    assert len(searches) < len("album 12")  # debounced: not one request per key
    assert page.evaluate("document.getElementById('stats').textContent").startswith(
        f"{len(expected)} albums"
    )

    # A choice applies itself: the unlinked rows' genre, once "any link" is chosen.
    page.evaluate(
        """(() => { const f = document.getElementById('filters');
        f.query.value = 'prog-rock'; f.link.value = 'any';
        f.link.dispatchEvent(new Event('change', {bubbles: true})); })()"""
    )
    page.wait_for(f"{TILE_IDS}.length === {NO_LINK}")
    assert page.evaluate("location.search") == "?query=prog-rock&released=yes&link=any"
    assert page.evaluate(NO_RELOAD)


def test_serve_page__back_after_infinite_scroll_returns_to_the_same_tile_and_depth(
    catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()
    page.navigate(server.url + "/")
    for pages in (2, 3, 4):  # scroll on to the fourth page: 240 tiles
        page.scroll_to_bottom()
        page.wait_for(f"{TILE_IDS}.length === {pages * PER_PAGE}")
    page.wait_for("location.search === '?upto=4'")
    assert page.evaluate("document.getElementById('page-of').textContent") == "Pages 1–4 of 5"
    assert page.evaluate("document.getElementById('last').textContent") == "240"
    tiles: list[int] = page.evaluate(TILE_IDS)
    deep = tiles[200]
    # Scroll the tile to the top of the view (tiles laid out on the way move it: again
    # until it holds).
    page.wait_for(
        f"""(() => {{ const t = document.querySelector('article[data-id="{deep}"]');
        const off = t.getBoundingClientRect().top
                    - document.querySelector('header').getBoundingClientRect().height;
        if (Math.abs(off) <= 1) return true;
        scrollBy(0, off); return false; }})()"""
    )
    mark = page.evaluate(TOP_TILE)  # the first tile of the row at the top
    assert tiles.index(mark) in range(180, 201)

    page.evaluate(f"document.querySelector('article[data-id=\"{mark}\"] .t a').click()")
    page.wait_for_load()
    assert page.evaluate("location.pathname") == f"/albums/{mark}"
    page.evaluate("history.back()")
    page.wait_for_load()
    page.wait_for(
        f"location.pathname === '/' && {TILE_IDS}.length === 240 && {TOP_TILE} === {mark}"
    )

    # A reload (no page cache) renders as deep from the address and scrolls to the tile.
    page.reload()
    page.wait_for(f"document.documentElement.dataset.restored === '{mark}'")
    assert page.evaluate(f"{TILE_IDS}.length") == 240
    mark = page.evaluate(TOP_TILE)  # the first tile of the row at the top
    assert tiles.index(mark) in range(180, 201)
    assert page.evaluate("document.getElementById('page-of').textContent") == "Pages 1–4 of 5"


def test_serve_page__sync_shows_the_new_albums_when_the_import_ends(
    spotify: SpotifyDouble,
    catalog: dict[int, str | None],
    start_server: Start,
    page: Browser,
    make_sheet: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _sheet_of_new_albums(spotify, make_sheet, monkeypatch)
    server = start_server()
    # The cover stage lasts until the test lets Spotify answer (no call gets an answer
    # before 100 are in flight at once: none does, until reset()).
    spotify.hold_until_concurrent(100, endpoints={"albums_batch", "album", "oembed"}, timeout=60)
    page.navigate(server.url + "/")
    page.evaluate("window.__same_document = true")

    page.evaluate("document.getElementById('sync-now').click()")
    shown = page.wait_for(
        "[...document.querySelectorAll('#tiles h3')].filter(h => h.textContent === 'New band')"
        ".length === 5 && document.getElementById('sync-status').textContent",
        timeout=30,
    )

    assert shown.startswith("Syncing: Fetching new covers")  # before the covers are in
    assert page.evaluate(NO_RELOAD)
    spotify.reset()  # the held calls are answered
    done = page.wait_for(
        "(t => t.startsWith('Synced') && t)(document.getElementById('sync-status').textContent)",
        timeout=30,
    )
    assert done == "Synced: 5 added, 0 updated, 0 removed."
    page.reload()
    status = page.evaluate("document.getElementById('sync-status').textContent")
    assert " — 5 albums imported (5 new), " in status and status.startswith("Last synced ")


def test_serve_page__small_screen_header_is_short_and_filters_open_behind_a_toggle(
    catalog: dict[int, str | None], start_server: Start, chromium: str
) -> None:
    server = start_server()
    with Browser(chromium, width=390, height=844) as phone:
        phone.navigate(server.url + "/")
        height = phone.evaluate("document.querySelector('header').getBoundingClientRect().height")
        hidden = phone.evaluate("getComputedStyle(document.getElementById('more-filters')).display")
        phone.evaluate("document.getElementById('toggle-filters').click()")
        shown = phone.evaluate(
            "document.querySelector('select[name=sort]').getBoundingClientRect().height"
        )

        assert height <= 120
        assert hidden == "none"
        assert shown > 0
        assert phone.evaluate("document.getElementById('toggle-filters').ariaExpanded") == "true"


def test_serve_page__one_tab_stop_per_tile_and_a_skip_link_first(
    catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()
    page.navigate(server.url + "/")

    page.press("Tab", 9)
    first = page.evaluate("[document.activeElement.className, document.activeElement.textContent]")
    on_screen = page.evaluate("document.activeElement.getBoundingClientRect().top >= 0")
    page.press("Enter", 13)
    page.wait_for("document.activeElement.id === 'main'")
    stops = []
    for _ in range(6):
        page.press("Tab", 9)
        stops.append(page.evaluate("document.activeElement.closest('article')?.dataset.id"))

    assert first == ["skip", "Skip to albums"] and on_screen
    tiles: list[int] = page.evaluate(TILE_IDS)
    assert stops == [str(i) for i in tiles[:6]]  # each Tab is the next album


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_serve_pages__buttons_and_links_reach_4_5_to_1_and_the_console_stays_clean(
    catalog: dict[int, str | None], start_server: Start, page: Browser, scheme: str
) -> None:
    server = start_server()
    page.color_scheme(scheme)
    page.navigate(server.url + "/")
    settle(page)
    pairs = page.evaluate(
        """[['#sync-now', null], ['.filters button.show', null], ['.t a', 'article'],
            ['.l a', null], ['.stats', 'body'], ['.pager a', 'body'], ['#sync-status', 'body']]
        .map(([sel, under]) => { const e = document.querySelector(sel);
          const back = el => { for (; el; el = el.parentElement) {
            const c = getComputedStyle(el).backgroundColor;
            if (c !== 'rgba(0, 0, 0, 0)') return c; } return getComputedStyle(document.body).backgroundColor; };
          return [sel, getComputedStyle(e).color, back(under ? e.closest(under) || e : e)]; })"""
    )
    album_id = next(i for i, spotify_id in catalog.items() if spotify_id)
    page.navigate(f"{server.url}/albums/{album_id}")
    page.wait_for("document.querySelector('#details table')")

    ratios = {sel: _contrast(_rgb(fg), _rgb(bg)) for sel, fg, bg in pairs}
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios
    assert page.console_errors() == []


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def _contrast(one: tuple[float, ...], two: tuple[float, ...]) -> float:
    def luminance(rgb: tuple[float, ...]) -> float:
        c = [v / 255 for v in rgb]
        lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_serve_album_page__copyrights_carry_their_symbol_once_and_back_keeps_the_filters(
    spotify: SpotifyDouble, catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()
    page.navigate(server.url + "/?sort=title&link=yes")
    first = page.evaluate(f"{TILE_IDS}[0]")
    spotify.set_copyrights(
        str(catalog[first]),
        [
            {"text": "2021 InsideOut Music", "type": "C"},
            {"text": "2021 InsideOut Music", "type": "P"},
            {"text": "(P) 2020 Sony", "type": "P"},
        ],
    )

    page.evaluate(f"document.querySelector('article[data-id=\"{first}\"] .t a').click()")
    page.wait_for_load()
    lines = page.wait_for(
        "(l => l.length && l)([...document.querySelectorAll('#details .copyright')]"
        ".map(p => p.textContent))"
    )
    back = page.evaluate("document.getElementById('back').getAttribute('href')")

    assert lines == ["© ℗ 2021 InsideOut Music", "℗ 2020 Sony"]
    assert back == "/?sort=title&link=yes"


def test_serve_pages__a_rate_limit_says_until_when_on_the_tile_and_the_album_page(
    spotify: SpotifyDouble, catalog: dict[int, str | None], start_server: Start, page: Browser
) -> None:
    server = start_server()
    spotify.rate_limit(3600, endpoints={*API_ENDPOINTS, "oembed"})
    page.navigate(server.url + "/")
    page.evaluate(FRAMES)

    tile = page.wait_for(
        "(w => w && !w.classList.contains('ld') && w.textContent)"
        "(document.querySelector('#tiles .c .w'))"
    )
    album_id = page.evaluate(f"{TILE_IDS}[0]")
    page.navigate(f"{server.url}/albums/{album_id}")
    cover = page.wait_for(
        "document.querySelector('#details .loading') ? null : document.querySelector('#cover .w')?.textContent"
    )

    # "14:32" today; with the date when the limit ends another day (a run near midnight).
    assert re.fullmatch(r"Rate-limited until (\d{4}-\d\d-\d\d )?\d\d:\d\d", tile)
    assert re.match(r"[Rr]ate-limited until (\d{4}-\d\d-\d\d )?\d\d:\d\d", cover)
