"""A test catalog with known answers for `jitspot match`.

:func:`build_catalog` fills a :class:`SpotifyDouble` with invented prog/metal
artists and their discographies (other albums, singles, reissues, live
albums, compilations) and returns link-less sheet rows, each with the Spotify
album id it is the same record as, or None when Spotify has no right answer.
The rows mix plain cases, Spotify-side spellings of the same record and traps
(see :data:`SPELLINGS` and :data:`TRAPS` for the categories and their shares).

Every row with an answer is found by the double's search for
``album:"<sheet title>" artist:"<sheet artist>"`` within its first 10 results;
a sheet date off by a year (``spelling:year-off-by-one``) needs the year
filter widened by one. Sheet artists and titles are unique as a pair, so a
stored album maps back to its case by artist and title.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from spotify_double import SpotifyDouble, _tokens

__all__ = [
    "CATEGORIES",
    "SPELLINGS",
    "TRAPS",
    "Case",
    "build_catalog",
    "precision_recall",
    "sheet_tabs",
]


@dataclass(frozen=True)
class Case:
    """One link-less sheet row and the album Spotify has of it."""

    #: For conftest's ``make_sheet``: [artist, album, date, length, genres, vocals, location].
    row: list[Any]
    #: The Spotify album id this row is the same record as; None when Spotify has none.
    answer: str | None
    #: The category: "plain", a ``spelling:...`` or a trap (see CATEGORIES).
    trap: str
    #: The tab the row belongs in (``2019 Prog-metal``): a "TBA" or "Fall" row's year.
    tab: str = ""


#: Spotify spells the same record differently from the sheet (the answer is that album).
SPELLINGS: Mapping[str, float] = {
    "spelling:case": 0.02,  # "the frozen tides" / "The Frozen Tides"
    "spelling:accent": 0.02,  # Motorhead / Motörhead, either side
    "spelling:letter": 0.02,  # ł, ø, æ on one side (Grøn Ulv / Gron Ulv, Æther / Aether)
    "spelling:ampersand": 0.012,  # "Blood & Iron" / "Blood and Iron"
    "spelling:apostrophe": 0.012,  # curly vs straight apostrophe
    "spelling:ep-suffix": 0.015,  # Spotify "X - EP" (type single), sheet "X", EP
    "spelling:deluxe": 0.015,  # Spotify only "X (Deluxe Edition)", same date
    "spelling:remastered": 0.012,  # Spotify only "X (Remastered)", same date
    "spelling:bonus-tracks": 0.01,  # Spotify only "X [Bonus Track Version]", same date
    "spelling:punctuation": 0.015,  # "Vol. II" / "Vol II", "Post-Human" / "Post Human", "X!"
    "spelling:year-off-by-one": 0.019,  # sheet 2019-12 (pre-release), Spotify 2020-01, or back
    "spelling:ep-as-single": 0.015,  # sheet EP, Spotify album_type "single"
    "spelling:multi-artist": 0.015,  # sheet "A & B", Spotify artists [A, B]
}
#: Cases a careless matcher gets wrong; the answer is given for each.
TRAPS: Mapping[str, float] = {
    "self-titled": 0.025,  # title == artist name; the artist has other albums
    "self-titled:missing": 0.015,  # None: only other albums (and maybe "The Best of A")
    "roman-numeral": 0.025,  # "II" when Spotify has "I"?, "II" and "III": the II
    "roman-numeral:missing": 0.015,  # None: "II" when Spotify has only "III" (and "I"?)
    "numeric": 0.025,  # artist "1349"-like with "1", "2", "3"; or title "1" next to "11"
    "numeric:missing": 0.015,  # None: title "1" when Spotify has only "11"
    "other-artist:both": 0.025,  # the title by the artist and by another: the artist's
    "other-artist:only": 0.02,  # None: the title by another artist only (same year)
    "reissue:both": 0.025,  # original and a reissue 10+ years later: the original
    "reissue:only": 0.025,  # None: only the reissue 10+ years later (original not on Spotify)
    "live:only": 0.02,  # None: only "X (Live)" a few years later
    "single-first": 0.025,  # a single with the album's title months before: the album
    "absent": 0.045,  # None: the artist is on Spotify, the album is not
    "absent:unknown-artist": 0.02,  # None: the artist is not on Spotify at all
    "common-name": 0.025,  # 3-5 Spotify artists named "Eclipse": the right one's album
}
PLAIN = "plain"
CATEGORIES: tuple[str, ...] = (PLAIN, *SPELLINGS, *TRAPS)

LAST_YEAR = 2026  # nothing on Spotify is dated later


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ADJECTIVES = _words(
    "Ashen Hollow Crimson Obsidian Silent Frozen Shattered Endless Burning Sunken Pale Iron "
    "Golden Distant Broken Ancient Eternal Forgotten Bleak Violet Astral Cold Wandering Drowned "
    "Veiled Sacred Severed Gilded Radiant Feral Lunar Solar Electric Hidden Outer Inner Hallowed "
    "Restless Weightless Scarlet Amber Vacant Quiet Molten Fading Cobalt"
)
_NOUNS = _words(
    "Meridian Monolith Cathedral Serpent Ember Horizon Citadel Oracle Lantern Spire Harbinger "
    "Labyrinth Tempest Pilgrim Glacier Archive Vessel Canopy Cartographer Sextant Reliquary "
    "Raven Throne Garden Machine Mirror Ocean Comet Mountain Forest Signal Engine Choir Colossus "
    "Obelisk Nebula Prism Wraith Harvest Furnace Lighthouse Codex Pendulum Sanctum Tundra "
    "Compass Beacon Orchard Chasm Zenith Aurora Helix Vortex Bastion Sepulchre Mandala"
)
_PLURALS = _words(
    "Tides Embers Ashes Ruins Echoes Shadows Ghosts Rivers Stars Wolves Bones Storms Veins "
    "Wings Waves Spirals Thorns Mirrors Monoliths Lanterns Serpents Oceans Cinders Relics"
)
_ODD_WORDS = _words(
    "Metanoia Aphelion Anamnesis Katabasis Apotheosis Solastalgia Chrysalis Panopticon "
    "Palimpsest Entropia Perihelion Ouroboros Synesthesia Hiraeth Saudade Sonder Liminal "
    "Vestige Threnody Kenosis Parallax Umbra Penumbra Anabasis Eschaton Mythos Catharsis"
)
_PREPOSITIONS = ("Beneath", "Beyond", "Into", "Across", "Above", "Within", "Under", "Against")
_SYLLABLES = _words(
    "vor kael mor thal zen dra ul ith grim nax sol aar eth ryn gor vel ost ka lum dor "
    "skal var hel mo ra tor an is un gal bri ok"
)
_AE_WORDS = ("Aether", "Aeons", "Aegis", "Caelestis", "Aeternum", "Aeolian")
_COMMON_NAMES = _words(
    "Eclipse Nothing Abyss Horizon Phoenix Atlas Nova Legion Exodus Genesis Odyssey "
    "Haven Pulse Echo Nemesis Vertigo Karma Oblivion Trinity Helix"
)
_CITIES = ("Oslo", "Tilburg", "Montreal", "Krakow", "Tokyo", "Gothenburg", "Leipzig", "Bogota")
_FESTIVALS = ("Wacken", "Roadburn", "Hellfest", "ProgPower", "Brutal Assault")
_METAL = ("Prog-metal", "Djent", "Post-metal", "Black metal", "Doom", "Tech-death", "Sludge")
_ROCK = ("Prog-rock", "Art rock", "Post-rock", "Psych rock", "Space rock", "Jazz-rock")
_VOCALS = ("Clean", "Harsh", "Mixed", "Mixed ", "MIxed", "Instrumental", "Clean ")
_COUNTRIES = (
    *_words(
        "Norway Sweden Finland Poland Germany France Italy Spain Brazil Japan Canada Australia "
        "Andorra Iceland Greece Netherlands Chile Mexico"
    ),
    *("US", "UK", "New Zealand", "US - California"),
)
_SPOTIFY_GENRES = (
    "progressive metal",
    "djent",
    "post-metal",
    "black metal",
    "doom metal",
    "progressive rock",
    "post-rock",
    "art rock",
)
_ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü"}
_TEXT_DATES = ("TBA", "Fall", "April", "Summer", "Q3")
_BASE62 = string.digits + string.ascii_letters


def build_catalog(double: SpotifyDouble, *, seed: int = 11, size: int = 240) -> list[Case]:
    """Add a catalog to ``double`` and return ``size`` sheet rows with their answers.

    The same seed on a fresh double gives the same rows, traps and answer ids.
    Each category of :data:`CATEGORIES` gets at least one row; "plain" gets
    what the shares of :data:`SPELLINGS` and :data:`TRAPS` leave (~45%).
    """
    rng = random.Random(seed)
    kinds: list[str] = []
    for name, share in (*SPELLINGS.items(), *TRAPS.items()):
        kinds += [name] * max(1, round(size * share))
    if len(kinds) >= size:
        raise ValueError(f"size {size} leaves no plain rows (at least {len(kinds) + 1})")
    kinds += [PLAIN] * (size - len(kinds))
    rng.shuffle(kinds)
    builder = _Builder(double, rng)
    return [builder.case(kind) for kind in kinds]


def precision_recall(
    cases: Sequence[Case], matched: Mapping[int, str | None]
) -> tuple[float, float]:
    """(precision, recall) of a matcher's answers against the known ones.

    ``matched`` maps a case's index in ``cases`` to the Spotify id the matcher
    stored for its row, or None when it stored none (a missing index counts as
    None). Precision is correct matches / matches made (1.0 when none were
    made); recall is correct matches / cases that have an answer. A match on a
    case whose answer is None is always wrong.
    """
    unknown = [i for i in matched if not 0 <= i < len(cases)]
    if unknown:
        raise ValueError(f"no such case indexes: {unknown}")
    made = {i: found for i, found in matched.items() if found is not None}
    correct = sum(1 for i, found in made.items() if cases[i].answer == found)
    answerable = sum(1 for case in cases if case.answer is not None)
    precision = correct / len(made) if made else 1.0
    recall = correct / answerable if answerable else 1.0
    return precision, recall


def sheet_tabs(cases: Sequence[Case]) -> dict[str, list[list[Any]]]:
    """The rows for ``make_sheet``, grouped in their tabs (in case order within a tab)."""
    tabs: dict[str, list[list[Any]]] = {}
    for case in cases:
        tabs.setdefault(case.tab, []).append(case.row)
    return tabs


@dataclass
class _Record:
    """What the sheet says of one record."""

    artist: str | int
    title: str | int
    released: date
    length: str
    metal: bool
    date_cell: Any = None


class _Builder:
    """Adds artists and albums to the double; makes each category's case."""

    def __init__(self, double: SpotifyDouble, rng: random.Random) -> None:
        self.double = double
        self.rng = rng
        self.ids = set(double.album_ids()) | set(double.artist_ids())
        self.artist_names: set[tuple[str, ...]] = set()
        self.titles: set[tuple[str, ...]] = set()
        self.rows: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        self.numbers: set[int] = set()
        self.common = list(_COMMON_NAMES)
        rng.shuffle(self.common)

    # ------------------------------------------------------------- the double

    def new_id(self) -> str:
        while True:
            candidate = "".join(self.rng.choice(_BASE62) for _ in range(22))
            if candidate not in self.ids:
                self.ids.add(candidate)
                return candidate

    def artist(self, name: str) -> str:
        return self.double.add_artist(
            name,
            genres=self.rng.sample(_SPOTIFY_GENRES, 2),
            id=self.new_id(),
            popularity=self.rng.randint(2, 70),
            followers=self.rng.randint(50, 400_000),
        )

    def album(
        self,
        name: str,
        artists: Sequence[str],
        released: date,
        kind: str = "album",
        *,
        popularity: int | None = None,
        tracks: Sequence[str] | None = None,
    ) -> str:
        roll = self.rng.random()
        if roll < 0.05:
            release_date, precision = str(released.year), "year"
        elif roll < 0.1:
            release_date, precision = released.strftime("%Y-%m"), "month"
        else:
            release_date, precision = released.isoformat(), "day"
        n_tracks = {"single": self.rng.randint(1, 2), "compilation": 14}.get(
            kind, self.rng.randint(7, 11)
        )
        return self.double.add_album(
            name,
            artists,
            n_tracks=n_tracks,
            release_date=release_date,
            precision=precision,
            label=f"{self.rng.choice(_NOUNS)} Records",
            popularity=self.rng.randint(3, 75) if popularity is None else popularity,
            id=self.new_id(),
            album_type=kind,
            track_names=tracks,
        )

    # ------------------------------------------------------------------ names

    def _fresh(self, pool: set[tuple[str, ...]], make: Callable[[], str]) -> str:
        while True:
            name = make()
            key = tuple(sorted(_tokens(name)))
            if key and key not in pool:
                pool.add(key)
                return name

    def band(self, *, having: str = "") -> str:
        def make() -> str:
            r = self.rng
            while True:
                pattern = r.random()
                if pattern < 0.3:
                    name = f"{r.choice(_ADJECTIVES)} {r.choice(_NOUNS)}"
                elif pattern < 0.4:
                    name = f"The {r.choice(_ADJECTIVES)} {r.choice(_PLURALS)}"
                elif pattern < 0.75:
                    name = self.word()
                elif pattern < 0.9:
                    name = f"{r.choice(_NOUNS)} of {r.choice(_PLURALS)}"
                else:
                    name = f"{self.word()} {r.choice(_NOUNS)}"
                if all(c in name for c in having):
                    return name

        return self._fresh(self.artist_names, make)

    def word(self) -> str:
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 3))).title()

    def title(self) -> str:
        def make() -> str:
            r = self.rng
            pattern = r.random()
            if pattern < 0.15:
                return r.choice(_ODD_WORDS)
            if pattern < 0.4:
                return f"{r.choice(_ADJECTIVES)} {r.choice(_NOUNS)}"
            if pattern < 0.55:
                return f"The {r.choice(_NOUNS)} of {r.choice(_ADJECTIVES)} {r.choice(_PLURALS)}"
            if pattern < 0.7:
                return f"{r.choice(_PLURALS)} of the {r.choice(_NOUNS)}"
            if pattern < 0.85:
                return f"{r.choice(_PREPOSITIONS)} the {r.choice(_ADJECTIVES)} {r.choice(_NOUNS)}"
            if pattern < 0.9:
                return r.choice(_NOUNS)
            return f"{r.choice(_ADJECTIVES)} {r.choice(_PLURALS)}"

        return self._fresh(self.titles, make)

    def number(self, low: int, high: int) -> int:
        while True:
            n = self.rng.randint(low, high)
            if n not in self.numbers:
                self.numbers.add(n)
                return n

    # ------------------------------------------------------------ the records

    def record(
        self, *, artist: str | int = "", title: str | int = "", latest: int = 2025
    ) -> _Record:
        r = self.rng
        released = date(r.randint(2008, latest), r.randint(1, 12), r.randint(1, 28))
        roll = r.random()
        length = (
            "LP" if roll < 0.84 else "EP" if roll < 0.95 else "2xLP" if roll < 0.98 else "Single"
        )
        return _Record(
            artist=artist or self.band(),
            title=title or self.title(),
            released=released,
            length=length,
            metal=r.random() < 0.7,
        )

    def kind_of(self, length: str) -> str:
        if length == "Single":
            return "single"
        if length == "EP":
            return self.rng.choice(("album", "single"))
        return "album"

    def date_cell(self, released: date, *, text: bool = True) -> Any:
        roll = self.rng.random()
        if text and roll < 0.06:
            return self.rng.choice(_TEXT_DATES)
        if text and roll < 0.14:
            return released.year
        return datetime(released.year, released.month, released.day)

    def discography(
        self, artist_id: str, name: str, around: int, *, low: int = 3, high: int = 8
    ) -> None:
        """The artist's other albums, spread over the years, some with singles."""
        r = self.rng
        years = [y for y in range(around - 12, min(around + 6, LAST_YEAR) + 1) if y != around]
        for year in sorted(r.sample(years, r.randint(low, high))):
            released = date(year, r.randint(1, 12), r.randint(1, 28))
            self.album(
                self.title(), [artist_id], released, "album" if r.random() < 0.8 else "single"
            )
            if r.random() < 0.3:  # a single from it, under a song's name
                self.album(self.title(), [artist_id], released - timedelta(days=60), "single")
        if r.random() < 0.3:
            year = min(around + r.randint(0, 4), LAST_YEAR)
            where = r.choice(_FESTIVALS) if r.random() < 0.6 else r.choice(_CITIES)
            live = f"Live at {where} {year}" if where in _FESTIVALS else f"Live in {where}"
            self.album(live, [artist_id], date(year, r.randint(1, 12), r.randint(1, 28)))
        if r.random() < 0.25:
            year = min(around + r.randint(1, 8), LAST_YEAR)
            best = r.choice((f"The Best of {name}", f"Anthology {year - 10}-{year}", "Collected"))
            self.album(best, [artist_id], date(year, 6, 1), "compilation")

    def surroundings(self, artist_ids: Sequence[str], rec: _Record, songs: Sequence[str]) -> None:
        """Singles from the record, and sometimes a reissue or live album of it."""
        r = self.rng
        title, year = str(rec.title), rec.released.year
        for n, song in enumerate(songs[: r.choice((0, 0, 1, 2))]):
            self.album(song, artist_ids, rec.released - timedelta(days=40 * (n + 1)), "single")
        if r.random() < 0.25 and year + 3 <= LAST_YEAR:
            later = r.randint(year + 3, min(year + 14, LAST_YEAR))
            name = r.choice(
                (
                    f"{title} (Deluxe Edition)",
                    f"{title} (Remastered {later})",
                    f"{title} (Expanded)",
                )
            )
            self.album(name, artist_ids, date(later, r.randint(1, 12), 1), popularity=80)
        if r.random() < 0.15 and year + 1 <= LAST_YEAR:
            later = r.randint(year + 1, min(year + 3, LAST_YEAR))
            self.album(f"{title} (Live)", artist_ids, date(later, r.randint(1, 12), 1))

    def on_spotify(
        self,
        rec: _Record,
        *,
        artist_ids: Sequence[str],
        name: str | None = None,
        released: date | None = None,
        kind: str | None = None,
        around: bool = True,
    ) -> str:
        """The record's album, with singles and (``around``) a reissue or live album of it."""
        kind = kind or self.kind_of(rec.length)
        count = 2 if rec.length == "Single" else 5 if rec.length == "EP" else 8
        songs = [self.title() for _ in range(count)]
        album_id = self.album(
            str(rec.title) if name is None else name,
            artist_ids,
            rec.released if released is None else released,
            kind,
            tracks=songs,
        )
        if around:
            self.surroundings(artist_ids, rec, songs)
        return album_id

    def with_discography(self, name: str, around: int, *, low: int = 3, high: int = 8) -> str:
        artist_id = self.artist(name)
        self.discography(artist_id, name, around, low=low, high=high)
        return artist_id

    def case(self, kind: str) -> Case:
        make: Callable[[], tuple[_Record, str | None]] = getattr(
            self, "case_" + kind.replace(":", "_").replace("-", "_")
        )
        rec, answer = make()
        return self.finish(rec, answer, kind)

    def finish(self, rec: _Record, answer: str | None, kind: str) -> Case:
        r = self.rng
        key = (_tokens(str(rec.artist)), _tokens(str(rec.title)))
        if key in self.rows:
            raise AssertionError(f"two rows for {rec.artist} - {rec.title}")
        self.rows.add(key)
        genres = r.sample(_METAL if rec.metal else _ROCK, r.randint(1, 2))
        cell = rec.date_cell if rec.date_cell is not None else self.date_cell(rec.released)
        row = [
            rec.artist,
            rec.title,
            cell,
            rec.length,
            ", ".join(genres),
            r.choice(_VOCALS),
            r.choice(_COUNTRIES),
        ]
        tab = f"{rec.released.year} {'Prog-metal' if rec.metal else 'Prog-rock'}"
        return Case(row=row, answer=answer, trap=kind, tab=tab)

    # ------------------------------------------------------------------ plain

    def case_plain(self) -> tuple[_Record, str | None]:
        rec = self.record()
        artist_id = self.with_discography(str(rec.artist), rec.released.year)
        return rec, self.on_spotify(rec, artist_ids=[artist_id])

    # -------------------------------------------------------------- spellings

    def spelled(
        self,
        rec: _Record,
        *,
        spotify_artist: str | None = None,
        spotify_title: str | None = None,
        kind: str | None = None,
    ) -> tuple[_Record, str | None]:
        artist_id = self.with_discography(spotify_artist or str(rec.artist), rec.released.year)
        album_id = self.on_spotify(
            rec, artist_ids=[artist_id], name=spotify_title, kind=kind, around=False
        )
        return rec, album_id

    def case_spelling_case(self) -> tuple[_Record, str | None]:
        rec = self.record()
        title, artist = str(rec.title), str(rec.artist)
        if self.rng.random() < 0.3:
            rec.artist = artist.lower()
            return self.spelled(rec, spotify_artist=artist)
        rec.title = title.lower() if self.rng.random() < 0.6 else title.upper()
        return self.spelled(rec, spotify_title=title)

    def accented(self, text: str) -> str:
        spots = [i for i, c in enumerate(text) if c in _ACCENTS]
        at = self.rng.choice(spots)
        return text[:at] + _ACCENTS[text[at]] + text[at + 1 :]

    def case_spelling_accent(self) -> tuple[_Record, str | None]:
        rec = self.record(artist=self.band(having="o"))
        plain = str(rec.artist)
        fancy = self.accented(plain)
        if self.rng.random() < 0.7:  # Motorhead on the sheet, Motörhead on Spotify
            return self.spelled(rec, spotify_artist=fancy)
        rec.artist = fancy
        return self.spelled(rec, spotify_artist=plain)

    def case_spelling_letter(self) -> tuple[_Record, str | None]:
        r = self.rng
        choice = r.random()
        if choice < 0.35:
            rec = self.record(artist=self.band(having="o"))
            fancy = str(rec.artist).replace("o", "ø", 1)
        elif choice < 0.7:
            rec = self.record(artist=self.band(having="l"))
            fancy = str(rec.artist).replace("l", "ł", 1)
        else:
            word = r.choice(_AE_WORDS)
            title = self._fresh(self.titles, lambda: f"{word} {r.choice(_NOUNS)}")
            rec = self.record(title=title)
            fancy_title = title.replace("Ae", "Æ", 1).replace("ae", "æ", 1)
            if r.random() < 0.7:
                return self.spelled(rec, spotify_title=fancy_title)
            rec.title = fancy_title
            return self.spelled(rec, spotify_title=title)
        if r.random() < 0.7:  # Mgla on the sheet, Mgła on Spotify
            return self.spelled(rec, spotify_artist=fancy)
        plain, rec.artist = str(rec.artist), fancy
        return self.spelled(rec, spotify_artist=plain)

    def two_sided(self, rec: _Record, one: str, other: str) -> tuple[_Record, str | None]:
        if self.rng.random() < 0.5:
            one, other = other, one
        rec.title = one
        return self.spelled(rec, spotify_title=other)

    def case_spelling_ampersand(self) -> tuple[_Record, str | None]:
        r = self.rng
        first = self._fresh(self.titles, lambda: f"{r.choice(_PLURALS)} & {r.choice(_PLURALS)}")
        return self.two_sided(self.record(), first, first.replace("&", "and"))

    def case_spelling_apostrophe(self) -> tuple[_Record, str | None]:
        r = self.rng
        curly = self._fresh(self.titles, lambda: f"{r.choice(_NOUNS)}\u2019s {r.choice(_PLURALS)}")
        return self.two_sided(self.record(), curly, curly.replace("\u2019", "'"))

    def case_spelling_ep_suffix(self) -> tuple[_Record, str | None]:
        rec = self.record()
        rec.length = "EP"
        return self.spelled(rec, spotify_title=f"{rec.title} - EP", kind="single")

    def case_spelling_deluxe(self) -> tuple[_Record, str | None]:
        rec = self.record()
        return self.spelled(rec, spotify_title=f"{rec.title} (Deluxe Edition)")

    def case_spelling_remastered(self) -> tuple[_Record, str | None]:
        rec = self.record()
        return self.spelled(rec, spotify_title=f"{rec.title} (Remastered)")

    def case_spelling_bonus_tracks(self) -> tuple[_Record, str | None]:
        rec = self.record()
        return self.spelled(rec, spotify_title=f"{rec.title} [Bonus Track Version]")

    def case_spelling_punctuation(self) -> tuple[_Record, str | None]:
        r = self.rng
        form = r.randrange(3)
        if form == 0:
            dotted = self._fresh(self.titles, lambda: f"{r.choice(_NOUNS)}, Vol. II")
            one, other = dotted, dotted.replace(",", "").replace(".", "")
        elif form == 1:
            hyphen = self._fresh(
                self.titles,
                lambda: f"{r.choice(('Post', 'Anti', 'Neo', 'Ultra'))}-{r.choice(_NOUNS)}",
            )
            one, other = hyphen, hyphen.replace("-", " ")
        else:
            plain = self.title()
            one, other = plain, plain + r.choice(("!", "?", "..."))
        return self.two_sided(self.record(), one, other)

    def case_spelling_year_off_by_one(self) -> tuple[_Record, str | None]:
        r = self.rng
        rec = self.record(latest=2024)
        year = rec.released.year
        december, january = date(year, 12, r.randint(1, 28)), date(year + 1, 1, r.randint(5, 28))
        sheet, spotify = (december, january) if r.random() < 0.6 else (january, december)
        rec.released = sheet
        rec.date_cell = datetime(sheet.year, sheet.month, sheet.day)
        artist_id = self.with_discography(str(rec.artist), year)
        return rec, self.on_spotify(rec, artist_ids=[artist_id], released=spotify, around=False)

    def case_spelling_ep_as_single(self) -> tuple[_Record, str | None]:
        rec = self.record()
        rec.length = "EP"
        return self.spelled(rec, kind="single")

    def case_spelling_multi_artist(self) -> tuple[_Record, str | None]:
        rec = self.record()
        first, second = str(rec.artist), self.band()
        rec.artist = f"{first} & {second}"
        year = rec.released.year
        ids = [self.with_discography(first, year), self.with_discography(second, year, low=2)]
        return rec, self.on_spotify(rec, artist_ids=ids, around=False)

    # ------------------------------------------------------------------ traps

    def case_self_titled(self) -> tuple[_Record, str | None]:
        name = self.band()
        self.titles.add(tuple(sorted(_tokens(name))))
        rec = self.record(artist=name, title=name)
        artist_id = self.with_discography(name, rec.released.year)
        return rec, self.on_spotify(rec, artist_ids=[artist_id])

    def case_self_titled_missing(self) -> tuple[_Record, str | None]:
        name = self.band()
        self.titles.add(tuple(sorted(_tokens(name))))
        rec = self.record(artist=name, title=name)
        artist_id = self.with_discography(name, rec.released.year)
        if self.rng.random() < 0.5:
            later = min(rec.released.year + self.rng.randint(2, 8), LAST_YEAR)
            self.album(f"The Best of {name}", [artist_id], date(later, 3, 1), "compilation")
        return rec, None

    def numerals(self, rec: _Record, titles: Sequence[str], step: int = 3) -> dict[str, str]:
        """Albums named ``titles`` in order, ``step`` years apart, ``rec``'s title in its year."""
        artist_id = self.with_discography(str(rec.artist), rec.released.year, low=1, high=4)
        at = list(titles).index(str(rec.title))
        ids = {}
        for n, name in enumerate(titles):
            year = rec.released.year + (n - at) * step
            released = rec.released if n == at else date(year, self.rng.randint(1, 12), 10)
            ids[name] = self.album(name, [artist_id], released)
        return ids

    def case_roman_numeral(self) -> tuple[_Record, str | None]:
        rec = self.record(title="II", latest=2020)
        titles = ["I", "II", "III"] if self.rng.random() < 0.5 else ["II", "III"]
        return rec, self.numerals(rec, titles)["II"]

    def case_roman_numeral_missing(self) -> tuple[_Record, str | None]:
        rec = self.record(title="II", latest=2020)
        artist_id = self.with_discography(str(rec.artist), rec.released.year, low=1, high=4)
        later = rec.released.year + self.rng.randint(2, 5)
        self.album("III", [artist_id], date(later, self.rng.randint(1, 12), 10))
        if self.rng.random() < 0.5:
            self.album("I", [artist_id], date(rec.released.year - 3, 5, 10))
        return rec, None

    def case_numeric(self) -> tuple[_Record, str | None]:
        r = self.rng
        if r.random() < 0.5:  # 1349's "3"
            n = r.choice((1, 2, 3))
            rec = self.record(artist=self.number(1000, 1899), title=n, latest=2019)
            return rec, self.numerals(rec, ["1", "2", "3"], step=2)[str(n)]
        rec = self.record(title=1, latest=2015)
        return rec, self.numerals(rec, ["1", "11"], step=10)["1"]

    def case_numeric_missing(self) -> tuple[_Record, str | None]:
        rec = self.record(title=1, latest=2015)
        artist_id = self.with_discography(str(rec.artist), rec.released.year, low=2, high=5)
        self.album("11", [artist_id], date(rec.released.year + 5, 4, 4))
        return rec, None

    def other_artists_copy(self, rec: _Record, *, same_year: bool) -> None:
        year = rec.released.year if same_year else rec.released.year + self.rng.randint(-6, 1)
        other = self.with_discography(self.band(), year, low=2, high=4)
        self.album(str(rec.title), [other], date(year, self.rng.randint(1, 12), 15))

    def case_other_artist_both(self) -> tuple[_Record, str | None]:
        rec = self.record()
        self.other_artists_copy(rec, same_year=self.rng.random() < 0.5)
        artist_id = self.with_discography(str(rec.artist), rec.released.year)
        return rec, self.on_spotify(rec, artist_ids=[artist_id])

    def case_other_artist_only(self) -> tuple[_Record, str | None]:
        rec = self.record()
        self.with_discography(str(rec.artist), rec.released.year)
        self.other_artists_copy(rec, same_year=True)
        return rec, None

    def reissue(self, rec: _Record, artist_id: str) -> None:
        r = self.rng
        later = r.randint(rec.released.year + 10, min(rec.released.year + 15, LAST_YEAR))
        title = str(rec.title)
        name = r.choice(
            (
                title,
                f"{title} (Remastered {later})",
                f"{title} (Remastered)",
                f"{title} ({later - rec.released.year}th Anniversary Edition)",
                f"{title} (Deluxe Edition)",
            )
        )
        self.album(
            name, [artist_id], date(later, r.randint(1, 12), 1), popularity=r.randint(50, 90)
        )

    def case_reissue_both(self) -> tuple[_Record, str | None]:
        rec = self.record(latest=2015)
        artist_id = self.with_discography(str(rec.artist), rec.released.year)
        answer = self.on_spotify(rec, artist_ids=[artist_id], around=False)
        self.reissue(rec, artist_id)
        return rec, answer

    def case_reissue_only(self) -> tuple[_Record, str | None]:
        rec = self.record(latest=2015)
        self.reissue(rec, self.with_discography(str(rec.artist), rec.released.year))
        return rec, None

    def case_live_only(self) -> tuple[_Record, str | None]:
        r = self.rng
        rec = self.record(latest=2023)
        artist_id = self.with_discography(str(rec.artist), rec.released.year)
        later = r.randint(rec.released.year + 1, rec.released.year + 3)
        name = r.choice(
            (
                f"{rec.title} (Live)",
                f"{rec.title} - Live",
                f"{rec.title} (Live at {r.choice(_FESTIVALS)})",
            )
        )
        self.album(name, [artist_id], date(later, r.randint(1, 12), 1))
        return rec, None

    def case_single_first(self) -> tuple[_Record, str | None]:
        r = self.rng
        rec = self.record()
        rec.length = "LP"
        artist_id = self.with_discography(str(rec.artist), rec.released.year)
        earlier = rec.released - timedelta(days=r.randint(30, 150))
        self.album(str(rec.title), [artist_id], earlier, "single", popularity=r.randint(40, 90))
        return rec, self.on_spotify(rec, artist_ids=[artist_id], kind="album")

    def case_absent(self) -> tuple[_Record, str | None]:
        rec = self.record()
        self.with_discography(str(rec.artist), rec.released.year)
        return rec, None

    def case_absent_unknown_artist(self) -> tuple[_Record, str | None]:
        return self.record(), None

    def case_common_name(self) -> tuple[_Record, str | None]:
        name = self.common.pop()
        self.artist_names.add(tuple(sorted(_tokens(name))))
        rec = self.record(artist=name)
        answer_at = self.rng.randint(0, 3)
        answer: str | None = None
        for n in range(max(3, answer_at + 1) + self.rng.randint(0, 1)):
            artist_id = self.with_discography(
                name, rec.released.year + n - answer_at, low=2, high=5
            )
            if n == answer_at:
                answer = self.on_spotify(rec, artist_ids=[artist_id])
        return rec, answer
