"""The export renderers: JSON, CSV, Markdown and the HTML cover gallery."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from browser import Browser
from conftest import ALBUM_KEYS, SPOTIFY_KEYS

from jitspot.catalog.views import SHEET_KEYS, AlbumView, SpotifyView
from jitspot.render.formats import render_csv, render_json, render_markdown
from jitspot.render.gallery import group_albums, render_html
from jitspot.render.presentation import cover_reason, format_duration
from jitspot.spotify.data import Track
from jitspot.text import fold

SPOTIFY_ID = "4uLU6hMCjMI75M1A2tKUQC"
COVER = "https://i.scdn.co/image/ab67616d0000b273cover"


def spotify_view(**overrides: Any) -> SpotifyView:
    view: SpotifyView = {
        "name": "Distance over Time",
        "release_date": "2019-02-22",
        "total_tracks": 2,
        "tracks": [
            {"disc": 1, "number": 1, "name": "Untethered Angel", "duration_ms": 374_000},
            {"disc": 1, "number": 2, "name": "Paralyzed", "duration_ms": 258_000},
        ],
        "images": [{"url": COVER, "width": 640, "height": 640}],
        "label": "InsideOut Music",
        "popularity": 54,
        "genres": ["progressive metal", "symphonic metal"],
        "copyrights": [{"text": "2019 InsideOut", "type": "C"}],
        "fetched_at": "2026-03-01T10:00:00+00:00",
        "url": f"https://open.spotify.com/album/{SPOTIFY_ID}",
        "artists": ["Dream Theater"],
        "total_duration_ms": 632_000,
        "stale": False,
        "source": "api",
        "tracks_complete": True,
        "withheld": [],
    }
    view.update(overrides)  # type: ignore[typeddict-item]
    return view


def album(**overrides: Any) -> AlbumView:
    view: AlbumView = {
        "id": 1,
        "artist": "Dream Theater",
        "title": "Distance over Time",
        "release_date": "2019-02-22",
        "release_text": None,
        "year": 2019,
        "kind": "LP",
        "genres": ["Progressive metal"],
        "vocal_style": "Clean",
        "location": "New York, USA",
        "tab": "2019 Prog-metal",
        "row": 7,
        "links": {
            "bandcamp": "https://dreamtheater.bandcamp.com/album/distance-over-time",
            "spotify": f"https://open.spotify.com/album/{SPOTIFY_ID}",
        },
        "spotify_id": SPOTIFY_ID,
        "spotify_id_source": "sheet",
        "cover_url": COVER,
        "cover_state": "cached",
        "cover_note": None,
        "match_state": None,
        "match_score": None,
        "spotify": spotify_view(),
    }
    view.update(overrides)  # type: ignore[typeddict-item]
    return view


def no_cover(state: str, note: str | None = None, **overrides: Any) -> AlbumView:
    return album(cover_state=state, cover_note=note, cover_url=None, spotify=None, **overrides)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def tiles(page: str) -> list[str]:
    return re.findall(r"<article\b.*?</article>", page, flags=re.S)


def shown_tiles(dom: str) -> list[str]:
    return [t for t in tiles(dom) if not re.match(r"<article\b[^>]*\bhidden\b", t)]


# ----------------------------------------------------------------------- JSON


def test_render_json__round_trips_albums_with_all_contract_keys() -> None:
    albums = [album(), no_cover("no_spotify_link", id=2, artist="Åmål", title="20247")]

    text = render_json(albums)
    loaded = json.loads(text)

    assert loaded == albums
    assert all(set(item) >= ALBUM_KEYS for item in loaded)
    assert set(loaded[0]["spotify"]) >= SPOTIFY_KEYS
    assert loaded[1]["spotify"] is None
    assert text.endswith("]\n")


def test_render_json__keeps_non_ascii_text_readable() -> None:
    text = render_json([album(artist="Sólstafir")])

    assert "Sólstafir" in text


def test_render_json__empty_catalog_is_an_empty_list() -> None:
    assert json.loads(render_json([])) == []


# ------------------------------------------------------------------------ CSV


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_render_csv__neutralises_formula_cells(first: str) -> None:
    dangerous = f'{first}HYPERLINK("http://evil","x")'

    row = csv_rows(render_csv([album(artist=dangerous, location=dangerous)]))[0]

    assert row["artist"] == "'" + dangerous
    assert row["location"] == "'" + dangerous


def test_render_csv__neutralises_link_and_spotify_cells() -> None:
    view = album(
        links={"youtube": "=cmd|'/c calc'!A1"},
        spotify=spotify_view(label="@SUM(1+1)", genres=["-1+2"]),
    )

    row = csv_rows(render_csv([view]))[0]

    assert row["youtube"] == "'=cmd|'/c calc'!A1"
    assert row["label"] == "'@SUM(1+1)"
    assert row["spotify_genres"] == "'-1+2"


def test_render_csv__leaves_plain_cells_untouched() -> None:
    row = csv_rows(render_csv([album(artist="1349", title="A = B", kind="2xLP")]))[0]

    assert row["artist"] == "1349"
    assert row["title"] == "A = B"
    assert row["kind"] == "2xLP"
    assert row["popularity"] == "54"
    assert row["id"] == "1"


def test_render_csv__has_sheet_link_and_spotify_columns() -> None:
    albums = [
        album(),
        no_cover("no_spotify_link", id=2, links={"youtube": "https://youtu.be/x"}),
    ]

    text = render_csv(albums)
    header = next(csv.reader(io.StringIO(text)))
    rows = csv_rows(text)

    assert header[:10] == list(SHEET_KEYS)  # the album object's facts from the sheet
    assert header[10:13] == ["bandcamp", "spotify", "youtube"]
    for column in (
        "spotify_id",
        "spotify_id_source",
        "cover_url",
        "cover_state",
        "spotify_name",
        "track_count",
        "total_duration",
        "total_duration_ms",
        "label",
        "popularity",
        "spotify_genres",
        "fetched_at",
    ):
        assert column in header
    first, second = rows
    assert first["genres"] == "Progressive metal"
    assert first["spotify_genres"] == "progressive metal; symphonic metal"
    assert first["total_duration"] == "10:32"
    assert first["total_duration_ms"] == "632000"
    assert first["track_count"] == "2"
    assert first["youtube"] == ""
    assert second["youtube"] == "https://youtu.be/x"
    assert second["spotify_name"] == ""
    assert second["popularity"] == ""
    assert second["cover_state"] == "no_spotify_link"


def test_render_csv__joins_sheet_genres_and_quotes_line_breaks() -> None:
    text = render_csv([album(genres=["Prog-metal", "Djent"], title="Two\nlines")])

    row = csv_rows(text)[0]

    assert row["genres"] == "Prog-metal; Djent"
    assert row["title"] == "Two\nlines"
    assert text.endswith("\r\n")


def test_format_duration__uses_hours_only_when_needed() -> None:
    assert format_duration(59_600) == "1:00"
    assert format_duration(632_000) == "10:32"
    assert format_duration(3_723_000) == "1:02:03"
    assert format_duration(None) == ""


@pytest.mark.parametrize(
    ("ms", "text"),
    [(2_499, "0:02"), (2_500, "0:03"), (59_500, "1:00"), (3_599_500, "1:00:00")],
)
def test_format_duration__half_a_second_rounds_up(ms: int, text: str) -> None:
    assert format_duration(ms) == text


def test_format_duration__show_page_rounds_like_the_exports() -> None:
    from rich.console import Console

    from jitspot.cli.terminal import show_page

    durations = [2_499, 2_500, 59_500, 3_599_500]
    tracks: list[Track] = [
        {"disc": 1, "number": n, "name": f"Track {n}", "duration_ms": ms}
        for n, ms in enumerate(durations, start=1)
    ]
    view = album(spotify=spotify_view(tracks=tracks, total_duration_ms=sum(durations)))
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(show_page(view))
    lines = console.export_text().splitlines()
    shown = [line.split()[-1] for line in lines if "Track " in line]
    assert shown == [format_duration(ms) for ms in durations]
    assert format_duration(sum(durations)) in lines[-1]


# ------------------------------------------------------------------- Markdown


def test_render_markdown__has_the_table_header() -> None:
    lines = render_markdown([album()]).splitlines()

    assert lines[0] == "| Artist | Album | Release | Kind | Genres | Links |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert len(lines) == 3


def test_render_markdown__escapes_table_and_emphasis_syntax() -> None:
    text = render_markdown([album(artist="A|B *x* _y_", title="[z] `c` <b>")])
    row = text.splitlines()[2]

    assert r"A\|B \*x\* \_y\_" in row
    assert r"\[z\] \`c\` \<b\>" in row
    assert row.count(" | ") == 5  # exactly six cells


def test_render_markdown__renders_http_links_only() -> None:
    view = album(links={"spotify": "https://open.spotify.com/album/x", "youtube": "javascript:x"})

    row = render_markdown([view]).splitlines()[2]

    assert "[Spotify](https://open.spotify.com/album/x)" in row
    assert "javascript" not in row
    assert "YouTube" not in row


def test_render_markdown__release_falls_back_to_text() -> None:
    row = render_markdown([album(release_date=None, release_text="TBA")]).splitlines()[2]

    assert "| TBA |" in row


def test_render_markdown__link_url_cannot_break_the_cell() -> None:
    view = album(links={"bandcamp": "https://x.bandcamp.com/a|b)c"})

    row = render_markdown([view]).splitlines()[2]

    assert "[Bandcamp](https://x.bandcamp.com/a%7Cb%29c)" in row


# ----------------------------------------------------------------------- HTML


def test_render_html__escapes_sheet_text() -> None:
    view = album(
        artist="<script>alert(1)</script>",
        title='"><img src=x onerror=alert(2)>',
        genres=["<b>bold</b>"],
    )

    page = render_html([view], title="<i>my</i> list", generated_at="<now>")

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "<b>bold" not in page
    assert "<i>my" not in page
    assert "&lt;now&gt;" in page


def test_render_html__never_emits_unsafe_urls() -> None:
    view = album(
        links={"youtube": "javascript:alert(1)", "bandcamp": " JavaScript:alert(2)"},
        cover_url="data:image/png;base64,AAAA",
        spotify=spotify_view(url="javascript:alert(3)"),
    )

    page = render_html([view])

    assert "javascript:" not in page.lower()
    assert "data:image" not in page
    body = page.split("<body>", 1)[1]
    assert not re.search(r'(?:href|src|data-c)="(?!https?://)', body)
    assert "Needs" not in page  # a cached state with a bad URL is just "no cover"
    assert "No cover on Spotify" in page


def test_render_html__cover_url_waits_on_the_tile_for_the_script() -> None:
    page = render_html([album(cover_url=f" {COVER} ")])

    tile = tiles(page)[0]
    assert f'data-c="{COVER}"' in tile
    assert "<img" not in page.split("<body>")[1]  # the script makes it near the viewport


def test_render_html__links_open_in_a_new_tab_without_referrer() -> None:
    page = render_html([album()])

    anchors = re.findall(r"<a [^>]*>", page)
    assert len(anchors) == 2
    # A new tab for every link (which implies noopener), and no referrer sent.
    assert '<base target="_blank">' in page
    assert '<meta name="referrer" content="no-referrer">' in page
    assert not any("target=" in a for a in anchors)
    assert ">Bandcamp</a>" in page
    assert ">Spotify</a>" in page


def test_render_html__links_a_matched_album_to_spotify() -> None:
    view = album(links={}, spotify_id_source="match")

    page = render_html([view])

    assert f'href="https://open.spotify.com/album/{SPOTIFY_ID}"' in page


@pytest.mark.parametrize(
    ("state", "note", "reason"),
    [
        ("no_spotify_link", None, "No Spotify link"),
        ("not_found", None, "Not found on Spotify"),
        ("rate_limited", "retry after 3600 s", "Rate-limited — try later"),
        ("unavailable", "Cover needs Spotify credentials", "Needs Spotify credentials"),
        ("unavailable", "Spotify unreachable", "Spotify unavailable"),
        ("not_cached", None, "Not cached (offline export)"),
    ],
)
def test_render_html__placeholder_says_why_there_is_no_cover(
    state: str, note: str | None, reason: str
) -> None:
    view = no_cover(state, note)

    page = render_html([view])

    assert cover_reason(view) == reason
    tile = tiles(page)[0]
    assert f'<span class="w">{reason}</span>' in tile
    assert "data-c=" not in tile
    assert 'data-i="DT"' in tile


def test_render_html__is_self_contained() -> None:
    page = render_html([album(), no_cover("not_found")])

    assert not re.search(r"<link\b", page, flags=re.I)
    assert not re.search(r"<script\b[^>]*\bsrc=", page, flags=re.I)
    assert "@import" not in page
    assert not re.search(r"url\(", page)
    assert page.count("<script>") == 1
    assert page.count("<style>") == 1


def test_render_html__header_counts_albums_and_covers() -> None:
    albums = [album(), album(id=2), no_cover("not_found", id=3)]

    page = render_html(albums, title="Prog 2019", generated_at="2026-03-01 10:00")

    assert "<title>Prog 2019</title>" in page
    assert "<h1>Prog 2019</h1>" in page
    assert '<b id="shown">3</b><span id="of" hidden> of 3</span> albums' in page
    assert "· <b>2</b> with covers" in page
    assert "generated 2026-03-01 10:00" in page
    assert len(tiles(page)) == 3


@pytest.mark.parametrize(
    ("artist", "initials"),
    [("Dream Theater", "DT"), ("Caligula's Horse", "CH"), ("1349", "1"), ("æther realm", "ÆR")],
)
def test_render_html__placeholder_shows_artist_initials(artist: str, initials: str) -> None:
    page = render_html([no_cover("not_found", artist=artist)])

    assert f'data-i="{initials}"' in tiles(page)[0]


def test_render_html__tooltip_explains_a_missing_cover_only() -> None:
    page = render_html([album(), no_cover("rate_limited", "retry after 2 h", id=2)])

    assert len(re.findall(r'<div class="c h\d+" data-i="DT"', page)) == 2
    assert page.count(' title="retry after 2 h">') == 1
    assert page.count(" title=") == 1
    assert "Cover did not load" in page  # the script says it only if the image fails


def test_render_html__empty_catalog_says_so() -> None:
    page = render_html([])

    assert "No albums in this export." in page
    assert '<b id="shown">0</b>' in page


def test_render_html__search_key_is_folded_for_the_filter() -> None:
    view = album(artist="Sólstafir", title="Berdreyminn", genres=["Post-Metal"])

    tile = tiles(render_html([view]))[0]

    assert 'data-s="solstafir berdreyminn post-metal' in tile


def fold_table(page: str) -> dict[str, str]:
    match = re.search(r'<input id="q"[^>]*\bdata-fold="([^"]*)"', page)
    assert match, "the filter box carries the page's fold table"
    return dict(json.loads(html.unescape(match.group(1))))


def test_render_html__search_key_folds_letters_without_combining_marks() -> None:
    view = album(artist="Mgła", title="Þögn", genres=["Black metal"], location="Kraków")

    tile = tiles(render_html([view]))[0]

    assert 'data-s="mgla thogn black metal' in tile


def test_render_html__fold_table_holds_the_pages_letters_and_common_latin() -> None:
    views = [album(artist="Mgła", title="Þögn"), album(id=2, artist="Мгла", title="Sólstafir")]

    table = fold_table(render_html(views))

    # This page's letters that Unicode decomposition does not fold, as Python folds them.
    assert (table["ł"], table["Þ"], table["М"], table["г"]) == ("l", "th", "m", "g")
    # Common Latin letters a visitor may type, whatever the page holds.
    assert (table["ß"], table["æ"], table["ø"], table["đ"]) == ("ss", "ae", "o", "d")
    # Letters the script's own decomposition folds are left out: the page stays small.
    assert "ó" not in table and "ö" not in table
    assert "Ж" not in table  # Cyrillic not on this page


def test_render_html__fold_table_agrees_with_python_fold() -> None:
    views = [album(artist="Ørkenkjøpt", title="Đorđe Æther Straße Łódź")]

    table = fold_table(render_html(views))

    assert all(fold(letter) == folded for letter, folded in table.items())


def test_render_html__shows_release_text_kind_genres_and_duration() -> None:
    view = album(release_date=None, release_text="Fall", kind="EP", genres=["Djent", "Prog"])

    tile = tiles(render_html([view]))[0]

    assert '<p class="s">Fall · EP · 10:32</p>' in tile
    assert "Djent, Prog" in tile


def test_render_html__tile_keeps_each_text_once() -> None:
    tile = tiles(render_html([album(genres=["Djent"])]))[0]

    # No tooltip copies: the script titles cut-off text when it is pointed at.
    assert tile.count("Dream Theater") == 1
    assert tile.count("Distance over Time") == 1
    assert tile.count("Djent") == 1
    assert "style=" not in tile


def test_render_html__placeholder_hue_is_a_class_per_artist() -> None:
    page = render_html([album(), album(id=2, title="Other"), album(id=3, artist="Haken")])

    hues = re.findall(r'<div class="c h(\d+)"', page)
    assert hues[0] == hues[1]
    assert all(0 <= int(hue) < 36 for hue in hues)
    for hue in set(hues):
        assert f".h{hue}{{--h:{int(hue) * 10}}}" in page


def test_render_html__a_matched_album_says_so_on_its_cover() -> None:
    page = render_html(
        [
            album(id=1, spotify_id_source="match", match_state="matched", match_score=0.964),
            album(id=2, spotify_id_source="match", match_state="accepted", match_score=None),
            album(id=3),  # the sheet's link: no mark
        ]
    )
    matched, accepted, linked = tiles(page)
    assert '<span class="bd"><span>matched 0.96</span></span>' in matched
    assert '<span class="bd"><span>match accepted</span></span>' in accepted
    assert 'class="bd"' not in linked


def test_render_html__groups_consecutive_albums_by_tab_with_an_index() -> None:
    albums = [
        album(id=1, tab="2019 Prog-metal"),
        album(id=2, tab="2019 Prog-metal"),
        album(id=3, tab="2020 Djent & Co"),
    ]

    page = render_html(albums)

    sections = re.findall(r'<section id="([^"]+)" style="--n:(\d+)"><h2>([^<]*) <small>', page)
    assert sections == [
        ("2019-prog-metal", "2", "2019 Prog-metal"),
        ("2020-djent-co", "1", "2020 Djent &amp; Co"),
    ]
    index = re.search(r'<nav class="ix" aria-label="Tabs">(.*?)</nav>', page)
    assert index is not None
    assert re.findall(r'<a href="#([^"]+)" target="_self">', index.group(1)) == [
        "2019-prog-metal",
        "2020-djent-co",
    ]
    assert "2019 Prog-metal <small>2</small>" in index.group(1)


def test_render_html__one_tab_needs_no_index() -> None:
    page = render_html([album(id=1), album(id=2)])

    assert page.count("<section ") == 1
    assert 'class="ix"' not in page


def test_group_albums__anchors_are_unique_slugs_in_the_given_order() -> None:
    tabs = ["2019 Prog-metal", "2019 prog metal", "Ωmega", "q", "", "2019 Prog-metal"]

    groups = group_albums([album(id=i, tab=tab) for i, tab in enumerate(tabs)])

    assert [g.anchor for g in groups] == [
        "2019-prog-metal",
        "2019-prog-metal-2",
        "omega",
        "q-2",  # the filter box is #q
        "tab",
        "2019-prog-metal-3",  # not next to the first: a group of its own
    ]
    assert [g.name for g in groups][3:5] == ["q", "(no tab)"]
    assert [len(g.albums) for g in groups] == [1] * 6


# --------------------------------------------------------- HTML in a browser

STATES = ["no_spotify_link", "not_found", "rate_limited", "unavailable", "not_cached"]


def _browser() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("JITSPOT_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (JITSPOT_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("chromium is not installed")
    return browser


# The page's script has made the covers near the viewport, and those in view have
# loaded or failed (the test's covers cannot load: a failed one leaves the note saying
# so). Its IntersectionObserver reports every tile near the viewport in one callback,
# at a frame after the load, so one cover made means all of them are. Covers made out
# of view may wait for ever: their images are lazy.
COVERS_SETTLED = """
  document.querySelector('article[data-c]:not([hidden]) > .c > :is(img, .w)')
  && ![...document.querySelectorAll('.c > img:not(.on)')].some(img => {
       const box = img.getBoundingClientRect();
       return box.bottom > 0 && box.top < innerHeight;
     })
