"""`jitspot export --year 2019` of the real sample, development mode: calls, 429s, seconds.

The user's case from issue 8, run as a user runs it: the whole CLI in a
subprocess, a fresh JITSPOT_HOME, the sample workbook imported, then

    jitspot export --year 2019 --format json -o OUT

against the loopback Spotify double in development mode (one call per album
and per artist), serving every Spotify id of the sample's 2019 albums.
Scenarios, each in its own home and double:

- `learned`: no limit at Spotify, today's pacing (it learns the rate);
- `budget`: no limit at Spotify, pacing held to the old fixed budget's rate
  (`JITSPOT_REQUESTS_PER_WINDOW=90`, i.e. 90 per 30 s, as a ceiling): the
  baseline, what the old budget allowed at best (it had bursts, not more);
- `limit`: a rolling limit at Spotify equal to the old budget (90 per 30 s)
  and today's pacing: how many 429s it draws.

    python bench/bench_export_pacing.py [--only learned budget limit] [--sheet XLSX]

`budget` and `limit` take 7+ minutes each by nature (~1,300 calls at 3/s).
Needs the sample workbook (`../shared/samples/…`, or `--sheet`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from spotify_double import SpotifyDouble

from jitspot.model import AlbumFilter
from jitspot.settings import load_settings
from jitspot.store import open_store

SAMPLE = Path(__file__).resolve().parents[2] / "shared/samples/progmetal-releases-2017-2020.xlsx"
YEAR = 2019
SCENARIOS = ("learned", "budget", "limit")


def jitspot(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jitspot", "--quiet", *args],
        env={**os.environ, **env, "JITSPOT_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )


def serve_sample(double: SpotifyDouble, home: Path, year: int | None = YEAR) -> int:
    """Give the double every album of `year` (None: every album) in the store, one artist
    per sheet artist; returns how many of the store's albums it serves."""
    settings = load_settings(home, env={"JITSPOT_HOME": str(home)})
    artists: dict[str, str] = {}
    served: set[str] = set()
    with open_store(settings.store_path) as store:
        albums = [a for a in store.albums(AlbumFilter(year=year)) if a.spotify_id]
    for album in albums:
        if album.spotify_id in served:
            continue
        served.add(album.spotify_id)
        artist = artists.get(album.artist) or double.add_artist(album.artist)
        artists[album.artist] = artist
        double.add_album(album.title or "Untitled", [artist], id=album.spotify_id)
    return len(albums)


def sample_home(
    double: SpotifyDouble, tmp: str, sheet: Path, latency: float, year: int = YEAR
) -> tuple[Path, dict[str, str], int]:
    """A fresh home with `sheet` imported, the double serving its albums of `year`."""
    home = Path(tmp) / "home"
    env = {**double.env(), "JITSPOT_MAX_RETRY_AFTER": "120"}
    imported = jitspot(home, env, "import", str(sheet))
    if imported.returncode != 0:
        raise SystemExit(imported.stderr)
    albums = serve_sample(double, home, year)
    double.delay(latency)
    return home, env, albums


def run(name: str, sheet: Path, latency: float) -> dict[str, float]:
    with SpotifyDouble(mode="development") as double, tempfile.TemporaryDirectory() as tmp:
        home, env, albums = sample_home(double, tmp, sheet, latency)
        if name == "budget":
            env["JITSPOT_REQUESTS_PER_WINDOW"] = "90"
        if name == "limit":
            double.rolling_limit(90, 30.0)
        started = time.perf_counter()
        exported = jitspot(
            home, env, "export", "--year", str(YEAR), "--format", "json", "-o", f"{tmp}/out.json"
        )
        seconds = time.perf_counter() - started
        if exported.returncode != 0:
            raise SystemExit(f"{name}: export exited {exported.returncode}: {exported.stderr}")
        views = json.loads(Path(f"{tmp}/out.json").read_text())
        covers = sum(1 for v in views if v["cover_url"])
        return {
            "albums": albums,
            "covers": covers,
            "calls": double.api_calls(),
            "429s": double.count(status=429),
            "seconds": seconds,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--sheet", type=Path, default=SAMPLE)
    parser.add_argument("--latency", type=float, default=0.05, help="the double's answer time")
    args = parser.parse_args()
    if not args.sheet.is_file():
        raise SystemExit(f"the sample workbook is not at {args.sheet}: give --sheet XLSX")
    print(f"{'scenario':<10} {'albums':>6} {'covers':>6} {'calls':>6} {'429s':>5} {'seconds':>8}")
    results: dict[str, dict[str, float]] = {}
    for name in args.only:
        f = results[name] = run(name, args.sheet, args.latency)
        print(
            f"{name:<10} {f['albums']:>6.0f} {f['covers']:>6.0f} {f['calls']:>6.0f}"
            f" {f['429s']:>5.0f} {f['seconds']:>8.1f}",
            flush=True,
        )
    if "learned" in results and "budget" in results:
        ratio = results["learned"]["seconds"] / results["budget"]["seconds"]
        print(f"learned / budget time: {ratio:.3f}")


if __name__ == "__main__":
    main()
