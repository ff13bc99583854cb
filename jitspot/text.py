"""Small pure text helpers: folding for matching, cell values written as typed."""

from __future__ import annotations

import re
from datetime import date, datetime

_SPACES = re.compile(r"\s+")


# Bump when `fold` changes what it returns: stores re-fold their columns and
# row keys once on open (store.refold), so old folds keep matching new filters.
FOLD_VERSION = 3  # 3: vocal styles folded to their facet (vocal_facet), locations folded


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for matching, filtering and row keys.

    Non-ASCII text is transliterated with anyascii, which also folds letters
    that carry no combining mark (`Mgła` -> `mgla`, `Þórr` -> `thorr`,
    `Straße` -> `strasse`), where Unicode decomposition leaves them as they are.
    """
    if text.isascii():  # the common case, ~10x cheaper than transliterating
        return " ".join(text.lower().split())
    # Imported here: ~15 ms of start-up that ASCII-only runs never pay.
    from anyascii import anyascii

    return " ".join(anyascii(text).lower().split())


def squash(text: str) -> str:
    """Trim and collapse runs of white space (cells carry stray spaces and newlines)."""
    return _SPACES.sub(" ", text).strip()


def cell_text(value: object) -> str:
    """A cell as its user wrote it: `1349`, not `1349.0`; dates as ISO; None as ''."""
    if isinstance(value, str):
        text = value.strip()
        if "  " in text or "\n" in text or "\t" in text or "\r" in text:
            return squash(text)
        return text
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return squash(str(value))


def normalise_vocal_style(raw: str) -> str | None:
    """`Mixed `, `MIxed` and `mixed` are one style: `Mixed`."""
    cleaned = squash(raw)
    if not cleaned:
        return None
    return cleaned[0].upper() + cleaned[1:].lower()


# The parts a sheet writes a vocal style with, by how the part starts once folded:
# "Instru./Clean", "Instr./clean", "Instrumen", "MIxed", "Mixed/Instru."...
_VOCAL_PARTS = (
    ("instr", "Instrumental"),
    ("clean", "Clean"),
    ("mix", "Mixed"),
    ("harsh", "Harsh"),
)
_VOCAL_SPLIT = re.compile(r"\s*(?:/|&|\+|,|\band\b)\s*")


def vocal_facet(style: str) -> str | None:
    """The one facet value a vocal style's spellings share (the sheet's text stays as written).

    `Instru./Clean`, `Instr./clean` and `Clean/Instru.` are all `Instrumental/clean`;
    `Instrumen` is `Instrumental`; a part it does not know is kept, capitalised.
    """
    names: list[str] = []
    for part in _VOCAL_SPLIT.split(fold(style)):
        part = part.strip(" .-")
        if not part:
            continue
        name = next((n for prefix, n in _VOCAL_PARTS if part.startswith(prefix)), None)
        name = name or part[0].upper() + part[1:]
        if name not in names:
            names.append(name)
    if not names:
        return None
    known = [n for _, n in _VOCAL_PARTS]
    names.sort(key=lambda n: known.index(n) if n in known else len(known))
    return "/".join([names[0], *(n.lower() for n in names[1:])])


_GENRE_SPLIT = re.compile(r"\s*[,;]\s*")


def split_genres(raw: str) -> list[str]:
    """`Prog-metal, Djent,` -> ['Prog-metal', 'Djent'] (order kept, duplicates dropped)."""
    seen: set[str] = set()
    genres: list[str] = []
    for part in _GENRE_SPLIT.split(raw):
        genre = squash(part)
        key = fold(genre)
        if genre and key not in seen:
            seen.add(key)
            genres.append(genre)
    return genres
