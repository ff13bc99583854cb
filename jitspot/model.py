"""What jitspot knows of an album, how albums are chosen and ordered, and what a
cached Spotify answer is: pure types.

The store keeps these and everything else names them; nothing here reads a
database or a file, so code that only needs to name an album or a cached answer
(the scorer, freshness, the terminal, covers, the metrics) never imports the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NamedTuple

# Match states whose id jitspot uses (`review`, `no_candidate`, `rejected`: none).
USED_MATCH_STATES = frozenset({"matched", "accepted"})


@dataclass(frozen=True, slots=True)
class SheetRow:
    """An album row, interpreted: what the sheet says of an album, as the store keeps it."""

    tab: str
    row_number: int
    artist: str
    title: str
    release_date: str | None  # ISO date
    release_text: str | None  # the cell as written when it is not a date ("TBA")
    year: int | None
    kind: str | None
    genres: tuple[str, ...]
    vocal_style: str | None
    vocal_style_raw: str | None
    location: str | None
    links: dict[str, str]
    sheet_spotify_id: str | None  # the sheet's Spotify link (see StoredAlbum.spotify_id)
    spotify_link_invalid: bool

    def content_hash(self) -> str:
        """Digest of what the sheet says of the album (not where it stands), to skip
        unchanged rows on re-import."""
        payload = repr(
            (
                self.artist,
                self.title,
                self.release_date,
                self.release_text,
                self.year,
                self.kind,
                self.genres,
                # Normalised: `Mixed ` -> `Mixed` is not an edit worth reporting.
                self.vocal_style,
                self.location,
                sorted(self.links.items()),
            )
        )
        return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredAlbum(SheetRow):
    """An album row as the store holds it: the sheet's facts, its store id, what
    `match` decided, and whether a later import removed it."""

    id: int
    match_id: str | None
    match_score: float | None
    match_state: str | None
    removed: bool

    @property
    def spotify_id(self) -> str | None:
        """The id jitspot uses: the sheet's link, else a match (accepted, or scored at
        or above the threshold when it was matched: `match` decides, on one scale)."""
        return chosen_spotify_id(self.sheet_spotify_id, self.match_id, self.match_state)

    @property
    def spotify_id_source(self) -> str | None:
        if self.sheet_spotify_id:
            return "sheet"
        return "match" if self.spotify_id else None


def chosen_spotify_id(
    sheet_id: str | None, match_id: str | None, match_state: str | None
) -> str | None:
    """The Spotify id an album uses: the sheet's link, else a used match (`matched` by
    score, `accepted` by a person); `review`, `no_candidate` and `rejected`: none."""
    if sheet_id:
        return sheet_id
    if match_id and match_state in USED_MATCH_STATES:
        return match_id
    return None


class ListedAlbum(NamedTuple):
    """A projection of `StoredAlbum` for `list`: the columns it shows, read as plain
    tuples without the ones it does not show.

    Not the one album type on purpose: building a full `StoredAlbum` per row made
    `jitspot list` of ~17,900 albums 1.8x slower (bench/bench_list.py's home).
    """

    id: int
    artist: str
    title: str
    release: str  # the date, else the sheet's text ("TBA"), else ""
    kind: str | None
    tab: str
    spotify_id: str | None
    # When `spotify_id` comes from `match`: its state (matched, accepted) and score.
    match_state: str | None = None
    match_score: float | None = None


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """What `match` decided for one album, as the store keeps it."""

    album_id: int
    state: str
    match_id: str | None
    score: float | None
    candidates: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class AlbumFilter:
    """The FILTERS shared by list, export and refresh. Empty means everything.

    The store turns it into its query (`jitspot.store.albums.filter_sql`).
    """

    artist: str | None = None
    genre: str | None = None
    year: int | None = None
    tabs: tuple[str, ...] = ()
    vocal: str | None = None
    query: str | None = None
    name: str | None = None  # words of "artist title" only: an ALBUM given as free text
    released_by: str | None = None  # ISO date: only albums released on or before it
    linked: bool | None = None  # True: only albums with a Spotify id; False: only without


class AlbumOrder(StrEnum):
    """How a page of albums is sorted."""

    DATE = "date"  # newest first; a date not known yet ("TBA") after its year's last day
    ARTIST = "artist"
    TITLE = "title"


@dataclass(frozen=True, slots=True)
class Facets:
    """What the catalog holds to choose from: tabs, vocal styles, years."""

    tabs: list[str]
    vocals: list[str]
    years: list[int]


# -- cached Spotify answers ----------------------------------------------------------------

Kind = Literal["album", "artist", "oembed", "search"]
Status = Literal["found", "not_found"]


def cache_key(kind: str, spotify_id: str) -> str:
    """The key of a cached answer, in the disk cache and in its index."""
    return f"{kind}:{spotify_id}"


class CacheEntry(NamedTuple):
    """One cached Spotify answer: found (with its data) or not found, and when it was
    fetched. Read from the disk cache it has its data; read from the index it has none,
    and its cover URL is the one the index keeps.

    A named tuple: `list` and `stats` read the whole index, one per cached entry.
    """

    kind: Kind
    spotify_id: str
    status: Status
    fetched_at: float
    data: dict[str, Any] | None = None
    indexed_cover: str | None = None  # the index's cover URL (an entry without its data)

    @property
    def key(self) -> str:
        return cache_key(self.kind, self.spotify_id)

    @property
    def found(self) -> bool:
        return self.status == "found"

    @property
    def source(self) -> str:
        """Where the answer came from: the Web API, or the public oEmbed endpoint."""
        return "oembed" if self.kind == "oembed" else "api"

    @property
    def cover_url(self) -> str | None:
        """The cover's URL: from the data, or as the index keeps it when there is none."""
        if self.data is None:
            return self.indexed_cover
        if self.kind == "oembed":
            url = self.data.get("thumbnail_url")
            return url if isinstance(url, str) else None
        images = self.data.get("images") or []
        return str(images[0]["url"]) if images else None

    def as_json(self) -> dict[str, Any]:
        """The value the disk cache keeps."""
        return {
            "kind": self.kind,
            "id": self.spotify_id,
            "status": self.status,
            "fetched_at": self.fetched_at,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> CacheEntry:
        """An entry from the value the disk cache keeps."""
        return cls(
            kind=value["kind"],
            spotify_id=value["id"],
            status=value["status"],
            fetched_at=float(value["fetched_at"]),
            data=value.get("data"),
        )
