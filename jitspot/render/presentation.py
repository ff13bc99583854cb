"""Presentation shared by every renderer of an album for people: the gallery, serve's
pages, the Markdown table and the terminal.

Decisions about how an album reads (its links and their labels, its duration, why it
shows no cover, the placeholder's initials and hue, the marks on its cover) are made
here once, so the exported gallery and serve's pages cannot drift apart. Only
http(s) URLs ever become links or image sources.
"""

from __future__ import annotations

import re
import zlib

from jitspot.catalog.views import AlbumView, match_mark
from jitspot.spotify.links import is_http_url
from jitspot.text import fold

__all__ = [
    "HUE_STEPS",
    "badges",
    "cover_reason",
    "format_duration",
    "has_cover",
    "hue",
    "initials",
    "release",
    "safe_links",
    "total_duration_ms",
]

_LINK_LABELS = {
    "bandcamp": "Bandcamp",
    "spotify": "Spotify",
    "youtube": "YouTube",
    "amazon": "Amazon",
    "google_play": "Google Play",
    "apple_music": "Apple Music",
    "deezer": "Deezer",
    "tidal": "Tidal",
    "soundcloud": "SoundCloud",
}


def _link_label(key: str) -> str:
    return _LINK_LABELS.get(key) or key.replace("_", " ").strip().title() or "Link"


def safe_links(album: AlbumView) -> list[tuple[str, str]]:
    """(label, url) of the album's http(s) links, in sheet order.

    A Spotify match that the sheet does not link to is added from the
    Spotify metadata, so a matched album still links to its Spotify page.
    """
    links = [(key, url.strip()) for key, url in album["links"].items() if is_http_url(url)]
    spotify = album["spotify"]
    matched_url = spotify["url"] if spotify else None
    if "spotify" not in album["links"] and matched_url and is_http_url(matched_url):
        links.append(("spotify", matched_url.strip()))
    return [(_link_label(key), url) for key, url in links]


def release(album: AlbumView) -> str:
    """The release as the album shows it: the ISO date, else the cell as written."""
    return album["release_date"] or album["release_text"] or ""


def format_duration(ms: int | None) -> str:
    """`3_723_000` -> `1:02:03`; under an hour `m:ss`; None -> ''.

    Half a second rounds up (2,500 ms is 0:03): the one rule for every output.
    """
    if ms is None or ms < 0:
        return ""
    minutes, seconds = divmod((ms + 500) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def total_duration_ms(album: AlbumView) -> int | None:
    """The album's length: Spotify's total, else the sum of its tracks when each is known."""
    spotify = album["spotify"]
    if spotify is None:
        return None
    if spotify["total_duration_ms"] is not None:
        return spotify["total_duration_ms"]
    durations = [track["duration_ms"] for track in spotify["tracks"] or []]
    if not durations or any(duration is None for duration in durations):
        return None
    return sum(duration for duration in durations if duration is not None)


def has_cover(album: AlbumView) -> bool:
    """Whether the album has a cover image that may be shown (an http(s) URL)."""
    return is_http_url(album["cover_url"])


_COVER_REASONS = {
    "no_spotify_link": "No Spotify link",
    "not_found": "Not found on Spotify",
    "rate_limited": "Rate-limited — try later",
    "not_cached": "Not cached (offline export)",
}


def cover_reason(album: AlbumView) -> str:
    """Why an album shows no cover, in words for people."""
    state = album["cover_state"]
    if state == "unavailable":
        note = fold(album["cover_note"] or "")
        return "Needs Spotify credentials" if "credential" in note else "Spotify unavailable"
    return _COVER_REASONS.get(state, "No cover on Spotify")


def initials(artist: str) -> str:
    """`Dream Theater` -> `DT`, `Caligula's Horse` -> `CH`, `1349` -> `1`."""
    firsts = [match.group() for word in artist.split() if (match := _WORD_CHAR.search(word))]
    if firsts:
        return "".join(firsts[:2]).upper()
    return artist.strip()[:1] or "?"


_WORD_CHAR = re.compile(r"[^\W_]")
HUE_STEPS = 36  # placeholder hues: classes h0…h35 in gallery.css, 10° apart


def hue(artist: str) -> int:
    """The placeholder's hue class for an artist: the same artist, the same colour."""
    return zlib.crc32(fold(artist).encode()) % HUE_STEPS


def badges(album: AlbumView) -> list[str]:
    """Short marks shown on a tile's cover, as plain text; the one place that decides them:
    "matched 0.96" when the album's Spotify id was found by search, not the sheet."""
    mark = match_mark(album)
    return [mark] if mark else []
