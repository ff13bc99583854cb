"""Matching: is a Spotify search result the sheet's album? Pure decisions, no I/O.

A row without a Spotify link is searched by artist, title and year; each
album of the answer is scored against the row on one scale, 0 to 1:
artist and title similarity (after folding case, accents and punctuation,
and dropping edition suffixes such as "(Deluxe Edition)" or " - EP"), the
release year, and the album type against the sheet's Length. A wrong cover
is worse than a missing one, so the scorer is strict where records differ
by little: another number ("II" and "III", "1" and "11"), a live album, a
reissue years later, another artist of the same title.

Scores at or above the threshold (`Settings.match_min_score`, 0.9) are kept
as matches; below it the best candidates wait for a person's review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rapidfuzz.fuzz import ratio

from jitspot.model import StoredAlbum
from jitspot.spotify.data import Candidate
from jitspot.text import fold

State = Literal["matched", "review", "no_candidate", "accepted", "rejected"]
DECIDED: frozenset[str] = frozenset({"accepted", "rejected"})  # a person's word: kept
REVIEW_FLOOR = 0.5  # candidates below this are not worth a person's look
REVIEW_KEPT = 3  # candidates kept for review

# Weights of the parts of a score; they add up to 1.
W_TITLE, W_ARTIST, W_YEAR, W_TYPE = 0.40, 0.35, 0.15, 0.10
# Below this similarity an artist or a title is another one: the score is capped.
SAME_NAME = 0.8

# Suffixes that name an edition of the same record, not another record.
_EDITION_WORDS = (
    r"deluxe|edition|expanded|anniversary|bonus|version|special|limited|explicit|clean"
    r"|remaster(?:ed)?|reissue|re-issue|remix(?:ed)?|mono|stereo|digipak|ep|single"
)
_BRACKETED = re.compile(rf"\s*[\(\[][^\)\]]*\b(?:{_EDITION_WORDS})\b[^\)\]]*[\)\]]\s*$")
_DASHED = re.compile(rf"\s+[-–—]\s+[^-–—]*\b(?:{_EDITION_WORDS})\b[^-–—]*$")
_REISSUE = re.compile(r"\b(?:remaster(?:ed)?|reissue|re-issue|anniversary|remix(?:ed)?)\b")
_LIVE = re.compile(r"\blive\b|\bunplugged\b|\bin concert\b")
_APOSTROPHES = re.compile(r"['’‘`´]")
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_SYNONYMS = {"pt": "part", "vol": "volume", "n": "and", "feat": "", "ft": ""}
_ROMAN = frozenset(
    {"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"}
    | {"xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii", "xviii", "xix", "xx"}
)


# -- names --------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Folded words: case, accents, apostrophes, punctuation and `&`/`and` made equal."""
    folded = _APOSTROPHES.sub("", fold(text)).replace("&", " and ").replace("+", " and ")
    words = (_SYNONYMS.get(word, word) for word in _NOT_WORD.sub(" ", folded).split())
    return " ".join(word for word in words if word)


def core_title(title: str) -> tuple[str, bool, bool]:
    """The title without edition suffixes; and whether it named an edition, or a reissue."""
    text = fold(title)
    edition = reissue = False
    while True:
        stripped = _BRACKETED.sub("", text)
        stripped = _DASHED.sub("", stripped)
        if stripped == text or not stripped.strip():
            break
        removed = text[len(stripped) :]
        edition = True
        reissue = reissue or bool(_REISSUE.search(removed))
        text = stripped
    return normalise(text), edition, reissue


def _numbers(words: str) -> list[str]:
    """The numbers in a title (digits and roman numerals): "II" and "III" are two records."""
    return sorted(w for w in words.split() if w.isdigit() or w in _ROMAN)


def similarity(a: str, b: str) -> float:
    """0-1 likeness of two normalised names; exact (or exact but for spaces) is 1."""
    if a == b:
        return 1.0
    if a.replace(" ", "") == b.replace(" ", ""):
        return 0.98
    return ratio(a, b) / 100.0


def title_similarity(sheet_title: str, candidate_title: str) -> float:
    """Like `similarity`, but another number is another record, whatever the rest."""
    ours, _, _ = core_title(sheet_title)
    theirs, _, _ = core_title(candidate_title)
    if _numbers(ours) != _numbers(theirs):
        return 0.0
    return similarity(ours, theirs)


