"""Write a release workbook shaped like the real one, for benchmarks and examples.

The shape follows DESIGN.md §2: a title block (merged cells, an array formula,
HYPERLINK formulas) above a header row on row 5 or 6; older tabs with a
`Google Play` column; typed cells (dates, but also "TBA", "April", "Fall" or
empty; numeric artists and titles); vocal styles with stray spaces and case;
link cells showing "S"/"BC"/"YT" whose URL is a cell hyperlink (~70%) or a
HYPERLINK formula (~30%); ~10% of rows without a Spotify link, a few artist
links, `?si=` suffixes and `intl-de/` paths, a few artist-only rows, a few
albums in two tabs; hidden tabs, an empty tab and a `Statistics` tab. Band
names are invented.

The output is deterministic for a given seed. Usage:

    python bench/make_workbook.py OUT.xlsx [--rows N] [--tabs N] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import string
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet.formula import ArrayFormula

DEFAULT_ROWS = 18_000
DEFAULT_TABS = 18
DEFAULT_SEED = 2017

KINDS = ("Prog-metal", "Prog-rock", "Reissues & Special Release")
# Relative tab sizes: the metal tabs are the long ones, reissue tabs short.
_WEIGHTS = {"Prog-metal": 3.0, "Prog-rock": 2.0, "Reissues & Special Release": 0.3, "": 3.0}

# Invented names: any resemblance to a real band is an accident.
# fmt: off
_ADJECTIVES = (
    "Hollow", "Crimson", "Silent", "Fractal", "Azure", "Obsidian", "Distant", "Lunar",
    "Ashen", "Vivid", "Northern", "Glass", "Iron", "Cobalt", "Astral", "Feral", "Pale",
    "Sunken", "Electric", "Velvet", "Amber", "Hidden", "Burning", "Quiet", "Wandering",
)
_NOUNS = (
    "Meridian", "Cartographer", "Lantern", "Tide", "Monolith", "Orchard", "Signal",
    "Cathedral", "Horizon", "Archive", "Serpent", "Harbor", "Cipher", "Prism", "Canopy",
    "Drift", "Beacon", "Labyrinth", "Ember", "Summit", "Atlas", "Echo", "Garden", "Veil",
)
_TITLE_WORDS = (
    "Weight", "Light", "Stars", "Machines", "Rivers", "Dust", "Silence", "Spirals",
    "Memory", "Glass", "Oceans", "Tomorrow", "Fire", "Orbits", "Shadows", "Reverie",
    "Static", "Bloom", "Frontiers", "Gravity", "Dreams", "Ruins", "Tides", "Solace",
)
_GENRES = (
    "Prog-metal", "Djent", "Tech-death", "Prog-rock", "Post-metal", "Metalcore",
    "Instrumental", "Art rock", "Jazz fusion", "Black metal", "Avant-garde", "Sludge",
    "Math rock", "Post-rock", "Symphonic metal", "Deathcore", "Heavy Psych", "Alt-metal",
)
_LOCATIONS = (
    "Portland, OR", "Springfield, MO", "Austin, TX", "Sydney, Australia", "Oslo, Norway",
    "Lyon, France", "Montréal, Canada", "Kraków, Poland", "Tampere, Finland", "Leeds, UK",
    "Göteborg, Sweden", "São Paulo, Brazil", "Melbourne, Australia", "Denver, CO",
    "Tokyo, Japan", "Bergen, Norway", "Chicago, IL", "Berlin, Germany", "Milan, Italy",
)
_LENGTHS = ("LP",) * 12 + ("EP",) * 6 + ("Single", "2xLP", "2LP", "Live", "Compilation")
# Vocal styles as typed by many hands: stray spaces and case (`Mixed `, `MIxed`).
_VOCALS = (
    ("Clean",) * 6 + ("Harsh",) * 4 + ("Mixed",) * 6 + ("Instrumental",) * 3
    + ("Mixed ", "MIxed", "clean", " Harsh", "Instrumental ", "Clean/Harsh")
)
# fmt: on
_VAGUE_DATES = ("TBA", "TBA", "April", "Fall", "Summer", "Q3")
_BASE62 = string.digits + string.ascii_letters


def tab_names(count: int) -> list[str]:
    """Album tab names, newest first: `2025 Prog-metal`, …, then `2018`, `2017`."""
    if count <= 3:
        return [f"2025 {kind}" for kind in KINDS][:count]
    names = [f"{year} {kind}" for year in range(2025, 1999, -1) for kind in KINDS]
    return [*names[: count - 2], "2018", "2017"]


class _Maker:
    """Invents rows; one instance per workbook so the output depends only on the seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.earlier: list[tuple[str | int, str | int, dict[str, str]]] = []  # cross-tab repeats

    def token(self, length: int, alphabet: str = _BASE62) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def artist(self) -> str | int:
        roll = self.rng.random()
        first, second = self.rng.sample(_NOUNS, 2)
        if roll < 0.01:
            return self.rng.choice((16, 311, 1349, 20247, 42))  # bands named by a number
        if roll < 0.4:
            return f"{self.rng.choice(_ADJECTIVES)} {first}"
        if roll < 0.55:
            return f"The {self.rng.choice(_ADJECTIVES)} {first}"
        if roll < 0.75:
            return f"{first} of {second}"
        return self.rng.choice(_ADJECTIVES) + first.lower()

    def title(self) -> str | int:
        roll = self.rng.random()
        first, second = self.rng.sample(_TITLE_WORDS, 2)
        if roll < 0.01:
            return self.rng.choice((3, 7, 1999, 2112, 40))  # album titles that are numbers
        if roll < 0.3:
            return first
        if roll < 0.5:
            return f"The {first}"
        if roll < 0.7:
            return f"{self.rng.choice(_ADJECTIVES)} {first}"
        if roll < 0.85:
            return f"{first} of {second}"
        if roll < 0.95:
            return f"Between {first} and {second}"
        return f"{first} & {second}"  # `&` must survive XML escaping

    def genres(self) -> str:
        picked = self.rng.sample(_GENRES, self.rng.randint(1, 4))
        text = ", ".join(picked)
        return text + "," if self.rng.random() < 0.03 else text

    def spotify(self, artist_link: bool = False) -> str:
        kind = "artist" if artist_link else "album"
        prefix = "intl-de/" if self.rng.random() < 0.03 else ""
        url = f"https://open.spotify.com/{prefix}{kind}/{self.token(22)}"
        if self.rng.random() < 0.2:
            url += f"?si={self.token(22)}"
        return url

    @staticmethod
    def slug(value: object) -> str:
        text = str(value).lower()
        return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-") or "x"

    def links(self, artist: object, title: object, services: Sequence[str]) -> dict[str, str]:
        links: dict[str, str] = {}
        band, album = self.slug(artist), self.slug(title)
        for service in services:
            roll = self.rng.random()
            if service == "Bandcamp" and roll < 0.8:
                links[service] = f"https://{band.replace('-', '')}.bandcamp.com/album/{album}"
            elif service == "Spotify" and roll < 0.9:
                links[service] = self.spotify(artist_link=roll < 0.005)
            elif service == "YouTube" and roll < 0.5:
                if roll < 0.1:  # playlists carry `&`, which a formula must XML-escape
                    links[service] = (
                        f"https://www.youtube.com/playlist?list=OLAK5uy_{self.token(33)}"
                        f"&si={self.token(16)}"
                    )
                else:
                    links[service] = f"https://www.youtube.com/watch?v={self.token(11)}"
            elif service == "Amazon" and roll < 0.4:
                links[service] = f"https://www.amazon.com/{album}/dp/B0{self.token(8).upper()}"
            elif service == "Google Play" and roll < 0.4:
                links[service] = (
                    f"https://play.google.com/store/music/album?id=B{self.token(26)}"
                    f"&tid=song-T{self.token(26)}"
                )
            elif service == "Apple Music" and roll < 0.3:
                links[service] = (
                    f"https://music.apple.com/us/album/{album}/{self.rng.randint(10**9, 10**10)}"
                )
        return links


