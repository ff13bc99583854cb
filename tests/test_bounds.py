"""The bounds the CLI and `serve` both hold before asking the store (jitspot/bounds.py)."""

from __future__ import annotations

import pytest

from jitspot.bounds import MAX_STORE_ID, OutOfBounds, bounded_query, bounded_tabs, store_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("0042", 42),
        (str(MAX_STORE_ID), MAX_STORE_ID),
        (str(MAX_STORE_ID + 1), None),  # SQLite's integers end here
        ("9" * 5000, None),  # past Python's int() digit limit too
        ("0", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1_000", None),
        ("\u0661", None),  # ARABIC-INDIC DIGIT ONE: int() reads it, a URL id has no business to
        ("", None),
        ("abc", None),
    ],
)
def test_store_id__reads_ascii_digits_within_sqlite_integers(
    text: str, expected: int | None
) -> None:
    assert store_id(text) == expected


def test_bounded_query__counts_different_words_and_drops_repeats() -> None:
    assert bounded_query("Haken  Fauna") == "Haken  Fauna"
    assert bounded_query("fauna FAUNA Fauna haken") == "fauna haken"
    assert bounded_query(" ".join(["w"] * 5000 + [f"w{i}" for i in range(31)])).count(" ") == 31
    with pytest.raises(OutOfBounds, match="at most 32 different words, got 33"):
        bounded_query(" ".join(f"w{i}" for i in range(33)))


def test_bounded_tabs__refuses_more_than_64_globs() -> None:
    assert bounded_tabs(tuple("abc")) == ("a", "b", "c")
    with pytest.raises(OutOfBounds, match="at most 64 tab globs, got 65"):
        bounded_tabs(tuple(f"{i}*" for i in range(65)))
