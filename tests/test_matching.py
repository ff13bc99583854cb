"""The scorer and the decision of `match`, pure: no I/O, no Spotify."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from jitspot.jobs.matching import (
    MAX_SEARCH_QUERY,
    artist_similarity,
    bounded_names,
    core_title,
    decide,
    normalise,
    score,
    search_query,
    sheet_year,
    title_similarity,
)
from jitspot.model import StoredAlbum
from jitspot.spotify.data import Candidate


def album(
    artist: str, title: str, year: int | None = 2021, kind: str | None = "LP", tab: str = "2021"
) -> StoredAlbum:
    return StoredAlbum(
        id=1,
        tab=tab,
        row_number=6,
        artist=artist,
        title=title,
        release_date=f"{year}-05-01" if year else None,
        release_text=None if year else "TBA",
        year=year,
        kind=kind,
        genres=(),
        vocal_style=None,
        vocal_style_raw=None,
        location=None,
        links={},
        sheet_spotify_id=None,
        spotify_link_invalid=False,
        match_id=None,
        match_score=None,
        match_state=None,
        removed=False,
    )


def candidate(
    name: str,
    artists: list[str],
    date: str = "2021-05-01",
    album_type: str = "album",
    cid: str = "0" * 22,
) -> Candidate:
    return {
        "id": cid,
        "name": name,
        "artists": artists,
        "album_type": album_type,
        "release_date": date,
        "total_tracks": 9,
        "cover_url": None,
    }


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("Motorhead", "Motörhead"),
        ("Mgla", "Mgła"),
        ("Kaelan Mikla", "Kælan Mikla"),
        ("Cult of Luna & Julie Christmas", "Cult Of Luna and Julie Christmas"),
        ("Don't Look Down", "Don’t Look Down"),
        ("Vol. II", "Vol II"),
        ("Pt. 2", "Part 2"),
    ],
)
def test_normalise__spellings_of_the_same_name_are_equal(ours: str, theirs: str) -> None:
    assert normalise(ours) == normalise(theirs)


@pytest.mark.parametrize(
    ("title", "core", "reissue"),
    [
        ("Aphelion - EP", "aphelion", False),
        ("Aphelion (Deluxe Edition)", "aphelion", False),
        ("Aphelion [Bonus Track Version]", "aphelion", False),
        ("Aphelion (Remastered 2031)", "aphelion", True),
        ("Aphelion - 2031 Remaster", "aphelion", True),
        ("Aphelion (Live at Rockefeller)", "aphelion live at rockefeller", False),
        ("EP", "ep", False),  # a title that is only a suffix stays a title
    ],
)
def test_core_title__drops_edition_suffixes_only(title: str, core: str, reissue: bool) -> None:
    stripped, _, is_reissue = core_title(title)
    assert (stripped, is_reissue) == (core, reissue)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("II", "III"), ("Part 1", "Part 11"), ("3", "33"), ("Chapter IV", "Chapter V")],
)
def test_title_similarity__another_number_is_another_record(ours: str, theirs: str) -> None:
    assert title_similarity(ours, theirs) == 0.0


def test_artist_similarity__two_artists_on_spotify_are_the_sheets_pair() -> None:
    assert (
        artist_similarity("Cult of Luna & Julie Christmas", ["Cult of Luna", "Julie Christmas"])
        >= 0.95
    )
    assert artist_similarity("Cult of Luna & Julie Christmas", ["Cult of Luna"]) < 0.8


@pytest.mark.parametrize(
    ("sheet", "found", "at_least", "below"),
    [
        (album("Leprous", "Aphelion"), candidate("Aphelion", ["Leprous"]), 0.99, 1.01),
        # A pre-release date a year before Spotify's.
        (album("Leprous", "Aphelion", 2020), candidate("Aphelion", ["Leprous"]), 0.9, 1.0),
        # An EP that Spotify types as a single.
        (
            album("Vola", "Speed", kind="EP"),
            candidate("Speed - EP", ["VOLA"], album_type="single"),
            0.9,
            1.01,
        ),
        # Self-titled.
        (album("Haken", "Haken"), candidate("Haken", ["Haken"]), 0.99, 1.01),
        # Numeric artist and title.
        (album("1349", "3"), candidate("3", ["1349"]), 0.99, 1.01),
        # The same title by another artist.
        (album("Leprous", "Aphelion"), candidate("Aphelion", ["Lepros"]), 0.0, 0.9),
        (album("Leprous", "Aphelion"), candidate("Aphelion", ["Ihsahn"]), 0.0, 0.5),
        # A remaster ten years later.
        (
            album("Leprous", "Aphelion"),
            candidate("Aphelion (Remastered)", ["Leprous"], "2031"),
            0.5,
            0.9,
        ),
        # A live album of the record.
        (album("Leprous", "Aphelion"), candidate("Aphelion (Live)", ["Leprous"]), 0.0, 0.9),
        # The single of the title track is not the LP.
        (album("Haken", "Virus"), candidate("Virus", ["Haken"], album_type="single"), 0.5, 0.9),
        # A near title is another record ("Ghost" is not "Ghosts").
        (album("Sleep Token", "Ghost"), candidate("Ghosts", ["Sleep Token"]), 0.5, 0.9),
    ],
)
def test_score__traps_and_spellings(
    sheet: StoredAlbum, found: Candidate, at_least: float, below: float
) -> None:
    assert at_least <= score(sheet, found).score < below


def test_score__unknown_date_uses_the_tabs_year() -> None:
    tba = album("Leprous", "Aphelion", year=None, tab="2021 Prog-metal")
    assert sheet_year(tba) == 2021
    remaster = candidate("Aphelion (Remastered)", ["Leprous"], "2031")
    assert score(tba, remaster).score < 0.9
    assert sheet_year(album("Leprous", "Aphelion", year=None, tab="Misc")) is None


def test_decide__original_beats_its_deluxe_and_remaster_and_single() -> None:
    sheet = album("Leprous", "Aphelion")
    answer = [
        candidate("Aphelion", ["Leprous"], album_type="single", cid="S" * 22),
        candidate("Aphelion (Deluxe Edition)", ["Leprous"], cid="D" * 22),
        candidate("Aphelion", ["Leprous"], cid="A" * 22),
        candidate("Aphelion (Remastered 2022)", ["Leprous"], "2022", cid="R" * 22),
    ]
    decision = decide(sheet, answer, 0.9)
    assert (decision.state, decision.match_id) == ("matched", "A" * 22)
    assert len(decision.candidates) == 3


def test_decide__below_the_threshold_keeps_candidates_for_review() -> None:
    decision = decide(
        album("Haken", "Virus"), [candidate("Virus", ["Haken"], album_type="single")], 0.9
    )
    assert decision.state == "review"
    assert decision.score is not None and 0.5 <= decision.score < 0.9
    assert decide(album("Haken", "Virus"), [], 0.9).state == "no_candidate"
    junk = [candidate("Something Else", ["Someone"])]
    assert decide(album("Haken", "Virus"), junk, 0.9).state == "no_candidate"


def test_decide__threshold_is_one_scale_0_to_1() -> None:
    near = [candidate("Virus", ["Haken"], album_type="single")]
    low = decide(album("Haken", "Virus"), near, 0.5)
    assert low.state == "matched"


def test_decide__a_score_exactly_at_the_threshold_is_a_match() -> None:
    sheet = album("Haken", "Virus")
    near = [candidate("Virus", ["Haken"], album_type="single")]
    exact = score(sheet, near[0]).score
    assert decide(sheet, near, exact).state == "matched"
    assert decide(sheet, near, math.nextafter(exact, 1.0)).state == "review"


def test_search_query__one_search_with_the_year_widened() -> None:
    assert (
        search_query(album("Haken", "Virus", 2020)) == 'artist:"Haken" album:"Virus" year:2019-2021'
    )
    assert (
        search_query(album('The "Band"', "Title", None, tab="Misc"))
        == 'artist:"The Band" album:"Title"'
    )
    assert search_query(replace(album("Band", "x"), title="")) is None


LONG_TITLE = " ".join(f"word{i}" for i in range(10_000))[:70_000]


def test_search_query__a_70000_character_title_stays_within_spotifys_limit() -> None:
    query = search_query(album("Leprous", LONG_TITLE, 2021))
    assert query is not None
    assert len(query) <= MAX_SEARCH_QUERY == 100
    # The artist and the year are whole; the title keeps its first words, whole ones.
    assert query.startswith('artist:"Leprous" album:"word0 word1 word2 ')
    assert query.endswith('" year:2020-2022')
    kept = query.split('album:"')[1].split('"')[0].split()
    assert kept == LONG_TITLE.split()[: len(kept)]


def test_search_query__at_the_limit_is_left_as_it_is() -> None:
    title = "t" * (MAX_SEARCH_QUERY - len('artist:"Band" album:""'))
    query = search_query(album("Band", title, None, tab="Misc"))
    assert query == f'artist:"Band" album:"{title}"'
    assert len(query) == MAX_SEARCH_QUERY
    longer = search_query(album("Band", title + " x", None, tab="Misc"))
    assert longer == f'artist:"Band" album:"{title}"'  # the word past the limit goes


@pytest.mark.parametrize(
    ("artist", "title", "room", "expected"),
    [
        ("Leprous", "Aphelion", 60, ("Leprous", "Aphelion")),  # fits: untouched
        ("Band", "one two three four", 14, ("Band", "one two")),  # the title's last words go
        ("Long Artist Name Here", "Title", 16, ("Long Artist", "Title")),  # then the artist's
        ("Band", "Supercalifragilistic", 12, ("Band", "Supercal")),  # one long word: cut
        ("A" * 200, "T" * 200, 60, ("A" * 30, "T" * 30)),  # two long words: halves
    ],
)
def test_bounded_names__cut_at_word_boundaries_title_first(
    artist: str, title: str, room: int, expected: tuple[str, str]
) -> None:
    bounded = bounded_names(artist, title, room)
    assert bounded == expected
    assert len(bounded[0]) + len(bounded[1]) <= room
