"""The match test catalog's own sanity: size, categories, answers the double has and finds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import requests
from match_catalog import CATEGORIES, Case, build_catalog, precision_recall, sheet_tabs
from spotify_double import SpotifyDouble

from jitspot.text import cell_text, fold

TIMEOUT = 5


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[SpotifyDouble, list[Case]]]:
    with SpotifyDouble() as double:
        yield double, build_catalog(double)


def test_catalog__has_at_least_200_linkless_rows_in_every_category(
    built: tuple[SpotifyDouble, list[Case]],
) -> None:
    _, cases = built
    counts = Counter(case.trap for case in cases)
    assert len(cases) >= 200
    assert set(counts) == set(CATEGORIES)
    assert 0.35 <= counts["plain"] / len(cases) <= 0.55
    assert all(len(case.row) == 7 for case in cases)  # no link columns at all
    assert {case.row[3] for case in cases} >= {"LP", "EP"}


def test_catalog__answers_exist_in_the_double_and_none_cases_are_the_traps(
    built: tuple[SpotifyDouble, list[Case]],
) -> None:
    double, cases = built
    albums = set(double.album_ids())
    assert all(case.answer in albums for case in cases if case.answer is not None)
    unanswered = {case.trap for case in cases if case.answer is None}
    assert unanswered == {
        "self-titled:missing",
        "roman-numeral:missing",
        "numeric:missing",
        "other-artist:only",
        "reissue:only",
        "live:only",
        "absent",
        "absent:unknown-artist",
    }
    assert len({case.answer for case in cases if case.answer}) == sum(1 for c in cases if c.answer)


def test_catalog__rows_are_unique_by_artist_and_title_and_look_like_the_sheet(
    built: tuple[SpotifyDouble, list[Case]],
) -> None:
    _, cases = built
    keys = {(fold(cell_text(c.row[0])), fold(cell_text(c.row[1]))) for c in cases}
    assert len(keys) == len(cases)
    dates = Counter(type(case.row[2]).__name__ for case in cases)
    assert dates["datetime"] > dates["int"] > 0 and dates["str"] > 0
    assert any(isinstance(case.row[0], int) for case in cases)  # 1349-like artists
    assert sum(len(rows) for rows in sheet_tabs(cases).values()) == len(cases)
    for case in cases:  # a dated row's tab is its year's; "TBA" takes its year from the tab
        when = case.row[2]
        year = when if isinstance(when, int) else getattr(when, "year", None)
        assert case.tab.split()[0] == str(year) or isinstance(when, str)


def test_catalog__is_deterministic_for_a_seed() -> None:
    def build(seed: int) -> list[Case]:
        with SpotifyDouble() as double:
            return build_catalog(double, seed=seed, size=60)

    assert build(3) == build(3)
    assert build(3) != build(4)


@pytest.fixture(scope="module")
def search(built: tuple[SpotifyDouble, list[Case]]) -> Iterator[Callable[[Case], list[str]]]:
    """The ids the double's search finds for a case's sheet spelling (the first 10)."""
    double, _ = built
    token = requests.post(
        double.token_url,
        data={"grant_type": "client_credentials"},
        auth=(double.client_id, double.client_secret),
        timeout=TIMEOUT,
    ).json()["access_token"]
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"

        def ids(case: Case) -> list[str]:
            artist, title = cell_text(case.row[0]), cell_text(case.row[1])
            page = session.get(
                double.api_url + "search",
                params={"q": f'album:"{title}" artist:"{artist}"', "type": "album", "limit": "10"},
                timeout=TIMEOUT,
            ).json()["albums"]
            return [item["id"] for item in page["items"]]

        yield ids


def test_catalog__every_answer_is_among_the_first_10_results_of_its_sheet_spelling(
    built: tuple[SpotifyDouble, list[Case]], search: Callable[[Case], list[str]]
) -> None:
    _, cases = built
    missed = [(c.trap, c.row[:2]) for c in cases if c.answer and c.answer not in search(c)]
    assert missed == []


@pytest.mark.parametrize(
    "trap",
    [
        "self-titled:missing",
        "roman-numeral:missing",
        "numeric:missing",
        "other-artist:only",
        "reissue:only",
        "live:only",
    ],
)
def test_catalog__unanswerable_traps_still_offer_a_decoy_to_the_search(
    built: tuple[SpotifyDouble, list[Case]], search: Callable[[Case], list[str]], trap: str
) -> None:
    _, cases = built
    decoys = [len(search(case)) for case in cases if case.trap == trap]
    if trap == "self-titled:missing":  # only some have a "The Best of ..." compilation
        assert any(decoys)
    else:
        assert decoys and all(decoys)


def test_precision_recall__counts_matches_made_and_answers_found() -> None:
    cases = [
        Case(["A", "X", None, "LP", "", "", ""], "id-a", "plain"),
        Case(["B", "Y", None, "LP", "", "", ""], "id-b", "plain"),
        Case(["C", "Z", None, "LP", "", "", ""], None, "absent"),
        Case(["D", "W", None, "LP", "", "", ""], "id-d", "plain"),
    ]
    # Right on A, wrong on B, a match where there is none on C, nothing on D.
    matched: dict[int, str | None] = {0: "id-a", 1: "id-x", 2: "id-c", 3: None}
    assert precision_recall(cases, matched) == (1 / 3, 1 / 3)
    assert precision_recall(cases, {}) == (1.0, 0.0)
    with pytest.raises(ValueError, match="no such case"):
        precision_recall(cases, {4: "id"})
