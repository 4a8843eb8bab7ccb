"""The live wallet's private key: from the environment or a 0600 file, nowhere else.

Errors name the variable or the file, never the value. The key is handed to the live broker
and to nothing that logs, stores or prints.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from copybot.config.settings import Settings
from copybot.errors import ConfigError

if TYPE_CHECKING:
    from polymarket import ApiKeyCreds, RelayerApiKey


def _check(key: str, where: str) -> str:
    body = key.strip().removeprefix("0x")
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise ConfigError(f"{where}: is not a private key (64 hex digits, optionally 0x-prefixed)")
    return "0x" + body


def private_key(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    live = settings.live
    if live.private_key_file:
        path = Path(live.private_key_file)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ConfigError(f"live.private_key_file: {path} does not exist") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"live.private_key_file: {path} must be readable by its owner only (chmod 600)")
        try:
            return _check(path.read_text(encoding="utf-8"), f"live.private_key_file: {path}")
        except OSError as exc:
            raise ConfigError(f"live.private_key_file: cannot read {path}: {exc.strerror}") from None
    env = os.environ if environ is None else environ
    value = env.get(live.private_key_env, "")
    if not value.strip():
        raise ConfigError(
            f"live.private_key_env: environment variable {live.private_key_env} is not set "
            "(or set live.private_key_file to a 0600 file)"
        )
    return _check(value, f"live.private_key_env: {live.private_key_env}")


def api_credentials(settings: Settings, environ: Mapping[str, str] | None = None) -> ApiKeyCreds | None:
    """CLOB API credentials created elsewhere (``<live.api_credentials_env>_KEY``, ``_SECRET``,
    ``_PASSPHRASE``), or None when none is set: the broker then derives them from the key."""
    env = os.environ if environ is None else environ
    prefix = settings.live.api_credentials_env
    names = [f"{prefix}_{part}" for part in ("KEY", "SECRET", "PASSPHRASE")]
    values = [env.get(n, "").strip() for n in names]
    if not any(values):
        return None
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise ConfigError(f"live.api_credentials_env: {', '.join(missing)} not set (set all three, or none)")
    from polymarket import ApiKeyCreds  # live mode only

    return ApiKeyCreds(key=values[0], secret=values[1], passphrase=values[2])


def relayer_api_key(settings: Settings, environ: Mapping[str, str] | None = None) -> RelayerApiKey | None:
    """Polymarket's relayer API key (``<live.relayer_api_key_env>`` and ``…_ADDRESS``, the address it
    was issued to), or None when unset; a proxy, Safe or deposit wallet needs it to redeem."""
    env = os.environ if environ is None else environ
    name = settings.live.relayer_api_key_env
    key, address = env.get(name, "").strip(), env.get(f"{name}_ADDRESS", "").strip()
    if not key and not address:
        return None
    if not key or not address:
        missing = name if not key else f"{name}_ADDRESS"
        raise ConfigError(f"live.relayer_api_key_env: {missing} is not set (set both, or neither)")
    from polymarket import RelayerApiKey, UserInputError  # live mode only

    try:
        return RelayerApiKey(key=key, address=address)
    except UserInputError:
        raise ConfigError(f"live.relayer_api_key_env: {name}_ADDRESS is not an address") from None


def live_key(settings: Settings, live_flag: bool) -> str | None:
    """Live trading needs two yeses: ``mode: live`` in the settings and ``--live`` on the command
    line; then the wallet key (:func:`live_secrets`). None in paper mode."""
    if settings.mode == "live" and not live_flag:
        raise ConfigError("mode: the settings say live, but real orders also need --live on the command line")
    if live_flag and settings.mode != "live":
        raise ConfigError("--live: the settings say mode: paper; set mode: live to trade real money")
    if settings.mode != "live":
        return None
    return live_secrets(settings)


def live_secrets(settings: Settings) -> str:
    """The wallet key, after checking the API credentials' variables and that ``live.funder`` is
    the configured kind of wallet of that key (offline): each a one-line error and exit 2."""
    from copybot.brokers.live import check_wallet_kind, wallet_of  # the CLOB SDK: live mode only

    key = private_key(settings)
    api_credentials(settings)
    check_wallet_kind(*wallet_of(settings.live, key))
    if settings.live.auto_redeem and settings.live.signature_type != 0 and relayer_api_key(settings) is None:
        name = settings.live.relayer_api_key_env
        raise ConfigError(
            f"live.relayer_api_key_env: {name} and {name}_ADDRESS are not set: auto_redeem from a proxy, Safe or "
            "deposit wallet goes through Polymarket's relayer, which needs its API key"
        )
    return key
