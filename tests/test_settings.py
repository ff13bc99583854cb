"""Settings: every bad value is a configuration error (78) with one line naming it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result

from jitspot.errors import ConfigError
from jitspot.settings import TUNABLES, Settings, load_settings

Run = Callable[..., Result]
URL_VARS = ["JITSPOT_SPOTIFY_API_URL", "JITSPOT_SPOTIFY_TOKEN_URL", "JITSPOT_SPOTIFY_OEMBED_URL"]
FLOAT_TUNABLES = [n for n in TUNABLES if Settings.model_fields[n].annotation in (float, "float")]


def _config_error(run: Run, *names: str) -> str:
    """Run `list`; assert exit 78 and one plain line naming each of `names`; return it."""
    result = run("list")
    assert result.exit_code == 78, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    for name in names:
        assert name in result.stderr
    return result.stderr


@pytest.mark.parametrize("var", URL_VARS)
@pytest.mark.parametrize(
    "url", ["ftp://api.example.com/v1/", "file:///etc/passwd", "api.spotify.com/v1", "https://"]
)
def test_settings__spotify_urls_must_be_http_or_https(
    run: Run, monkeypatch: pytest.MonkeyPatch, var: str, url: str
) -> None:
    monkeypatch.setenv(var, url)
    with pytest.raises(ConfigError, match=var):
        load_settings(Path("/unused"))
    _config_error(run, var)


def test_settings__http_urls_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITSPOT_SPOTIFY_API_URL", "HTTP://127.0.0.1:8080/v1/")
    assert load_settings(Path("/unused")).api_url == "HTTP://127.0.0.1:8080/v1/"


def test_settings__config_file_not_utf8_is_a_config_error(run: Run, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_bytes(b"cache_ttl_days = 3 # caf\xe9\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(Path("/unused"))
    _config_error(run, "config.toml", "UTF-8")


@pytest.mark.parametrize("setting", FLOAT_TUNABLES)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", "-1"])
def test_settings__float_settings_must_be_finite_and_positive(
    run: Run, monkeypatch: pytest.MonkeyPatch, setting: str, value: str
) -> None:
    var = "JITSPOT_" + setting.upper()
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        load_settings(Path("/unused"))
    _config_error(run, var)


@pytest.mark.parametrize("literal", ["inf", "nan", "-inf"])
def test_settings__config_file_inf_and_nan_are_config_errors(
    run: Run, home: Path, literal: str
) -> None:
    # TOML has inf and nan literals: they must not slip through the file either.
    home.mkdir(parents=True)
    (home / "config.toml").write_text(f"max_retry_after = {literal}\n")
    _config_error(run, "max_retry_after", "config.toml")


def test_settings__max_retry_after_is_capped_at_seven_days(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", str(7 * 86400))
    assert load_settings(Path("/unused")).max_retry_after == 7 * 86400
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", str(7 * 86400 + 1))
    _config_error(run, "JITSPOT_MAX_RETRY_AFTER", "604800")
    monkeypatch.setenv("JITSPOT_MAX_RETRY_AFTER", "9" * 400)
    _config_error(run, "JITSPOT_MAX_RETRY_AFTER")


@pytest.mark.parametrize("setting", TUNABLES)
def test_settings__every_tunable_has_an_upper_bound(
    run: Run, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    var = "JITSPOT_" + setting.upper()
    monkeypatch.setenv(var, "9" * 30)
    _config_error(run, var)


def test_settings__flag_value_out_of_bounds_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="max_retry_after"):
        load_settings(Path("/unused"), overrides={"max_retry_after": float("inf")})


def test_settings__defaults_are_within_bounds() -> None:
    settings = load_settings(Path("/unused"), env={})
    assert settings.max_retry_after == 60.0
