"""Time `jitspot list` of the whole real-shaped catalog, piped, against a start-up baseline.

One run builds a home from `bench/make_workbook.py`'s workbook (~17,600 albums
over 18 tabs), fills the Spotify cache for most albums with a Spotify id
(covers, tracks, a few "not found" and oEmbed-only entries, written through
jitspot's own cache so the index and the values agree), then times whole CLI
processes, interleaved, median of --runs:

  baseline   python -c "import typer, rich.console"
  list       jitspot list > /dev/null              (plain lines: stdout is a pipe)
  list json  jitspot list --json > /dev/null
  filtered   jitspot list --year 2020 > /dev/null

Goal (issue 12): the piped `list` <= 0.6 s (2.7 s when the issue was filed).
The absolute median is the goal; the ratio to the baseline says how much of it
is start-up, since this machine is shared.

    python bench/bench_list.py [--runs 9] [--keep DIR]
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_show import interleaved  # noqa: E402
from bench.make_workbook import write_workbook  # noqa: E402
from jitspot.catalog.cache import SpotifyCache  # noqa: E402
from jitspot.model import CacheEntry  # noqa: E402
from jitspot.settings import load_settings  # noqa: E402
from jitspot.store import open_store  # noqa: E402

GOAL_SECONDS = 0.6
FILED_SECONDS = 2.7  # `jitspot list > /dev/null` when issue 12 was filed


def _album_data(spotify_id: str, rng: random.Random) -> dict[str, object]:
    tracks = [
        {"disc": 1, "number": n, "name": f"Track {n}", "duration_ms": rng.randint(90, 600) * 1000}
        for n in range(1, rng.randint(4, 14))
    ]
    return {
        "id": spotify_id,
        "name": f"Album {spotify_id[:6]}",
        "album_type": "album",
        "release_date": "2020-01-01",
        "release_date_precision": "day",
        "total_tracks": len(tracks),
        "tracks": tracks,
        "images": [
            {"url": f"https://i.scdn.co/image/{spotify_id}{size}", "width": size, "height": size}
            for size in (640, 300, 64)
        ],
        "label": None,
        "popularity": None,
        "genres": [],
        "copyrights": [{"type": "C", "text": "2020 Someone"}],
        "artist_ids": [],
        "artists": ["Someone"],
        "upc": None,
        "url": f"https://open.spotify.com/album/{spotify_id}",
    }


def fill_cache(home: Path, share: float = 0.8, seed: int = 12) -> int:
    """Cache `share` of the albums with a Spotify id; returns how many entries were written."""
    rng = random.Random(seed)
    settings = load_settings(home, env={"JITSPOT_HOME": str(home)})
    store = open_store(settings.store_path)
    cache = SpotifyCache(settings.cache_dir, store)
    ids = sorted({a.spotify_id for a in store.albums() if a.spotify_id})
    now = time.time()
    entries: list[CacheEntry] = []
    for spotify_id in ids:
        roll = rng.random()
        if roll >= share:
            continue
        fetched = now - rng.uniform(0, 40) * 86400  # some stale (the TTL is 30 days)
        if roll < 0.02:
            entries.append(CacheEntry("album", spotify_id, "not_found", fetched))
        elif roll < 0.05:
            data = {
                "id": spotify_id,
                "title": "x",
                "thumbnail_url": f"https://i.scdn.co/{spotify_id}",
            }
            entries.append(CacheEntry("oembed", spotify_id, "found", fetched, data))
        else:
            entries.append(
                CacheEntry("album", spotify_id, "found", fetched, _album_data(spotify_id, rng))
            )
    for start in range(0, len(entries), 2000):
        cache.put_many(entries[start : start + 2000])
    cache.close()
    store.close()
    return len(entries)


def build_home(directory: Path) -> tuple[dict[str, str], int]:
    """A home with the real-shaped catalog imported and mostly cached; the env and album count."""
    workbook = write_workbook(directory / "releases.xlsx")
    home = directory / "home"
    env = {**os.environ, "JITSPOT_HOME": str(home)}
    for name in ("SPOTIPY_CLIENT_ID", "SPOTIPY_CLIENT_SECRET", "SPOTIFY_CLIENT_ID"):
        env.pop(name, None)
    jitspot = [sys.executable, "-m", "jitspot", "--quiet"]
    subprocess.run([*jitspot, "import", str(workbook)], env=env, check=True)
    cached = fill_cache(home)
    albums = subprocess.run(
        [sys.executable, "-m", "jitspot", "list"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.count("\n")
    print(f"home {home}: {albums} albums, {cached} cache entries")
    return env, albums


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--keep", type=Path, help="build the home in DIR (reused if present)")
    args = parser.parse_args()
    os.chdir(ROOT)  # `python -m jitspot` must find this tree's jitspot, whatever the caller's cwd
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        if args.keep and (directory / "home").exists():
            env = {**os.environ, "JITSPOT_HOME": str(directory / "home")}
        else:
            env, _ = build_home(directory)
        # As installed: pip compiles modules; an editable tree under
        # PYTHONDONTWRITEBYTECODE=1 would compile jitspot from source on every run.
        compileall.compile_dir(ROOT / "jitspot", quiet=1)
        jitspot = [sys.executable, "-m", "jitspot"]
        figures = interleaved(
            {
                "baseline": [sys.executable, "-c", "import typer, rich.console"],
                "list": [*jitspot, "list"],
                "list --json": [*jitspot, "list", "--json"],
                "list --year 2020": [*jitspot, "list", "--year", "2020"],
            },
            env,
            args.runs,
        )
    print(f"load: {os.getloadavg()[0]:.2f} (1 min); medians of {args.runs} interleaved runs")
    base, base_cpu = figures["baseline"]
    print("  command              wall            CPU (user+sys)")
    for name, (seconds, cpu) in figures.items():
        print(
            f"  {name:18} {seconds:6.3f} s {seconds / base:5.2f}x   {cpu:6.3f} s {cpu / base_cpu:5.2f}x"
        )
    piped, piped_cpu = figures["list"]
    print(
        f"piped list: {piped:.3f} s wall ({piped_cpu:.3f} s CPU) = {piped / FILED_SECONDS:.2f} of"
        f" the {FILED_SECONDS} s filed; goal <= {GOAL_SECONDS} s ->"
        f" {'met' if piped <= GOAL_SECONDS else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
