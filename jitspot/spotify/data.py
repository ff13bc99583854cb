"""Spotify answers, reduced to what jitspot keeps. Pure parsing, no I/O.

Fields an app does not get (label, popularity, genres for development-mode
apps) are None, not guessed: None means "Spotify did not say".
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Track(TypedDict):
    """One track, as the gateway parses it, the cache keeps it and the album object shows it."""

    disc: int
    number: int
    name: str
    duration_ms: int | None


class Image(TypedDict):
    """One cover image (the same shape from the API, the cache and in the album object)."""

    url: str
    width: int | None
    height: int | None


class AlbumData(TypedDict):
    id: str
    name: str | None
    album_type: str | None
    release_date: str | None
    release_date_precision: str | None
    total_tracks: int | None
    tracks: list[Track]
    images: list[Image]
    label: str | None
    popularity: int | None
    genres: list[str] | None
    copyrights: list[dict[str, str]] | None
    artist_ids: list[str]
    artists: list[str]
    upc: str | None
    url: str | None
    # Fields Spotify left out of the answer (development-mode apps get no label or
    # popularity): shown as "not available", never as blank data. Absent in old entries.
    withheld: NotRequired[list[str]]
    # True while `tracks` holds only the first page (more than 50 tracks): the rest is
    # fetched when something shows the tracks (show, the album page, export).
    more_tracks: NotRequired[bool]


# Album fields a development-mode app is not given (Spotify drops the keys).
WITHHOLDABLE = ("label", "popularity")


class ArtistData(TypedDict):
    id: str
    name: str | None
    genres: list[str] | None


class OEmbedData(TypedDict):
    id: str
    title: str | None
    thumbnail_url: str | None
    thumbnail_width: int | None
    thumbnail_height: int | None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_track(item: dict[str, Any]) -> Track:
    return {
        "disc": _int(item.get("disc_number")) or 1,
        "number": _int(item.get("track_number")) or 0,
        "name": _str(item.get("name")) or "",
        "duration_ms": _int(item.get("duration_ms")),
    }


def parse_images(items: Any) -> list[Image]:
    """Images widest first (Spotify's order is not a promise)."""
    images: list[Image] = [
        {"url": item["url"], "width": _int(item.get("width")), "height": _int(item.get("height"))}
        for item in items or []
        if isinstance(item, dict) and isinstance(item.get("url"), str)
    ]
    return sorted(images, key=lambda image: -(image["width"] or 0))


def parse_album(raw: dict[str, Any]) -> AlbumData:
    """An album object (full or from a batch); `tracks` holds the first page only."""
    artists = [a for a in raw.get("artists") or [] if isinstance(a, dict)]
    tracks = raw.get("tracks")
    paging: dict[str, Any] = tracks if isinstance(tracks, dict) else {}
    copyrights = raw.get("copyrights")
    genres = raw.get("genres")
    return {
        "id": str(raw.get("id")),
        "name": _str(raw.get("name")),
        "album_type": _str(raw.get("album_type")),
        "release_date": _str(raw.get("release_date")),
        "release_date_precision": _str(raw.get("release_date_precision")),
        "total_tracks": _int(raw.get("total_tracks")),
        "tracks": [parse_track(t) for t in paging.get("items") or [] if isinstance(t, dict)],
        "images": parse_images(raw.get("images")),
        "label": _str(raw.get("label")),
        "popularity": _int(raw.get("popularity")),
        "genres": [g for g in genres if isinstance(g, str)] if isinstance(genres, list) else None,
        "copyrights": (
            [
                {"text": str(c.get("text", "")), "type": str(c.get("type", ""))}
                for c in copyrights
                if isinstance(c, dict)
            ]
            if isinstance(copyrights, list)
            else None
        ),
        "artist_ids": [str(a["id"]) for a in artists if a.get("id")],
        "artists": [str(a.get("name", "")) for a in artists],
        "upc": _str((raw.get("external_ids") or {}).get("upc")),
        "url": _str((raw.get("external_urls") or {}).get("spotify")),
        "withheld": [name for name in WITHHOLDABLE if name not in raw],
        "more_tracks": bool(paging.get("next")),
    }


def tracks_page(raw: dict[str, Any]) -> tuple[list[Track], bool]:
    """The tracks of a `GET /albums/{id}/tracks` page, and whether more pages follow."""
    items = raw.get("items")
    tracks = [parse_track(t) for t in items or [] if isinstance(t, dict)]
    return tracks, bool(raw.get("next"))


def parse_artist(raw: dict[str, Any]) -> ArtistData:
    genres = raw.get("genres")
    return {
        "id": str(raw.get("id")),
        "name": _str(raw.get("name")),
        # A missing key means the app is not given genres; [] means the artist has none.
        "genres": [g for g in genres if isinstance(g, str)] if isinstance(genres, list) else None,
    }


def parse_oembed(album_id: str, raw: dict[str, Any]) -> OEmbedData:
    return {
        "id": album_id,
        "title": _str(raw.get("title")),
        "thumbnail_url": _str(raw.get("thumbnail_url")),
        "thumbnail_width": _int(raw.get("thumbnail_width")),
        "thumbnail_height": _int(raw.get("thumbnail_height")),
    }


class Candidate(TypedDict):
    """One album of a search answer (Spotify's simplified album): what matching scores."""

    id: str
    name: str
    artists: list[str]
    album_type: str | None
    release_date: str | None
    total_tracks: int | None
    cover_url: str | None


def parse_candidates(raw: dict[str, Any]) -> list[Candidate]:
    """The albums of a `GET /search?type=album` answer, in Spotify's order."""
    paging = raw.get("albums")
    items = paging.get("items") if isinstance(paging, dict) else None
    found: list[Candidate] = []
    for item in items or []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue  # Spotify sends null items in search pages now and then
        images = parse_images(item.get("images"))
        artists = [a for a in item.get("artists") or [] if isinstance(a, dict)]
        found.append(
            {
                "id": item["id"],
                "name": _str(item.get("name")) or "",
                "artists": [str(a.get("name") or "") for a in artists],
                "album_type": _str(item.get("album_type")),
                "release_date": _str(item.get("release_date")),
                "total_tracks": _int(item.get("total_tracks")),
                # The 300 px cover when there is one (a review list shows it small).
                "cover_url": next((i["url"] for i in images if (i["width"] or 0) <= 300), None)
                or (images[0]["url"] if images else None),
            }
        )
    return found
