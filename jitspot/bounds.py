"""Bounds on what reaches SQL from a command line or a URL, shared by the CLI and `serve`.

Every query word and tab glob becomes a clause, every id a parameter: SQLite
refuses integers past 64 bits ("Python int too large to convert to SQLite
INTEGER") and expressions deeper than ~1000 ("Expression tree is too large"),
so both front ends check these bounds before the store is asked anything.
"""

from __future__ import annotations

import re

from jitspot.text import fold

MAX_QUERY_WORDS = 32  # different words in a query (repeats add nothing)
MAX_TAB_GLOBS = 64  # tab globs in one filter (the full workbook has 18 tabs)
MAX_STORE_ID = 2**63 - 1  # SQLite's largest integer: the store's ids are below it

_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits; 19 of them hold MAX_STORE_ID


class OutOfBounds(ValueError):
    """A value past one of these bounds; its message says which and what to do."""


def bounded_query(text: str) -> str:
    """`text` with repeated words dropped (as folded words, order kept), or OutOfBounds
    if it has more than MAX_QUERY_WORDS different words. Unrepeated text stays as typed."""
    words = fold(text).split()
    distinct = list(dict.fromkeys(words))
    if len(distinct) > MAX_QUERY_WORDS:
        raise OutOfBounds(
            f"at most {MAX_QUERY_WORDS} different words, got {len(distinct)}; narrow the query"
        )
    return text if len(distinct) == len(words) else " ".join(distinct)


def bounded_tabs(globs: tuple[str, ...]) -> tuple[str, ...]:
    """`globs`, or OutOfBounds if there are more than MAX_TAB_GLOBS."""
    if len(globs) > MAX_TAB_GLOBS:
        raise OutOfBounds(f"at most {MAX_TAB_GLOBS} tab globs, got {len(globs)}")
    return globs


def store_id(text: str) -> int | None:
    """The store id written in `text` (ASCII digits, 1..MAX_STORE_ID), or None."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_STORE_ID else None
