"""Configuration in one place: defaults, a TOML file, then environment variables.

Precedence (later wins): built-in defaults < config file < ``EDUBOT_*`` environment
variables < command-line options. The config file is ``edubot.toml`` in the
working directory, or the path in ``EDUBOT_CONFIG`` / ``--config``. Every default
works offline.

Example ``edubot.toml``::

    corpus_dir = "corpus"
    index_dir = "index"
    encoder = "use-multilingual"          # or "st:/path/to/model", "st:intfloat/multilingual-e5-small"
    traditional = "s2tw"                  # s2t | s2tw | s2twp | s2hk
    [telegram]
    admin_ids = [12345678]
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .encoders import DEFAULT_ENCODER
from .script import TRADITIONAL_CONFIGS


class ConfigError(ValueError):
    """A setting that cannot be used, naming where it came from."""


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    encoder: str = DEFAULT_ENCODER
    chunk_size: int = 400
    chunk_overlap: int = 80
    faiss: str = "auto"  # auto | flat | hnsw
    traditional: str = "s2t"  # OpenCC config for Traditional output
    default_lang: str = "zh-Hant"  # script for Chinese messages with no script marks
    top_k: int = 5  # passages returned
    max_quotes: int = 3  # sentences quoted in an answer
    max_question_chars: int = 1000
    auto_build: bool = True  # build a missing or stale index instead of failing
    skip_bad: bool = False  # leave malformed corpus files out (each is logged) instead of stopping
    log_level: str = "WARNING"
    log_format: str = "text"  # text | json
    # Telegram front end
    telegram_token: str = field(default="", repr=False)
    telegram_api_base_url: str = ""
    telegram_admin_ids: tuple[int, ...] = ()
    telegram_db: Path = Path("edubot.sqlite")
    telegram_rate_limit: int = 10  # messages per user per minute

    def __post_init__(self) -> None:
        if self.traditional not in TRADITIONAL_CONFIGS:
            raise ConfigError(f"traditional = {self.traditional!r}: choose one of {', '.join(TRADITIONAL_CONFIGS)}")
        if self.default_lang not in ("zh-Hant", "zh-Hans"):
            raise ConfigError("default_lang must be zh-Hant or zh-Hans")
        if self.faiss not in ("auto", "flat", "hnsw"):
            raise ConfigError("faiss must be auto, flat or hnsw")
        if self.log_format not in ("text", "json"):
            raise ConfigError("log_format must be text or json")
        for name in ("top_k", "max_quotes", "max_question_chars", "telegram_rate_limit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.chunk_size < 50 or not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError("chunk_size must be >= 50 and 0 <= chunk_overlap < chunk_size")

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **{k: _coerce(k, v) for k, v in values.items() if v is not None})


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    if name not in _FIELDS:
        raise ConfigError(f"unknown setting {name!r}")
    default = _FIELDS[name].default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return low in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, Path):
            return Path(os.path.expanduser(str(value)))
        if isinstance(default, tuple):
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            return tuple(int(v) for v in value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: cannot use {value!r}") from exc


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}".replace("-", "_")
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}_"))
        else:
            out[name] = value
    return out


def load_settings(config_file: Path | str | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults, then the config file, then environment variables."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    path = Path(config_file) if config_file else Path(env.get("EDUBOT_CONFIG", "edubot.toml"))
    explicit = bool(config_file or env.get("EDUBOT_CONFIG"))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        for key, value in _flatten(data).items():
            if key not in _FIELDS:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, value)
    elif explicit:
        raise ConfigError(f"config file {path} not found")
    for name in _FIELDS:
        key = f"EDUBOT_{name.upper()}"
        if key in env:
            values[name] = _coerce(name, env[key])
    # Conventional names used by Telegram tooling.
    if "TELEGRAM_BOT_TOKEN" in env:
        values["telegram_token"] = env["TELEGRAM_BOT_TOKEN"].strip()
    if "TELEGRAM_API_BASE_URL" in env:
        values["telegram_api_base_url"] = env["TELEGRAM_API_BASE_URL"].strip()
    return Settings(**values)
