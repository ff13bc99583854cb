"""Recognising Spotify album references and naming link columns. Pure functions."""

from __future__ import annotations

import re
from enum import Enum
from urllib.parse import parse_qs, urlsplit

_ID = r"[0-9A-Za-z]{22}"
BARE_ID = re.compile(rf"^{_ID}$")
_URI = re.compile(rf"^spotify:(?P<kind>[a-z]+):(?P<id>{_ID})$")
# open.spotify.com/album/ID, /intl-de/album/ID, /embed/album/ID, play.spotify.com/album/ID
_PATH = re.compile(rf"^/(?:intl-[A-Za-z-]+/)?(?:embed/)?(?P<kind>[a-z]+)/(?P<id>{_ID})/?$")
# The shape nearly every sheet link has: decided by one regex, no URL parsing.
_CANONICAL = re.compile(
    rf"^https?://open\.spotify\.com/(?:intl-[A-Za-z-]+/)?(?:embed/)?album/(?P<id>{_ID})(?:[/?#]|$)"
)
_SPOTIFY_HOSTS = {"open.spotify.com", "play.spotify.com", "spotify.com", "www.spotify.com"}


class SpotifyRef(Enum):
    """What a Spotify link cell points at."""

    ALBUM = "album"
    OTHER = "other"  # an artist, a track, a playlist...: not an album id
    NONE = "none"  # empty or not a Spotify reference at all


def parse_spotify_ref(text: str) -> tuple[SpotifyRef, str | None]:
    """Classify a URL, URI or bare id; return the album id when it is one."""
    value = text.strip()
    if not value:
        return SpotifyRef.NONE, None
    canonical = _CANONICAL.match(value)
    if canonical:
        return SpotifyRef.ALBUM, canonical.group("id")
    if BARE_ID.match(value):
        return SpotifyRef.ALBUM, value
    uri = _URI.match(value)
    if uri:
        return _classify(uri.group("kind"), uri.group("id"))
    if "://" not in value and value.startswith(("open.spotify.com", "play.spotify.com")):
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or parts.hostname not in _SPOTIFY_HOSTS:
        return SpotifyRef.NONE, None
    path = _PATH.match(parts.path)
    if not path:
        return SpotifyRef.OTHER, None
    return _classify(path.group("kind"), path.group("id"))


def _classify(kind: str, ident: str) -> tuple[SpotifyRef, str | None]:
    if kind == "album":
        return SpotifyRef.ALBUM, ident
    return SpotifyRef.OTHER, None


def unwrap_redirect(url: str) -> str:
    """`https://www.google.com/url?q=<target>&sa=...` -> `<target>` (sheets pasted from Gmail)."""
    if "google." not in url:  # cheap test first: this runs for every link of every row
        return url.strip()
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").removeprefix("www.")
    if host.startswith("google.") and parts.path == "/url":
        target = parse_qs(parts.query).get("q") or parse_qs(parts.query).get("url")
        if target and is_http_url(target[0]):
            return target[0]
    return url.strip()


def album_url(spotify_id: str) -> str:
    """The public web URL of an album (what oEmbed and users want)."""
    return f"https://open.spotify.com/album/{spotify_id}"


def is_http_url(text: str | None) -> bool:
    """Only http(s) URLs may become links or image sources in rendered output."""
    if not text:
        return False
    parts = urlsplit(text.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def link_key(header: str) -> str:
    """`Google Play` -> `google_play`: the key of a link column in `links`."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().casefold()).strip("_")
