"""The CLI's shell: help, version, global options, settings, the error boundary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import Result

from jitspot import __version__, cli
from jitspot.errors import ConfigError
from jitspot.settings import load_settings

Run = Callable[..., Result]


def registered_commands() -> dict[str, Any]:
    """The app's commands as `jitspot --help` lists them: a new command is walked too."""
    group = typer.main.get_command(cli.app)
    assert isinstance(group, typer.core.TyperGroup)
    return dict(group.commands)


def walk(commands: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every command and sub-command (`cache prune`), by the words that run it."""
    found: dict[str, Any] = {}
    for name, command in commands.items():
        words = (*path, name)
        found[" ".join(words)] = command
        found.update(walk(dict(getattr(command, "commands", {})), words))
    return found


COMMANDS = sorted(registered_commands())
EVERY_COMMAND = walk(registered_commands())
WALKED = sorted(EVERY_COMMAND)
# What `--json` has nothing to print for: `export` chooses its format (`--format json`),
# `serve` serves pages, and a group only names its sub-commands.
NO_JSON = frozenset({"export", "serve", "cache"})


def test_cli__version(run: Run) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"jitspot {__version__}"


@pytest.mark.parametrize("command", WALKED)
def test_cli__every_command_has_help(run: Run, command: str) -> None:
    registered = EVERY_COMMAND[command]
    assert (registered.help or "").strip(), f"{command} has no docstring"
    for param in registered.params:
        assert (getattr(param, "help", None) or "").strip(), f"{command} {param.name}: no help"
    result = run(*command.split(), "--help")
    assert result.exit_code == 0
    assert registered.help.strip().splitlines()[0] in " ".join(result.stdout.split())


def test_cli__every_command_is_walked() -> None:
    contract = {"import", "list", "show", "export", "refresh", "stats", "match", "cache", "serve"}
    assert contract <= set(COMMANDS)
    assert {"cache prune", "cache clear"} <= set(WALKED)


@pytest.mark.parametrize("command", WALKED)
def test_cli__every_command_that_prints_data_has_json(command: str) -> None:
    options = {opt for param in EVERY_COMMAND[command].params for opt in param.opts}
    assert ("--json" in options) is (command not in NO_JSON)


def test_cli__usage_error_exits_2(run: Run) -> None:
    assert run("list", "--year", "soon").exit_code == 2
    assert run("frobnicate").exit_code == 2
    assert run("cache", "frobnicate").exit_code == 2


@pytest.mark.parametrize("command", WALKED)
def test_cli__every_command_calls_an_unknown_option_a_usage_error(run: Run, command: str) -> None:
    result = run(*command.split(), "--no-such-option")
    assert result.exit_code == 2
    assert "--no-such-option" in result.stderr


def test_cli__module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jitspot", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("jitspot ")


def test_cli__debug_shows_traceback_for_errors(run: Run, tmp_path: Path) -> None:
    plain = run("import", str(tmp_path / "missing.xlsx"))
    assert plain.exit_code == 66
    assert "Traceback" not in plain.stderr
    debug = run("--debug", "import", str(tmp_path / "missing.xlsx"))
    assert debug.exit_code == 66
    assert "Traceback" in debug.stderr


def test_settings__config_file_then_env_then_flags(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        'cache_ttl_days = 10\nconcurrency = 2\n[spotify]\nclient_id = "from-file"\nclient_secret = "s3cret"\n'
    )
    monkeypatch.setenv("JITSPOT_CONCURRENCY", "3")
    settings = load_settings(Path("/unused"), overrides={"max_retry_after": 5})
    assert settings.home == home
    assert settings.cache_ttl_days == 10
    assert settings.concurrency == 3
    assert settings.max_retry_after == 5
    assert settings.client_id == "from-file"
    assert settings.has_credentials
    assert "s3cret" not in repr(settings)


def test_settings__spotify_variable_names_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "a")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "b")
    assert load_settings(Path("/unused")).has_credentials


def test_settings__invalid_value_is_a_config_error(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_CONCURRENCY", "many")
    with pytest.raises(ConfigError):
        load_settings(Path("/unused"))
    result = run("list")
    assert result.exit_code == 78
    assert "concurrency" in result.stderr


def test_settings__unknown_config_key_is_a_config_error(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("cache_tll_days = 3\n")
    with pytest.raises(ConfigError, match="cache_tll_days"):
        load_settings(Path("/unused"))


BIG = str(2**63)  # one past SQLite's largest integer


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--year", BIG],
        ["list", "--year", "99999"],
        ["list", "--year", "-2020"],
        ["export", "--offline", "--year", BIG],
        ["show", "--id", BIG],
        ["show", "--id", "-" + BIG],
        ["show", "--id", "0"],
        ["match", "--reject", "--id", "99999999999999999999"],
        ["match", "--reset", "--id", BIG],
        ["match", "--accept", "--id", BIG, "spotify:album:4aawyAB9vmqN3uQ7FjRGTy"],
        ["match", "--reject", "--id", "-" + BIG],
    ],
)
def test_cli__numbers_out_of_range_are_usage_errors(run: Run, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert "unexpected" not in result.stderr
    assert "than or equal to" in result.stderr


def test_cli__year_in_range_is_accepted(run: Run) -> None:
    result = run("list", "--year", "2020")
    assert result.exit_code == 0, result.stderr


def test_cli__query_with_too_many_words_is_a_usage_error(run: Run) -> None:
    words = " ".join(f"w{i}" for i in range(2000))
    result = run("list", "--query", words)
    assert result.exit_code == 2, result.stderr
    assert "unexpected" not in result.stderr and "store error" not in result.stderr
    assert "32" in result.stderr


def test_cli__query_repeating_a_word_counts_it_once(run: Run) -> None:
    result = run("list", "--query", " ".join(["prog"] * 2000 + [f"w{i}" for i in range(31)]))
    assert result.exit_code == 0, result.stderr


def test_cli__many_tab_globs_are_a_usage_error(run: Run) -> None:
    args = [arg for i in range(2000) for arg in ("--tab", f"{i}*")]
    result = run("list", *args)
    assert result.exit_code == 2, result.stderr
    assert "--tab" in result.stderr


@pytest.fixture
def many_albums(run: Run, tmp_path: Path) -> Path:
    """A store with enough albums that `list` writes far more than a pipe holds."""
    sheet = tmp_path / "many.csv"
    lines = ["Artist,Album,Release Date,Length,Genre / Subgenres"]
    lines += [
        f"Band {i},Album number {i} with a longish title,2020-01-01,LP,Prog" for i in range(3000)
    ]
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("import", str(sheet)).exit_code == 0
    return sheet


@pytest.mark.parametrize(
    "command",
    ["list", "list --json", "export --offline --format md", "export --offline --format json"],
)
def test_cli__closed_pipe_ends_quietly_with_exit_0(
    many_albums: Path, home: Path, command: str
) -> None:
    # A real pipeline: `head -1` exits after one line and jitspot's next write hits EPIPE.
    script = f"{sys.executable} -m jitspot {command} | head -1; exit ${{PIPESTATUS[0]}}"
    env = {**os.environ, "JITSPOT_HOME": str(home)}
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 1


def jitspot_exception_types() -> list[type[BaseException]]:
    """Every exception class that jitspot's modules define."""
    import importlib
    import inspect
    import pkgutil

    import jitspot

    found: list[type[BaseException]] = []
    for module_info in pkgutil.walk_packages(jitspot.__path__, "jitspot."):
        if module_info.name.endswith("__main__"):
            continue  # runs the CLI on import
        module = importlib.import_module(module_info.name)
        found.extend(
            kind
            for _, kind in inspect.getmembers(module, inspect.isclass)
            if issubclass(kind, BaseException) and kind.__module__ == module.__name__
        )
    return found


def test_errors__every_exception_type_is_an_ordinary_exception() -> None:
    """A frozen or slotted dataclass exception refuses `__traceback__` when raised, so the
    error boundary met a TypeError in place of the real error (issue 19, item 1)."""
    import dataclasses

    kinds = jitspot_exception_types()
    assert len(kinds) > 15  # the walk found them
    for kind in kinds:
        assert not dataclasses.is_dataclass(kind), kind
        assert "__slots__" not in kind.__dict__, kind
