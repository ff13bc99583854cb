"""A cover never waits for track pages: a tile's batch against one that follows every page.

Issue 18, point 6. Serve's tiles ask for covers 20 albums a call; before, the
gateway followed every album's track pages inside that call, so one album with
more than 50 tracks held its whole batch back by a page call per 50 tracks.
Now a cover resolve (`Need.COVER`) answers as soon as the album objects arrive;
the pages come only for what shows tracks (`Need.TRACKS`: show, the album page,
export). Both are measured in the same run, on the same double with the same
latency, in a fresh home each:

- `cover`: `resolve(ids, need=Need.COVER)`, today's tile;
- `tracks`: `resolve(ids, need=Need.TRACKS)`, every page followed (after the
  batch, in parallel);
- `before` (with `--before REV`): the same cover resolve by the code of git
  revision REV (e.g. the commit before issue 18), checked out in a temporary
  worktree and run in a subprocess: it followed every page inside the batch call,
  one after the other.

Printed: calls and seconds of each, and each against `cover` as a ratio.

    python bench/bench_cover_wait.py [--latency 1.0] [--albums 20] [--long 3] [--tracks 160]
                                     [--before 8c7ea54]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from spotify_double import SpotifyDouble

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Need, Policy
from jitspot.catalog.resolver import Resolver
from jitspot.settings import load_settings
from jitspot.spotify.quota import ALBUMS_BATCH_ALLOWED_UNTIL
from jitspot.store import open_store


def measure(need: Need, albums: int, long: int, tracks: int, latency: float) -> tuple[int, float]:
    with SpotifyDouble() as double, tempfile.TemporaryDirectory() as tmp:
        ids = double.populate(albums, 5, long_albums=long, long_tracks=tracks)
        double.delay(latency)
        env = {**os.environ, **double.env(), "JITSPOT_HOME": str(Path(tmp) / "home")}
        settings = load_settings(Path(tmp) / "home", env=env)
        with open_store(settings.store_path) as store:
            store.set_meta(ALBUMS_BATCH_ALLOWED_UNTIL, time.time() + 86_400)  # a known app
            cache = SpotifyCache(settings.cache_dir, store)
            resolver = Resolver(store, cache, settings)
            started = time.perf_counter()
            result = resolver.resolve(ids, Policy.MISSING, need=need, artists=False)
            seconds = time.perf_counter() - started
            resolver.close()
            cache.close()
        assert result.error is None, result.error
        return double.api_calls(), seconds


# Run by the interpreter in a worktree of an older revision: its resolve, timed.
BEFORE = """
import os, sys, tempfile, time
from pathlib import Path
import jitspot
assert jitspot.__file__.startswith(sys.path[1]), jitspot.__file__  # the old tree's
from spotify_double import SpotifyDouble
from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Policy
from jitspot.catalog.resolver import Resolver
from jitspot.settings import load_settings
from jitspot.store import open_store
albums, long, tracks, latency = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
with SpotifyDouble() as double, tempfile.TemporaryDirectory() as tmp:
    ids = double.populate(albums, 5, long_albums=long, long_tracks=tracks)
    double.delay(latency)
    env = {**os.environ, **double.env(), "JITSPOT_HOME": str(Path(tmp) / "home")}
    settings = load_settings(Path(tmp) / "home", env=env)
    with open_store(settings.store_path) as store:
        cache = SpotifyCache(settings.cache_dir, store)
        started = time.perf_counter()
        Resolver(store, cache, settings).resolve(ids, Policy.MISSING, artists=False)
        print(double.api_calls(), time.perf_counter() - started)
        cache.close()
"""


def before(rev: str, albums: int, long: int, tracks: int, latency: float) -> tuple[int, float]:
    """The cover resolve of revision `rev` (run from a temporary git worktree)."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "-q", str(tree), rev], check=True
        )
        try:
            done = subprocess.run(
                [sys.executable, "-c", BEFORE, str(albums), str(long), str(tracks), str(latency)],
                env={**os.environ, "PYTHONPATH": f"{tree}:{tree / 'tests'}"},
                cwd=tmp,  # not this checkout: `-c` puts the working directory on sys.path
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)])
    calls, seconds = done.stdout.split()
    return int(calls), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="the double's answer time (s)")
    parser.add_argument("--albums", type=int, default=20, help="albums in the batch (≤ 20)")
    parser.add_argument("--long", type=int, default=3, help="of them, albums past 50 tracks")
    parser.add_argument("--tracks", type=int, default=160, help="tracks of each long album")
    parser.add_argument("--before", metavar="REV", help="also time revision REV's cover resolve")
    args = parser.parse_args()
    cover_calls, cover = measure(Need.COVER, args.albums, args.long, args.tracks, args.latency)
    track_calls, tracks = measure(Need.TRACKS, args.albums, args.long, args.tracks, args.latency)
    print(
        f"{args.albums} albums, {args.long} of them with {args.tracks} tracks, latency {args.latency} s"
    )
    print(f"{'resolve':<28} {'calls':>5} {'seconds':>8}")
    print(f"{'cover (a tile, now)':<28} {cover_calls:>5} {cover:>8.2f}")
    print(f"{'every track page':<28} {track_calls:>5} {tracks:>8.2f}  {tracks / cover:5.1f}x")
    if args.before:
        old_calls, old = before(args.before, args.albums, args.long, args.tracks, args.latency)
        print(f"{'cover at ' + args.before:<28} {old_calls:>5} {old:>8.2f}  {old / cover:5.1f}x")


if __name__ == "__main__":
    main()
