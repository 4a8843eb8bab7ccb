"""The one place copybot touches ``polymarket-client``'s private API: its environment, its wallet
classification and its balance-cache refresh.

The SDK talks to production unless given an :class:`polymarket.environments.Environment`, and it
offers no public way to build one with other base URLs (the sandbox, a test net, a proxy). Its own
integration tests fork production with ``polymarket._internal.environment.create_environment`` and
a copy of ``PRODUCTION_CONFIG``; this module does the same, so an SDK upgrade that moves those
names breaks one module and its contract test (``tests/unit/test_sdk_private.py``) instead of
live trading; the same holds for :func:`wallet_kind` and :func:`refresh_balance`. Chain id,
contract addresses and the wallet-derivation constants stay production's: order hashes,
signatures and wallet addresses must be the ones production computes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from polymarket.environments import Environment

PRODUCTION_URLS = {
    "clob": "https://clob.polymarket.com",
    "gamma": "https://gamma-api.polymarket.com",
    "data": "https://data-api.polymarket.com",
    "relayer": "https://relayer-v2.polymarket.com",
    "rpc": "https://polygon.drpc.org",
}


@dataclass(frozen=True)
class Endpoints:
    """The base URLs the SDK calls (no trailing slash)."""

    clob: str
    gamma: str
    data: str
    relayer: str
    rpc: str


def environment(endpoints: Endpoints) -> Environment:
    """Production's environment with ``endpoints`` as its base URLs (named "production" when they
    are production's, "custom" otherwise)."""
    from polymarket._internal.environment import PRODUCTION_CONFIG, create_environment  # private: see module doc
    from polymarket.environments import PRODUCTION

    urls = {k: v.rstrip("/") for k, v in vars(endpoints).items()}
    if urls == PRODUCTION_URLS:
        return PRODUCTION
    config = replace(
        PRODUCTION_CONFIG,
        clob_url=urls["clob"],
        gamma_url=urls["gamma"],
        data_url=urls["data"],
        relayer_url=urls["relayer"],
        rpc_url=urls["rpc"],
    )
    return create_environment(name="custom", config=config)


WALLET_KINDS = ("EOA", "POLY_PROXY", "GNOSIS_SAFE", "DEPOSIT_WALLET")  # by signature type 0..3


def wallet_kind(signer: str, wallet: str) -> str | None:
    """The kind of ``wallet`` for the key whose address is ``signer``, as the SDK classifies it
    offline (CREATE2 addresses derived from the signer with production's factories): one of
    :data:`WALLET_KINDS`, or None for an address that is none of the signer's wallets. The SDK
    itself would then silently treat it as a session key's deposit wallet; copybot refuses it."""
    from polymarket._internal.environment import PRODUCTION_CONFIG  # private: see module doc
    from polymarket._internal.wallet import try_classify_wallet_type

    return try_classify_wallet_type(signer=signer, wallet=wallet, config=PRODUCTION_CONFIG.wallet_derivation)


async def refresh_balance(
    client: Any, asset_type: Literal["COLLATERAL", "CONDITIONAL"], token_id: str | None = None
) -> None:
    """Ask the CLOB to re-read a balance and allowance from the chain (``GET /balance-allowance/
    update``). Its cached view shows what an order gave at once, but what it received (a BUY's
    shares, a SELL's proceeds) only after such a refresh; the SDK sends it only inside its
    ``place_*`` helpers, which copybot never uses."""
    from polymarket._internal.actions import account  # private: see module doc
    from polymarket._internal.wallet import signature_type_for

    path, params = account.build_update_balance_allowance_request(
        asset_type=asset_type, token_id=token_id, signature_type=signature_type_for(client.wallet_type)
    )
    await client._ctx.secure_clob.get_bytes(path, params=params)
