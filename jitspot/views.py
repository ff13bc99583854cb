"""The album object of the contract (DESIGN.md §1 "JSON shapes"), as typed dicts.

`show --json`, `list --json` and every exporter render these; renderers take
them and nothing else, so all formats agree.
"""

from __future__ import annotations

from typing import Literal, TypedDict

CoverState = Literal[
    "cached",  # served from the cache
    "fetched",  # fetched from Spotify by this command
    "no_spotify_link",  # the row has no Spotify album id
    "not_found",  # Spotify does not know the id
    "rate_limited",  # Spotify asked us to wait; nothing cached yet
    "unavailable",  # Spotify unreachable, or the data needs credentials
    "not_cached",  # --offline and nothing cached
]


class TrackView(TypedDict):
    disc: int
    number: int
    name: str
    duration_ms: int | None


class ImageView(TypedDict):
    url: str
    width: int | None
    height: int | None


class SpotifyView(TypedDict):
    name: str | None
    release_date: str | None
    total_tracks: int | None
    tracks: list[TrackView] | None
    images: list[ImageView]
    label: str | None
    popularity: int | None
    genres: list[str] | None
    copyrights: list[dict[str, str]] | None
    fetched_at: str | None
    # Beyond the contract's keys:
    url: str | None
    artists: list[str] | None
    total_duration_ms: int | None
    stale: bool
    source: str  # "api" (full metadata) or "oembed" (title and cover only)


class AlbumView(TypedDict):
    id: int
    artist: str
    title: str
    release_date: str | None
    release_text: str | None
    year: int | None
    kind: str | None
    genres: list[str]
    vocal_style: str | None
    location: str | None
    tab: str
    row: int
    links: dict[str, str]
    spotify_id: str | None
    spotify_id_source: Literal["sheet", "match"] | None
    cover_url: str | None
    cover_state: CoverState
    # Why cover/metadata are missing, in words for people ("needs credentials").
    cover_note: str | None
    spotify: SpotifyView | None
