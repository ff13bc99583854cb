"""The catalog: finding albums and turning store rows + cache entries into album objects.

What `list`, `show` and `export` share. The album object (`views.AlbumView`)
is built here and nowhere else, so every format says the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Freshness, Lifetimes, Need, Policy, album_entry, freshness
from jitspot.catalog.resolver import (
    NOT_BEFORE,
    WAITING,
    Listener,
    Progress,
    Resolution,
    Resolver,
    remembered_until,
)
from jitspot.catalog.views import AlbumView, CoverState, SpotifyView
from jitspot.errors import AlbumNotFound, AmbiguousAlbum, RateLimited
from jitspot.model import CacheEntry, ListedAlbum, StoredAlbum, cache_key
from jitspot.settings import Settings
from jitspot.spotify.data import AlbumData, Image, Track
from jitspot.spotify.gateway import Gates, Gateway
from jitspot.spotify.links import BARE_ID, SpotifyRef, parse_spotify_ref
from jitspot.spotify.pacing import Clock
from jitspot.spotify.quota import Share
from jitspot.stopping import Stop
from jitspot.store import Store
from jitspot.text import fold
from jitspot.timetext import until_text

# Past this many Spotify ids `list` reads the whole index instead of looking keys up.
_WHOLE_INDEX_AT = 1_000
# The entries that can answer for an album (`known_state`).
_ALBUM_KINDS = ("album", "oembed")
NEEDS_CREDENTIALS = "tracks and metadata need Spotify credentials (SPOTIPY_CLIENT_ID/SECRET)"


class Catalog:
    """Albums of the store with their Spotify enrichment."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock = time.time,
        gateway_factory: Callable[[Gates], Gateway] | None = None,
        stop: Stop | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.cache = SpotifyCache(settings.cache_dir, store)
        self.resolver = Resolver(
            store, self.cache, settings, clock=clock, gateway_factory=gateway_factory, stop=stop
        )
        self.lifetimes = Lifetimes.from_days(settings.cache_ttl_days, settings.not_found_ttl_days)

    def close(self) -> None:
        self.resolver.close()
        self.cache.close()

    def record(self, command: str, started_at: str, albums: int) -> None:
        """Record this command's run (its lookups and calls) for `stats`.

        Offline runs are not recorded: they look nothing up that could call, and
        must not write.
        """
        result = self.resolver.current
        if result is None:
            return
        self.store.record_run(
            command,
            started_at,
            {
                "albums": albums,
                "hits": result.hits,
                "misses": result.misses,
                "stale_hits": result.stale_hits,
                "fetched": len(result.fetched),
                "api_calls": result.api_calls,
                "rate_limited_responses": result.rate_limited_responses,
            },
        )

    # -- finding one album -----------------------------------------------------------

    def find(self, query: str | None, store_id: int | None = None) -> StoredAlbum:
        """The album an ALBUM argument names: a Spotify URL/URI/id, or "artist title" text.

        A bare number is text (bands are called 1349); the store id is `--id N`.
        """
        if store_id is not None:
            album = self.store.album_by_id(store_id)
            if album is None:
                raise AlbumNotFound(f"no album with id {store_id}")
            return album
        text = (query or "").strip()
        if not text:
            raise AlbumNotFound("name an album: a Spotify link or id, or artist and title")
        ref, spotify_id = parse_spotify_ref(text)
        if (
            ref is SpotifyRef.ALBUM
            and spotify_id
            and (not BARE_ID.match(text) or _looks_like_id(text))
        ):
            matches = self.store.albums_by_spotify_id(spotify_id)
            if matches:
                return _one(text, _same_album_once(matches))
            if not BARE_ID.match(text):
                raise AlbumNotFound(f"no album in the store has Spotify id {spotify_id}")
        elif ref is SpotifyRef.OTHER:
            raise AlbumNotFound(f"{text} is a Spotify link, but not to an album")
        matches = self.store.search_albums(text)
        if not matches:
            raise AlbumNotFound(f"no album matches {text!r}")
        exact = [a for a in matches if fold(f"{a.artist} {a.title}") == fold(text)]
        return _one(text, _same_album_once(exact or matches))

    # -- enrichment ------------------------------------------------------------------

    def resolve(
        self,
        albums: Sequence[StoredAlbum],
        policy: Policy,
        *,
        need: Need = Need.TRACKS,
        share: Share = Share.INTERACTIVE,
        progress: Progress | None = None,
        count: bool = True,
        artists: bool | None = True,
        prefetch: Sequence[StoredAlbum] = (),
        listener: Listener | None = None,
    ) -> Resolution:
        ids = [a.spotify_id for a in albums if a.spotify_id]
        riders = [a.spotify_id for a in prefetch if a.spotify_id]
        return self.resolver.resolve(
            ids,
            policy,
            need=need,
            share=share,
            progress=progress,
            count_lookups=count,
            artists=artists,
            prefetch=riders,
            listener=listener,
        )

    def views(
        self,
        albums: Sequence[StoredAlbum],
        *,
        offline: bool,
        refresh: bool = False,
        count: bool = True,
        progress: Progress | None = None,
        need: Need = Need.TRACKS,
        share: Share = Share.INTERACTIVE,
        artists: bool | None = True,
    ) -> list[AlbumView]:
        """Album objects; fetches what is missing unless offline (everything with refresh).

        `need`, `share` and `artists` as for `Resolver.resolve`: a cover alone or
        everything, bulk work or a single look-up, artists (genres) or not.
        """
        policy = Policy.OFFLINE if offline else Policy.ALL if refresh else Policy.MISSING
        resolution = self.resolve(
            albums,
            policy,
            need=need,
            share=share,
            progress=progress,
            count=count,
            artists=artists,
        )
        return self.build_views(albums, resolution)

    def build_views(self, albums: Sequence[StoredAlbum], resolution: Resolution) -> list[AlbumView]:
        """Album objects from what the resolver knows (the store is asked once, not per album)."""
        now = self.clock()
        not_before = remembered_until(self.store, NOT_BEFORE, now)
        return [
            build_view(album, resolution, now=now, lifetimes=self.lifetimes, not_before=not_before)
            for album in albums
        ]

    def cache_states(self, albums: Sequence[StoredAlbum | ListedAlbum]) -> dict[int, str]:
        """A word per album for `list`: cover, cached, not found, no link, not cached.

        Read from the store's index (never the cache values, so it stays fast
        for the whole catalog), through `known_state` like the album object.
        """
        ids = {a.spotify_id for a in albums if a.spotify_id}
        if len(ids) > _WHOLE_INDEX_AT:
            # Most of the catalog: one scan of the index beats hundreds of lookups.
            rows = [
                row
                for row in self.cache.index(None).values()
                if row.spotify_id in ids and row.kind in _ALBUM_KINDS
            ]
        else:
            keys = [cache_key(kind, i) for i in ids for kind in _ALBUM_KINDS]
            rows = list(self.cache.index(keys).values())
        entries = {row.key: row for row in rows}
        covers = {row.key for row in rows if row.cover_url}
        now = self.clock()
        states: dict[int, str] = {}
        for album in albums:
            state, entry = known_state(album.spotify_id, entries, now=now, lifetimes=self.lifetimes)
            if state == "cached" and entry is not None:
                states[album.id] = "cover" if entry.key in covers else "cached"
            else:
                states[album.id] = LIST_WORDS[state]
        return states


