"""Browsing a page of the catalog: the query string read purely, the store's pages and order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result

from jitspot.catalog.browse import PER_PAGE, BadQuery, Browse, parse_browse
from jitspot.model import AlbumFilter, AlbumOrder
from jitspot.store import Store
from jitspot.text import vocal_facet


def test_parse_browse__nothing_is_the_first_page_newest_first() -> None:
    assert parse_browse({}) == Browse(AlbumFilter(), AlbumOrder.DATE, 1, PER_PAGE)


def test_parse_browse__reads_every_filter_and_repeated_tabs() -> None:
    browse = parse_browse(
        {
            "artist": ["Haken"],
            "genre": [" djent "],
            "year": ["2023"],
            "tab": ["2023*", "", "2024 Prog-metal"],
            "vocal": ["Mixed"],
            "query": ["fauna"],
            "sort": ["artist"],
            "page": ["3"],
            "per_page": ["20"],
        }
    )

    assert browse.filter == AlbumFilter(
        "Haken", "djent", 2023, ("2023*", "2024 Prog-metal"), "Mixed", "fauna"
    )
    assert (browse.order, browse.page, browse.per_page, browse.offset) == (
        AlbumOrder.ARTIST,
        3,
        20,
        40,
    )


def test_parse_browse__empty_fields_of_an_untouched_form_mean_not_given() -> None:
    browse = parse_browse({"artist": [""], "year": [" "], "tab": [""], "sort": [""], "page": [""]})

    assert browse == Browse()
    assert not browse.filtered


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"year": ["MMXX"]}, "year must be a whole number (got 'MMXX')"),
        ({"year": ["0"]}, "year must be between 1 and 9999 (got 0)"),
        ({"page": ["-1"]}, "page must be between 1 and 100000 (got -1)"),
        ({"per_page": ["201"]}, "per_page must be between 1 and 200 (got 201)"),
        ({"sort": ["random"]}, "sort must be one of date, artist, title (got 'random')"),
        (
            {"query": [" ".join(f"w{i}" for i in range(1000))]},
            "query: at most 32 different words, got 1000; narrow the query",
        ),
        ({"tab": [f"{i}*" for i in range(1000)]}, "tab: at most 64 tab globs, got 1000"),
    ],
)
def test_parse_browse__refuses_what_it_cannot_read(
    query: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_browse(query)

    assert str(caught.value) == message


def test_parse_browse__a_query_repeating_words_keeps_each_once_as_the_cli_does() -> None:
    repeated = parse_browse({"query": [" ".join(["Prog"] * 1000 + ["métal"])]})
    typed = parse_browse({"query": ["Sólstafir Berdreyminn"]})

    assert repeated.filter.query == "prog metal"
    assert typed.filter.query == "Sólstafir Berdreyminn"  # nothing repeated: as typed


def test_browse_query_string__round_trips_and_leaves_defaults_out() -> None:
    browse = parse_browse({"genre": ["Art rock"], "tab": ["2023*"], "sort": ["title"]})

    assert browse.query_string() == "?genre=Art+rock&tab=2023%2A&sort=title"
    assert browse.query_string(page=2).endswith("&page=2")
    assert Browse().query_string() == "?link=any"  # not the landing's choices
    assert parse_browse({k: [v] for k, v in browse.params(page=4)}) == Browse(
        browse.filter, browse.order, 4, PER_PAGE
    )


# -- the store's pages -------------------------------------------------------------------------

ROWS = [
    ["Zeta", "Later this year", "TBA", "LP", None, "Clean", None],
    ["alpha", "Newest", "2024-05-01", "LP", None, "mixed ", None],
    ["Beta", "Older", "2023-01-01", "EP", None, "Mixed", None],
    ["Ælfgar", "Undated old", None, "LP", None, None, None],
]


@pytest.fixture
def imported(make_sheet: Callable[..., Path], run: Callable[..., Result]) -> None:
    assert (
        run(
            "import", str(make_sheet({"2024 Prog-metal": ROWS[:2], "2023 Prog-rock": ROWS[2:]}))
        ).exit_code
        == 0
    )


@pytest.mark.usefixtures("imported")
@pytest.mark.parametrize(
    ("order", "titles"),
    [
        # A date not known yet ("TBA", empty) comes after the last day of its year (the
        # tab's year when the sheet gives none): still to come, or placed at the year's end.
        (AlbumOrder.DATE, ["Later this year", "Newest", "Undated old", "Older"]),
        (AlbumOrder.ARTIST, ["Undated old", "Newest", "Older", "Later this year"]),
        (AlbumOrder.TITLE, ["Later this year", "Newest", "Older", "Undated old"]),
    ],
)
def test_albums_page__orders(store: Store, order: AlbumOrder, titles: list[str]) -> None:
    albums, total = store.albums_page(None, order, limit=10)

    assert [a.title for a in albums] == titles
    assert total == 4


@pytest.mark.usefixtures("imported")
def test_albums_page__limits_and_counts_the_filtered_whole(store: Store) -> None:
    albums, total = store.albums_page(
        AlbumFilter(vocal="MIXED"), AlbumOrder.TITLE, limit=1, offset=1
    )

    assert [a.title for a in albums] == ["Older"]
    assert total == 2


@pytest.mark.usefixtures("imported")
def test_facets__tabs_in_sheet_order_vocals_once_years_newest_first(store: Store) -> None:
    facets = store.facets()

    assert facets.tabs == ["2024 Prog-metal", "2023 Prog-rock"]
    assert [v.strip().lower() for v in facets.vocals] == ["clean", "mixed"]
    assert facets.years == [2024, 2023]


# -- the free-text query: artist, title, genre, location ----------------------------------------

SEARCHED = [
    ["Haken", "Fauna", "2023-03-03", "LP", "Progressive metal, Djent", "Clean", "London, UK"],
    ["Vola", "Witness", "2021-05-07", "LP", "Progressive rock", "Clean", "Copenhagen, Denmark"],
    ["Djentleman", "Riffs", "2022-01-01", "EP", "Metal", "Harsh", "Oslo, Norway"],
    ["Leprous", "Aphelion", "2021-08-27", "LP", "Progressive rock", "Clean", "Notodden, Norway"],
]


@pytest.fixture
def searched(make_sheet: Callable[..., Path], run: Callable[..., Result]) -> None:
    assert run("import", str(make_sheet({"2023 Prog": SEARCHED}))).exit_code == 0


@pytest.mark.usefixtures("searched")
@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("djent", ["Fauna", "Riffs"]),  # a genre, and an artist's name
        ("norway", ["Aphelion", "Riffs"]),  # the location
        ("DENMARK", ["Witness"]),
        ("progressive norway", ["Aphelion"]),  # every word, each anywhere
        ("haken fauna", ["Fauna"]),
        ("fauna oslo", []),
    ],
)
def test_albums_page__query_matches_artist_title_genre_and_location(
    store: Store, query: str, titles: list[str]
) -> None:
    albums, total = store.albums_page(AlbumFilter(query=query), AlbumOrder.TITLE, limit=10)

    assert [a.title for a in albums] == titles
    assert total == len(titles)


@pytest.mark.usefixtures("searched")
def test_search_albums__an_album_as_free_text_is_still_artist_and_title_only(
    store: Store,
) -> None:
    assert [a.title for a in store.search_albums("djent")] == ["Riffs"]
    assert store.search_albums("norway") == []


# -- vocal styles: one facet for every spelling -------------------------------------------------

# The spellings of the real workbook's 2017-2020 tabs (and a few of the full one's).
VOCAL_SPELLINGS = [
    ("Clean", "Clean"),
    ("Mixed", "Mixed"),
    ("Mixed ", "Mixed"),
    ("MIxed", "Mixed"),
    ("Harsh", "Harsh"),
    ("Instrumental", "Instrumental"),
    ("Instrumen", "Instrumental"),
    ("Instru./Clean", "Instrumental/clean"),
    ("Instru./clean", "Instrumental/clean"),
    ("Instr./clean", "Instrumental/clean"),
    ("Instru./Mixed", "Instrumental/mixed"),
    ("Mixed/Instru.", "Instrumental/mixed"),
    ("Instru./Harsh", "Instrumental/harsh"),
    ("Clean & Harsh", "Clean/harsh"),
    ("Spoken word", "Spoken word"),
    ("", None),
    (" / ", None),
]


@pytest.mark.parametrize(("spelling", "facet"), VOCAL_SPELLINGS)
def test_vocal_facet__maps_every_spelling_to_one_value(spelling: str, facet: str | None) -> None:
    assert vocal_facet(spelling) == facet


VOCAL_ROWS = [
    ["A", "One", "2020-01-01", "LP", None, "Instru./Clean", None],
    ["B", "Two", "2020-01-02", "LP", None, "Instr./clean", None],
    ["C", "Three", "2020-01-03", "LP", None, "Instrumen", None],
    ["D", "Four", "2020-01-04", "LP", None, "Instrumental", None],
    ["E", "Five", "2020-01-05", "LP", None, "MIxed", None],
    ["F", "Six", "2020-01-06", "LP", None, "Mixed/Instru.", None],
    ["G", "Seven", "2020-01-07", "LP", None, "Instru./Mixed", None],
]


@pytest.fixture
def vocals(make_sheet: Callable[..., Path], run: Callable[..., Result]) -> None:
    assert run("import", str(make_sheet({"2020": VOCAL_ROWS}))).exit_code == 0


@pytest.mark.usefixtures("vocals")
def test_facets__each_vocal_facet_once_whatever_its_spellings(store: Store) -> None:
    assert store.facets().vocals == [
        "Instrumental",
        "Instrumental/clean",
        "Instrumental/mixed",
        "Mixed",
    ]


@pytest.mark.usefixtures("vocals")
@pytest.mark.parametrize(
    ("vocal", "titles"),
    [
        ("Instrumental/clean", ["One", "Two"]),
        ("instru./clean", ["One", "Two"]),
        ("Instrumental", ["Four", "Three"]),
        ("Instrumental/mixed", ["Seven", "Six"]),
        ("mixed", ["Five"]),
    ],
)
def test_albums_page__a_vocal_facet_finds_all_its_spellings(
    store: Store, vocal: str, titles: list[str]
) -> None:
    albums, _ = store.albums_page(AlbumFilter(vocal=vocal), AlbumOrder.TITLE, limit=10)

    assert [a.title for a in albums] == titles


@pytest.mark.usefixtures("vocals")
def test_albums__keep_the_sheets_vocal_text_beside_the_facet(store: Store) -> None:
    styles = {
        a.title: a.vocal_style_raw for a in store.albums(AlbumFilter(vocal="instrumental/clean"))
    }

    assert styles == {"One": "Instru./Clean", "Two": "Instr./clean"}
