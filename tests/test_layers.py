"""The import layers hold: the contract in `.importlinter`, checked by import-linter.

Lazy imports inside functions count too: a deferred import is still a dependency.
"""

from __future__ import annotations

import configparser
import pkgutil
import subprocess
import sys
from pathlib import Path

import jitspot

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / ".importlinter"
# Not a layer of the flow: `python -m jitspot` only starts the CLI.
ENTRY_POINTS = frozenset({"__main__"})


def test_layers__the_contracts_are_kept(tmp_path: Path) -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", str(CONTRACTS), "--no-cache", "--no-logo"],
        cwd=tmp_path,  # the installed package is checked, not whatever the cwd holds
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def layered_modules() -> set[str]:
    """The modules the layers contract places, optional ones (in parentheses) included."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    layers = parser["importlinter:contract:layers"]["layers"]
    names = layers.replace("|", " ").replace(":", " ").split()
    return {name.strip("()") for name in names}


def test_layers__every_module_has_a_place_in_the_flow() -> None:
    """A new module or package of jitspot must be given its layer (as a new command must
    have its help): one left out would be free to import anything."""
    modules = {info.name for info in pkgutil.iter_modules(jitspot.__path__)} - ENTRY_POINTS
    assert modules <= layered_modules()
