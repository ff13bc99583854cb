"""The package declares every third-party library it imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in (ROOT / "jitspot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = (re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0] for spec in project["dependencies"])
    return {name.lower().replace("_", "-") for name in names}


def test_dependencies__every_third_party_import_is_declared() -> None:
    third_party = _imported_top_level_modules() - set(sys.stdlib_module_names) - {"jitspot"}
    distributions = packages_distributions()

    undeclared = {
        module: dists
        for module in third_party
        if not (dists := {d.lower().replace("_", "-") for d in distributions.get(module, [module])})
        & _declared()
    }

    assert undeclared == {}
