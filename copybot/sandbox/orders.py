"""Signed CLOB orders as ``POST /order`` receives them: parsing, the EIP-712 V2 hash and signer.

The body is ``{"order": {...}, "owner": <api key>, "orderType": "FOK"|"FAK"|"GTC"|"GTD",
"deferExec": bool, "postOnly": bool}``. A V2 order (as ``polymarket-client`` posts it)
carries ``salt`` (number), ``maker``, ``signer``, ``tokenId``, ``makerAmount``, ``takerAmount``
(decimal strings, 6-decimal base units), ``side`` ("BUY"/"SELL"), ``expiration``,
``signatureType`` (number), ``timestamp`` (ms), ``metadata``, ``builder`` (bytes32) and
``signature``. It is signed over the domain {name "Polymarket CTF Exchange", version "2", chainId
137, verifyingContract CTFExchangeV2 or NegRiskCtfExchangeV2} with the struct
``Order(uint256 salt, address maker, address signer, uint256 tokenId, uint256 makerAmount,
uint256 takerAmount, uint8 side, uint8 signatureType, uint256 timestamp, bytes32 metadata,
bytes32 builder)`` (``expiration`` is sent but not signed).

Amounts: a BUY gives ``makerAmount`` collateral for at least ``takerAmount`` shares, a SELL gives
``makerAmount`` shares for at least ``takerAmount`` collateral, so the worst acceptable price is
maker/taker (BUY) or taker/maker (SELL). A V1 order (``taker``, ``nonce``, ``feeRateBps``, no
``timestamp``) or a V2-layout order signed with domain version "1" is what production answers
``order_version_mismatch``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from copybot.models import Side
from copybot.protocol import CHAIN_ID, EIP712_DOMAIN, EXCHANGE_DOMAIN_NAME, ORDER_STRUCT

from .wallets import deposit_wallet_signer

INVALID_PAYLOAD: Final = "Invalid order payload"
VERSION_MISMATCH: Final = "order_version_mismatch"
INVALID_SIGNATURE: Final = "invalid signature"
POLY_1271: Final = 3
ORDER_TYPES: Final = frozenset({"FOK", "FAK", "GTC", "GTD"})
MARKET_ORDER_TYPES: Final = frozenset({"FOK", "FAK"})

_ADDRESS: Final = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32: Final = re.compile(r"^0x[0-9a-fA-F]{64}$")
_V1_ONLY: Final = frozenset({"taker", "nonce", "feeRateBps"})
_UINT256: Final = 2**256


class OrderError(Exception):
    """An order refused with HTTP 400 ``{"error": message}``."""


@dataclass(frozen=True, slots=True)
class SignedOrder:
    salt: int
    maker: str  # lowercase
    signer: str  # lowercase
    token_id: int
    maker_amount: int
    taker_amount: int
    side: Side
    signature_type: int
    timestamp: int
    metadata: str
    builder: str
    expiration: int
    signature: str

    @property
    def limit(self) -> Fraction:
        """The worst acceptable price, exactly (collateral per share)."""
        if self.side is Side.BUY:
            return Fraction(self.maker_amount, self.taker_amount)
        return Fraction(self.taker_amount, self.maker_amount)

    def typed_data(self, exchange: str, version: str = "2", chain_id: int = CHAIN_ID) -> dict[str, Any]:
        return {
            "primaryType": "Order",
            "types": {"EIP712Domain": list(EIP712_DOMAIN), "Order": list(ORDER_STRUCT)},
            "domain": {
                "name": EXCHANGE_DOMAIN_NAME,
                "version": version,
                "chainId": chain_id,
                "verifyingContract": to_checksum_address(exchange),
            },
            "message": {
                "salt": self.salt,
                "maker": to_checksum_address(self.maker),
                "signer": to_checksum_address(self.signer),
                "tokenId": self.token_id,
                "makerAmount": self.maker_amount,
                "takerAmount": self.taker_amount,
                "side": 0 if self.side is Side.BUY else 1,
                "signatureType": self.signature_type,
                "timestamp": self.timestamp,
                "metadata": bytes.fromhex(self.metadata[2:]),
                "builder": bytes.fromhex(self.builder[2:]),
            },
        }

    def order_hash(self, exchange: str) -> str:
        """The EIP-712 digest of the V2 order: production's ``orderID``."""
        return "0x" + _digest(encode_typed_data(full_message=self.typed_data(exchange))).hex()

    def recover(self, exchange: str, version: str = "2") -> str | None:
        """The lowercase address whose ECDSA signature this is under that domain (None if unreadable,
        or if its recovery byte is not 27/28, which the exchange's ECDSA.recover refuses)."""
        if len(self.signature) != 132 or self.signature[-2:].lower() not in ("1b", "1c"):
            return None
        try:
            message = encode_typed_data(full_message=self.typed_data(exchange, version))
            return str(Account.recover_message(message, signature=self.signature)).lower()
        except Exception:  # a malformed signature: whatever eth_account raises
            return None


