"""All settings in one pydantic model, merged from defaults < config.toml < env < flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from jitspot.errors import ConfigError

DEFAULT_API_URL = "https://api.spotify.com/v1/"
DEFAULT_TOKEN_URL = "https://accounts.spotify.com/api/token"  # noqa: S105 - a URL
DEFAULT_OEMBED_URL = "https://open.spotify.com/oembed"
CONFIG_FILE = "config.toml"

# Environment variables fixed by the contract, and the settings they fill.
_CONTRACT_ENV = {
    "JITSPOT_SPOTIFY_API_URL": "api_url",
    "JITSPOT_SPOTIFY_TOKEN_URL": "token_url",
    "JITSPOT_SPOTIFY_OEMBED_URL": "oembed_url",
}
# Credentials: spotipy's names first, Spotify's as the alternative.
_CREDENTIAL_ENV = {
    "client_id": ("SPOTIPY_CLIENT_ID", "SPOTIFY_CLIENT_ID"),
    "client_secret": ("SPOTIPY_CLIENT_SECRET", "SPOTIFY_CLIENT_SECRET"),
}


class Settings(BaseModel):
    """Everything jitspot can be told. Tuning knobs read `JITSPOT_<NAME>` from the env."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    oembed_url: str = DEFAULT_OEMBED_URL

    cache_ttl_days: float = Field(30.0, gt=0, description="how long fetched data stays fresh")
    not_found_ttl_days: float = Field(
        7.0, gt=0, description="how long a 'not found on Spotify' answer is believed"
    )
    max_retry_after: float = Field(
        60.0, ge=0, description="longest Retry-After (s) waited; past it jitspot stops (exit 75)"
    )
    requests_per_window: int | None = Field(
        None,
        ge=1,
        description="old fixed budget per 30 s, now only a ceiling (prefer max_rate)",
    )
    max_rate: float | None = Field(
        None, gt=0, description="ceiling on requests/s to Spotify; pacing learns the rate below it"
    )
    concurrency: int = Field(4, ge=1, le=16, description="parallel Spotify requests")
    http_timeout: float = Field(10.0, gt=0, description="seconds before a request times out")
    retry_attempts: int = Field(4, ge=1, le=10, description="tries for 5xx/timeouts")
    download_max_mb: float = Field(100.0, gt=0, description="largest sheet download")
    download_timeout: float = Field(60.0, gt=0, description="seconds for a sheet download")

    @property
    def has_credentials(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def rate_ceiling(self) -> float | None:
        """Requests/s never exceeded: `max_rate`, and the old 30 s budget if still set."""
        ceilings = [self.max_rate] if self.max_rate is not None else []
        if self.requests_per_window is not None:
            ceilings.append(self.requests_per_window / 30.0)
        return min(ceilings) if ceilings else None

    @property
    def store_path(self) -> Path:
        return self.home / "jitspot.sqlite3"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def token_path(self) -> Path:
        return self.home / "spotify-token.json"


TUNABLES = [
    name
    for name in Settings.model_fields
    if name not in {"home", "client_id", "client_secret", "api_url", "token_url", "oembed_url"}
]


def env_name(setting: str) -> str:
    """`max_retry_after` -> `JITSPOT_MAX_RETRY_AFTER`."""
    return "JITSPOT_" + setting.upper()


def load_settings(
    default_home: Path,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults < `JITSPOT_HOME/config.toml` < environment < flags."""
    env = os.environ if env is None else env
    home = Path(env.get("JITSPOT_HOME") or default_home).expanduser()
    values: dict[str, Any] = {"home": home}
    values.update(_read_config(home / CONFIG_FILE))
    values.update(_from_env(env))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    # Allow a [jitspot] or [spotify] table as well as top-level keys.
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    unknown = sorted(set(flat) - set(Settings.model_fields) - {"home"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    flat.pop("home", None)
    return flat


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for var, setting in _CONTRACT_ENV.items():
        if env.get(var):
            values[setting] = env[var]
    for setting, names in _CREDENTIAL_ENV.items():
        for var in names:
            if env.get(var):
                values[setting] = env[var]
                break
    for setting in TUNABLES:
        if env.get(env_name(setting)):
            values[setting] = env[env_name(setting)]
    return values
