"""`jitspot cache prune` and `jitspot cache clear`: drop cached Spotify data, never call Spotify."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jitspot.cli.app import app, print_json, state
from jitspot.cli.options import JsonOpt, WaitLockOpt, with_filters
from jitspot.model import AlbumFilter

if TYPE_CHECKING:
    from jitspot.jobs.housekeeping import Freed

cache_app = typer.Typer(
    name="cache",
    help="Cache housekeeping: drop cached Spotify data (never calls Spotify).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(cache_app)

DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="List what would be dropped; drop nothing.")
]


@cache_app.command("prune")
def prune_command(
    dry_run: DryRunOpt = False, wait_lock: WaitLockOpt = 0.0, as_json: JsonOpt = False
) -> None:
    """Drop cache entries no album needs.

    Drops the album and oEmbed entries of Spotify ids no album in the store has
    (rows removed from the sheet by a re-import), "not found" answers past their
    lifetime (JITSPOT_NOT_FOUND_TTL_DAYS), unreadable entries, and artist entries
    that no kept album names. Reports the entries and bytes freed, per kind.
    Bytes are the size of the dropped entries' JSON values (the cache stores
    them compressed, so its files shrink by less).

    Takes the refresh lock: exit 75 when a refresh (or another prune/clear) runs.
    """
    from jitspot.jobs.housekeeping import Housekeeper

    keeper = Housekeeper(state.get_store(), state.get_settings())
    try:
        freed = keeper.prune(dry_run=dry_run, wait_lock=wait_lock)
    finally:
        keeper.close()
    _report("Pruned", freed, as_json)


@cache_app.command("clear")
@with_filters
def clear_command(
    ctx: typer.Context,
    *,
    filters: AlbumFilter,
    everything: Annotated[
        bool, typer.Option("--all", help="Every album in the store (required without FILTERS).")
    ] = False,
    dry_run: DryRunOpt = False,
    wait_lock: WaitLockOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Forget the cached Spotify data of the albums FILTERS select.

    Drops their album and oEmbed entries, and their artists' entries when no
    other cached album names them; the next show, export or refresh --missing
    fetches them again. Without FILTERS it needs --all, so that nobody empties
    the cache by accident (entries of albums no longer in the store are for
    `cache prune`). Reports the entries and bytes freed, per kind. Bytes are
    the size of the dropped entries' JSON values (the cache stores them
    compressed, so its files shrink by less).

    Takes the refresh lock: exit 75 when a refresh (or another prune/clear) runs.
    """
    from jitspot.jobs.housekeeping import Housekeeper, chooses_albums

    chosen = chooses_albums(filters)
    if not chosen and not everything:
        ctx.fail(
            "choose the albums to forget: FILTERS (--artist, --genre, --year, --tab, --vocal,"
            " --query) or --all"
        )
    if chosen and everything:
        ctx.fail("--all is every album: give it without FILTERS")
    keeper = Housekeeper(state.get_store(), state.get_settings())
    try:
        freed = keeper.clear(filters, dry_run=dry_run, wait_lock=wait_lock)
    finally:
        keeper.close()
    _report("Cleared", freed, as_json)


def _report(done: str, freed: Freed, as_json: bool) -> None:
    if as_json:
        print_json(freed.as_json())
        return
    from rich.filesize import decimal

    if freed.dry_run:
        for drop in freed.drops:
            item = drop.item
            state.out.print(
                f"{item.kind:<7} {item.spotify_id:<22} {decimal(item.size):>9}  {drop.reason}"
                + (f"  {item.name}" if item.name else ""),
                markup=False,
                highlight=False,
                crop=False,
                overflow="ignore",
            )
    parts = [
        f"{_count(counts['entries'], _NOUNS.get(kind, kind))} ({decimal(counts['bytes'])})"
        for kind, counts in freed.by_kind().items()
        if counts["entries"]
    ]
    what = f"{_count(freed.entries, 'entry')} ({decimal(freed.bytes)})"
    if parts:
        what += ": " + ", ".join(parts)
    if freed.dry_run:
        if not state.quiet:
            state.err.print(
                f"Would drop {what}. Nothing was dropped (--dry-run).",
                markup=False,
                highlight=False,
            )
    elif not state.quiet:
        state.out.print(f"{done} {what}.", markup=False, highlight=False)


_NOUNS = {"album": "album", "artist": "artist", "oembed": "oEmbed cover"}


def _count(number: int, noun: str) -> str:
    if number == 1:
        return f"1 {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number} {plural}"