"""


def _dump_dom(url: str) -> str:
    """The page's DOM once its script has run and the covers in view have settled, in a
    1280x900 viewport.

    Waits for that condition, not for a time: the fixed budget used before (2 s of
    Chromium's virtual time, which runs ahead of real time) could end, on a busy
    machine, before the first frame made the covers or before their loads failed.
    """
    with Browser(_browser(), width=1280, height=900) as page:
        page.navigate(url)  # its load event: the script's DOMContentLoaded work is done
        page.wait_for(COVERS_SETTLED, timeout=60)
        html: str = page.evaluate("document.documentElement.outerHTML")
        return html


def _gallery(tmp_path: Path) -> Path:
    albums = [
        album(id=i, artist=f"Band {i}", title=f"Album {i}", cover_url="http://127.0.0.1:9/x.jpg")
        if i % 2
        else no_cover(STATES[i % len(STATES)], id=i, artist=f"Band {i}", title=f"Album {i}")
        for i in range(29)
    ]
    albums.append(album(id=99, artist="Sólstafir", title="Berdreyminn", genres=["Post-metal"]))
    albums.append(album(id=98, artist="Mgła", title="Exercises in Futility", genres=["Black"]))
    page = tmp_path / "page.html"
    page.write_text(render_html(albums), encoding="utf-8")
    return page


def test_render_html__renders_tiles_in_chromium(tmp_path: Path) -> None:
    _browser()
    page = _gallery(tmp_path)

    dom = _dump_dom(page.as_uri())

    assert len(tiles(dom)) == 31
    assert "Band 28" in dom
    assert len(re.findall(r'<span class="w">No Spotify link</span>', dom)) == 3
    # The script ran (the CSP hash matches): it un-hides the filter box...
    assert re.search(r'<input id="q"[^>]*\bhidden\b', dom) is None
    assert len(shown_tiles(dom)) == 31
    # ...and gave the covers near the viewport their lazy image.
    first = tiles(dom)[1]
    assert re.search(
        r'<img loading="lazy" decoding="async" width="300" height="300"'
        r' alt="Cover of Album 1 by Band 1" src="http://127.0.0.1:9/x.jpg">',
        first,
    ) or re.search(r'<span class="w">Cover did not load</span>', first), first


def test_render_html__filter_in_chromium_ignores_case_and_accents(tmp_path: Path) -> None:
    _browser()
    page = _gallery(tmp_path)

    dom = _dump_dom(page.as_uri() + "#q=S%C3%93LSTAFIR%20post")

    shown = shown_tiles(dom)
    assert len(shown) == 1
    assert "Berdreyminn" in shown[0]
    assert '<b id="shown">1</b><span id="of"> of 31</span>' in dom


@pytest.mark.parametrize("typed", ["mgla", "MG%C5%81A", "mg%C5%82a%20futility"])
def test_render_html__filter_in_chromium_folds_letters_without_combining_marks(
    tmp_path: Path, typed: str
) -> None:
    _browser()
    page = _gallery(tmp_path)

    dom = _dump_dom(page.as_uri() + "#q=" + typed)

    shown = shown_tiles(dom)
    assert len(shown) == 1
    assert "Mgła" in shown[0]


# A few hundred albums in three tabs: the features a 17,000-album page relies on.
TABS = ["2019 Prog-metal", "2019 Prog-rock", "2020 Djent"]


def _catalog(tmp_path: Path) -> Path:
    albums = [
        no_cover("not_found", id=i, artist=f"Band {i}", title=f"Album {i}", tab=TABS[i // 100])
        if i % 10 == 9
        else album(
            id=i,
            artist=f"Band {i}",
            title=f"Album {i}",
            tab=TABS[i // 100],
            genres=["Djent" if i >= 200 else "Prog"],
            kind="EP" if i >= 200 else "LP",
            cover_url=f"http://127.0.0.1:9/c{i}.jpg",
        )
        for i in range(300)
    ]
    page = tmp_path / "catalog.html"
    page.write_text(render_html(albums), encoding="utf-8")
    return page


def _section(dom: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}"[^>]*>.*?</section>', dom, flags=re.S)
    assert match, anchor
    return match.group()


def _index_link(dom: str, anchor: str) -> str:
    match = re.search(rf'<a href="#{anchor}"[^>]*>.*?</a>', dom)
    assert match, anchor
    return match.group()


def test_render_html__big_page_filter_hides_tiles_and_empty_groups(tmp_path: Path) -> None:
    _browser()
    page = _catalog(tmp_path)

    dom = _dump_dom(page.as_uri() + "#q=djent")

    assert len(shown_tiles(dom)) == 90  # the 2020 tab's albums with a genre
    assert all("Djent" in tile for tile in shown_tiles(dom))
    assert '<b id="shown">90</b><span id="of"> of 300</span>' in dom
    for anchor in ("2019-prog-metal", "2019-prog-rock"):
        assert re.match(r"<section [^>]*\bhidden\b", _section(dom, anchor))
        assert 'class="off"' in _index_link(dom, anchor)
    djent = _section(dom, "2020-djent")
    assert "hidden" not in djent.split(">", 1)[0]
    assert "<h2>2020 Djent <small>90 of 100</small></h2>" in djent
    assert "<small>90</small>" in _index_link(dom, "2020-djent")


def test_render_html__big_page_filter_counts_each_group(tmp_path: Path) -> None:
    _browser()
    page = _catalog(tmp_path)

    dom = _dump_dom(page.as_uri() + "#q=band%2012%20lp")

    # Every word matches: "12" in the name, "lp" in the kind (the 2020 tab has EPs).
    expected = [i for i in range(300) if "12" in str(i) and i < 200]
    shown = re.findall(r"<h3>Band (\d+)</h3>", "".join(shown_tiles(dom)))
    assert sorted(map(int, shown)) == expected
    assert "<small>1 of 100</small>" in _section(dom, "2019-prog-metal")
    assert "<small>11 of 100</small>" in _section(dom, "2019-prog-rock")
    assert re.match(r"<section [^>]*\bhidden\b", _section(dom, "2020-djent"))


def _covered(section: str) -> list[str]:
    """The artists of a section's tiles whose cover image the script has made.

    The test's covers cannot load: the image is replaced by the note saying so.
    """
    return [
        artist
        for tile in tiles(section)
        if "<img " in tile or "Cover did not load" in tile
        for artist in re.findall(r"<h3>(.*?)</h3>", tile)
    ]


def test_render_html__big_page_makes_cover_images_near_the_viewport_only(
    tmp_path: Path,
) -> None:
    _browser()
    page = _catalog(tmp_path)

    dom = _dump_dom(page.as_uri())

    first = _covered(_section(dom, "2019-prog-metal"))
    assert "Band 0" in first
    assert 0 < len(first) < 90
    assert _covered(_section(dom, "2020-djent")) == []
    assert len(shown_tiles(dom)) == 300


def test_render_html__big_page_index_jumps_to_a_group(tmp_path: Path) -> None:
    _browser()
    page = _catalog(tmp_path)

    dom = _dump_dom(page.as_uri() + "#2020-djent")

    # The covers made are those near the jump's target, not the page's top.
    assert "Band 200" in _covered(_section(dom, "2020-djent"))
    assert _covered(_section(dom, "2019-prog-metal")) == []