_LABELS = {
    "Bandcamp": "BC",
    "Spotify": "S",
    "YouTube": "YT",
    "Amazon": "A",
    "Google Play": "GP",
    "Apple Music": "AM",
}


def _columns(year: int) -> list[str]:
    """Header names: tabs up to 2019 have Google Play, newer ones Apple Music."""
    head = ["Artist", "Album", "Release Date", "Length", "Genre / Subgenres", "Vocal Style"]
    head += ["Country / State", "Bandcamp", "Spotify"]
    if year <= 2019:
        return [*head, "Google Play", "YouTube", "Amazon"]
    return [*head, "YouTube", "Amazon", "Apple Music"]


def _year(tab: str) -> int:
    return int(tab[:4])


def _sizes(tabs: Sequence[str], rows: int) -> list[int]:
    """Rows per tab by weight, summing to `rows`.

    In a big workbook the oldest reissue tab stays empty, as some real tabs are.
    """
    reissues = [tab for tab in tabs if "Reissues" in tab]
    empty = reissues[-1] if len(tabs) > 6 and reissues else None
    weights = [0.0 if tab == empty else _WEIGHTS[tab[5:] if " " in tab else ""] for tab in tabs]
    total = sum(weights) or 1.0
    sizes = [int(rows * weight / total) for weight in weights]
    filled = [index for index, weight in enumerate(weights) if weight] or [0]
    for extra in range(rows - sum(sizes)):
        sizes[filled[extra % len(filled)]] += 1
    return sizes


def _link_cell(ws: Any, maker: _Maker, service: str, url: str) -> Any:
    """A cell showing the short label; ~70% carry a hyperlink, ~30% a HYPERLINK formula."""
    label = _LABELS[service]
    if maker.rng.random() < 0.3:
        return f'=HYPERLINK("{url.replace(chr(34), chr(34) * 2)}","{label}")'
    cell = WriteOnlyCell(ws, value=label)
    cell.hyperlink = url
    return cell


