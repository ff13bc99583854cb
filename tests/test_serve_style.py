"""`serve`'s colours: every text colour against what it is drawn on, in both schemes.

The ratios are computed (WCAG 2.x relative luminance) from the CSS custom
properties the pages use: gallery.css's, overridden by serve.css's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).parent.parent / "jitspot" / "static"
DARK = "@media (prefers-color-scheme:dark)"
AA_TEXT = 4.5

_ROOT = re.compile(r":root\{([^}]*)\}")
_PROPERTY = re.compile(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\b")


def _properties(css: str) -> tuple[dict[str, str], dict[str, str]]:
    """The colour properties a stylesheet sets for the light scheme and for the dark one."""
    light: dict[str, str] = {}
    dark: dict[str, str] = {}
    for match in _ROOT.finditer(css):
        inside_dark = css.rfind(DARK, 0, match.start()) > css.rfind("}}", 0, match.start())
        (dark if inside_dark else light).update(_PROPERTY.findall(match.group(1)))
    return light, dark


def scheme_colours(scheme: str) -> dict[str, str]:
    """The colour properties in effect in `scheme` ("light" or "dark") on serve's pages."""
    merged: dict[str, str] = {}
    for sheet in ("gallery.css", "serve.css"):
        light, dark = _properties((STATIC / sheet).read_text())
        merged.update(light)
        if scheme == "dark":
            merged.update(dark)
    return merged


def luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, two: str) -> float:
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast__the_ratio_of_known_pairs() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#fff", "#3ddc84") == pytest.approx(1.78, abs=0.01)  # the buttons
    assert contrast("#fff", "#1f8f52") == pytest.approx(4.11, abs=0.01)


def test_scheme_colours__read_both_schemes_with_serve_overriding_the_gallery() -> None:
    light, dark = scheme_colours("light"), scheme_colours("dark")

    assert light["bg"] == "#f6f5f2" and dark["bg"] == "#111214"
    assert {"fg", "muted", "card", "chip", "link", "btn", "btn-fg", "err"} <= light.keys()
    assert light["btn"] != dark["btn"]


# (text, background, where the pair is seen)
PAIRS = [
    ("fg", "bg", "body text"),
    ("fg", "card", "text in the form's fields"),
    ("fg", "chip", "link chips (Spotify, Bandcamp…)"),
    ("muted", "bg", "dates, genres, the sync status, the pager"),
    ("muted", "card", "placeholders in the form"),
    ("muted", "chip", "the disabled Sync button"),
    ("link", "bg", "links on the page"),
    ("link", "card", "links on a card"),
    ("btn-fg", "btn", "the Sync now and Show buttons, the skip link"),
    ("err", "bg", "a sync that failed"),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("text", "background", "seen"), PAIRS)
def test_serve_colours__every_text_pair_reaches_4_5_to_1(
    scheme: str, text: str, background: str, seen: str
) -> None:
    colours = scheme_colours(scheme)

    ratio = contrast(colours[text], colours[background])

    assert ratio >= AA_TEXT, f"{seen}: {text} on {background} is {ratio:.2f}:1 in {scheme}"
