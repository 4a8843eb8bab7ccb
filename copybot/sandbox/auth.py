"""CLOB authentication as production does it: L1 (an EIP-712 ``ClobAuth`` signature by the wallet
key) to create or derive API credentials, L2 (an HMAC of the request with the API secret) on
trading endpoints.

L1 headers: ``POLY_ADDRESS``, ``POLY_SIGNATURE`` (EIP-712 over the domain ``ClobAuthDomain`` /
version "1" / chainId, message ``ClobAuth(address address, string timestamp, uint256 nonce,
string message)``), ``POLY_TIMESTAMP``, ``POLY_NONCE``. The signature must recover ``POLY_ADDRESS``.

L2 headers: ``POLY_ADDRESS``, ``POLY_SIGNATURE`` = urlsafe-base64 HMAC-SHA256, keyed with the
urlsafe-base64-decoded secret, of ``timestamp + METHOD + path + body`` (path without the query
string and below the CLOB's root; the body exactly as sent, as ``polymarket-client`` signs it:
py-clob-client's habit of signing ``'`` as ``"`` is gone), ``POLY_TIMESTAMP``, ``POLY_API_KEY``,
``POLY_PASSPHRASE``.

Credentials are a deterministic function of (seed, address, nonce): deriving twice gives the same
key, creating a key that exists fails like production ("Could not create api key"). Timestamps
are not checked for freshness (the sandbox clock is often a manual one). Nothing here is logged,
and no error body carries a header value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from eth_account.messages import encode_typed_data

from copybot.protocol import CHAIN_ID

L1_INVALID: Final = "Invalid L1 Request headers"
L2_INVALID: Final = "Unauthorized/Invalid api key"
CANNOT_CREATE: Final = "Could not create api key"
AUTH_MESSAGE: Final = "This message attests that I control the given wallet"

CLOB_AUTH_TYPES: Final = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "ClobAuth": [
        {"name": "address", "type": "address"},
        {"name": "timestamp", "type": "string"},
        {"name": "nonce", "type": "uint256"},
        {"name": "message", "type": "string"},
    ],
}


class AuthError(Exception):
    """Answered as HTTP 401 ``{"error": message}``."""


class CreateError(Exception):
    """Answered as HTTP 400 ``{"error": message}``."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    api_key: str
    secret: str
    passphrase: str
    address: str  # lowercase wallet (signer) address the key belongs to
    nonce: int

    def to_json(self) -> dict[str, str]:
        """What ``/auth/api-key`` and ``/auth/derive-api-key`` answer (the client reads these names)."""
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}


def _header(headers: Mapping[str, str], name: str, error: str) -> str:
    value = headers.get(name)
    if not value:
        raise AuthError(error)
    return value


def recover_l1(headers: Mapping[str, str], chain_id: int = CHAIN_ID) -> tuple[str, int]:
    """The lowercase address that signed valid L1 headers, and the nonce; :class:`AuthError` otherwise."""
    address = _header(headers, "poly_address", L1_INVALID)
    signature = _header(headers, "poly_signature", L1_INVALID)
    timestamp = _header(headers, "poly_timestamp", L1_INVALID)
    raw_nonce = headers.get("poly_nonce") or "0"
    if not raw_nonce.isdigit() or not timestamp.isdigit():
        raise AuthError(L1_INVALID)
    nonce = int(raw_nonce)
    typed: dict[str, Any] = {
        "primaryType": "ClobAuth",
        "types": CLOB_AUTH_TYPES,
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "message": {"address": address, "timestamp": timestamp, "nonce": nonce, "message": AUTH_MESSAGE},
    }
    try:
        signer = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    except Exception as exc:  # malformed address or signature: whatever eth_account raises
        raise AuthError(L1_INVALID) from exc
    if signer.lower() != address.lower():
        raise AuthError(L1_INVALID)
    return address.lower(), nonce


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """The L2 signature the client computes (``polymarket-client``'s ``_internal.hmac``)."""
    message = timestamp + method + path + body
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


class ApiKeys:
    """The API keys created so far, by key. Thread-safe."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._master = hashlib.sha256(f"copybot-sandbox-clob-keys:{seed}".encode()).digest()
        self._keys: dict[str, ApiKey] = {}

    def _make(self, address: str, nonce: int) -> ApiKey:
        def part(label: str) -> bytes:
            return hmac.new(self._master, f"{label}:{address}:{nonce}".encode(), hashlib.sha256).digest()

        return ApiKey(
            api_key=str(uuid.UUID(bytes=part("key")[:16], version=4)),
            secret=base64.urlsafe_b64encode(part("secret")).decode(),
            passphrase=part("passphrase").hex(),
            address=address,
            nonce=nonce,
        )

    def create(self, address: str, nonce: int) -> ApiKey:
        """A new key for (address, nonce); :class:`CreateError` if it exists already."""
        key = self._make(address, nonce)
        with self._lock:
            if key.api_key in self._keys:
                raise CreateError(CANNOT_CREATE)
            self._keys[key.api_key] = key
        return key

    def derive(self, address: str, nonce: int) -> ApiKey:
        """The key for (address, nonce), created if needed: deriving is repeatable."""
        key = self._make(address, nonce)
        with self._lock:
            return self._keys.setdefault(key.api_key, key)

    def of(self, address: str) -> list[str]:
        """The API keys of an address, oldest first (what ``GET /auth/api-keys`` lists)."""
        with self._lock:
            return [k.api_key for k in self._keys.values() if k.address == address]

    def check_l2(self, headers: Mapping[str, str], method: str, path: str, body: bytes) -> ApiKey:
        """The key behind valid L2 headers for this request; :class:`AuthError` otherwise."""
        api_key = _header(headers, "poly_api_key", L2_INVALID)
        with self._lock:
            key = self._keys.get(api_key)
        if key is None:
            raise AuthError(L2_INVALID)
        address = _header(headers, "poly_address", L2_INVALID)
        passphrase = _header(headers, "poly_passphrase", L2_INVALID)
        signature = _header(headers, "poly_signature", L2_INVALID)
        timestamp = _header(headers, "poly_timestamp", L2_INVALID)
        try:
            text = body.decode()
            expected = hmac_signature(key.secret, timestamp, method.upper(), path, text)
        except (UnicodeDecodeError, binascii.Error) as exc:
            raise AuthError(L2_INVALID) from exc
        ok = (
            address.lower() == key.address
            and hmac.compare_digest(passphrase.encode(), key.passphrase.encode())
            and hmac.compare_digest(signature.encode(), expected.encode())
        )
        if not ok:
            raise AuthError(L2_INVALID)
        return key
