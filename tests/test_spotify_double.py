"""Tests of the Spotify Web API test double itself (shapes, faults, counting)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import spotipy
from spotify_double import API_ENDPOINTS, SpotifyDouble
from spotipy.oauth2 import SpotifyClientCredentials

DATA = Path(__file__).parent / "data" / "spotify"
TIMEOUT = 5


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def double() -> Iterator[SpotifyDouble]:
    with SpotifyDouble() as d:
        yield d


@pytest.fixture
def session(double: SpotifyDouble) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {fetch_token(double)}"
        yield s


def fetch_token(double: SpotifyDouble) -> str:
    response = requests.post(
        double.token_url,
        data={"grant_type": "client_credentials"},
        auth=(double.client_id, double.client_secret),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


def get(session: requests.Session, double: SpotifyDouble, path: str) -> requests.Response:
    return session.get(double.api_url + path, timeout=TIMEOUT)


@pytest.fixture
def album_id(double: SpotifyDouble) -> str:
    artist = double.add_artist("Massive Attack", genres=["trip hop"])
    return double.add_album("Blue Lines", [artist], n_tracks=9, label="Wild Bunch")


# ---------------------------------------------------------------------- token


def test_double__token_flow_issues_bearer_token_in_recorded_shape(double: SpotifyDouble) -> None:
    response = requests.post(
        double.token_url,
        data={"grant_type": "client_credentials"},
        auth=(double.client_id, double.client_secret),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body.keys() == recorded("token_response.json").keys()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert double.count("token") == 1
    assert double.tokens_issued == 1


@pytest.mark.parametrize(
    "auth",
    [None, ("test-client-id", "wrong-secret"), ("someone-else", "test-client-secret-0123456789")],
)
def test_double__token_rejects_bad_or_missing_credentials_with_invalid_client(
    double: SpotifyDouble, auth: tuple[str, str] | None
) -> None:
    response = requests.post(
        double.token_url, data={"grant_type": "client_credentials"}, auth=auth, timeout=TIMEOUT
    )
    assert response.status_code == 400
    assert response.json() == recorded("token_error_invalid_client.json")
    assert double.tokens_issued == 0


def test_double__api_call_without_valid_token_is_unauthorized(
    double: SpotifyDouble, album_id: str
) -> None:
    url = f"{double.api_url}albums/{album_id}"
    missing = requests.get(url, timeout=TIMEOUT)
    unknown = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT)
    assert (missing.status_code, unknown.status_code) == (401, 401)
    assert unknown.json() == {"error": {"status": 401, "message": "Invalid access token"}}
    assert missing.json()["error"]["status"] == 401


def test_double__expire_tokens_makes_next_call_401_with_recorded_body(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    assert get(session, double, f"albums/{album_id}").status_code == 200
    double.expire_tokens()
    response = get(session, double, f"albums/{album_id}")
    assert response.status_code == 401
    assert response.json() == recorded("error_401_access_token_expired.json")
    session.headers["Authorization"] = f"Bearer {fetch_token(double)}"
    assert get(session, double, f"albums/{album_id}").status_code == 200


def test_double__token_expires_after_its_lifetime_on_the_double_clock() -> None:
    with SpotifyDouble(token_lifetime=60) as d:
        artist = d.add_artist("A")
        album = d.add_album("B", [artist])
        headers = {"Authorization": f"Bearer {fetch_token(d)}"}
        assert requests.get(f"{d.api_url}albums/{album}", headers=headers, timeout=5).ok
        d.advance(61)
        response = requests.get(f"{d.api_url}albums/{album}", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "The access token expired"


# --------------------------------------------------------------------- shapes


def test_double__album_has_the_recorded_keys_and_nesting(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    real = recorded("album_full.json")
    response = get(session, double, f"albums/{album_id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    album = response.json()
    assert list(album) == list(real)
    assert album["tracks"].keys() == real["tracks"].keys()
    assert album["tracks"]["items"][0].keys() == real["tracks"]["items"][0].keys()
    assert album["artists"][0].keys() == real["artists"][0].keys()
    assert album["tracks"]["items"][0]["artists"][0].keys() == real["artists"][0].keys()
    assert [i.keys() for i in album["images"]] == [i.keys() for i in real["images"]]
    assert [i["width"] for i in album["images"]] == [640, 300, 64]
    assert album["copyrights"][0].keys() == real["copyrights"][0].keys()
    assert album["external_ids"].keys() == real["external_ids"].keys()
    assert album["name"] == "Blue Lines"
    assert album["label"] == "Wild Bunch"
    assert album["genres"] == []
    assert album["tracks"]["next"] is None
    assert album["tracks"]["total"] == album["total_tracks"] == 9
    assert album["href"] == f"{double.api_url}albums/{album_id}"
    assert album["uri"] == f"spotify:album:{album_id}"


def test_double__album_tracks_page_has_the_recorded_keys(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    real = recorded("album_tracks_page.json")
    page = get(session, double, f"albums/{album_id}/tracks?offset=0&limit=50").json()
    assert page.keys() == real.keys()
    assert page["items"][0].keys() == real["items"][0].keys()
    assert page["href"] == f"{double.api_url}albums/{album_id}/tracks?offset=0&limit=50"
    assert [t["track_number"] for t in page["items"]] == list(range(1, 10))


def test_double__artist_and_artists_batch_have_the_recorded_keys(
    double: SpotifyDouble, session: requests.Session
) -> None:
    first = double.add_artist("Portishead", genres=["trip hop", "downtempo"])
    second = double.add_artist("Tricky")
    artist = get(session, double, f"artists/{first}").json()
    assert list(artist) == list(recorded("artist_full.json"))
    assert artist["genres"] == ["trip hop", "downtempo"]
    batch = get(session, double, f"artists?ids={second},{first}").json()
    real_batch = recorded("artists_several_official_example.json")
    assert batch.keys() == real_batch.keys()
    assert [a["id"] for a in batch["artists"]] == [second, first]
    assert batch["artists"][0].keys() == real_batch["artists"][0].keys()


def test_double__artist_genres_switch_removes_the_genres_key(
    double: SpotifyDouble, session: requests.Session
) -> None:
    artist_id = double.add_artist("Portishead", genres=["trip hop"])
    double.artist_genres = False
    assert "genres" not in get(session, double, f"artists/{artist_id}").json()


@pytest.mark.parametrize(
    ("path", "fixture"),
    [
        ("albums/not-an-id", "error_400_invalid_id.json"),
        ("albums/0000000000000000000000", "error_404_resource_not_found.json"),
        ("artists/0000000000000000000000", "error_404_resource_not_found.json"),
        ("albums/{album}/tracks?limit=51", "error_400_invalid_limit.json"),
        ("albums?ids=" + ",".join(["0000000000000000000000"] * 21), None),
    ],
)
def test_double__client_errors_answer_the_recorded_error_bodies(
    double: SpotifyDouble,
    session: requests.Session,
    album_id: str,
    path: str,
    fixture: str | None,
) -> None:
    response = get(session, double, path.format(album=album_id))
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    if fixture is None:
        assert response.status_code == 400
        assert response.json() == {"error": {"status": 400, "message": "Too many ids requested"}}
    else:
        expected = recorded(fixture)
        assert response.status_code == expected["error"]["status"]
        assert response.json() == expected


def test_double__album_with_more_than_50_tracks_pages_via_next(
    double: SpotifyDouble, session: requests.Session
) -> None:
    artist = double.add_artist("Long Player")
    album_id = double.add_album("Box Set", [artist], n_tracks=120)
    album = get(session, double, f"albums/{album_id}").json()
    tracks = album["tracks"]
    assert (len(tracks["items"]), tracks["total"], tracks["limit"]) == (50, 120, 50)
    assert tracks["next"] == f"{double.api_url}albums/{album_id}/tracks?offset=50&limit=50"
    collected = list(tracks["items"])
    url = tracks["next"]
    pages = 0
    while url:
        page = session.get(url, timeout=TIMEOUT).json()
        assert page["previous"] is not None
        collected.extend(page["items"])
        url = page["next"]
        pages += 1
    assert pages == 2
    assert [t["track_number"] for t in collected] == list(range(1, 121))
    assert double.count("album_tracks") == 2


def test_double__trailing_slashes_are_accepted_as_spotipy_sends_them(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    assert get(session, double, f"albums/?ids={album_id}").json()["albums"][0]["id"] == album_id
    page = get(session, double, f"albums/{album_id}/tracks/?limit=50&offset=0").json()
    assert page["total"] == 9
    assert double.counts() == {"token": 1, "albums_batch": 1, "album_tracks": 1}


def test_double__batch_keeps_request_order_and_answers_null_for_unknown_ids(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    missing = "0000000000000000000000"
    other = double.add_album("Protection", [double.artist_ids()[0]])
    body = get(session, double, f"albums?ids={other},{missing},{album_id}").json()
    assert list(body) == ["albums"]
    assert [a and a["id"] for a in body["albums"]] == [other, None, album_id]
    assert body["albums"][0].keys() == recorded("album_full.json").keys()


def test_double__not_found_hides_catalogue_albums_everywhere(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.not_found(album_id)
    assert get(session, double, f"albums/{album_id}").status_code == 404
    assert get(session, double, f"albums?ids={album_id}").json() == {"albums": [None]}
    oembed = requests.get(double.oembed_url, params={"url": album_url(album_id)}, timeout=5)
    assert oembed.status_code == 404


def test_double__search_finds_albums_by_name_or_artist_in_simplified_shape(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.add_album("Mezzanine", [double.artist_ids()[0]], release_date="1998")
    real = recorded("search_album.json")
    by_album = session.get(
        double.api_url + "search",
        params={"q": 'album:"blue lines" artist:massive', "type": "album"},
        timeout=TIMEOUT,
    ).json()
    assert by_album.keys() == real.keys()
    assert by_album["albums"].keys() == real["albums"].keys()
    assert [a["id"] for a in by_album["albums"]["items"]] == [album_id]
    assert list(by_album["albums"]["items"][0]) == list(real["albums"]["items"][0])
    by_artist = session.get(
        double.api_url + "search",
        params={"q": "artist:MASSIVE ATTACK", "type": "album", "limit": "1"},
        timeout=TIMEOUT,
    ).json()["albums"]
    assert (by_artist["total"], len(by_artist["items"])) == (2, 1)
    assert by_artist["next"] is not None
    by_year = session.get(
        double.api_url + "search",
        params={"q": "massive year:1990-1999", "type": "album"},
        timeout=TIMEOUT,
    ).json()["albums"]
    assert [a["name"] for a in by_year["items"]] == ["Mezzanine"]


def search_albums(
    session: requests.Session, double: SpotifyDouble, q: str, **params: str
) -> dict[str, Any]:
    response = session.get(
        double.api_url + "search", params={"q": q, "type": "album", **params}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()["albums"]
    return page


def album_names(session: requests.Session, double: SpotifyDouble, q: str) -> list[str]:
    return [a["name"] for a in search_albums(session, double, q)["items"]]


def test_double__search_finds_every_edition_of_a_title_exact_first(
    double: SpotifyDouble, session: requests.Session
) -> None:
    persefone = double.add_artist("Persefone")
    for name, popularity in [
        ("Live at Roadburn - Metanoia", 90),
        ("Metanoia (Remastered 2031)", 80),
        ("Metanoia - EP", 70),
        ("Metanoia", 10),
        ("Metanoia (Deluxe Edition)", 60),
        ("Aathma", 99),
    ]:
        double.add_album(name, [persefone], popularity=popularity)
    names = album_names(session, double, 'album:"Metanoia" artist:"Persefone"')
    assert names[0] == "Metanoia"
    assert set(names) == {
        "Metanoia",
        "Metanoia - EP",
        "Metanoia (Deluxe Edition)",
        "Metanoia (Remastered 2031)",
        "Live at Roadburn - Metanoia",
    }
    # Coverage before popularity: the live album's long title ranks last.
    assert names[1] == "Metanoia - EP"
    assert names[-1] == "Live at Roadburn - Metanoia"


@pytest.mark.parametrize(
    ("spotify_artist", "spotify_title", "query"),
    [
        ("Motörhead", "Orgasmatron", 'album:"orgasmatron" artist:"motorhead"'),
        ("Solstafir", "Berdreyminn", 'album:"Berdreyminn" artist:"Sólstafir"'),
        ("Mgła", "Exercises in Futility", 'album:"Exercises in Futility" artist:"Mgla"'),
        ("Grøn Ulv", "Ætherial", 'album:"AETHERIAL" artist:"gron ulv"'),
        ("Hail Spirit Noir", "Blood & Iron", 'album:"Blood and Iron" artist:"Hail Spirit Noir"'),
        ("Hail Spirit Noir", "Winter\u2019s Gate", 'album:"Winter\'s Gate" artist:Hail Spirit'),
        ("Ihsahn", "Telemark, Vol. II", 'album:"Telemark Vol II" artist:"Ihsahn"'),
        ("Ihsahn", "Post-Human!", 'album:"post human" artist:"ihsahn"'),
        ("Ihsahn", "Ámr", 'album:"Amr" artist:"Ihsahn"'),
    ],
)
def test_double__search_folds_case_accents_letters_and_punctuation(
    double: SpotifyDouble,
    session: requests.Session,
    spotify_artist: str,
    spotify_title: str,
    query: str,
) -> None:
    album = double.add_album(spotify_title, [double.add_artist(spotify_artist)])
    double.add_album("Something Else", [double.artist_ids()[0]])
    assert [a["id"] for a in search_albums(session, double, query)["items"]] == [album]


def test_double__search_tokens_are_order_free_and_prefixes_match(
    double: SpotifyDouble, session: requests.Session
) -> None:
    artist = double.add_artist("Ghost Bath")
    for name in ["II", "III", "I", "Moonlover"]:
        double.add_album(name, [artist])
    assert album_names(session, double, "album:II artist:ghost") == ["II", "III"]
    assert album_names(session, double, "album:lover moon artist:bath") == []
    assert album_names(session, double, "album:moon artist:bath ghost") == ["Moonlover"]


def test_double__search_returns_the_same_title_by_another_artist_after_the_artists_own(
    double: SpotifyDouble, session: requests.Session
) -> None:
    right = double.add_artist("Leprous")
    other = double.add_artist("Ashen Meridian")
    elsewhere = double.add_album("Aphelion", [other], popularity=100)
    own = double.add_album("Aphelion (Deluxe Edition)", [right], popularity=1)
    rising = double.add_album("Aphelion Rising", [other], popularity=100)
    double.add_album("Aphelions", [other])  # starts with the word, but not it: not a near-miss
    found = search_albums(session, double, 'album:"Aphelion" artist:"Leprous"')
    assert [a["id"] for a in found["items"]] == [own, elsewhere, rising]
    assert found["total"] == 3


def test_double__search_near_misses_need_every_title_word_whole(
    double: SpotifyDouble, session: requests.Session
) -> None:
    double.add_album("III", [double.add_artist("Someone Else")])
    double.add_artist("Ghost Bath")
    assert album_names(session, double, 'album:"II" artist:"Ghost Bath"') == []
    assert album_names(session, double, 'album:"III" artist:"Ghost Bath"') == ["III"]


def test_double__search_year_filter_stays_strict(
    double: SpotifyDouble, session: requests.Session
) -> None:
    artist = double.add_artist("Persefone")
    double.add_album("Metanoia", [artist], release_date="2022-02-25")
    double.add_album("Metanoia", [double.add_artist("Other")], release_date="2021-05-01")
    q = 'album:"Metanoia" artist:"Persefone"'
    assert album_names(session, double, q + " year:2021") == ["Metanoia"]
    by_year = search_albums(session, double, q + " year:2021")["items"]
    assert by_year[0]["artists"][0]["name"] == "Other"
    assert album_names(session, double, q + " year:2023") == []
    assert [
        a["release_date"] for a in search_albums(session, double, q + " year:2020-2022")["items"]
    ] == ["2022-02-25", "2021-05-01"]


def test_double__search_pages_a_ranked_answer_with_total_and_next(
    double: SpotifyDouble, session: requests.Session
) -> None:
    artist = double.add_artist("Tides")
    for n in range(12):
        double.add_album(f"Ember {n}", [artist], popularity=n)
    first = search_albums(session, double, "album:ember artist:tides", limit="5")
    second = search_albums(session, double, "album:ember artist:tides", limit="5", offset="10")
    assert [a["name"] for a in first["items"]] == [f"Ember {n}" for n in range(11, 6, -1)]
    assert (first["total"], first["offset"], first["limit"]) == (12, 0, 5)
    assert "offset=5" in first["next"]
    assert [a["name"] for a in second["items"]] == ["Ember 1", "Ember 0"]
    assert second["next"] is None


def test_double__artist_search_folds_and_ranks_the_exact_name_first(
    double: SpotifyDouble, session: requests.Session
) -> None:
    double.add_artist("Motörhead Tribute Band", popularity=90)
    double.add_artist("Motörhead", popularity=10)
    found = session.get(
        double.api_url + "search",
        params={"q": "artist:motorhead", "type": "artist"},
        timeout=TIMEOUT,
    ).json()["artists"]["items"]
    assert [a["name"] for a in found] == ["Motörhead", "Motörhead Tribute Band"]


# ---------------------------------------------------------- development mode


def test_double__batch_endpoint_forbidden_in_development_mode(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.mode = "development"
    for path in (f"albums?ids={album_id}", f"artists?ids={double.artist_ids()[0]}"):
        response = get(session, double, path)
        assert response.status_code == 403
        assert response.json() == recorded("error_403_forbidden_removed_endpoint.json")


def test_double__development_mode_strips_withheld_fields(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.mode = "development"
    album = get(session, double, f"albums/{album_id}").json()
    assert not {"label", "popularity", "available_markets"} & album.keys()
    assert "available_markets" not in album["tracks"]["items"][0]
    artist = get(session, double, f"artists/{album['artists'][0]['id']}").json()
    assert not {"followers", "popularity"} & artist.keys()
    assert artist["genres"] == ["trip hop"]


def test_double__development_mode_caps_search_limit_at_10(
    double: SpotifyDouble, session: requests.Session
) -> None:
    double.populate(12, 1)
    double.mode = "development"
    url = double.api_url + "search"
    default = session.get(url, params={"q": "album", "type": "album"}, timeout=TIMEOUT)
    assert default.json()["albums"]["limit"] == 5
    too_many = session.get(url, params={"q": "album", "type": "album", "limit": "11"}, timeout=5)
    assert too_many.status_code == 400
    assert too_many.json() == recorded("error_400_invalid_limit.json")


def test_double__search_query_past_100_characters_is_a_404_as_on_spotify(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    url = double.api_url + "search"
    at_limit = session.get(url, params={"q": "a" * 100, "type": "album"}, timeout=TIMEOUT)
    past = session.get(url, params={"q": "a" * 101, "type": "album"}, timeout=TIMEOUT)
    assert at_limit.status_code == 200
    assert past.status_code == 404
    assert past.json() == {"error": {"status": 404, "message": "Not found."}}
    double.search_query_max = None  # a knob: any length answered
    assert session.get(url, params={"q": "a" * 101, "type": "album"}, timeout=5).ok


def test_double__a_request_target_past_8_kb_is_a_414(
    double: SpotifyDouble, session: requests.Session
) -> None:
    url = double.api_url + "search"
    answer = session.get(url, params={"q": "a" * 9000, "type": "album"}, timeout=TIMEOUT)
    assert answer.status_code == 414
    assert double.count("search", status=414) == 1  # recorded like any answer


# ---------------------------------------------------------------------- faults


def test_double__rate_limit_answers_429_with_retry_after_from_the_nth_call(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.rate_limit(7, from_call=2, times=2)
    statuses = [get(session, double, f"albums/{album_id}") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 429, 200]
    assert statuses[1].headers["Retry-After"] == "7"
    assert statuses[1].json() == recorded("error_429_rate_limit.json")
    assert double.count("album", status=429) == 2


def test_double__quota_rate_limit_has_reason_and_can_omit_header_or_body(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.rate_limit(48925, quota=True, times=1)
    quota = get(session, double, f"albums/{album_id}")
    assert (quota.status_code, quota.headers["Retry-After"]) == (429, "48925")
    assert quota.json() == recorded("error_429_quota_exceeded.json")
    double.rate_limit(None, times=1, empty_body=True)
    bare = get(session, double, f"albums/{album_id}")
    assert bare.status_code == 429
    assert "Retry-After" not in bare.headers
    assert bare.content == b""


def test_double__rate_limit_can_target_endpoints(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.rate_limit(1, endpoints={"album_tracks"})
    assert get(session, double, f"albums/{album_id}").status_code == 200
    assert get(session, double, f"albums/{album_id}/tracks").status_code == 429
    with pytest.raises(ValueError, match="unknown endpoint"):
        double.rate_limit(1, endpoints={"albumz"})


def test_double__rolling_limit_applies_within_the_window_only(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.rolling_limit(2, 30.0, retry_after=3)
    statuses = [get(session, double, f"albums/{album_id}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert get(session, double, f"albums/{album_id}").headers["Retry-After"] == "3"
    double.advance(31)
    assert get(session, double, f"albums/{album_id}").status_code == 200


def test_double__quota_limit_counts_web_api_calls_in_a_rolling_window(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.quota_limit(3, 100.0)
    answered = [get(session, double, f"albums/{album_id}").status_code for _ in range(3)]
    double.advance(40)
    refused = get(session, double, f"albums/{album_id}")
    assert answered == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["reason"] == "QUOTA_EXCEEDED"
    assert refused.headers["Retry-After"] == "60"  # when the oldest counted call leaves
    # oEmbed and the token endpoint are not the Web API: never counted, never refused.
    oembed = session.get(double.oembed_url, params={"url": f"spotify:album:{album_id}"})
    assert oembed.status_code == 200
    assert double.quota_refusals == 1 and double.quota_used() == 3
    double.advance(60)
    assert get(session, double, f"albums/{album_id}").status_code == 200


def test_double__quota_limit_lengthens_the_penalty_of_an_early_retry(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.quota_limit(1, 100.0)
    assert get(session, double, f"albums/{album_id}").status_code == 200
    assert get(session, double, f"albums/{album_id}").headers["Retry-After"] == "100"
    double.advance(50)  # too early: refused, and the wait starts again from now
    early = get(session, double, f"albums/{album_id}")
    assert (early.status_code, early.headers["Retry-After"]) == (429, "100")
    double.advance(60)  # the first Retry-After has passed, the lengthened one has not
    assert get(session, double, f"albums/{album_id}").status_code == 429
    double.advance(101)
    assert get(session, double, f"albums/{album_id}").status_code == 200
    assert double.quota_refusals == 3


def test_double__fail_every_and_fail_next_answer_5xx_error_bodies(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    double.fail_every(3)
    statuses = [get(session, double, f"albums/{album_id}") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 502, 200, 200, 502]
    assert statuses[2].json() == recorded("error_502_bad_gateway.json")
    double.reset()
    double.fail_next(2)
    statuses = [get(session, double, f"albums/{album_id}") for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].json()["error"]["status"] == 503


def test_double__faults_spare_token_and_oembed_unless_named(
    double: SpotifyDouble, album_id: str
) -> None:
    double.fail_next(5)
    fetch_token(double)
    oembed = requests.get(double.oembed_url, params={"url": album_url(album_id)}, timeout=5)
    assert oembed.status_code == 200
    double.fail_next(1, 500, endpoints={"token"})
    failed = requests.post(double.token_url, data={"grant_type": "client_credentials"}, timeout=5)
    assert failed.status_code == 500


def test_double__delay_lets_concurrent_requests_overlap_and_is_measured(
    double: SpotifyDouble, album_id: str
) -> None:
    token = fetch_token(double)
    double.delay(0.15)
    statuses: list[int] = []

    def call() -> None:
        response = requests.get(
            f"{double.api_url}albums/{album_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    assert 2 <= double.max_concurrent <= 4


# ---------------------------------------------------------------------- oEmbed


def album_url(album_id: str) -> str:
    return f"https://open.spotify.com/album/{album_id}"


def test_double__oembed_answers_without_credentials(double: SpotifyDouble, album_id: str) -> None:
    response = requests.get(
        f"{double.oembed_url}?url={quote(album_url(album_id), safe='')}", timeout=TIMEOUT
    )
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Blue Lines"
    assert (body["type"], body["version"], body["provider_name"]) == ("rich", "1.0", "Spotify")
    assert body["thumbnail_url"] == double.album_json(album_id)["images"][1]["url"]
    assert (body["thumbnail_width"], body["thumbnail_height"]) == (300, 300)
    assert f"embed/album/{album_id}" in body["html"]
    assert double.counts() == {"oembed": 1}


def test_double__oembed_unknown_album_is_404_json(double: SpotifyDouble) -> None:
    response = requests.get(
        double.oembed_url, params={"url": album_url("0000000000000000000000")}, timeout=5
    )
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


# -------------------------------------------------------------- bookkeeping


def test_double__counts_record_every_request_and_reset_clears_them(
    double: SpotifyDouble, session: requests.Session, album_id: str
) -> None:
    get(session, double, f"albums/{album_id}")
    get(session, double, f"albums/{album_id}/tracks?limit=5")
    get(session, double, "search?q=blue&type=album")
    assert double.counts() == {"token": 1, "album": 1, "album_tracks": 1, "search": 1}
    assert (double.count(), double.api_calls(), double.count("album")) == (4, 3, 1)
    last = double.requests[-1]
    assert (last.method, last.endpoint, last.path, last.status) == (
        "GET",
        "search",
        "/v1/search",
        200,
    )
    assert last.query == {"q": "blue", "type": "album"}
    assert last.headers["Authorization"].startswith("Bearer ")
    with pytest.raises(ValueError, match="unknown endpoint name"):
        double.count("albums")
    double.rate_limit(1)
    double.reset()
    assert (double.count(), double.counts(), double.requests) == (0, {}, [])
    assert get(session, double, f"albums/{album_id}").status_code == 200


def test_double__populate_is_deterministic_and_builds_long_albums() -> None:
    with SpotifyDouble() as first, SpotifyDouble() as second:
        ids = first.populate(6, 2, tracks=3, seed=7, long_albums=2)
        assert ids == second.populate(6, 2, tracks=3, seed=7, long_albums=2)
        albums = [first.album_json(i) for i in ids]
        assert [a["total_tracks"] for a in albums] == [75, 75, 3, 3, 3, 3]
        assert [a["artists"][0]["name"] for a in albums] == ["Artist 0", "Artist 1"] * 3
        assert albums[4]["release_date_precision"] == "year"
        assert all(len(i) == 22 and i.isalnum() for i in ids)


def test_double__env_points_at_the_running_server(double: SpotifyDouble) -> None:
    env = double.env()
    assert env["JITSPOT_SPOTIFY_API_URL"] == double.api_url
    assert double.api_url.endswith("/v1/")
    assert env["JITSPOT_SPOTIFY_TOKEN_URL"] == double.token_url
    assert env["JITSPOT_SPOTIFY_OEMBED_URL"] == double.oembed_url
    assert env["SPOTIPY_CLIENT_ID"] == double.client_id
    assert env["SPOTIPY_CLIENT_SECRET"] == double.client_secret
    assert "SPOTIPY_CLIENT_ID" not in double.env(credentials=False)
    assert set(API_ENDPOINTS) >= {"album", "albums_batch", "search"}


def test_double__stops_serving_on_exit() -> None:
    with SpotifyDouble() as d, requests.Session() as s:
        url = d.token_url
        assert s.post(url, timeout=TIMEOUT).status_code == 400  # keep-alive connection open
    with pytest.raises(requests.ConnectionError):
        requests.post(url, timeout=1)


def test_double__spotipy_works_against_it(double: SpotifyDouble) -> None:
    artist = double.add_artist("Long Player")
    album_id = double.add_album("Box Set", [artist], n_tracks=60)

    class Credentials(SpotifyClientCredentials):  # type: ignore[misc]
        OAUTH_TOKEN_URL = double.token_url

    auth = Credentials(
        client_id=double.client_id,
        client_secret=double.client_secret,
        cache_handler=spotipy.MemoryCacheHandler(),
        requests_timeout=TIMEOUT,
    )
    client = spotipy.Spotify(auth_manager=auth, requests_timeout=TIMEOUT, retries=0)
    client.prefix = double.api_url
    album = client.album(album_id)
    rest = client.next(album["tracks"])
    assert len(album["tracks"]["items"]) + len(rest["items"]) == 60
    assert client.albums([album_id])["albums"][0]["name"] == "Box Set"
    assert client.album_tracks(album_id)["total"] == 60
    assert double.counts() == {"token": 1, "album": 1, "album_tracks": 2, "albums_batch": 1}


def test_double__image_urls_are_spotifys_cdn_by_default(double: SpotifyDouble) -> None:
    album_id = double.add_album("Mezzanine", [double.add_artist("Massive Attack")])

    urls = [image["url"] for image in double.album_json(album_id)["images"]]

    assert all(url.startswith("https://i.scdn.co/image/ab67616d") for url in urls)
    path = "/image/" + urls[0].rsplit("/", 1)[1]
    assert requests.get(double.base_url + path, timeout=TIMEOUT).status_code == 404
    assert double.counts() == {"unknown": 1}


def test_double__images_served_points_image_urls_at_itself_and_answers_pngs() -> None:
    with SpotifyDouble(images_served=True) as double:
        album_id = double.add_album("Mezzanine", [double.add_artist("Massive Attack")])
        other_id = double.add_album("Protection", [double.add_artist("Massive Attack")])
        url = double.album_json(album_id)["images"][1]["url"]
        other = double.album_json(other_id)["images"][1]["url"]

        first = requests.get(url, timeout=TIMEOUT)
        second = requests.get(other, timeout=TIMEOUT)

        assert url.startswith(f"{double.base_url}/image/ab67616d00001e02")
        assert first.status_code == 200
        assert first.headers["Content-Type"] == "image/png"
        assert first.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"IHDR" in first.content and first.content.endswith(b"IEND\xaeB`\x82")
        assert first.content != second.content  # the colour comes from the image's hash
        assert double.count("image") == 2
        assert double.api_calls() == 0