_ARTIST_SPLIT = re.compile(r"\s*(?:&|,|/|\+|\bx\b|\bfeat\.?|\bft\.?|\bwith\b|\band\b)\s*")


def artist_similarity(sheet_artist: str, candidate_artists: Sequence[str]) -> float:
    """How alike the sheet's artist is to the candidate's artists (one or several).

    "A & B" in the sheet is the same as Spotify's two artists A and B; one of
    them alone is close but not the same.
    """
    ours = normalise(sheet_artist)
    names = [normalise(name) for name in candidate_artists if name]
    if not names or not ours:
        return 0.0
    best = max(similarity(ours, " and ".join(names)), max(similarity(ours, n) for n in names))
    if best >= 0.98 or (len(names) == 1 and not _ARTIST_SPLIT.search(fold(sheet_artist))):
        return best
    parts = [normalise(p) for p in _ARTIST_SPLIT.split(fold(sheet_artist)) if normalise(p)]
    if len(parts) < 2:
        return best
    found = [max(similarity(part, n) for n in names) for part in parts]
    if all(score >= 0.95 for score in found) and len(parts) == len(names):
        return max(best, sum(found) / len(found))
    return max(best, 0.75 * sum(found) / len(found))


# -- the other parts ----------------------------------------------------------------------

_YEAR_TAB = re.compile(r"^\s*((?:19|20)\d\d)\b")


def sheet_year(album: StoredAlbum) -> int | None:
    """The release year: the date's, else the year the tab is named after ("2021")."""
    if album.year:
        return album.year
    found = _YEAR_TAB.match(album.tab)
    return int(found.group(1)) if found else None


def year_score(sheet: int | None, release_date: str | None) -> float:
    """1 for the same year, less a year apart (a pre-release date), 0 when far."""
    try:
        theirs = int((release_date or "")[:4])
    except ValueError:
        theirs = None
    if sheet is None or theirs is None:
        return 0.5
    return {0: 1.0, 1: 0.85, 2: 0.4}.get(abs(sheet - theirs), 0.0)


def sheet_type(kind: str | None) -> str | None:
    """The sheet's Length as Spotify's album type: LP -> album, EP -> ep, Single -> single."""
    text = fold(kind or "")
    if not text:
        return None
    if "single" in text:
        return "single"
    if re.search(r"\bep\b", text):
        return "ep"
    return "album"


def type_score(kind: str | None, candidate: Candidate) -> float:
    """Spotify types EPs as singles (or albums); a single is not the LP of the same title."""
    ours = sheet_type(kind)
    theirs = candidate.get("album_type") or ""
    if ours is None or not theirs:
        return 0.8
    if theirs == "compilation":
        return 0.4
    table = {
        ("album", "album"): 1.0,
        ("album", "single"): 0.2,
        ("ep", "single"): 1.0,
        ("ep", "album"): 0.8,
        ("single", "single"): 1.0,
        ("single", "album"): 0.5,
    }
    return table.get((ours, theirs), 0.5)


# -- the score and the decision -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scored:
    """A candidate with its score (0-1) and why."""

    candidate: Candidate
    score: float
    artist: float
    title: float
    year: float
    type: float

    def as_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "id": c["id"],
            "name": c["name"],
            "artists": c["artists"],
            "release_date": c.get("release_date"),
            "album_type": c.get("album_type"),
            "cover_url": c.get("cover_url"),
            "score": round(self.score, 3),
        }


def score(album: StoredAlbum, candidate: Candidate) -> Scored:
    """How surely `candidate` is the sheet's `album`, 0 to 1."""
    artist = artist_similarity(album.artist, candidate["artists"])
    title = title_similarity(album.title, candidate["name"])
    year = year_score(sheet_year(album), candidate.get("release_date"))
    kind = type_score(album.kind, candidate)
    if artist < SAME_NAME or title < SAME_NAME:
        # Another artist or another title: never a match, whatever else agrees.
        total = 0.7 * min(artist, title)
    else:
        # A near name counts for much less than an exact one ("Ghost" is not "Ghosts").
        total = W_TITLE * _near(title) + W_ARTIST * _near(artist) + W_YEAR * year + W_TYPE * kind
        _, sheet_edition, sheet_reissue = core_title(album.title)
        _, edition, reissue = core_title(candidate["name"])
        if reissue and not sheet_reissue:
            total -= 0.08  # a remaster or reissue, often years later: the original first
        elif edition and not sheet_edition:
            total -= 0.02  # a deluxe edition: the same record, the plain one first
        if kind <= 0.2:
            total -= 0.10  # the single of an album's title track is not the album
        if _LIVE.search(fold(candidate["name"])) and not _LIVE.search(fold(album.title)):
            total -= 0.25  # a live album of the same record is another record
    return Scored(candidate, max(0.0, min(1.0, total)), artist, title, year, kind)


