"""What the store's folded columns hold, and a sheet row's key: one definition for
an import (which writes them) and a re-fold (which rewrites them), so the two
never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from jitspot.text import fold, vocal_facet


def row_key(tab_folded: str, artist_folded: str, title_folded: str, occurrence: int) -> str:
    """Identity of a sheet row across imports: its tab, artist and title (folded)."""
    return f"{tab_folded}\x1f{artist_folded}\x1f{title_folded}\x1f{occurrence}"


def search_columns(
    artist_folded: str,
    title_folded: str,
    genres: Sequence[str],
    vocal_style: str | None,
    location: str | None,
) -> tuple[str, str, str, str]:
    """The folded columns filters search: "artist title", genres, vocal facet, location.

    One definition for an import and for a re-fold, so the two never disagree.
    The vocal column holds the style's facet (`vocal_facet`): `--vocal` and the
    page's choice find every spelling of it.
    """
    return (
        f"{artist_folded} {title_folded}",
        _fold_genres(tuple(genres)),
        _fold(_vocal_facet(vocal_style or "") or ""),
        _fold(location or ""),
    )


# A sheet repeats a few hundred genre lists and vocal styles over thousands of rows:
# their folds and JSON are computed once each (bounded, for a hostile sheet).
_fold = functools.lru_cache(maxsize=4096)(fold)
_vocal_facet = functools.lru_cache(maxsize=1024)(vocal_facet)


@functools.lru_cache(maxsize=4096)
def _fold_genres(genres: tuple[str, ...]) -> str:
    return fold(", ".join(genres))
