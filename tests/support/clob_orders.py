"""Hand-built CLOB requests for the sandbox tests: what ``polymarket-client`` will not build.

The SDK signs only well-formed V2 orders for the key's own wallet, at a price on the tick grid,
for the exchange the market names, and it re-derives credentials that do not check out. The
sandbox must refuse everything else the way production does, so these helpers make it by hand:
L1 (``ClobAuth``) and L2 (HMAC) headers, V2 orders signed with any maker, exchange, domain version,
salt and timestamp, the V1 layout, and raw requests with L2 headers. The EIP-712 structs are
copybot's own (:mod:`copybot.brokers.order_id`); the wire layout is what the SDK posts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from polymarket import HexString, SignedOrder

from copybot.brokers.order_id import order_message
from copybot.protocol import CHAIN_ID, CTF_EXCHANGE_V1, EIP712_DOMAIN, EXCHANGE_DOMAIN_NAME, ORDER_STRUCT
from copybot.sandbox.auth import AUTH_MESSAGE, CLOB_AUTH_TYPES, hmac_signature

ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
BYTES32_ZERO: Final = "0x" + "00" * 32
FIXED_TIMESTAMP_MS: Final = 1_790_000_000_000

_ORDER_V1: Final = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "taker", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "expiration", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "feeRateBps", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
]

Side = Literal["BUY", "SELL"]


def _sign(account: LocalAccount, typed: dict[str, Any]) -> str:
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=account.key)
    return "0x" + bytes(signed.signature).hex()


# -- authentication ------------------------------------------------------------------------------


def l1_headers(account: LocalAccount, nonce: int = 0, timestamp: int | None = None) -> dict[str, str]:
    """The L1 headers of ``GET /auth/derive-api-key`` and ``POST /auth/api-key``: a ``ClobAuth``
    EIP-712 signature by the key (domain ``ClobAuthDomain`` / "1" / chain 137)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    typed = {
        "primaryType": "ClobAuth",
        "types": CLOB_AUTH_TYPES,
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
        "message": {"address": account.address, "timestamp": stamp, "nonce": nonce, "message": AUTH_MESSAGE},
    }
    return {
        "POLY_ADDRESS": account.address,
        "POLY_SIGNATURE": _sign(account, typed),
        "POLY_TIMESTAMP": stamp,
        "POLY_NONCE": str(nonce),
    }


@dataclass(frozen=True)
class Creds:
    """L2 credentials as ``/auth/*`` answers them (``apiKey``, ``secret``, ``passphrase``)."""

    key: str
    secret: str
    passphrase: str

    @classmethod
    def of(cls, creds: Any) -> Creds:
        """From the SDK's ``ApiKeyCreds`` (or anything with the same three attributes)."""
        return cls(key=creds.key, secret=creds.secret, passphrase=creds.passphrase)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Creds:
        return cls(key=body["apiKey"], secret=body["secret"], passphrase=body["passphrase"])


def l2_headers(address: str, creds: Creds, method: str, path: str, body: str = "") -> dict[str, str]:
    """L2 headers for one request: ``path`` below the CLOB's root, without the query string;
    ``body`` exactly as sent."""
    stamp = str(int(time.time()))
    return {
        "POLY_ADDRESS": address,
        "POLY_SIGNATURE": hmac_signature(creds.secret, stamp, method, path, body),
        "POLY_TIMESTAMP": stamp,
        "POLY_API_KEY": creds.key,
        "POLY_PASSPHRASE": creds.passphrase,
    }


@dataclass(frozen=True)
class RawClob:
    """Requests to the CLOB with hand-made L2 headers (any address, any credentials)."""

    url: str  # the CLOB's root, e.g. RunningSandbox.urls["clob"]
    address: str
    creds: Creds

    def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> httpx.Response:
        text = "" if body is None else json.dumps(body, separators=(",", ":"))
        headers = l2_headers(self.address, self.creds, method, path, text)
        if body is not None:
            headers["Content-Type"] = "application/json"
        return httpx.request(method, self.url + path, params=params, content=text.encode(), headers=headers)

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.request("POST", path, body=body)


# -- orders --------------------------------------------------------------------------------------