def _looks_like_id(text: str) -> bool:
    """A 22-character word is a Spotify id only if it mixes letters and digits or cases."""
    return not (text.isalpha() and (text.islower() or text.isupper())) and not text.isdigit()


def _same_album_once(matches: list[StoredAlbum]) -> list[StoredAlbum]:
    """One row per album: the same release listed in two tabs is one match."""
    seen: dict[tuple[str, str, str | None], StoredAlbum] = {}
    for album in matches:
        seen.setdefault((fold(album.artist), fold(album.title), album.spotify_id), album)
    return list(seen.values())


def _one(query: str, matches: list[StoredAlbum]) -> StoredAlbum:
    if len(matches) == 1:
        return matches[0]
    raise AmbiguousAlbum(query, [a.id for a in matches])


# -- the album object ----------------------------------------------------------------------

# `list`'s words for the states the cache alone can tell (a found entry is "cover"/"cached").
LIST_WORDS: dict[CoverState, str] = {
    "no_spotify_link": "no link",
    "not_found": "not found",
    "not_cached": "not cached",
}


def known_state(
    spotify_id: str | None, entries: Mapping[str, CacheEntry], *, now: float, lifetimes: Lifetimes
) -> tuple[CoverState, CacheEntry | None]:
    """What the cache alone says of an album: no_spotify_link, cached, not_found or not_cached.

    `list` (from the index) and the album object (from the values) both ask
    this, so their words cannot drift; `build_view` refines it with what this
    command fetched or failed to fetch. The entry answers for a found album:
    the API's, else an oEmbed cover (whatever the credentials).
    """
    if not spotify_id:
        return "no_spotify_link", None
    entry = album_entry(spotify_id, entries, with_credentials=False)
    if entry is None or freshness(entry, now, lifetimes) is Freshness.MISSING:
        return "not_cached", None
    return ("cached" if entry.found else "not_found"), entry


