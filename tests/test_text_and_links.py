"""Pure helpers: folding, cell text, genres, vocal styles, Spotify references, URLs."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from jitspot.sheets.readers import google_export_url
from jitspot.sheets.sheet import tab_selected
from jitspot.spotify.links import (
    SpotifyRef,
    is_http_url,
    link_key,
    parse_spotify_ref,
    unwrap_redirect,
)
from jitspot.text import cell_text, fold, normalise_vocal_style, split_genres

ID = "4aawyAB9vmqN3uQ7FjRGTy"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Mötley  Crüe", "motley crue"),
        ("SIGUR RÓS", "sigur ros"),
        ("  Djent ", "djent"),
        ("1349", "1349"),
        ("Mgła", "mgla"),
        ("Ørkenkjøpt", "orkenkjopt"),
        ("Æther", "aether"),
        ("Þórr", "thorr"),
        ("Đorđe", "dorde"),
        ("Straße", "strasse"),
        ("Мгла", "mgla"),
        ("Sólstafir\u00a0 Berdreyminn", "solstafir berdreyminn"),
        ("Sólstafir".replace("ó", "o\u0301"), "solstafir"),
    ],
)
def test_fold__ignores_case_accents_and_spacing(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1349.0, "1349"),
        (3, "3"),
        (20247.0, "20247"),
        (2.5, "2.5"),
        (None, ""),
        (datetime(2020, 1, 3), "2020-01-03"),
        (date(2019, 4, 1), "2019-04-01"),
        ("  Mixed  ", "Mixed"),
    ],
)
def test_cell_text__numbers_stay_as_written(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_split_genres__splits_trims_and_drops_duplicates() -> None:
    assert split_genres("Prog-metal, Djent,  djent; Post-rock,") == [
        "Prog-metal",
        "Djent",
        "Post-rock",
    ]


@pytest.mark.parametrize("raw", ["Mixed ", "MIxed", "mixed", " MIXED"])
def test_normalise_vocal_style__one_spelling(raw: str) -> None:
    assert normalise_vocal_style(raw) == "Mixed"


@pytest.mark.parametrize(
    "text",
    [
        f"https://open.spotify.com/album/{ID}",
        f"https://open.spotify.com/album/{ID}?si=Ab_Cd-12",
        f"https://open.spotify.com/intl-de/album/{ID}",
        f"https://open.spotify.com/embed/album/{ID}",
        f"open.spotify.com/album/{ID}",
        f"spotify:album:{ID}",
        ID,
    ],
)
def test_parse_spotify_ref__album_forms(text: str) -> None:
    assert parse_spotify_ref(text) == (SpotifyRef.ALBUM, ID)


@pytest.mark.parametrize(
    "text",
    [
        f"https://open.spotify.com/artist/{ID}?si=x",
        f"spotify:artist:{ID}",
        f"https://open.spotify.com/track/{ID}",
        "https://open.spotify.com/album/1miEn0XLUUicLBewLZ0DSnS",  # 23 characters: a typo
    ],
)
def test_parse_spotify_ref__artist_and_malformed_links_are_not_albums(text: str) -> None:
    assert parse_spotify_ref(text) == (SpotifyRef.OTHER, None)


def test_parse_spotify_ref__other_sites_are_not_spotify() -> None:
    assert parse_spotify_ref("https://band.bandcamp.com/album/x") == (SpotifyRef.NONE, None)
    assert parse_spotify_ref("") == (SpotifyRef.NONE, None)


def test_unwrap_redirect__google_redirect_gives_the_target() -> None:
    wrapped = (
        "https://www.google.com/url?q=https://open.spotify.com/album/"
        f"{ID}?si%3DThsTY6&sa=D&ust=1567775061106000&usg=AFQjCNH"
    )
    assert unwrap_redirect(wrapped) == f"https://open.spotify.com/album/{ID}?si=ThsTY6"
    assert unwrap_redirect("https://example.com/x") == "https://example.com/x"


@pytest.mark.parametrize(
    ("url", "export"),
    [
        (
            "https://docs.google.com/spreadsheets/d/1AbC_d-9/edit?usp=sharing",
            "https://docs.google.com/spreadsheets/d/1AbC_d-9/export?format=xlsx",
        ),
        (
            "https://docs.google.com/spreadsheets/d/1AbC_d-9/edit#gid=12",
            "https://docs.google.com/spreadsheets/d/1AbC_d-9/export?format=xlsx",
        ),
        ("https://example.com/sheet.xlsx", "https://example.com/sheet.xlsx"),
    ],
)
def test_google_export_url__share_links_become_xlsx_exports(url: str, export: str) -> None:
    assert google_export_url(url) == export


def test_is_http_url__only_http_and_https() -> None:
    assert is_http_url("https://x.org/a")
    assert not is_http_url("javascript:alert(1)")
    assert not is_http_url("data:image/png;base64,xx")
    assert not is_http_url(None)


def test_link_key__header_to_key() -> None:
    assert link_key("Google Play") == "google_play"
    assert link_key(" Apple Music ") == "apple_music"


def test_tab_selected__globs_are_case_insensitive() -> None:
    assert tab_selected("2020 Prog-metal", ["2020*"])
    assert tab_selected("2020 Prog-metal", ["*prog-METAL"])
    assert not tab_selected("2019 Prog-rock", ["2020*"])
    assert tab_selected("anything", [])
