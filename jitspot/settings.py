"""All settings in one pydantic model, merged from defaults < config.toml < env < flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from jitspot.errors import ConfigError

DEFAULT_API_URL = "https://api.spotify.com/v1/"
DEFAULT_TOKEN_URL = "https://accounts.spotify.com/api/token"  # noqa: S105 - a URL
DEFAULT_OEMBED_URL = "https://open.spotify.com/oembed"
CONFIG_FILE = "config.toml"
# Spotify's Retry-After can be hours; the gateway caps what it believes at 7 days, so a
# longer wait cap means nothing (and a huge one overflows datetime arithmetic).
MAX_RETRY_AFTER_CAP = 7 * 86400

# Environment variables fixed by the contract, and the settings they fill.
_CONTRACT_ENV = {
    "JITSPOT_SPOTIFY_API_URL": "api_url",
    "JITSPOT_SPOTIFY_TOKEN_URL": "token_url",
    "JITSPOT_SPOTIFY_OEMBED_URL": "oembed_url",
    "JITSPOT_SHEET_URL": "sheet_url",
}
# Credentials: spotipy's names first, Spotify's as the alternative.
_CREDENTIAL_ENV = {
    "client_id": ("SPOTIPY_CLIENT_ID", "SPOTIFY_CLIENT_ID"),
    "client_secret": ("SPOTIPY_CLIENT_SECRET", "SPOTIFY_CLIENT_SECRET"),
}


class Settings(BaseModel):
    """Everything jitspot can be told. Tuning knobs read `JITSPOT_<NAME>` from the env."""

    # No inf/nan in any float: they pass `le` checks (nan compares false) and crash later.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    home: Path
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    oembed_url: str = DEFAULT_OEMBED_URL
    # The sheet `serve`'s "Sync now" imports: a URL (Google Sheets links work) or a path.
    sheet_url: str | None = None

    # Every tunable has an upper bound: a typo (or 1e400) is caught at load, not hours later.
    cache_ttl_days: float = Field(
        30.0, gt=0, le=3650, description="how long fetched data stays fresh"
    )
    not_found_ttl_days: float = Field(
        7.0, gt=0, le=3650, description="how long a 'not found on Spotify' answer is believed"
    )
    max_retry_after: float = Field(
        60.0,
        ge=0,
        le=MAX_RETRY_AFTER_CAP,
        description="longest wait (s) for Spotify: a Retry-After, or the quota's next free"
        " call; past it jitspot stops (exit 75)",
    )
    requests_per_window: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="old fixed budget per 30 s, now only a ceiling (prefer max_rate)",
    )
    max_rate: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="ceiling on requests/s to Spotify; pacing learns the rate below it",
    )
    daily_quota: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="Web API calls allowed per quota window (default: 1000 for a"
        " development-mode app, none for an extended one until a refusal teaches one)",
    )
    quota_window: float = Field(
        86_400.0,
        gt=0,
        le=30 * 86_400,
        description="length of Spotify's rolling quota window, seconds",
    )
    quota_reserve: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="share of the quota that bulk work (refresh, match, export of many"
        " albums, Sync) leaves for single-album look-ups (show, the album page, tiles)",
    )
    cover_source: Literal["auto", "api", "oembed"] = Field(
        "auto",
        description="where covers come from: auto (oEmbed for a development-mode app: no"
        " quota), api or oembed",
    )
    concurrency: int = Field(4, ge=1, le=16, description="parallel Spotify requests")
    serve_concurrency: int = Field(
        64,
        ge=1,
        le=128,
        description="parallel Spotify requests of serve's tiles and album pages (visitors"
        " wait for them; the pacing still sets the rate)",
    )
    http_timeout: float = Field(
        10.0, gt=0, le=600, description="seconds before a request times out"
    )
    retry_attempts: int = Field(4, ge=1, le=10, description="tries for 5xx/timeouts")
    match_min_score: float = Field(
        0.9,
        ge=0,
        le=1,
        description="score (0-1) at or above which `match` keeps a search result as the album",
    )
    download_max_mb: float = Field(100.0, gt=0, le=4096, description="largest sheet download")
    download_timeout: float = Field(60.0, gt=0, le=3600, description="seconds for a sheet download")

    @field_validator("sheet_url")
    @classmethod
    def _sheet(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @field_validator("cover_source", mode="before")
    @classmethod
    def _cover_source(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("api_url", "token_url", "oembed_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # Checked here, not by pydantic's HttpUrl: that type normalises the text and
        # the gateway joins paths onto the string as given.
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ValueError("must be an http(s) URL such as https://api.spotify.com/v1/")
        return value

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
    if name
    not in {"home", "client_id", "client_secret", "api_url", "token_url", "oembed_url", "sheet_url"}
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
    config_path = home / CONFIG_FILE
    values: dict[str, Any] = {"home": home}
    # Where each value came from, so the message names what the user has to fix.
    sources: dict[str, str] = {}
    from_file = _read_config(config_path)
    values.update(from_file)
    sources.update({name: f"in {config_path}" for name in from_file})
    from_env, env_vars = _from_env(env)
    values.update(from_env)
    sources.update(env_vars)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(flags)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from None


def _describe(exc: ValidationError, sources: Mapping[str, str]) -> str:
    """One line for the first error: which setting (and where from), what is wrong."""
    first = exc.errors()[0]
    name = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    where = f"{name} ({sources[name]})" if name in sources else name
    if name == "client_secret":  # never echo a secret
        return f"invalid setting {where}: {message}"
    shown = str(first.get("input"))
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"invalid setting {where}: {message} (got {shown})"


def _read_config(path: Path) -> dict[str, Any]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    import tomllib  # only when there is a file: most homes have none

    try:
        with handle:
            data = tomllib.load(handle)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read {path}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
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


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings found in the environment, and the variable each came from."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for var, setting in _CONTRACT_ENV.items():
        if env.get(var):
            values[setting], sources[setting] = env[var], var
    for setting, names in _CREDENTIAL_ENV.items():
        for var in names:
            if env.get(var):
                values[setting], sources[setting] = env[var], var
                break
    for setting in TUNABLES:
        var = env_name(setting)
        if env.get(var):
            values[setting], sources[setting] = env[var], var
    return values, sources