def build_view(
    album: StoredAlbum,
    resolution: Resolution,
    *,
    now: float,
    lifetimes: Lifetimes,
    not_before: float | None,
) -> AlbumView:
    """The contract's album object for one stored album and what the resolver knows."""
    spotify: SpotifyView | None = None
    note: str | None = None
    spotify_id = album.spotify_id
    state, entry = known_state(spotify_id, resolution.entries, now=now, lifetimes=lifetimes)
    if not spotify_id:
        note = (
            "the Spotify link is not an album" if album.spotify_link_invalid else "no Spotify link"
        )
        if album.match_state == "review":
            note += "; search found candidates to review (jitspot match --review)"
    elif state == "cached" and entry is not None:
        state = "fetched" if spotify_id in resolution.fetched else "cached"
        spotify = _spotify_view(entry, resolution.entries, now, lifetimes)
        if entry.kind == "oembed":
            note = _metadata_note(spotify_id, resolution, not_before, now)
    elif state == "not_found":
        note = "not found on Spotify"
    else:
        state, note = _missing_state(spotify_id, resolution, not_before, now)
    cover_url = spotify["images"][0]["url"] if spotify and spotify["images"] else None
    return {
        "id": album.id,
        "artist": album.artist,
        "title": album.title,
        "release_date": album.release_date,
        "release_text": album.release_text,
        "year": album.year,
        "kind": album.kind,
        "genres": list(album.genres),
        "vocal_style": album.vocal_style,
        "location": album.location,
        "tab": album.tab,
        "row": album.row_number,
        "links": dict(album.links),
        "spotify_id": spotify_id,
        "spotify_id_source": album.spotify_id_source,  # type: ignore[typeddict-item]
        "cover_url": cover_url,
        "cover_state": state,
        "cover_note": note,
        "match_state": album.match_state if album.spotify_id_source == "match" else None,
        "match_score": album.match_score if album.spotify_id_source == "match" else None,
        "spotify": spotify,
    }


def _metadata_note(
    spotify_id: str, resolution: Resolution, not_before: float | None, now: float
) -> str:
    """Why an album shown with its oEmbed cover has no tracks or metadata, in words."""
    if not resolution.with_credentials:
        return NEEDS_CREDENTIALS
    reason = resolution.failed.get(spotify_id)
    if reason == "quota":
        return f"metadata waits for Spotify's daily quota: {_quota_when(resolution, now)}"
    if reason == "rate_limited":
        until = resolution.rate_limited_until or not_before
        return f"metadata waits: rate-limited until {until_text(until, now)}"
    if reason is not None:
        return f"metadata not fetched: {resolution.error}" if resolution.error else NOT_FETCHED
    return NOT_FETCHED


