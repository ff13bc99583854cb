"""`jitspot serve`'s pages and JSON API, over the Spotify double.

The app runs in process (`start_server`: Starlette's test client); where the socket
is the point (the Host a client names, a client's timeout), on a free loopback port
behind uvicorn (`start_listening_server`). Spotify is the double, counting the calls
it gets; the store is a real file in the test's home.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import ALBUM_KEYS, Result, album_url
from serving import Served
from spotify_double import API_ENDPOINTS, SpotifyDouble

from jitspot.catalog.resolver import NOT_BEFORE
from jitspot.settings import load_settings
from jitspot.store import open_store

Start = Callable[..., Served]
MakeSheet = Callable[..., Path]
Run = Callable[..., Result]


def _rows(spotify: SpotifyDouble, n: int, *, artists: int = 5) -> tuple[list[list[Any]], list[str]]:
    ids = spotify.populate(n, artists)
    rows = [
        [
            f"Artist {i % artists}",
            f"Album {i}",
            None,
            "LP",
            "Prog-metal",
            "Clean",
            "Oslo",
            None,
            album_url(spotify_id),
        ]
        for i, spotify_id in enumerate(ids)
    ]
    return rows, ids


def _catalog(spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, n: int) -> list[str]:
    """`n` albums of the double in one imported tab (store ids 1..n); their Spotify ids."""
    rows, ids = _rows(spotify, n)
    assert run("import", str(make_sheet({"2024 Prog-metal": rows}))).exit_code == 0
    return ids


SHEET = {
    "2024 Prog-metal": [
        [
            "Haken",
            "Fauna",
            "2023-03-03",
            "LP",
            "Prog-metal",
            "Mixed",
            "London, UK",
            "https://haken.bandcamp.com",
            None,
        ],
        [
            "Leprous",
            "Aphelion",
            "2021-08-27",
            "LP",
            "Prog-metal, Art rock",
            "Clean",
            "Notodden, Norway",
            None,
            None,
        ],
        [
            "Sólstafir",
            "Berdreyminn",
            "2017-05-26",
            "LP",
            "Post-metal",
            "Clean",
            "Iceland",
            None,
            None,
        ],
        ["Vola", "Friend of a Phantom", "TBA", "LP", "Djent", "Mixed ", "Denmark", None, None],
    ],
    "2023 Prog-rock": [
        [
            "Big Big Train",
            "Ingenious Devices",
            "2023-01-27",
            "EP",
            "Prog-rock",
            "Clean",
            "UK",
            None,
            None,
        ],
        [
            "Agusa",
            "Prima Materia",
            "2023-10-01",
            "LP",
            "Prog-rock",
            "Instrumental",
            "Sweden",
            None,
            None,
        ],
    ],
}


@pytest.fixture
def sheet_catalog(make_sheet: MakeSheet, run: Run) -> None:
    assert run("import", str(make_sheet(SHEET))).exit_code == 0


def _titles(answer: Any) -> list[str]:
    return [album["title"] for album in answer]


# -- browsing: filters, sort, pages ----------------------------------------------------------


@pytest.mark.usefixtures("sheet_catalog")
@pytest.mark.parametrize(
    ("query", "titles"),
    [
        (
            "",
            [
                "Friend of a Phantom",
                "Prima Materia",
                "Fauna",
                "Ingenious Devices",
                "Aphelion",
                "Berdreyminn",
            ],
        ),
        (
            "?sort=artist",
            [
                "Prima Materia",
                "Ingenious Devices",
                "Fauna",
                "Aphelion",
                "Berdreyminn",
                "Friend of a Phantom",
            ],
        ),
        (
            "?sort=title",
            [
                "Aphelion",
                "Berdreyminn",
                "Fauna",
                "Friend of a Phantom",
                "Ingenious Devices",
                "Prima Materia",
            ],
        ),
        ("?artist=solstafir", ["Berdreyminn"]),
        ("?genre=ART+ROCK", ["Aphelion"]),
        ("?year=2023", ["Prima Materia", "Fauna", "Ingenious Devices"]),
        ("?tab=2023*", ["Prima Materia", "Ingenious Devices"]),
        ("?vocal=mixed", ["Friend of a Phantom", "Fauna"]),
        ("?query=phantom+vola", ["Friend of a Phantom"]),
        (
            "?artist=&genre=&year=&query=",
            [
                "Friend of a Phantom",
                "Prima Materia",
                "Fauna",
                "Ingenious Devices",
                "Aphelion",
                "Berdreyminn",
            ],
        ),
    ],
)
def test_api_albums__filters_and_sorts_like_the_cli(
    start_server: Start, query: str, titles: list[str]
) -> None:
    server = start_server()

    answer = server.get(f"/api/albums{query}")

    assert answer.status_code == 200
    assert _titles(answer.json()) == titles
    assert answer.headers["X-Total-Count"] == str(len(titles))


@pytest.mark.usefixtures("sheet_catalog")
def test_api_albums__answers_album_objects_of_the_contract(start_server: Start) -> None:
    albums = start_server().get("/api/albums").json()

    assert all(set(album) >= ALBUM_KEYS for album in albums)
    haken = next(a for a in albums if a["artist"] == "Haken")
    assert haken["cover_state"] == "no_spotify_link"
    assert haken["links"] == {"bandcamp": "https://haken.bandcamp.com"}


@pytest.mark.usefixtures("sheet_catalog")
def test_api_albums__pages_with_total_and_link_headers(start_server: Start) -> None:
    server = start_server()

    first = server.get("/api/albums?sort=title&per_page=4")
    second = server.get("/api/albums?sort=title&per_page=4&page=2")
    beyond = server.get("/api/albums?sort=title&per_page=4&page=3")

    assert _titles(first.json()) == ["Aphelion", "Berdreyminn", "Fauna", "Friend of a Phantom"]
    assert _titles(second.json()) == ["Ingenious Devices", "Prima Materia"]
    assert beyond.json() == []
    assert first.headers["X-Total-Count"] == "6"
    assert first.headers["X-Pages"] == "2"
    assert 'page=2>; rel="next"' in first.headers["Link"]
    assert 'rel="prev"' in second.headers["Link"]
    assert 'rel="next"' not in second.headers["Link"]


@pytest.mark.usefixtures("sheet_catalog")
@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("?year=soon", "year must be a whole number"),
        ("?sort=popularity", "sort must be one of"),
        ("?page=0", "page must be between"),
        ("?per_page=5000", "per_page must be between"),
    ],
)
def test_api_albums__a_bad_query_is_a_400_that_says_why(
    start_server: Start, query: str, words: str
) -> None:
    answer = start_server().get(f"/api/albums{query}")

    assert answer.status_code == 400
    assert words in answer.json()["error"]


@pytest.mark.usefixtures("sheet_catalog")
def test_catalog_page__renders_the_filter_form_tiles_and_pager(start_server: Start) -> None:
    page = start_server().get("/?per_page=2&sort=title&year=2023")

    assert page.status_code == 200
    html = page.text
    assert html.count("<article") == 2
    assert "<option selected>2023</option>" in html
    assert '<option value="title" selected>Title</option>' in html
    assert "Page 1 of 2" in html
    assert 'id="more" href="/?year=2023&amp;sort=title&amp;per_page=2&amp;page=2"' in html


@pytest.mark.usefixtures("sheet_catalog")
def test_catalog_page__says_why_a_tile_has_no_cover(start_server: Start) -> None:
    html = start_server().get("/?artist=haken").text

    assert '<span class="w">No Spotify link</span>' in html
    assert "data-ask" not in html  # nothing to ask Spotify for


# -- safety ----------------------------------------------------------------------------------


def test_catalog_page__escapes_sheet_text_and_links_only_http(
    start_server: Start, make_sheet: MakeSheet, run: Run
) -> None:
    evil = '<script>alert("x")</script>'
    rows = [
        [
            evil,
            'Title "quoted" <b>',
            None,
            "LP",
            "<i>Genre</i>",
            None,
            None,
            "javascript:alert(1)",
            None,
        ]
    ]
    assert run("import", str(make_sheet({"2024": rows}))).exit_code == 0

    server = start_server()
    pages = [server.get("/?released=any&link=any").text, server.get("/albums/1").text]

    for html in pages:
        assert evil not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert "&#34;quoted&#34; &lt;b&gt;" in html and "<i>Genre" not in html
        assert "javascript:" not in html


def test_static__serves_only_the_package_static_files(start_server: Start) -> None:
    server = start_server()

    assert server.get("/static/serve.js").status_code == 200
    assert server.get("/static/gallery.css").status_code == 200
    for path in (
        "/static/../web/app.py",
        "/static/%2e%2e/web/app.py",
        "/static/..%2fweb%2fapp.py",
        "/static/../../jitspot/settings.py",
    ):
        assert server.get(path).status_code == 404, path


def test_server__refuses_a_host_that_is_not_loopback(start_listening_server: Start) -> None:
    """A page on another site resolving to 127.0.0.1 (DNS rebinding) gets nothing."""
    server = start_listening_server()

    assert server.get("/api/albums", headers={"Host": "evil.example:80"}).status_code == 421
    assert (
        server.get("/api/albums", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    )


BIG_ID = str(2**63)  # one past SQLite's largest integer
JSON = "application/json"
HTML = "text/html; charset=utf-8"


@pytest.mark.usefixtures("sheet_catalog")
@pytest.mark.parametrize(
    ("path", "status", "kind"),
    [
        (f"/albums/{BIG_ID}", 404, HTML),
        (f"/api/albums/{BIG_ID}", 404, JSON),
        (f"/api/albums/{BIG_ID}/cover", 404, JSON),
        (f"/api/covers?id={BIG_ID}", 400, JSON),
        (f"/api/covers?id=1&then={BIG_ID}", 400, JSON),
        ("/albums/" + "9" * 5000, 404, HTML),  # past int()'s digit limit
        ("/api/albums/" + "9" * 5000, 404, JSON),
        ("/albums/-1", 404, HTML),
        ("/api/covers?id=-1", 400, JSON),
        ("/?query=" + "+".join(f"w{i}" for i in range(1000)), 400, HTML),
        ("/api/albums?query=" + "+".join(f"w{i}" for i in range(1000)), 400, JSON),
        ("/?" + "&".join(f"tab={i}*" for i in range(1000)), 400, HTML),
        ("/api/albums?" + "&".join(f"tab={i}*" for i in range(1000)), 400, JSON),
        ("/?page=" + "9" * 5000, 400, HTML),
        ("/api/albums?page=-3", 400, JSON),
    ],
)
def test_server__input_past_the_bounds_is_a_4xx_in_the_routes_own_form(
    start_server: Start, path: str, status: int, kind: str
) -> None:
    answer = start_server().get(path)

    assert answer.status_code == status
    assert answer.headers["Content-Type"] == kind
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert "error" in (answer.json() if kind == JSON else {"error": answer.text})


@pytest.mark.usefixtures("sheet_catalog")
def test_api_albums__a_query_repeating_a_word_counts_it_once(start_server: Start) -> None:
    answer = start_server().get("/api/albums?query=" + "+".join(["phantom"] * 1000))

    assert answer.status_code == 200
    assert _titles(answer.json()) == ["Friend of a Phantom"]


@pytest.mark.parametrize(
    ("host", "status"),
    [("[::1", 400), ("[", 400), ("[::1]:x", 400), ("localhost:99999", 400), ("evil.example", 421)],
)
def test_server__a_host_header_it_cannot_read_or_answer_is_a_4xx_with_the_security_headers(
    start_listening_server: Start, host: str, status: int
) -> None:
    answer = start_listening_server().get("/api/albums", headers={"Host": host})

    assert answer.status_code == status
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_server__a_bug_is_a_500_with_the_security_headers_and_a_json_error(
    start_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    # Undone before the app stops: its shutdown closes the syncer.
    with monkeypatch.context() as patch:
        patch.setattr(server.site, "facets", broken)
        patch.setattr(server.site, "syncer", None)  # GET /api/sync reads its status
        page = server.get("/")
        api = server.get("/api/sync")

    assert [page.status_code, api.status_code] == [500, 500]
    assert api.json() == {"error": "internal error (see the log)"}
    assert page.headers["X-Frame-Options"] == api.headers["X-Frame-Options"] == "DENY"


def test_server__pages_carry_a_content_security_policy(start_server: Start) -> None:
    answer = start_server().get("/")

    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.usefixtures("sheet_catalog")
def test_server__stopping_closes_every_store_connection_it_opened(start_server: Start) -> None:
    """The app's shutdown runs when a test's app stops (in process too)."""
    server = start_server()
    assert server.get("/api/covers?id=1&id=2").status_code == 200  # the coalescer's connection
    assert server.get("/").status_code == 200  # a worker thread's
    wal = Path(f"{load_settings(Path('unused')).store_path}-wal")
    opened = wal.exists()

    server.stop()

    assert opened and not wal.exists()  # SQLite folds the WAL back when the last one closes


# -- another site's pages cannot spend Spotify calls -----------------------------------------

SPENDING = ["/api/covers?id=1&id=2&then=3", "/api/albums/1/cover", "/api/albums/1"]
FOREIGN = [
    {"Sec-Fetch-Site": "cross-site"},  # <img src> or fetch on another site's page
    {"Sec-Fetch-Site": "same-site"},  # another port of this host: another server
    {"Origin": "http://evil.example"},
    {"Origin": "null"},  # a sandboxed frame
    {"Referer": "http://evil.example/page.html"},  # a browser without Sec-Fetch-*
]


@pytest.mark.parametrize("path", SPENDING)
@pytest.mark.parametrize("headers", FOREIGN)
def test_spotify_endpoints__refuse_another_sites_page_at_no_call(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    path: str,
    headers: dict[str, str],
) -> None:
    _catalog(spotify, make_sheet, run, 3)
    server = start_server()
    spotify.reset()

    answer = server.get(path, headers=headers)

    assert answer.status_code == 403
    assert answer.json()["error"].startswith("refused: another site's page cannot make")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert spotify.count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, a script
        {"Sec-Fetch-Site": "none"},  # a typed URL, a bookmark
        {"Sec-Fetch-Site": "same-origin"},  # the server's own page script
        {"Origin": "own", "Sec-Fetch-Site": "same-origin"},
        {"Referer": "own"},
    ],
)
def test_spotify_endpoints__answer_the_servers_own_pages_and_scripts(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    headers: dict[str, str],
) -> None:
    _catalog(spotify, make_sheet, run, 3)
    server = start_server()
    spotify.reset()
    own = {"Origin": server.url, "Referer": server.url + "/?genre=djent"}
    sent = {name: own[name] if value == "own" else value for name, value in headers.items()}

    answer = server.get("/api/covers?id=1&id=2", headers=sent)

    assert answer.status_code == 200
    assert [c["cover_state"] for c in answer.json()["covers"]] == ["fetched", "fetched"]
    assert spotify.count() > 0


def test_cover__offline_answers_another_sites_page_from_the_cache(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 2)
    server = start_server()
    spotify.reset()

    answer = server.get("/api/albums/1/cover?offline=1", headers={"Sec-Fetch-Site": "cross-site"})

    assert answer.status_code == 200
    assert answer.json()["cover_state"] == "not_cached"
    assert spotify.count() == 0


def test_album_page__a_link_from_another_site_opens_from_the_cache_at_no_call(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 2)
    server = start_server()
    spotify.reset()
    navigation = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Referer": "https://forum.example/t/prog-2024",
    }

    page = server.get("/albums/2", headers=navigation)

    assert page.status_code == 200
    assert "Album 1" in page.text
    assert spotify.count() == 0


# -- covers ----------------------------------------------------------------------------------


def test_cover__concurrent_requests_are_coalesced_into_batches(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 45)
    server = start_server(window=0.3)
    spotify.reset()

    with ThreadPoolExecutor(45) as pool:
        answers = list(
            pool.map(lambda i: server.get(f"/api/albums/{i}/cover").json(), range(1, 46))
        )

    assert {a["cover_state"] for a in answers} == {"fetched"}
    assert all(a["cover_url"].startswith("https://i.scdn.co/") for a in answers)
    assert spotify.count("albums_batch") == math.ceil(45 / 20)
    assert spotify.count("album") == 0
    assert spotify.count("artists_batch") == 0  # a cover needs no artist


def test_covers__one_request_for_a_screenful_costs_ceil_n_over_20_calls(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 60)
    server = start_server()
    spotify.reset()

    answer = server.get("/api/covers?" + "&".join(f"id={i}" for i in range(1, 61))).json()

    assert [c["id"] for c in answer["covers"]] == list(range(1, 61))
    assert spotify.count("albums_batch") == 3


def test_cover__is_served_from_the_cache_the_second_time(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 3)
    server = start_server()
    first = server.get("/api/albums/2/cover").json()
    spotify.reset()

    again = server.get("/api/albums/2/cover").json()
    listed = server.get("/api/albums").json()

    assert first["cover_state"] == "fetched"
    assert again == {**first, "cover_state": "cached"}
    assert spotify.count() == 0
    assert next(a for a in listed if a["id"] == 2)["cover_url"] == first["cover_url"]


def test_cover__says_no_spotify_link(start_server: Start, make_sheet: MakeSheet, run: Run) -> None:
    assert run("import", str(make_sheet(SHEET))).exit_code == 0

    answer = start_server().get("/api/albums/1/cover").json()

    assert answer["cover_state"] == "no_spotify_link"
    assert answer["cover_url"] is None
    assert answer["note"] == "no Spotify link"
    assert answer["reason"] == "No Spotify link"


def test_cover__says_not_found(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    ids = _catalog(spotify, make_sheet, run, 2)
    spotify.not_found(ids[0])

    answer = start_server().get("/api/albums/1/cover").json()

    assert answer["cover_state"] == "not_found"
    assert answer["note"] == "not found on Spotify"


def test_cover__says_rate_limited_until_and_keeps_serving_the_cache(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 3)
    server = start_server()
    cached = server.get("/api/albums/1/cover").json()
    # An hour (past any wait cap), for the Web API and for oEmbed: no cover can come.
    spotify.rate_limit(3600, endpoints={*API_ENDPOINTS, "oembed"})

    limited = server.get("/api/albums/2/cover").json()
    calls = spotify.count()
    again = server.get("/api/albums/3/cover").json()
    still = server.get("/api/albums/1/cover").json()

    assert limited["cover_state"] == "rate_limited"
    assert limited["until"] is not None
    assert limited["note"].startswith("rate-limited until ")
    assert again["cover_state"] == "rate_limited"
    assert spotify.count() == calls  # "not before" holds: no second call
    assert still["cover_state"] == "cached" and still["cover_url"] == cached["cover_url"]
    settings = load_settings(Path("unused"))
    with open_store(settings.store_path) as store:
        assert store.get_meta(NOT_BEFORE) is not None  # every jitspot process stops too


def test_cover__says_unavailable_when_spotify_cannot_be_reached(
    make_sheet: MakeSheet, run: Run, start_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials, but Spotify at a closed port (the home fixture's URLs).
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "id")
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "secret")
    monkeypatch.setenv("JITSPOT_RETRY_ATTEMPTS", "1")
    rows = [
        ["Band", "Album", None, "LP", None, None, None, None, album_url("4aawyAB9vmqN3uQ7FjRGTy")]
    ]
    assert run("import", str(make_sheet({"2024": rows}))).exit_code == 0

    answer = start_server().get("/api/albums/1/cover").json()

    assert answer["cover_state"] == "unavailable"
    assert answer["reason"] == "Spotify unavailable"


def test_cover__without_credentials_comes_from_oembed(
    spotify_no_credentials: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify_no_credentials, make_sheet, run, 2)

    answer = start_server().get("/api/albums/1/cover").json()

    assert answer["cover_state"] == "fetched"
    assert answer["cover_url"].startswith("https://")
    assert spotify_no_credentials.count("oembed") == 1


def test_cover__offline_says_not_cached_without_calling(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 2)
    spotify.reset()

    answer = start_server().get("/api/albums/1/cover?offline=1").json()

    assert answer["cover_state"] == "not_cached"
    assert answer["note"] == "not cached (offline)"
    assert spotify.count() == 0


def test_cover__a_development_mode_app_takes_covers_from_oembed_at_no_quota(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    """The batch endpoint answers 403 once (the app's mode); then every cover comes from
    oEmbed, which the daily quota does not count: no configuration."""
    _catalog(spotify, make_sheet, run, 25)
    spotify.mode = "development"
    server = start_server(window=0.3)
    spotify.reset()

    with ThreadPoolExecutor(25) as pool:
        answers = list(
            pool.map(lambda i: server.get(f"/api/albums/{i}/cover").json(), range(1, 26))
        )

    assert {a["cover_state"] for a in answers} == {"fetched"}
    assert spotify.count("albums_batch") == 1
    assert spotify.count("albums_batch", status=403) == 1
    assert spotify.count("album") == 0
    assert spotify.count("oembed") == 25
    assert run("stats", "--json").json()["quota"]["used"] == 1  # the 403 alone


def test_cover__of_an_unknown_album_is_a_404(start_server: Start) -> None:
    answer = start_server().get("/api/albums/999/cover")

    assert answer.status_code == 404
    assert answer.json() == {"error": "no album with id 999"}


# -- the album ---------------------------------------------------------------------------------


def test_api_album__fetches_tracks_and_details_on_demand(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 2)
    server = start_server()

    offline = server.get("/api/albums/1?offline=1").json()
    album = server.get("/api/albums/1").json()

    assert offline["cover_state"] == "not_cached" and offline["spotify"] is None
    assert album["cover_state"] == "fetched"
    assert album["spotify"]["tracks"] and album["spotify"]["label"]
    assert album["spotify"]["genres"]  # its artists were fetched too


def test_album_page__shows_sheet_facts_at_once_without_calling_spotify(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 2)
    server = start_server()
    spotify.reset()

    html = server.get("/albums/2").text

    assert "<h2>Album 1</h2>" in html
    assert "Loading tracks and details from Spotify" in html
    assert spotify.count() == 0
    assert server.get("/albums/77").status_code == 404


# -- sync --------------------------------------------------------------------------------------


def _wait_sync(
    server: Served, *, until: Callable[[dict[str, Any]], bool], seconds: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status: dict[str, Any] = server.get("/api/sync").json()
        if until(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_sync__imports_the_sheet_then_fetches_what_it_added(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, ids = _rows(spotify, 30)
    assert run("import", str(make_sheet({"2024": rows[:10]}, name="old.xlsx"))).exit_code == 0
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2024": rows})))
    server = start_server()
    before = server.get("/api/sync").json()
    spotify.reset()
    held = spotify.hold(ids[-1])  # the covers wait until the test has seen them running

    started = server.post("/api/sync")
    running = _wait_sync(server, until=lambda s: s["stage"] == "covers" and s["total"] > 0)
    held.release()
    done = _wait_sync(server, until=lambda s: s["state"] != "running")

    assert before["state"] == "idle" and before["last_synced"] is not None
    assert started.status_code == 202 and started.json()["state"] == "running"
    assert running["state"] == "running" and running["total"] == 20
    assert done["state"] == "done" and done["error"] is None
    assert (done["added"], done["updated"], done["removed"]) == (20, 0, 0)
    assert done["done"] == done["total"] == 20
    assert (
        done["last_synced"] > before["last_synced"] or done["last_synced"] == before["last_synced"]
    )
    assert spotify.count("albums_batch") == 1  # only what the import added: 20 albums
    assert server.get("/api/albums/25/cover").json()["cover_state"] == "cached"


def test_sync__fetches_a_new_link_of_an_updated_row_and_nothing_already_cached(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, ids = _rows(spotify, 6)
    assert run("import", str(make_sheet({"2024": rows[:5]}, name="old.xlsx"))).exit_code == 0
    assert run("export", "--format", "json").exit_code == 0  # every cover cached
    edited = [list(row) for row in rows[:5]]
    edited[0][8] = album_url(ids[5])  # the curator fixed a wrong link
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2024": edited})))
    server = start_server()
    spotify.reset()

    assert server.post("/api/sync").status_code == 202
    done = _wait_sync(server, until=lambda s: s["state"] != "running")

    assert (done["added"], done["updated"], done["total"], done["done"]) == (0, 1, 1, 1)
    assert spotify.count("album") == 1  # the new link only, nothing that was cached
    assert [r.path for r in spotify.requests if r.endpoint == "album"] == [f"/v1/albums/{ids[5]}"]


def test_sync__rate_limited_imports_and_says_the_rest_comes_later(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, _ = _rows(spotify, 8)
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2024": rows})))
    spotify.rate_limit(7200, endpoints={*API_ENDPOINTS, "oembed"})
    server = start_server()

    assert server.post("/api/sync").status_code == 202
    done = _wait_sync(server, until=lambda s: s["state"] != "running")

    assert done["state"] == "done"
    assert done["added"] == 8 and done["done"] == 0 and done["total"] == 8
    assert done["error"].startswith(
        "imported; some new covers were not fetched (Spotify asked to wait until "
    )
    assert len(server.get("/api/albums").json()) == 8
    assert server.get("/api/albums/1/cover").json()["cover_state"] == "rate_limited"


def test_sync__a_new_tab_appears_in_the_form(
    make_sheet: MakeSheet, run: Run, start_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("import", str(make_sheet(SHEET, name="old.xlsx"))).exit_code == 0
    grown = {**SHEET, "2025 Prog-metal": [["Vola", "Friend of a Phantom", None, "LP"]]}
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet(grown)))
    server = start_server()
    before = server.get("/").text

    assert server.post("/api/sync").status_code == 202
    _wait_sync(server, until=lambda s: s["state"] != "running")
    after = server.get("/").text

    assert '<option value="2025 Prog-metal">' not in before
    assert '<option value="2025 Prog-metal">' in after


def test_sync__a_second_press_while_one_runs_is_refused(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, ids = _rows(spotify, 20)
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2024": rows})))
    server = start_server()
    held = spotify.hold(ids[0])  # the sync runs until the second press is answered

    first = server.post("/api/sync")
    second = server.post("/api/sync")
    held.release()
    done = _wait_sync(server, until=lambda s: s["state"] != "running")

    assert first.status_code == 202
    assert second.status_code == 409
    assert "already running" in second.json()["error"]
    assert done["state"] == "done"


def test_sync__holds_the_lock_a_refresh_asks_for(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, ids = _rows(spotify, 20)
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2024": rows})))
    server = start_server()
    held = spotify.hold(ids[0])  # the sync is still fetching when the refresh starts

    assert server.post("/api/sync").status_code == 202
    _wait_sync(server, until=lambda s: s["stage"] == "covers")
    refresh = run("refresh", "--all")
    held.release()
    done = _wait_sync(server, until=lambda s: s["state"] != "running")
    after = run("refresh", "--missing")

    assert refresh.exit_code == 75
    assert "serve sync (pid" in refresh.stderr
    assert done["state"] == "done"
    assert after.exit_code == 0  # the lock is free again once the sync ends


@pytest.mark.usefixtures("lock_holder")
def test_sync__is_refused_while_a_refresh_holds_the_lock(
    start_server: Start, make_sheet: MakeSheet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet(SHEET)))
    server = start_server()

    answer = server.post("/api/sync")

    assert answer.status_code == 409
    assert "refresh (pid" in answer.json()["error"]
    assert server.get("/api/sync").json()["state"] == "idle"


def test_sync__from_another_origin_is_refused(
    start_server: Start, make_sheet: MakeSheet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet(SHEET)))
    server = start_server()

    other = server.post("/api/sync", origin="http://evil.example")
    no_origin = server.post("/api/sync", origin=None)
    other_port = server.post("/api/sync", origin="http://127.0.0.1:1")

    assert [other.status_code, no_origin.status_code, other_port.status_code] == [403, 403, 403]
    assert server.get("/api/sync").json()["state"] == "idle"
    assert server.get("/api/albums").json() == []  # nothing was imported


def test_sync__an_unreadable_referer_is_refused_in_words(
    start_server: Start, make_sheet: MakeSheet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet(SHEET)))
    server = start_server()

    answer = server.post("/api/sync", origin=None, headers={"Referer": "http://[::1/page"})

    assert answer.status_code == 403
    assert answer.json()["error"].startswith("refused")


def test_sync__without_a_sheet_says_how_to_set_one(start_server: Start) -> None:
    server = start_server()

    answer = server.post("/api/sync")
    page = server.get("/").text

    assert answer.status_code == 409
    assert "JITSPOT_SHEET_URL" in answer.json()["error"]
    assert server.get("/api/sync").json()["sheet_configured"] is False
    assert 'id="sync-now" disabled' in page
    assert "JITSPOT_SHEET_URL" in page


def test_sync__a_sheet_that_cannot_be_read_fails_in_words_and_loses_nothing(
    start_server: Start,
    make_sheet: MakeSheet,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run("import", str(make_sheet(SHEET))).exit_code == 0
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a workbook")
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(broken))
    server = start_server()

    assert server.post("/api/sync").status_code == 202
    done = _wait_sync(server, until=lambda s: s["state"] != "running")

    assert done["state"] == "failed"
    assert "broken.xlsx" in done["error"]
    assert len(server.get("/api/albums").json()) == 6


# -- the tiles that come next ride in the batch calls' free places ------------------------------


def _covers_query(ids: range, then: range) -> str:
    return "/api/covers?" + "&".join([*(f"id={i}" for i in ids), *(f"then={i}" for i in then)])


def test_covers__the_next_tiles_fill_the_batch_call_and_are_cached_for_later(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 50)
    server = start_server()
    spotify.reset()

    first = server.get(_covers_query(range(1, 8), range(8, 41))).json()
    batch_ids = [
        r.query["ids"].split(",") for r in spotify.requests if r.endpoint == "albums_batch"
    ]
    later = server.get(_covers_query(range(8, 21), range(21, 41))).json()
    calls_after_later = spotify.count("albums_batch")
    beyond = server.get(_covers_query(range(21, 22), range(22, 41))).json()

    assert [c["id"] for c in first["covers"]] == list(range(1, 8))  # only what was asked
    assert [len(ids) for ids in batch_ids] == [20]  # 7 asked + 13 riders, one call
    assert {c["cover_state"] for c in later["covers"]} == {"cached"}
    assert calls_after_later == 1  # the riders were there already
    assert beyond["covers"][0]["cover_state"] == "fetched"
    assert spotify.count("albums_batch") == 2


def test_covers__riders_are_not_counted_as_lookups(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 30)
    server = start_server()

    server.get(_covers_query(range(1, 4), range(4, 31)))
    stats = run("stats", "--json").json()

    assert stats["cache"]["misses"] == 3
    assert stats["api"]["by_endpoint"] == {"albums_batch": 1}


@pytest.mark.parametrize("mode", ["development", "oembed"])
def test_covers__no_riders_when_each_album_is_a_call_of_its_own(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    _catalog(spotify, make_sheet, run, 30)
    if mode == "development":
        spotify.mode = "development"
    else:
        monkeypatch.delenv("SPOTIPY_CLIENT_ID")
        monkeypatch.delenv("SPOTIPY_CLIENT_SECRET")
    server = start_server()
    spotify.reset()

    answer = server.get(_covers_query(range(1, 4), range(4, 31))).json()

    assert {c["cover_state"] for c in answer["covers"]} == {"fetched"}
    assert spotify.count("oembed") == 3  # the three asked, none of the 27 that follow
    assert spotify.count("album") == 0


# -- as people use it: search, the landing page, depth, the album's way back ------------------


@pytest.mark.usefixtures("sheet_catalog")
def test_catalog_search__finds_genre_and_location_as_list_query_does(
    start_server: Start, run: Run
) -> None:
    server = start_server()

    by_genre = _titles(server.get("/api/albums?query=djent").json())
    by_place = _titles(server.get("/api/albums?query=norway").json())
    listed = [a["title"] for a in json.loads(run("list", "--json", "--query", "norway").stdout)]

    assert by_genre == ["Friend of a Phantom"]
    assert by_place == ["Aphelion"] == listed
    assert "Aphelion" in server.get("/?query=norway").text


def test_catalog_page__lands_on_released_albums_with_a_link_and_explicit_urls_mean_what_they_say(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    (linked,) = spotify.populate(1, 1)
    rows = [
        ["Soon", "Next December", "2999-12-01", "LP", "Djent", "Clean", None, None, None],
        ["Out", "With a link", "2020-01-01", "LP", "Djent", "Clean", None, None, album_url(linked)],
        ["Out", "Without a link", "2020-02-01", "LP", "Djent", "Clean", None, None, None],
        ["Soon", "To be announced", "TBA", "LP", "Djent", "Clean", None, None, album_url(linked)],
    ]
    assert run("import", str(make_sheet({"2020": rows}))).exit_code == 0
    server = start_server()

    landing = server.get("/").text
    everything = _titles(server.get("/api/albums").json())  # the API: no landing choice
    djent = server.get("/?genre=djent").text

    assert "With a link" in landing
    assert not any(t in landing for t in ("Next December", "Without a link", "To be announced"))
    assert '<option value="yes" selected>Released</option>' in landing
    assert '<option value="yes" selected>On Spotify</option>' in landing
    assert len(everything) == 4
    assert all(t in djent for t in ("Next December", "Without a link", "To be announced"))
    assert _titles(server.get("/api/albums?released=yes&link=no").json()) == ["Without a link"]
    assert server.get("/api/albums?link=maybe").status_code == 400


def test_catalog_page__an_empty_store_says_how_to_import(
    start_server: Start, make_sheet: MakeSheet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JITSPOT_SHEET_URL", raising=False)
    bare = start_server().get("/").text
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet(SHEET)))
    with_sheet = start_server().get("/").text

    assert "No albums yet" in bare and "jitspot import " in bare
    assert "Sync now</b>" not in bare
    assert "press <b>Sync now</b>" in with_sheet
    assert "No album matches" not in bare
    assert 'id="page-of"' not in bare  # no "Page 1 of 1" under nothing to page through


def test_catalog_page__upto_renders_every_page_down_to_it_and_the_pager_says_so(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 25)
    server = start_server()

    deep = server.get("/?link=any&per_page=5&upto=3").text
    middle = server.get("/?link=any&per_page=5&page=2&upto=4").text

    assert deep.count("<article data-id=") == 15
    assert 'showing 1–<span id="last">15</span>' in deep
    assert "Pages 1–3 of 5" in deep
    assert 'id="more" href="/?link=any&amp;per_page=5&amp;page=4"' in deep
    assert middle.count("<article data-id=") == 15 and "Pages 2–4 of 5" in middle
    assert "showing 6–" in middle
    assert server.get("/?upto=0").status_code == 400


@pytest.mark.parametrize(
    ("back", "referer", "expected"),
    [
        ("/?genre=djent&page=2", None, "/?genre=djent&page=2"),
        (None, "http://127.0.0.1:8765/?query=haken&upto=3", "/?query=haken&upto=3"),
        ("https://evil.example/", None, "/"),
        ("//evil.example/", None, "/"),
        ("/albums/2", None, "/"),
        (None, "http://evil.example/?x=1", "/"),
        (None, "http://127.0.0.1:8765/albums/3", "/"),
        (None, None, "/"),
    ],
)
def test_back_to_catalog__keeps_only_this_servers_catalog_address(
    back: str | None, referer: str | None, expected: str
) -> None:
    from jitspot.web.app import back_to_catalog

    assert back_to_catalog(back, referer, "127.0.0.1:8765") == expected


@pytest.mark.usefixtures("sheet_catalog")
def test_album_page__catalog_link_goes_back_to_the_filtered_catalog(start_server: Start) -> None:
    server = start_server()
    came_from = f"{server.url}/?genre=prog&sort=title&upto=2"

    page = server.get("/albums/1", headers={"Referer": came_from}).text
    direct = server.get("/albums/1").text

    assert 'href="/?genre=prog&amp;sort=title&amp;upto=2" id="back"' in page
    assert 'href="/" id="back"' in direct


def test_tiles__say_until_when_they_are_rate_limited_in_plain_text(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_server: Start
) -> None:
    _catalog(spotify, make_sheet, run, 3)
    server = start_server()
    spotify.rate_limit(3600, endpoints={*API_ENDPOINTS, "oembed"})

    limited = server.get("/api/albums/2/cover").json()

    assert limited["reason"].startswith("Rate-limited until ")
    assert limited["reason"][len("Rate-limited until ") :][:2].isdigit()


def test_sync__last_synced_says_what_it_counts(
    spotify: SpotifyDouble,
    make_sheet: MakeSheet,
    start_server: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, _ = _rows(spotify, 4)
    monkeypatch.setenv("JITSPOT_SHEET_URL", str(make_sheet({"2024": rows})))
    server = start_server()

    assert server.post("/api/sync").status_code == 202
    status = _wait_sync(server, until=lambda s: s["state"] != "running")
    page = server.get("/").text

    assert status["last_synced_text"] == "4 albums imported (4 new), 4 covers fetched"
    assert "— 4 albums imported (4 new), 4 covers fetched" in page


WORKER_THREADS = 40  # anyio's default limit on the threads that run sync endpoints


def test_covers__requests_waiting_for_spotify_hold_no_thread_so_pages_still_answer(
    spotify: SpotifyDouble, make_sheet: MakeSheet, run: Run, start_listening_server: Start
) -> None:
    waiting = WORKER_THREADS + 5
    _catalog(spotify, make_sheet, run, waiting)
    # On a port: a page queued behind the covers fails at its timeout (the test client
    # has none: the page would wait for the held calls, answer, and pass).
    server = start_listening_server()
    spotify.hold_until_concurrent(10_000, timeout=120)  # every call waits for reset()
    with ThreadPoolExecutor(waiting) as pool:
        try:
            covers = [pool.submit(server.get, f"/api/covers?id={i}") for i in range(1, waiting + 1)]
            while sum(1 for path, _ in server.requests if path == "/api/covers") < waiting:
                time.sleep(0.01)  # every cover request has reached the app
            while spotify.count() == 0:
                time.sleep(0.01)  # ...and the coalescer waits for Spotify

            page = server.get("/", timeout=15)
            static = server.get("/static/serve.js", timeout=15)
        finally:
            spotify.reset()  # Spotify answers
        answers = [future.result().json()["covers"] for future in covers]
    assert page.status_code == 200
    assert static.status_code == 200
    assert [a[0]["cover_state"] for a in answers] == ["fetched"] * waiting


def test_covers__oembed_covers_of_visitors_go_more_at_once_than_a_batch_run(
    spotify_no_credentials: SpotifyDouble,
    make_sheet: MakeSheet,
    run: Run,
    start_server: Start,
) -> None:
    spotify = spotify_no_credentials
    _catalog(spotify, make_sheet, run, 12)
    batch_run = load_settings(Path(os.environ["JITSPOT_HOME"])).concurrency
    server = start_server()
    # The first oEmbed calls wait for company: more than a batch run's at once.
    # (held for less than the HTTP timeout, so no retry adds to those in flight)
    spotify.hold_until_concurrent(batch_run * 2, endpoints={"oembed"}, timeout=5)

    answer = server.get("/api/covers?" + "&".join(f"id={i}" for i in range(1, 13))).json()

    assert {c["cover_state"] for c in answer["covers"]} == {"fetched"}
    assert spotify.max_concurrent >= batch_run * 2
