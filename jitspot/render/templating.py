"""The Jinja2 environment that serve's pages and the exported gallery render with.

Both draw an album's tile from the same macros (`render/templates/_tile.html`), so
the environment is made here once: autoescape always on (sheet text is untrusted),
render's own templates found after the caller's, and the presentation helpers the
macros call as globals.
"""

from __future__ import annotations

from jinja2 import BaseLoader, ChoiceLoader, Environment, PackageLoader, select_autoescape

from jitspot.render.presentation import (
    badges,
    cover_reason,
    format_duration,
    has_cover,
    hue,
    initials,
    safe_links,
    total_duration_ms,
)

__all__ = ["environment"]


def environment(*loaders: BaseLoader) -> Environment:
    """An environment that finds templates in `loaders`, then render's own (the tile
    macros, the gallery page), with autoescape on and the presentation helpers as
    globals."""
    env = Environment(
        loader=ChoiceLoader([*loaders, PackageLoader("jitspot.render", "templates")]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        badges=badges,
        cover_reason=cover_reason,
        format_duration=format_duration,
        has_cover=has_cover,
        hue=hue,
        initials=initials,
        safe_links=safe_links,
        total_duration_ms=total_duration_ms,
    )
    return env
