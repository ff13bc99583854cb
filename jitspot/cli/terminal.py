"""Rendering for people at a terminal (part of the CLI layer: it may use rich)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from jitspot.catalog.views import AlbumView, mark_of, match_mark
from jitspot.model import ListedAlbum
from jitspot.render.presentation import format_duration, release

NOT_GIVEN = "—"  # Spotify did not say
WITHHELD = "not available to development-mode apps"  # Spotify leaves the field out
_STATE_STYLE = {"cover": "green", "not found": "red", "no link": "dim", "not cached": "yellow"}


def album_lines(albums: Sequence[ListedAlbum], states: dict[int, str]) -> Iterator[str]:
    """One plain line per album: id, artist — title, date, kind, tab, cover state."""
    for id_cell, middle, state in _album_cells(albums, states):
        yield f"{id_cell}  {middle}  {state}"


def album_text(albums: Sequence[ListedAlbum], states: dict[int, str]) -> Text:
    """The lines of `album_lines` as one rich Text for a terminal: the id dim, the state
    in color. Built with styles, not markup: parsing 18k lines of markup costs more
    than rendering them."""
    text = Text(end="")
    newline = ""
    for id_cell, middle, state in _album_cells(albums, states):
        text.append(newline)
        text.append(id_cell, style="dim")
        text.append(f"  {middle}  ")
        text.append(state, style=_STATE_STYLE.get(state.partition(" (")[0]))
        newline = "\n"
    return text


def _album_cells(
    albums: Sequence[ListedAlbum], states: dict[int, str]
) -> Iterator[tuple[str, str, str]]:
    """Each album's id cell, its other cells padded to their column's width and joined,
    and its cache state."""
    if not albums:
        return
    names = [f"{a.artist} — {a.title}" for a in albums]
    id_width = len(str(max(a.id for a in albums)))
    name_width = min(60, max(map(len, names)))
    tab_width = max(len(a.tab) for a in albums)
    kind_width = max(len(a.kind or "") for a in albums)
    date_width = max(len(a.release) for a in albums)
    # One format for the middle cells: 18k lines, five cells each.
    middle = f"{{:<{name_width}}}  {{:<{date_width}}}  {{:<{kind_width}}}  {{:<{tab_width}}}"
    for album, name in zip(albums, names, strict=True):
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        yield (
            f"{album.id:>{id_width}}",
            middle.format(name, album.release, album.kind or "", album.tab),
            _state_word(states.get(album.id, ""), album),
        )


def _state_word(state: str, album: ListedAlbum) -> str:
    """The cache state, and "(matched 0.96)" when the id comes from `match`."""
    if album.match_state is None:
        return state
    mark = mark_of(album.match_state, album.match_score)
    return f"{state} ({mark})" if mark else state


def age(fetched_at: str | None) -> str:
    if not fetched_at:
        return ""
    delta = datetime.now().astimezone() - datetime.fromisoformat(fetched_at)
    days = delta.days
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''} ago"
    hours = delta.seconds // 3600
    if hours >= 1:
        return f"{hours} h ago"
    minutes = delta.seconds // 60
    return f"{minutes} min ago" if minutes >= 1 else "just now"


def show_page(view: AlbumView) -> RenderableType:
    """`jitspot show` for a person: the sheet's facts, then Spotify's."""
    head = Text()
    head.append(view["artist"], style="bold")
    head.append(" — ")
    head.append(view["title"], style="bold cyan")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", justify="right")
    facts.add_column(overflow="fold")

    def fact(label: str, value: str | None) -> None:
        if value:
            facts.add_row(label, Text(value))

    fact("released", release(view))
    fact("kind", view["kind"])
    fact("tab", f"{view['tab']} (row {view['row']}, id {view['id']})")
    fact("genres", ", ".join(view["genres"]))
    fact("vocals", view["vocal_style"])
    fact("from", view["location"])
    for name, url in view["links"].items():
        fact(name.replace("_", " "), url)
    spotify = view["spotify"]
    state = view["cover_state"]
    fact("cover", view["cover_url"] or f"— {view['cover_note'] or state.replace('_', ' ')}")
    mark = match_mark(view)
    if mark is not None:
        fact(
            "spotify", f"{view['spotify_id']} ({mark} by search; jitspot match --reject undoes it)"
        )
    parts: list[RenderableType] = [head, facts]
    if spotify is not None:
        cache = "fetched now" if state == "fetched" else f"cached {age(spotify['fetched_at'])}"
        if spotify["stale"]:
            cache += " (stale: `--refresh` renews it)"
        meta = Table.grid(padding=(0, 2))
        meta.add_column(style="dim", justify="right")
        meta.add_column(overflow="fold")

        def meta_row(label: str, value: object) -> None:
            if value not in (None, "", []):
                meta.add_row(label, Text(str(value)))

        meta_row("spotify", spotify["name"])
        meta_row("released", spotify["release_date"])
        withheld = spotify.get("withheld") or []
        meta_row("label", WITHHELD if "label" in withheld else spotify["label"] or NOT_GIVEN)
        meta_row(
            "popularity",
            WITHHELD
            if "popularity" in withheld
            else spotify["popularity"]
            if spotify["popularity"] is not None
            else NOT_GIVEN,
        )
        meta_row(
            "genres",
            ", ".join(spotify["genres"]) if spotify["genres"] else NOT_GIVEN,
        )
        for line in spotify["copyrights"] or []:
            meta_row(f"({line.get('type', '')})", line.get("text"))
        meta_row("cache", cache)
        parts += [Text(""), Text("Spotify", style="bold"), meta]
        if spotify["tracks"]:
            parts += [Text(""), _tracks(view)]
        elif spotify["source"] == "oembed":
            parts += [Text(""), Text(view["cover_note"] or "", style="yellow")]
    elif view["cover_note"]:
        parts += [Text(""), Text(f"Spotify: {view['cover_note']}", style="yellow")]
    return Group(*parts)


def _tracks(view: AlbumView) -> Table:
    spotify = view["spotify"]
    assert spotify is not None
    tracks = spotify["tracks"] or []
    multi_disc = len({t["disc"] for t in tracks}) > 1
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(justify="right", style="dim")
    table.add_column()
    table.add_column(justify="right")
    for track in tracks:
        number = f"{track['disc']}-{track['number']}" if multi_disc else str(track["number"])
        table.add_row(number, Text(track["name"]), format_duration(track["duration_ms"]))
    total = spotify["total_duration_ms"]
    count = f"{len(tracks)} tracks"
    if not spotify.get("tracks_complete", True) and (spotify["total_tracks"] or 0) > len(tracks):
        count = f"the first {len(tracks)} of {spotify['total_tracks']} tracks"
    table.add_row("", Text(count, style="dim"), Text(format_duration(total), style="bold"))
    return table
