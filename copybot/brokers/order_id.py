"""The exchange's id for a signed order: its EIP-712 hash, which ``polymarket-client`` does not
compute. copybot stores it with the order's intent *before* sending, so that after a crash it can
ask the CLOB what became of that id instead of sending again.

The hash is the ``Order`` struct hash under the exchange's domain (name "Polymarket CTF Exchange",
version "2", chain 137, the exchange that settles the token's market). For a deposit wallet
(signature type 3) the signature wraps the same hash (ERC-7739 ``TypedDataSign``) and carries, after
the 65-byte ECDSA part, the domain separator and the order's contents hash it was built from: the
hash computed here is checked against them, and for the other types against the signer the
signature recovers to, so a wrong exchange (neg-risk or not) is caught before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from copybot.protocol import CHAIN_ID, EIP712_DOMAIN, EXCHANGE_DOMAIN_NAME, ORDER_STRUCT

POLY_1271: Final = 3


def order_message(order: Mapping[str, Any]) -> dict[str, Any]:
    """The signed ``Order`` struct from a signed order's fields (the SDK's snake_case names)."""
    return {
        "salt": int(order["salt"]),
        "maker": order["maker"],
        "signer": order["signer"],
        "tokenId": int(order["token_id"]),
        "makerAmount": int(order["maker_amount"]),
        "takerAmount": int(order["taker_amount"]),
        "side": 0 if order["side"] == "BUY" else 1,
        "signatureType": int(order["signature_type"]),
        "timestamp": int(order["timestamp"]),
        "metadata": order["metadata"],
        "builder": order["builder"],
    }


def order_hash(order: Mapping[str, Any], exchange: str, *, chain_id: int = CHAIN_ID, version: str = "2") -> str:
    """``0x`` + 64 hex digits, lowercase: the id the CLOB gives this order."""
    typed = {
        "types": {"EIP712Domain": list(EIP712_DOMAIN), "Order": list(ORDER_STRUCT)},
        "primaryType": "Order",
        "domain": {
            "name": EXCHANGE_DOMAIN_NAME,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": exchange,
        },
        "message": order_message(order),
    }
    signable = encode_typed_data(full_message=typed)
    return "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()


def signed_for(order: Mapping[str, Any], digest: str) -> bool:
    """Does the order's signature commit to ``digest`` (its hash under one exchange)?"""
    signature = bytes.fromhex(str(order["signature"]).removeprefix("0x"))
    raw = bytes.fromhex(digest.removeprefix("0x"))
    if int(order["signature_type"]) == POLY_1271:
        if len(signature) < 65 + 64:
            return False
        separator, contents = signature[65:97], signature[97:129]
        return keccak(b"\x19\x01" + separator + contents) == raw
    try:
        return bool(Account._recover_hash(raw, signature=signature).lower() == str(order["signer"]).lower())
    except Exception:  # a malformed signature: whatever eth_account raises
        return False
