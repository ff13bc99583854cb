"""Covers and album details asked for by many callers at once, coalesced into batches.

`serve`'s pages ask for the covers of the tiles that come into view, a few
albums per request and several requests at the same moment. Looked up one
request at a time they would cost a call per album; here the lookups that
arrive within a short window (`WINDOW`) go to the resolver together, which
fetches the misses 20 albums per `GET /albums` call when the app may, and one
call each when it may not. The resolver's rules hold unchanged: cache first,
pacing, 429s, the shared "not before".

Pipelined: each caller is answered as soon as its own albums are, not when the
last cover of its batch lands; and while a batch fetches covers from oEmbed
(one call per cover), the cover lookups asked meanwhile join it, so they start
at once instead of waiting for the batch to end. An album page's lookup (tracks,
artists) waits for a batch of its own, and while one waits nothing more joins.

One thread does all the Spotify work of a server: one gateway, one pacer,
one token, like any other jitspot process on the home.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from jitspot.catalog.catalog import Catalog
from jitspot.catalog.freshness import Need, Policy
from jitspot.catalog.resolver import NOT_BEFORE, Resolution, remembered_until
from jitspot.catalog.views import AlbumView, CoverState
from jitspot.model import StoredAlbum
from jitspot.spotify.quota import Share
from jitspot.stopping import Stop
from jitspot.timetext import iso_time

log = logging.getLogger("jitspot.catalog.covers")

WINDOW = 0.05  # seconds a first lookup waits for company before the batch goes
MOST = 100  # albums that make a batch go at once (five calls of 20)


@dataclass(frozen=True, slots=True)
class CoverAnswer:
    """What the cover endpoint says of one album: the URL, or why there is none."""

    album_id: int
    cover_url: str | None
    cover_state: CoverState
    note: str | None
    until: str | None = None  # when a rate limit ends (ISO time), with "rate_limited"

    @classmethod
    def of(cls, view: AlbumView, until: float | None) -> CoverAnswer:
        state = view["cover_state"]
        return cls(
            view["id"],
            view["cover_url"],
            state,
            view["cover_note"],
            iso_time(until) if state == "rate_limited" else None,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.album_id,
            "cover_url": self.cover_url,
            "cover_state": self.cover_state,
            "note": self.note,
            "until": self.until,
        }


@dataclass(frozen=True, slots=True)
class Looked:
    """Album objects for what one caller asked, and when a rate limit ends (if one holds)."""

    views: dict[int, AlbumView]
    rate_limited_until: float | None

    def cover(self, album_id: int) -> CoverAnswer:
        return CoverAnswer.of(self.views[album_id], self.rate_limited_until)

    def covers(self) -> dict[int, CoverAnswer]:
        return {album_id: self.cover(album_id) for album_id in self.views}


@dataclass(slots=True)
class _Ask:
    albums: list[StoredAlbum]
    details: bool
    answer: Future[Looked]
    then: list[StoredAlbum]  # likely asked next: fetched in a batch call's free places


class Closed(RuntimeError):
    """The coalescer was closed (the server is stopping)."""


class Coalescer:
    """Lookups from any thread, answered by one worker thread in batches.

    `look_up` blocks its caller until its albums are resolved.
    `details=True` asks for everything an album page shows (albums and their
    artists, for genres); covers need the albums alone.
    """

    def __init__(
        self,
        open_catalog: Callable[[Stop], Catalog],
        *,
        window: float = WINDOW,
        most: int = MOST,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_catalog = open_catalog
        self.window = window
        self.most = most
        self._monotonic = monotonic
        self._ready = threading.Condition()
        self._asks: list[_Ask] = []
        self._carried: list[_Ask] = []  # started, but not joined: first in the next batch
        self._closed = False
        self._stop = Stop()
        self._worker: threading.Thread | None = None

    def look_up(
        self,
        albums: Sequence[StoredAlbum],
        *,
        details: bool = False,
        then: Sequence[StoredAlbum] = (),
        timeout: float | None = None,
    ) -> Looked:
        """Album objects for `albums`, fetched (with others asked meanwhile) when missing.

        `then`: albums the caller will likely ask next (the page's next tiles); the
        resolver fetches them in the places a batch call leaves free, never more calls.
        """
        return self.ask(albums, details=details, then=then).result(timeout)

    def ask(
        self,
        albums: Sequence[StoredAlbum],
        *,
        details: bool = False,
        then: Sequence[StoredAlbum] = (),
    ) -> Future[Looked]:
        """`look_up` without waiting: the answer's future, for a caller that awaits it
        (serve's event loop), so that no thread is held while Spotify answers. A future
        cancelled before its batch starts is left out of the batch."""
        answer: Future[Looked] = Future()
        if not albums:
            answer.set_result(Looked({}, None))
            return answer
        with self._ready:
            if self._closed:
                raise Closed("the server is stopping")
            self._asks.append(_Ask(list(albums), details, answer, list(then)))
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="jitspot-coalescer", daemon=True
                )
                self._worker.start()
            self._ready.notify_all()
        return answer

    def close(self) -> None:
        """Stop: waits in progress end (as a signal ends them), asks left are refused."""
        with self._ready:
            self._closed = True
            self._stop.request("signal")
            self._ready.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout=30)

    # -- the worker ----------------------------------------------------------------------

    def _work(self) -> None:
        try:
            catalog = self._open_catalog(self._stop)
        except Exception as exc:
            # The store or the cache cannot be opened (damaged, unreadable): the asks
            # waiting hear why, and the next ask tries again with a new worker.
            self._give_up(exc)
            return
        try:
            while (asks := self._gather()) is not None:
                self._answer(catalog, asks)
        finally:
            catalog.close()
            catalog.store.close()
            self._refuse_all(Closed("the server is stopping"))

    def _gather(self) -> list[_Ask] | None:
        """The asks of one batch: the first, and all that come within the window."""
        with self._ready:
            while not self._asks and not self._carried and not self._closed:
                self._ready.wait()
            if self._closed:
                return None
            deadline = self._monotonic() + self.window
            while not self._closed and _albums([*self._carried, *self._asks]) < self.most:
                left = deadline - self._monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            carried, self._carried = self._carried, []
            asks, self._asks = self._asks, []
        # Running from here on (a cancel can no longer land); a cancelled one is dropped.
        return carried + [ask for ask in asks if ask.answer.set_running_or_notify_cancel()]

    def _answer(self, catalog: Catalog, asks: list[_Ask]) -> None:
        # Nothing joins the tiles' resolve while an album page's lookup waits after it.
        pages = any(ask.details for ask in asks)
        for details in (False, True):
            group = [ask for ask in asks if ask.details is details]
            if group:
                self._resolve(catalog, group, details, joins=not pages)

    def _resolve(
        self, catalog: Catalog, group: list[_Ask], details: bool, *, joins: bool = True
    ) -> None:
        albums = list({a.id: a for ask in group for a in ask.albums}.values())
        then = list({a.id: a for ask in group for a in ask.then}.values())
        # A tile's lookup is answered as soon as its own covers land, and others join
        # while covers are fetched; an album page's waits for the whole resolve.
        watch = None if details else _Watch(self, catalog, group, joins=joins)
        try:
            # A tile needs its cover alone: answered as soon as the album (or its oEmbed
            # cover) arrives, never after track pages or artists. An album page needs all.
            resolution = catalog.resolve(
                albums,
                Policy.MISSING,
                need=Need.TRACKS if details else Need.COVER,
                share=Share.INTERACTIVE,
                artists=details,
                prefetch=then,
                listener=watch,
            )
            left = watch.open if watch is not None else group
            for ask in left:
                _settle(ask, _looked(catalog, ask, resolution))
            # The lookups' hits and misses, for `stats` (a long-lived server has no
            # command end to add them at).
            catalog.store.flush_counters()
        except Exception as exc:
            # This batch's callers not yet answered hear of it (a damaged cache, a full
            # disk); the next batch tries again.
            log.warning("cover lookup failed: %s", exc)
            for ask in watch.asks if watch is not None else group:
                with contextlib.suppress(InvalidStateError):  # answered already
                    ask.answer.set_exception(exc)

    def _joining(self) -> list[_Ask]:
        """Cover lookups asked since the running batch started, to join it (started now);
        none while an album page's lookup waits (it must not wait for a batch without end)."""
        with self._ready:
            if self._closed or any(ask.details for ask in self._asks):
                return []
            asks, self._asks = self._asks, []
        return [ask for ask in asks if ask.answer.set_running_or_notify_cancel()]

    def _carry(self, asks: list[_Ask]) -> None:
        """Started lookups that could not join: the next batch takes them first."""
        with self._ready:
            self._carried.extend(asks)
            self._ready.notify_all()

    def _give_up(self, error: Exception) -> None:
        with self._ready:
            asks, self._asks = self._asks, []
            self._worker = None
        for ask in asks:
            with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
                ask.answer.set_exception(error)

    def _refuse_all(self, error: BaseException) -> None:
        with self._ready:
            asks, self._asks = [*self._carried, *self._asks], []
            self._carried = []
            self._closed = True
        for ask in asks:
            with contextlib.suppress(InvalidStateError):  # answered or cancelled meanwhile
                ask.answer.set_exception(error)


def _albums(asks: list[_Ask]) -> int:
    return sum(len(ask.albums) for ask in asks)


class _Watch:
    """A batch of tile lookups as its resolve goes (`resolver.Listener`): answers each
    lookup whose albums are all answered, and lets the lookups asked meanwhile join.

    Each answer kept looks only at the lookups waiting for the albums it brought (a
    resolve of 2,000 covers is told of each), not at every lookup of the batch.
    """

    def __init__(
        self, coalescer: Coalescer, catalog: Catalog, group: list[_Ask], *, joins: bool
    ) -> None:
        self.coalescer = coalescer
        self.catalog = catalog
        self.joins = joins  # whether lookups asked meanwhile may join
        self.asks = list(group)  # every lookup of the batch, those joined too
        self._unseen = list(group)  # not yet told apart: answered or waiting
        self._waiting: dict[str, list[tuple[_Ask, set[str]]]] = {}  # album -> lookups
        self._seen: set[str] = set()  # albums fetched that were looked at

    def kept(self, result: Resolution) -> None:
        for ask in self._unseen:
            self._wait_for(ask, result)
        self._unseen = []
        landed = result.fetched - self._seen
        self._seen |= landed
        for spotify_id in landed:
            for ask, left in self._waiting.pop(spotify_id, ()):
                left.discard(spotify_id)
                if not left:
                    _settle(ask, _looked(self.catalog, ask, result))

    def _wait_for(self, ask: _Ask, result: Resolution) -> None:
        left = {
            a.spotify_id
            for a in ask.albums
            if a.spotify_id and a.spotify_id in result.due and a.spotify_id not in result.fetched
        }
        if not left:
            _settle(ask, _looked(self.catalog, ask, result))  # cached, or fetched already
        for spotify_id in left:
            self._waiting.setdefault(spotify_id, []).append((ask, left))

    def joining(self, result: Resolution, admit: Callable[[Sequence[str]], bool]) -> None:
        if not self.joins:
            return
        refused: list[_Ask] = []
        joining = self.coalescer._joining()
        for at, ask in enumerate(joining):
            try:
                admitted = not refused and admit([a.spotify_id for a in ask.albums if a.spotify_id])
            except Exception:
                self.asks += joining[at:]  # they hear of the error with the batch
                raise
            if not admitted:
                refused.append(ask)  # in order: those after a refused one wait with it
                continue
            self.asks.append(ask)
            self._unseen.append(ask)
        if refused:
            self.coalescer._carry(refused)
        if self._unseen:
            self.kept(result)  # those whose covers were all cached are answered at once

    @property
    def open(self) -> list[_Ask]:
        """The lookups not answered yet."""
        return [ask for ask in self.asks if not ask.answer.done()]


def _looked(catalog: Catalog, ask: _Ask, resolution: Resolution) -> Looked:
    views = {view["id"]: view for view in catalog.build_views(ask.albums, resolution)}
    until = (
        resolution.rate_limited_until
        or resolution.quota_until
        or remembered_until(catalog.store, NOT_BEFORE, catalog.clock())
    )
    return Looked(views, until)


def _settle(ask: _Ask, looked: Looked) -> None:
    with contextlib.suppress(InvalidStateError):  # answered already
        ask.answer.set_result(looked)