def _near(similarity: float) -> float:
    """Exact (but for spaces) is 1; a near name is worth much less; below SAME_NAME, 0."""
    if similarity >= 0.98:
        return 1.0
    return max(0.0, (similarity - SAME_NAME) / (1.0 - SAME_NAME) * 0.8)


@dataclass(frozen=True, slots=True)
class Decision:
    """What matching decided for one album."""

    album: StoredAlbum
    state: State
    match_id: str | None
    score: float | None
    candidates: tuple[Scored, ...]

    def candidates_json(self) -> list[dict[str, Any]]:
        return [c.as_json() for c in self.candidates]


def decide(album: StoredAlbum, candidates: Sequence[Candidate], min_score: float) -> Decision:
    """Matched at or above `min_score`; else the best few for review; else no candidate.

    Ties go to Spotify's order (its relevance).
    """
    ranked = sorted(
        (score(album, c) for c in candidates if c.get("id")),
        key=lambda s: -s.score,
    )
    kept = tuple(s for s in ranked if s.score >= REVIEW_FLOOR)[:REVIEW_KEPT]
    if not kept:
        return Decision(album, "no_candidate", None, None, ())
    best = kept[0]
    state: State = "matched" if best.score >= min_score else "review"
    return Decision(album, state, best.candidate["id"], round(best.score, 4), kept)


def search_query(album: StoredAlbum) -> str | None:
    """The one search for an album: artist, title and the year ±1 (None: nothing to search).

    The year is widened from the start (a pre-release date in the sheet is a
    year off Spotify's): one search per album, never a second. A query past
    Spotify's length limit is shortened (`bounded_names`); the scoring still
    compares the whole title.
    """
    artist = " ".join(album.artist.replace('"', " ").split())
    title = " ".join(album.title.replace('"', " ").split())
    if not artist or not title:
        return None
    year = sheet_year(album)
    years = f" year:{year - 1}-{year + 1}" if year is not None else ""
    query = f'artist:"{artist}" album:"{title}"{years}'
    if len(query) > MAX_SEARCH_QUERY:
        room = MAX_SEARCH_QUERY - (len(query) - len(artist) - len(title))
        artist, title = bounded_names(artist, title, room)
        query = f'artist:"{artist}" album:"{title}"{years}'
    return query


# Spotify's search takes a query of at most 100 characters, filters and quotes included
# (a longer one is a 404 "Not found", a very long one a 414 from its front end): seen and
# confirmed by spotipy's maintainers (spotipy-dev/spotipy#845); Spotify's reference
# names no limit, so this one is kept to what was observed.
MAX_SEARCH_QUERY = 100


def bounded_names(artist: str, title: str, room: int) -> tuple[str, str]:
    """Artist and title, cut at word boundaries so that together they take at most
    `room` characters. Untouched when they fit.

    The title gives way first (its first words still find the record among the
    artist's few), down to its first word; then the artist, down to its first word;
    then, only for single words longer than the room, both are cut mid-word.
    """
    if len(artist) + len(title) <= room:
        return artist, title
    title = _first_words(title, max(room - len(artist), 0))
    artist = _first_words(artist, max(room - len(title), 0))
    if len(artist) + len(title) > room:  # single words longer than the room
        half = room // 2
        artist = artist[: max(half, room - len(title))]
        title = title[: room - len(artist)]
    return artist, title


def _first_words(text: str, room: int) -> str:
    """The longest run of `text`'s first words within `room` characters (at least one
    word, even past the room)."""
    words = text.split()
    kept = words[0]
    for word in words[1:]:
        if len(kept) + 1 + len(word) > room:
            break
        kept += " " + word
    return kept
