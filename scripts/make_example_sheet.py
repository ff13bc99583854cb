"""Write `examples/releases.xlsx`, the small workbook the README's "try it" command imports.

Same shape as the real release sheet (title block, header on row 5 or 6, link
cells with hyperlinks and HYPERLINK formulas, a Statistics tab), ~40 rows of
invented bands over two tabs. Made by the benchmark generator, so the two
cannot drift apart. Deterministic; re-run after changing the generator:

    python scripts/make_example_sheet.py [OUT.xlsx]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_workbook import write_workbook  # noqa: E402 - needs ROOT on sys.path

EXAMPLE = ROOT / "examples" / "releases.xlsx"
ROWS = 40
TABS = 2  # `2025 Prog-metal` and `2025 Prog-rock`, plus Statistics
SEED = 1349


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else EXAMPLE
    write_workbook(out, rows=ROWS, tabs=TABS, seed=SEED)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
