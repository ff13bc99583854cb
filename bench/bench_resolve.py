"""Spotify calls used to resolve N albums, against the floor, in both app modes.

Runs the loopback Spotify double (tests/spotify_double.py) and jitspot's real
resolver over HTTP. Prints calls used / floor (goal: 1.00) and the seed
approach (one call per album, plus its track pages and artists) / calls.

    python bench/bench_resolve.py [--albums 1000] [--artists 150] [--long 30]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from spotify_double import SpotifyDouble

from jitspot.catalog.cache import SpotifyCache
from jitspot.catalog.freshness import Policy
from jitspot.catalog.resolver import Resolver
from jitspot.settings import load_settings
from jitspot.store import open_store

LONG_TRACKS = 75  # albums past 50 tracks need one more page each


def resolve(double: SpotifyDouble, home: Path, ids: list[str]) -> tuple[dict[str, int], float]:
    """One resolve in a jitspot home (like one `jitspot export` run); the double's counts."""
    env = {"JITSPOT_HOME": str(home), **double.env()}
    settings = load_settings(home, env=env, overrides={"requests_per_window": 100_000})
    before = double.counts()
    with open_store(settings.store_path) as store:
        cache = SpotifyCache(settings.cache_dir, store)
        result = Resolver(store, cache, settings).resolve(ids, Policy.MISSING)
        cache.close()
    assert result.error is None, result.error
    after = double.counts()
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}, result.api_calls


def api(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k not in ("token", "oembed"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--albums", type=int, default=1000)
    parser.add_argument("--artists", type=int, default=150)
    parser.add_argument("--long", type=int, default=30, help=f"albums with {LONG_TRACKS} tracks")
    args = parser.parse_args()
    n, a, pages = args.albums, args.artists, args.long
    seed = n + pages + a  # one call per album, its extra track pages, one per artist
    rows: list[tuple[str, int, int, str]] = []

    for mode in ("extended", "development"):
        with SpotifyDouble(mode=mode) as double, tempfile.TemporaryDirectory() as tmp:
            ids = double.populate(n, a, long_albums=pages, long_tracks=LONG_TRACKS)
            floor = (
                math.ceil(n / 20) + math.ceil(a / 50) + pages
                if mode == "extended"
                else n + a + pages
            )
            first, _ = resolve(double, Path(tmp) / "home", ids)
            rows.append((f"{mode}: first resolve", api(first), floor, f"{first}"))
            again, _ = resolve(double, Path(tmp) / "home", ids)
            rows.append(
                (
                    f"{mode}: second resolve (warm)",
                    api(again) + again.get("token", 0),
                    0,
                    f"{again}",
                )
            )
            if mode == "development":
                # The same app a day later, new albums: the 403 is remembered, no probe.
                more = double.populate(n, a, long_albums=pages, long_tracks=LONG_TRACKS, seed=7)
                later, _ = resolve(double, Path(tmp) / "home", more)
                rows.append((f"{mode}: next run (403 remembered)", api(later), floor, f"{later}"))
        if mode == "development":
            with SpotifyDouble(mode=mode) as double, tempfile.TemporaryDirectory() as tmp:
                double.artist_genres = False
                ids = double.populate(n, a, long_albums=pages, long_tracks=LONG_TRACKS)
                no_genres, _ = resolve(double, Path(tmp) / "home", ids)
                rows.append(
                    (
                        f"{mode}, no genres: first resolve",
                        api(no_genres),
                        n + pages + 1,
                        f"{no_genres}",
                    )
                )

    print(f"N={n} albums, A={a} artists, {pages} albums with {LONG_TRACKS} tracks")
    print(f"seed approach (one call per album + pages + artists): {seed} calls\n")
    print(f"{'run':40} {'calls':>6} {'floor':>6} {'calls/floor':>11} {'seed/calls':>10}")
    for name, calls, floor, detail in rows:
        ratio = f"{calls / floor:.3f}" if floor else ("0 calls" if calls == 0 else "-")
        speedup = f"{seed / calls:.1f}x" if calls else "-"
        print(f"{name:40} {calls:>6} {floor:>6} {ratio:>11} {speedup:>10}   {detail}")


if __name__ == "__main__":
    main()
