"""The album object of the contract (DESIGN.md §1 "JSON shapes"), as typed dicts.

`show --json`, `list --json` and every exporter render these; renderers take
them and nothing else, so all formats agree.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from jitspot.spotify.data import Image, Track

CoverState = Literal[
    "cached",  # served from the cache
    "fetched",  # fetched from Spotify by this command
    "no_spotify_link",  # the row has no Spotify album id
    "not_found",  # Spotify does not know the id
    "rate_limited",  # Spotify asked us to wait; nothing cached yet
    "unavailable",  # Spotify unreachable, or the data needs credentials
    "not_cached",  # --offline and nothing cached
]


class SpotifyContract(TypedDict):
    """The `spotify` object's keys that the contract fixes."""

    name: str | None
    release_date: str | None
    total_tracks: int | None
    tracks: list[Track] | None
    images: list[Image]
    label: str | None
    popularity: int | None
    genres: list[str] | None
    copyrights: list[dict[str, str]] | None
    fetched_at: str | None


class SpotifyView(SpotifyContract):
    """The `spotify` object: the contract's keys, and more."""

    url: str | None
    artists: list[str] | None
    total_duration_ms: int | None
    stale: bool
    source: str  # "api" (full metadata) or "oembed" (title and cover only)
    tracks_complete: bool  # False while only the first page of a long album is cached
    # Fields Spotify withholds from this app (development mode: label, popularity):
    # null in the data, "not available to development-mode apps" for people.
    withheld: list[str]


class AlbumContract(TypedDict):
    """The album object's keys that the contract fixes, in the contract's order."""

    id: int
    artist: str
    title: str
    release_date: str | None
    release_text: str | None
    kind: str | None
    genres: list[str]
    vocal_style: str | None
    location: str | None
    tab: str
    links: dict[str, str]
    spotify_id: str | None
    spotify_id_source: Literal["sheet", "match"] | None
    cover_url: str | None
    cover_state: CoverState
    spotify: SpotifyView | None


class AlbumView(AlbumContract):
    """The album object: the contract's keys, and more."""

    year: int | None
    row: int
    # Why cover/metadata are missing, in words for people ("needs credentials").
    cover_note: str | None
    # The match behind `spotify_id` when it comes from `match` (else None): its
    # state ("matched" by score, "accepted" by a person) and score (0-1).
    match_state: str | None
    match_score: float | None


# The contract's keys, defined once (by the TypedDicts above).
ALBUM_KEYS: tuple[str, ...] = tuple(AlbumContract.__annotations__)
SPOTIFY_KEYS: tuple[str, ...] = tuple(SpotifyContract.__annotations__)
# The album's facts from the sheet: the album object's keys before `links`.
SHEET_KEYS: tuple[str, ...] = ALBUM_KEYS[: ALBUM_KEYS.index("links")]


def match_mark(view: AlbumView) -> str | None:
    """How a matched album is marked for people: "matched 0.96", "match accepted"; else None."""
    if view["spotify_id_source"] != "match":
        return None
    return mark_of(view.get("match_state"), view.get("match_score"))


def mark_of(state: str | None, score: float | None) -> str | None:
    """The mark of a used match from its state and score (None: no match is used)."""
    if state == "accepted":
        return "match accepted"
    if state != "matched":
        return None
    return f"matched {score:.2f}" if isinstance(score, int | float) else "matched"
