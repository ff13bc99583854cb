"""`jitspot show`: every ALBUM form, ambiguity, every cover_state, offline and refresh."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ALBUM_KEYS, SPOTIFY_KEYS, Result, album_url
from spotify_double import API_ENDPOINTS, SpotifyDouble

Run = Callable[..., Result]


@pytest.fixture
def sheet(run: Run, make_sheet: Callable[..., Path], spotify: SpotifyDouble) -> dict[str, str]:
    """A sheet whose Spotify links point at albums the double knows."""
    haken = spotify.add_artist("Haken", genres=("progressive metal", "djent"))
    band = spotify.add_artist("1349", genres=("black metal",))
    ids = {
        "fauna": spotify.add_album("Fauna", [haken], n_tracks=10, label="InsideOut", popularity=51),
        "virus": spotify.add_album("Virus", [haken], n_tracks=60),
        "1349": spotify.add_album("The Wolf and the King", [band]),
        "gone": spotify.new_id(),
    }
    spotify.not_found(ids["gone"])
    rows = [
        [
            "Haken",
            "Fauna",
            datetime(2023, 3, 3),
            "LP",
            "Prog-metal",
            "Clean",
            "UK",
            None,
            album_url(ids["fauna"]),
        ],
        [
            "Haken",
            "Virus",
            datetime(2020, 7, 24),
            "LP",
            "Prog-metal",
            "Mixed",
            "UK",
            None,
            album_url(ids["virus"]),
        ],
        [
            1349,
            "The Wolf and the King",
            datetime(2019, 10, 4),
            "LP",
            "Black metal",
            "Harsh",
            "Norway",
            None,
            album_url(ids["1349"]),
        ],
        [
            "Ghost Band",
            "Vanished",
            "TBA",
            "EP",
            "Prog-rock",
            "Clean",
            "US",
            None,
            album_url(ids["gone"]),
        ],
        ["Nolink", "Demo", "TBA", "EP", "Prog-rock", "Clean", "US"],
    ]
    assert run("import", str(make_sheet({"2021": rows}))).exit_code == 0
    assert spotify.requests == []
    return ids


def show_json(run: Run, *args: str) -> dict[str, Any]:
    result = run("show", *args, "--json")
    assert result.exit_code == 0, result.stderr
    view: dict[str, Any] = result.json()
    return view


@pytest.mark.parametrize(
    "form",
    [
        lambda i: f"https://open.spotify.com/album/{i}?si=xyz",
        lambda i: f"https://open.spotify.com/intl-fr/album/{i}",
        lambda i: f"spotify:album:{i}",
        lambda i: i,
    ],
    ids=["url", "intl-url", "uri", "bare-id"],
)
def test_show__spotify_forms_find_the_album(
    run: Run, sheet: dict[str, str], form: Callable[[str], str]
) -> None:
    assert show_json(run, form(sheet["fauna"]))["title"] == "Fauna"


def test_show__text_matches_artist_and_title_ignoring_case(run: Run, sheet: dict[str, str]) -> None:
    assert show_json(run, "haken FAUNA")["title"] == "Fauna"


def test_show__bare_number_is_text_not_an_id(run: Run, sheet: dict[str, str]) -> None:
    view = show_json(run, "1349")
    assert view["artist"] == "1349"
    assert view["title"] == "The Wolf and the King"


def test_show__store_id_with_option(run: Run, sheet: dict[str, str]) -> None:
    view = show_json(run, "--id", "2")
    assert view["title"] == "Virus"


def test_show__several_matches_list_candidates_and_exit_1(run: Run, sheet: dict[str, str]) -> None:
    result = run("show", "haken")
    assert result.exit_code == 1
    assert "2 albums match" in result.stderr
    assert "--id 1" in result.stderr and "--id 2" in result.stderr
    assert "Fauna" in result.stderr and "Virus" in result.stderr


def test_show__no_match_exits_1(run: Run, sheet: dict[str, str]) -> None:
    result = run("show", "nothing like this")
    assert result.exit_code == 1
    assert result.stderr.startswith("jitspot: no album matches")


def test_show__fetches_once_then_serves_from_cache(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble
) -> None:
    first = show_json(run, "haken fauna")
    assert first["cover_state"] == "fetched"
    assert spotify.counts() == {"token": 1, "album": 1, "artist": 1}
    second = show_json(run, "haken fauna")
    assert second["cover_state"] == "cached"
    assert spotify.counts() == {"token": 1, "album": 1, "artist": 1}  # no call, not even a token


def test_show__json_has_the_album_object_keys(run: Run, sheet: dict[str, str]) -> None:
    view = show_json(run, "haken fauna")
    assert set(view) >= ALBUM_KEYS
    assert set(view["spotify"]) >= SPOTIFY_KEYS
    assert view["cover_url"] == view["spotify"]["images"][0]["url"]
    assert view["spotify"]["images"][0]["width"] == 640
    assert view["spotify"]["label"] == "InsideOut"
    assert view["spotify"]["popularity"] == 51
    assert view["spotify"]["genres"] == ["progressive metal", "djent"]
    assert view["spotify"]["tracks"][0] == {
        "disc": 1,
        "number": 1,
        "name": view["spotify"]["tracks"][0]["name"],
        "duration_ms": view["spotify"]["tracks"][0]["duration_ms"],
    }
    assert len(view["spotify"]["tracks"]) == 10
    assert view["spotify"]["copyrights"]


def test_show__tracks_past_50_are_paged(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble
) -> None:
    view = show_json(run, "haken virus")
    assert len(view["spotify"]["tracks"]) == 60
    assert spotify.count("album_tracks") == 1


def test_show__terminal_page_has_tracks_and_total(run: Run, sheet: dict[str, str]) -> None:
    result = run("show", "haken fauna")
    assert result.exit_code == 0
    assert "Haken — Fauna" in result.stdout
    assert "10 tracks" in result.stdout
    assert "InsideOut" in result.stdout
    assert "progressive metal, djent" in result.stdout


def test_show__not_found_on_spotify(run: Run, sheet: dict[str, str]) -> None:
    view = show_json(run, "ghost band vanished")
    assert view["cover_state"] == "not_found"
    assert view["spotify"] is None
    assert "not found on Spotify" in run("show", "ghost band").stdout


def test_show__no_spotify_link(run: Run, sheet: dict[str, str], spotify: SpotifyDouble) -> None:
    view = show_json(run, "nolink demo")
    assert view["cover_state"] == "no_spotify_link"
    assert spotify.api_calls() == 0


def test_show__offline_never_calls_and_says_not_cached(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble
) -> None:
    view = show_json(run, "haken fauna", "--offline")
    assert view["cover_state"] == "not_cached"
    assert spotify.requests == []
    result = run("show", "haken fauna", "--offline")
    assert result.exit_code == 0
    assert "not cached" in result.stdout


def test_show__refresh_fetches_again(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble
) -> None:
    show_json(run, "haken fauna")
    view = show_json(run, "haken fauna", "--refresh")
    assert view["cover_state"] == "fetched"
    assert spotify.count("album") == 2


def test_show__rate_limited_still_exits_0_and_says_until_when(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble
) -> None:
    spotify.rate_limit(7200, endpoints={*API_ENDPOINTS, "oembed"})  # oEmbed too: no cover
    view = show_json(run, "haken fauna")
    assert view["cover_state"] == "rate_limited"
    assert view["cover_note"].startswith("rate-limited until ")
    calls = spotify.count()
    again = run("show", "haken virus")  # another process respects both "not before"s
    assert again.exit_code == 0
    assert "rate-limited until" in again.stdout
    assert spotify.count() == calls


def test_show__rate_limited_web_api_still_shows_the_cover_from_oembed(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble
) -> None:
    spotify.rate_limit(7200)  # the Web API only
    view = show_json(run, "haken fauna")
    assert view["cover_state"] == "fetched"
    assert view["spotify"]["source"] == "oembed"
    assert view["cover_url"] is not None
    assert view["cover_note"].startswith("metadata waits: rate-limited until ")
    assert spotify.count("oembed") == 1


def test_show__unreachable_spotify_exits_0_with_reason(
    run: Run, sheet: dict[str, str], spotify: SpotifyDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_RETRY_ATTEMPTS", "1")
    spotify.fail_every(1, 503)
    view = show_json(run, "haken fauna")
    assert view["cover_state"] == "unavailable"
    assert "Spotify unavailable" in view["cover_note"]


def test_show__without_credentials_cover_from_oembed(
    run: Run, sheet: dict[str, str], spotify_no_credentials: SpotifyDouble
) -> None:
    spotify = spotify_no_credentials
    view = show_json(run, "haken fauna")
    assert view["cover_state"] == "fetched"
    assert view["cover_url"] and view["cover_url"].startswith("http")
    assert view["spotify"]["tracks"] is None
    assert "credentials" in view["cover_note"]
    assert spotify.counts() == {"oembed": 1}
    assert "need Spotify credentials" in run("show", "haken fauna").stdout
    assert spotify.counts() == {"oembed": 1}


def test_show__bad_credentials_exit_0_with_reason(
    run: Run, sheet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "wrong")
    view = show_json(run, "haken fauna")
    assert view["cover_state"] == "unavailable"
    assert "credentials" in view["cover_note"]
