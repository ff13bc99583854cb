"""How well `jitspot match` finds the right album: precision and recall on a catalog
with known answers (tests/match_catalog.py: plain rows, Spotify-side spellings, traps).

Builds the catalog in the loopback Spotify double, imports its link-less rows
into a fresh JITSPOT_HOME, runs `jitspot match` (the CLI, in-process) at the
default threshold, and compares what was stored with the known answers. Prints
precision, recall, searches per album, the calls of a second run, and every
miss by category. Usage:

    python bench/bench_match.py [--size 240] [--seeds 11 12 13] [--min-score S] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from match_catalog import Case, build_catalog, precision_recall, sheet_tabs  # noqa: E402
from spotify_double import SpotifyDouble  # noqa: E402

from jitspot import cli  # noqa: E402
from jitspot.text import fold  # noqa: E402


def write_sheet(path: Path, tabs: dict[str, list[list[Any]]]) -> None:
    """The sheet's shape (title block, header on row 5), link-less rows only."""
    import openpyxl

    header = ["Artist", "Album", "Release Date", "Length", "Genre", "Vocal Style", "Country"]
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for tab, rows in tabs.items():
        sheet = workbook.create_sheet(tab)
        sheet["A1"] = f"{tab} Albums"
        for column, title in enumerate(header, start=1):
            sheet.cell(row=5, column=column, value=title)
        for offset, row in enumerate(rows, start=1):
            for column, value in enumerate(row, start=1):
                sheet.cell(row=5 + offset, column=column, value=value)
    workbook.save(path)


def jitspot(*args: str) -> tuple[int, str]:
    """Run the CLI in-process; (exit code, stdout)."""
    import contextlib
    import io

    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            cli.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue()


def measure(seed: int, size: int, min_score: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, SpotifyDouble() as double:
        double.mode = "development"
        cases = build_catalog(double, seed=seed, size=size)
        os.environ.update(double.env())
        os.environ["JITSPOT_HOME"] = str(Path(tmp) / "home")
        sheet = Path(tmp) / "releases.xlsx"
        write_sheet(sheet, sheet_tabs(cases))
        code, _ = jitspot("--quiet", "import", str(sheet))
        assert code == 0, "import failed"
        args = ["match", "--json"] + (["--min-score", str(min_score)] if min_score else [])
        code, out = jitspot(*args)
        assert code == 0, f"match exited {code}"
        report = json.loads(out)
        searches = double.count("search")
        code, out = jitspot("match", "--json")
        second = json.loads(out)
        index = {(fold(str(c.row[0])), fold(str(c.row[1]))): i for i, c in enumerate(cases)}
        stored: dict[int, str | None] = {}
        states: dict[int, str] = {}
        for album in report["albums"]:
            i = index[(fold(album["artist"]), fold(album["title"]))]
            states[i] = album["state"]
            stored[i] = album["spotify_id"] if album["state"] == "matched" else None
        precision, recall = precision_recall(cases, stored)
        return {
            "cases": cases,
            "stored": stored,
            "states": states,
            "precision": precision,
            "recall": recall,
            "rows": len(cases),
            "with_answer": sum(c.answer is not None for c in cases),
            "report": report,
            "searches": searches,
            "second_calls": second["api_calls"],
        }


def misses(cases: list[Case], stored: dict[int, str | None], states: dict[int, str]) -> list[str]:
    lines = []
    for i, case in enumerate(cases):
        got = stored.get(i)
        if got == case.answer:
            continue
        kind = "wrong" if got is not None else "missed"
        lines.append(
            f"  {kind:6} {case.trap:28} {case.row[0]} — {case.row[1]} ({case.tab})"
            f" state={states.get(i)} answer={case.answer} got={got}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--min-score", type=float, default=None)
    parser.add_argument("--show-misses", action="store_true")
    options = parser.parse_args()
    wrong_by = Counter[str]()
    missed_by = Counter[str]()
    print(
        "| seed | rows | with an answer | matched | precision | recall | searches/album | 2nd run calls |"
    )
    print("|---|---|---|---|---|---|---|---|")
    total_tp = total_made = total_answers = 0
    for seed in options.seeds:
        result = measure(seed, options.size, options.min_score)
        cases, stored = result["cases"], result["stored"]
        made = sum(1 for v in stored.values() if v is not None)
        tp = sum(1 for i, v in stored.items() if v is not None and v == cases[i].answer)
        total_tp, total_made = total_tp + tp, total_made + made
        total_answers += result["with_answer"]
        for i, case in enumerate(cases):
            got = stored.get(i)
            if got is not None and got != case.answer:
                wrong_by[case.trap] += 1
            elif got is None and case.answer is not None:
                missed_by[case.trap] += 1
        print(
            f"| {seed} | {result['rows']} | {result['with_answer']} | {made} |"
            f" {result['precision']:.3f} | {result['recall']:.3f} |"
            f" {result['searches'] / result['rows']:.2f} | {result['second_calls']} |"
        )
        if options.show_misses:
            print("\n".join(misses(cases, stored, result["states"])))
    print(
        f"\nall seeds: precision {total_tp / max(total_made, 1):.3f},"
        f" recall {total_tp / max(total_answers, 1):.3f} (goal: >= 0.98 and >= 0.95)"
    )
    print(f"wrong matches by category: {dict(wrong_by) or 'none'}")
    print(f"missed answers by category: {dict(missed_by) or 'none'}")


if __name__ == "__main__":
    main()