def _title_block(ws: Any, tab: str, header_row: int, last_row: int) -> None:
    """Rows above the header: merged title, counters (array formula), HYPERLINK formulas."""
    ws.merged_cells.add(f"A1:B{header_row - 2}")
    counter = WriteOnlyCell(
        ws, value=ArrayFormula("D1", f'=COUNTIF(C{header_row + 1}:C{last_row}, ">0")')
    )
    ws.append(
        [
            f"{tab} Albums",
            None,
            "Releases:",
            counter,
            "Sort by Artist, Vocal Style, or Genre:\nData -> Filter views...",
            "Collaborators:\n/u/someone",
            None,
            '=HYPERLINK("https://discord.gg/example","Images & Words: The Prog Discord")',
        ]
    )
    ws.append([None, None, "LPs:", f'=COUNTIF(D{header_row + 1}:D{last_row}, "*LP*")'])
    ws.append(
        [
            '=HYPERLINK("https://docs.google.com/forms/d/e/EXAMPLE/viewform?usp=sf_link",'
            '"Feedback and Request Form")',
            None,
            "EPs:",
            f'=COUNTIF(D{header_row + 1}:D{last_row}, "*EP*")',
        ]
    )
    for _ in range(header_row - 4):
        ws.append([None, None, "Debuts:", 0])


def _album_tab(wb: Workbook, maker: _Maker, tab: str, count: int) -> None:
    ws = wb.create_sheet(tab)
    year = _year(tab)
    if "Reissues" in tab and year % 2:
        ws.sheet_state = "hidden"  # the real workbook hides some reissue tabs
    header_row = 6 if year >= 2021 else 5
    columns = _columns(year)
    services = columns[7:]
    _title_block(ws, tab, header_row, header_row + count)
    ws.append(columns)

    day = date(year, 1, 1)
    for index in range(count):
        artist, title = maker.artist(), maker.title()
        roll = maker.rng.random()
        # The first rows of every tab hold one of each odd case, so even a tiny
        # workbook shows them; later rows get them at realistic rates.
        odd = {2: "vague", 5: "number", 7: "artist_only", 11: "no_spotify"}.get(index)
        if odd == "number" or (odd is None and roll < 0.01):
            artist = maker.rng.choice((1349, 311, 16))
        day = min(day + timedelta(days=maker.rng.choice((0, 0, 1, 1, 2, 3))), date(year, 12, 31))
        released: object = day
        if odd == "vague" or (odd is None and 0.01 <= roll < 0.06):
            released = maker.rng.choice(_VAGUE_DATES)
        elif 0.06 <= roll < 0.07:
            released = None
        links = maker.links(artist, title, services)
        if odd is None and 0.072 <= roll < 0.075 and maker.earlier:
            # A few albums stand in two tabs (e.g. a prog-metal and a prog-rock list).
            artist, title, links = maker.rng.choice(maker.earlier)
            links = {key: url for key, url in links.items() if key in services}
        elif index % 50 == 0:
            maker.earlier.append((artist, title, links))
        if odd == "no_spotify":
            links.pop("Spotify", None)
        if odd == "artist_only" or (odd is None and 0.07 <= roll < 0.072):
            title, links = "", {}
        row: list[Any] = [
            artist,
            title or None,
            released,
            maker.rng.choice(_LENGTHS),
            maker.genres(),
            maker.rng.choice(_VOCALS),
            maker.rng.choice(_LOCATIONS),
        ]
        for service in services:
            url = links.get(service)
            row.append(_link_cell(ws, maker, service, url) if url else None)
        ws.append(row)


def _statistics_tab(wb: Workbook, tabs: Sequence[str]) -> None:
    ws = wb.create_sheet("Statistics")
    ws.append(["Statistics"])
    ws.append([])
    ws.append(["Tab", "Releases"])
    for tab in tabs:
        ws.append([tab, f"=COUNTA('{tab}'!A7:A100000)"])


def write_workbook(
    path: Path,
    rows: int = DEFAULT_ROWS,
    tabs: int = DEFAULT_TABS,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Write a workbook of about `rows` album rows over `tabs` album tabs plus Statistics."""
    maker = _Maker(seed)
    # Write-only mode streams rows to disk (several times faster than a normal
    # workbook) and still writes hyperlinks, formulas and merged cells.
    wb = Workbook(write_only=True)
    wb.properties.creator = "jitspot bench/make_workbook.py"
    wb.properties.created = wb.properties.modified = datetime(2025, 1, 1)
    names = tab_names(tabs)
    for name, count in zip(names, _sizes(names, rows), strict=True):
        _album_tab(wb, maker, name, count)
    _statistics_tab(wb, names)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="the .xlsx to write")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="album rows in all")
    parser.add_argument("--tabs", type=int, default=DEFAULT_TABS, help="album tabs")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    write_workbook(args.out, rows=args.rows, tabs=args.tabs, seed=args.seed)
    print(f"wrote {args.out} ({args.rows} rows, {args.tabs} album tabs + Statistics)")


if __name__ == "__main__":
    main()