def sign_v2(
    account: LocalAccount,
    *,
    exchange: str,
    token_id: int | str,
    maker_amount: int,
    taker_amount: int,
    side: Side = "BUY",
    maker: str | None = None,
    signature_type: int = 0,
    salt: int = 42,
    timestamp: int = FIXED_TIMESTAMP_MS,
    domain_version: str = "2",
    expiration: int = 0,
    order_type: Literal["FOK", "FAK", "GTC", "GTD"] = "FOK",
) -> SignedOrder:
    """A V2 order signed by ``account`` for ``exchange`` (its maker: ``account`` unless given),
    with a fixed salt and timestamp unless given: the same bytes every run. The SDK's own type, so
    ``SecureClient.post_order`` posts it as it posts the orders it builds."""
    fields: dict[str, Any] = {
        "salt": salt,
        "maker": to_checksum_address(maker or account.address),
        "signer": account.address,
        "token_id": str(token_id),
        "maker_amount": maker_amount,
        "taker_amount": taker_amount,
        "side": side,
        "signature_type": signature_type,
        "timestamp": timestamp,
        "metadata": BYTES32_ZERO,
        "builder": BYTES32_ZERO,
    }
    typed = {
        "primaryType": "Order",
        "types": {"EIP712Domain": list(EIP712_DOMAIN), "Order": list(ORDER_STRUCT)},
        "domain": {
            "name": EXCHANGE_DOMAIN_NAME,
            "version": domain_version,
            "chainId": CHAIN_ID,
            "verifyingContract": to_checksum_address(exchange),
        },
        "message": order_message(fields),
    }
    return SignedOrder(
        **fields, signature=HexString(_sign(account, typed)), expiration=expiration, order_type=order_type
    )


def sign_v1(
    account: LocalAccount,
    *,
    token_id: int | str,
    maker_amount: int,
    taker_amount: int,
    side: Side = "BUY",
    salt: int = 42,
    exchange: str = CTF_EXCHANGE_V1,
) -> dict[str, Any]:
    """A V1 order (``taker``, ``nonce``, ``feeRateBps``, no ``timestamp``) signed for the V1
    exchange under domain version "1", as its wire ``order`` object (what the old V1 clients sent)."""
    message = {
        "salt": salt,
        "maker": account.address,
        "signer": account.address,
        "taker": ZERO_ADDRESS,
        "tokenId": int(token_id),
        "makerAmount": maker_amount,
        "takerAmount": taker_amount,
        "expiration": 0,
        "nonce": 0,
        "feeRateBps": 0,
        "side": 0 if side == "BUY" else 1,
        "signatureType": 0,
    }
    typed = {
        "primaryType": "Order",
        "types": {"EIP712Domain": list(EIP712_DOMAIN), "Order": _ORDER_V1},
        "domain": {
            "name": EXCHANGE_DOMAIN_NAME,
            "version": "1",
            "chainId": CHAIN_ID,
            "verifyingContract": to_checksum_address(exchange),
        },
        "message": message,
    }
    return {
        "salt": salt,
        "maker": account.address,
        "signer": account.address,
        "taker": ZERO_ADDRESS,
        "tokenId": str(token_id),
        "makerAmount": str(maker_amount),
        "takerAmount": str(taker_amount),
        "side": side,
        "expiration": "0",
        "nonce": "0",
        "feeRateBps": "0",
        "signatureType": 0,
        "signature": _sign(account, typed),
    }


def wire_order(order: SignedOrder) -> dict[str, Any]:
    """A signed V2 order's wire ``order`` object, as ``SecureClient.post_order`` sends it."""
    return {
        "builder": order.builder,
        "expiration": str(order.expiration),
        "maker": order.maker,
        "makerAmount": str(order.maker_amount),
        "metadata": order.metadata,
        "salt": order.salt,
        "side": order.side,
        "signature": order.signature,
        "signatureType": order.signature_type,
        "signer": order.signer,
        "takerAmount": str(order.taker_amount),
        "timestamp": str(order.timestamp),
        "tokenId": order.token_id,
    }


def order_body(order: SignedOrder | Mapping[str, Any], owner: str, order_type: str | None = None) -> dict[str, Any]:
    """A ``POST /order`` body: the order (a :class:`SignedOrder`, or a wire ``order`` object as
    is), the owner's API key and the order type (the signed order's own unless given)."""
    if isinstance(order, SignedOrder):
        return {
            "deferExec": False,
            "order": wire_order(order),
            "orderType": order_type or order.order_type,
            "owner": owner,
            **({"postOnly": True} if order.post_only else {}),
        }
    return {"deferExec": False, "order": dict(order), "orderType": order_type or "FOK", "owner": owner}
