"""The CLI's shell: help, version, global options, settings, the error boundary."""

from __future__ import annotations

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


COMMANDS = sorted(registered_commands())


def test_cli__version(run: Run) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"jitspot {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_cli__every_command_has_help(run: Run, command: str) -> None:
    registered = registered_commands()[command]
    assert (registered.help or "").strip(), f"{command} has no docstring"
    for param in registered.params:
        assert (getattr(param, "help", None) or "").strip(), f"{command} {param.name}: no help"
    result = run(command, "--help")
    assert result.exit_code == 0
    assert registered.help.strip().splitlines()[0] in " ".join(result.stdout.split())


def test_cli__every_command_is_walked() -> None:
    assert {"import", "list", "show", "export"} <= set(COMMANDS)


def test_cli__usage_error_exits_2(run: Run) -> None:
    assert run("list", "--year", "soon").exit_code == 2
    assert run("frobnicate").exit_code == 2


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