def _digest(message: SignableMessage) -> bytes:
    return keccak(b"\x19" + message.version + message.header + message.body)


def _uint(raw: object) -> int:
    if isinstance(raw, bool):
        raise OrderError(INVALID_PAYLOAD)
    text = str(raw).strip()
    if isinstance(raw, Decimal | float) or not (text.isascii() and text.isdigit()) or int(text) >= _UINT256:
        raise OrderError(INVALID_PAYLOAD)
    return int(text)


def _match(pattern: re.Pattern[str], raw: object) -> str:
    if not isinstance(raw, str) or not pattern.match(raw):
        raise OrderError(INVALID_PAYLOAD)
    return raw.lower()


def parse_order(body: Any) -> tuple[SignedOrder, str, str]:
    """The signed order, its owner (API key) and order type from a ``POST /order`` body.
    ``order_version_mismatch`` for a V1 order, ``Invalid order payload`` for anything malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise OrderError(INVALID_PAYLOAD)
    raw: dict[str, Any] = body["order"]
    if _V1_ONLY & raw.keys() or "timestamp" not in raw:
        raise OrderError(VERSION_MISMATCH)
    order_type, owner = body.get("orderType", "GTC"), body.get("owner")
    if order_type not in ORDER_TYPES or not isinstance(owner, str):
        raise OrderError(INVALID_PAYLOAD)
    side = raw.get("side")
    if side not in ("BUY", "SELL") or not isinstance(raw.get("signature"), str):
        raise OrderError(INVALID_PAYLOAD)
    order = SignedOrder(
        salt=_uint(raw.get("salt")),
        maker=_match(_ADDRESS, raw.get("maker")),
        signer=_match(_ADDRESS, raw.get("signer")),
        token_id=_uint(raw.get("tokenId")),
        maker_amount=_uint(raw.get("makerAmount")),
        taker_amount=_uint(raw.get("takerAmount")),
        side=Side(side),
        signature_type=_uint(raw.get("signatureType")),
        timestamp=_uint(raw.get("timestamp")),
        metadata=_match(_BYTES32, raw.get("metadata")),
        builder=_match(_BYTES32, raw.get("builder")),
        expiration=_uint(raw.get("expiration", "0")),
        signature=raw["signature"],
    )
    if order.maker_amount == 0 or order.taker_amount == 0 or order.signature_type > 3:
        raise OrderError(INVALID_PAYLOAD)
    return order, owner, str(order_type)


def check_signature(order: SignedOrder, exchange: str, owner: str | None = None) -> None:
    """The order must be signed by ``order.signer`` for this V2 exchange; for a deposit wallet
    (type 3, the wallet is the signer) by ``owner`` through the wallet's ERC-1271 check. Signed for
    the same exchange with domain version "1" is a version mismatch; anything else an invalid
    signature."""
    if order.signature_type == POLY_1271:
        digest = bytes.fromhex(order.order_hash(exchange)[2:])
        try:
            raw = bytes.fromhex(order.signature.removeprefix("0x"))
        except ValueError:
            raise OrderError(INVALID_SIGNATURE) from None
        if owner is None or deposit_wallet_signer(order.signer, digest, raw, CHAIN_ID) != owner:
            raise OrderError(INVALID_SIGNATURE)
        return
    if order.recover(exchange) == order.signer:
        return
    if order.recover(exchange, version="1") == order.signer:
        raise OrderError(VERSION_MISMATCH)
    raise OrderError(INVALID_SIGNATURE)
