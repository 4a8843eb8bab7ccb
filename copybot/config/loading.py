"""Where settings come from: a YAML file plus ``COPYBOT__SECTION__KEY`` environment overrides.

Where the file comes from: ``--config PATH``, else ``$COPYBOT_CONFIG``, else ``./settings.yaml``.
Every problem becomes a :class:`ConfigError` whose one-line message names the file and the key,
including a key written twice in one mapping (plain ``yaml.safe_load`` would keep the last silently).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from copybot.config import strict_yaml
from copybot.config.settings import Settings
from copybot.errors import ConfigError

ENV_PREFIX = "COPYBOT__"
DEFAULT_PATH = Path("settings.yaml")


def resolve_path(cli_path: str | Path | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if cli_path:
        return Path(cli_path)
    if env.get("COPYBOT_CONFIG"):
        return Path(env["COPYBOT_CONFIG"])
    return DEFAULT_PATH


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Lay ``COPYBOT__SECTION__KEY`` variables over ``data``; which key each variable set."""
    origins: dict[tuple[str, ...], str] = {}
    for name, raw in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        if not keys:
            continue
        try:
            value = strict_yaml.load(raw) if raw.strip() else ""
        except strict_yaml.DuplicateKey as exc:
            key = _loc((*keys, *exc.path))
            raise ConfigError(f"environment variable {name}: {key}: duplicate key") from None
        except yaml.YAMLError:
            raise ConfigError(f"environment variable {name}: {'.'.join(keys)}: not valid YAML") from None
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[keys[-1]] = value
        origins[tuple(keys)] = name
    return origins


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_settings(data: object, where: str, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate ``data`` (read from ``where``) with the environment's overrides laid over it. An
    error names the file and key, or the environment variable when that is where the value came from."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: (top level): must be a mapping of keys to values")
    data = dict(data)
    origins = _apply_env(data, os.environ if environ is None else environ)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        loc = tuple(str(part) for part in err["loc"])
        blamed = next((name for keys, name in origins.items() if loc[: len(keys)] == keys), None)
        source = f"environment variable {blamed}" if blamed else where
        raise ConfigError(f"{source}: {_loc(tuple(err['loc']))}: {msg}") from None
    return settings


def relative_to(settings: Settings, folder: Path) -> Settings:
    """``settings`` with its relative file paths (the database, the key file) taken from ``folder``,
    where the settings file is: systemd and cron run copybot from somewhere else."""
    storage = Path(settings.storage.path)
    if not storage.is_absolute():
        settings = settings.model_copy(
            update={"storage": settings.storage.model_copy(update={"path": str(folder / storage)})}
        )
    key_file = settings.live.private_key_file
    if key_file and not Path(key_file).is_absolute():
        live = settings.live.model_copy(update={"private_key_file": str(folder / key_file)})
        settings = settings.model_copy(update={"live": live})
    return settings


def load_settings(cli_path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    path = resolve_path(cli_path, environ)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: settings file not found (copy settings.example.yaml to start)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: (file): not UTF-8 text (byte {exc.start})") from None
    try:
        data = strict_yaml.load(text)
    except strict_yaml.DuplicateKey as exc:
        where = f"line {exc.line}; first at line {exc.first}"
        raise ConfigError(f"{path}: {_loc(exc.path)}: duplicate key ({where})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: (yaml): not valid YAML{where}") from None
    return relative_to(parse_settings(data, str(path), environ), path.resolve().parent)


def api_key(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The Etherscan API key, read from the environment variable the settings name.

    Only the Etherscan source needs it: with ``source.kind: rpc`` this returns "".
    """
    if settings.source.kind != "etherscan":
        return ""
    env = os.environ if environ is None else environ
    var = settings.source.etherscan.api_key_env
    key = env.get(var, "").strip()
    if not key:
        raise ConfigError(f"source.etherscan.api_key_env: environment variable {var} is not set or empty")
    return key