NOT_FETCHED = "cover from oEmbed; metadata not fetched yet (jitspot show fetches it)"


def _quota_when(resolution: Resolution, now: float) -> str:
    until = resolution.quota_until
    return "no call is free" if until is None else f"next call free at {until_text(until, now)}"


def _missing_state(
    spotify_id: str, resolution: Resolution, not_before: float | None, now: float
) -> tuple[CoverState, str]:
    reason = resolution.failed.get(spotify_id)
    cover_reason = resolution.cover_failed.get(spotify_id)
    if reason not in WAITING and cover_reason is not None:
        reason = cover_reason  # the cover was asked of oEmbed: why it did not come
    if reason is None:
        return "not_cached", "not cached (offline)"
    error = resolution.error
    if reason == "quota":
        return "rate_limited", f"Spotify's daily quota is used: {_quota_when(resolution, now)}"
    if reason == "rate_limited" or isinstance(error, RateLimited):
        until = resolution.rate_limited_until or not_before
        return "rate_limited", f"rate-limited until {until_text(until, now)}"
    return "unavailable", f"Spotify unavailable: {error}" if error else "Spotify unavailable"


def _spotify_view(
    entry: CacheEntry, entries: dict[str, CacheEntry], now: float, lifetimes: Lifetimes
) -> SpotifyView:
    stale = freshness(entry, now, lifetimes) is Freshness.STALE
    fetched_at = datetime.fromtimestamp(entry.fetched_at).astimezone().isoformat(timespec="seconds")
    data = entry.data or {}
    if entry.kind == "oembed":
        url = data.get("thumbnail_url")
        images: list[Image] = (
            [
                {
                    "url": url,
                    "width": data.get("thumbnail_width"),
                    "height": data.get("thumbnail_height"),
                }
            ]
            if isinstance(url, str)
            else []
        )
        return {
            "name": data.get("title"),
            "release_date": None,
            "total_tracks": None,
            "tracks": None,
            "images": images,
            "label": None,
            "popularity": None,
            "genres": None,
            "copyrights": None,
            "fetched_at": fetched_at,
            "url": f"https://open.spotify.com/album/{entry.spotify_id}",
            "artists": None,
            "total_duration_ms": None,
            "stale": stale,
            "source": "oembed",
            "tracks_complete": False,
            "withheld": [],
        }
    album: AlbumData = data  # type: ignore[assignment]
    # Copies: the view is the caller's to change, the cached data is not.
    tracks: list[Track] = [t.copy() for t in album.get("tracks") or []]
    complete = not album.get("more_tracks")
    # A length from some of the tracks would be wrong: none until they are all here.
    durations = [t["duration_ms"] for t in tracks if t["duration_ms"] is not None and complete]
    return {
        "name": album.get("name"),
        "release_date": album.get("release_date"),
        "total_tracks": album.get("total_tracks"),
        "tracks": tracks,
        "images": [i.copy() for i in album.get("images") or []],
        "label": album.get("label"),
        "popularity": album.get("popularity"),
        "genres": _genres(album, entries),
        "copyrights": album.get("copyrights"),
        "fetched_at": fetched_at,
        "url": album.get("url") or f"https://open.spotify.com/album/{entry.spotify_id}",
        "artists": album.get("artists"),
        "total_duration_ms": sum(durations) if durations else None,
        "stale": stale,
        "source": "api",
        "tracks_complete": complete,
        "withheld": list(album.get("withheld") or []),
    }


def _genres(album: AlbumData, entries: dict[str, CacheEntry]) -> list[str] | None:
    """Spotify's genres live on artists; album genres are always [] in practice.

    None when the app gets no genres or the artists are not fetched yet.
    """
    genres: dict[str, None] = dict.fromkeys(album.get("genres") or [])
    known = False
    for artist_id in album.get("artist_ids") or []:
        artist = entries.get(cache_key("artist", artist_id))
        if artist is None or not artist.data or artist.data.get("genres") is None:
            continue
        known = True
        genres.update(dict.fromkeys(artist.data["genres"]))
    return list(genres) if known or genres else None
