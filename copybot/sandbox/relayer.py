"""Polymarket's relayer, as far as copybot's SDK asks it.

``GET /deployed?address=&type=`` → ``{"deployed": bool}`` (``type`` is ``WALLET`` for a deposit
wallet, ``PROXY``, or ``SAFE``): asked before trading from a proxy, Safe or deposit wallet.

Gasless transactions (what redeeming from a proxy, Safe or deposit wallet takes), authenticated with
a relayer API key (headers ``RELAYER_API_KEY`` and ``RELAYER_API_KEY_ADDRESS``; 401 otherwise; keys
are issued by :meth:`Relayer.issue_key`). The next nonce: ``GET /v1/account/transactions/params?
address=<owner>&type=WALLET|SAFE`` → ``{"address", "nonce"}``, or for a proxy ``GET /relay-payload?
address=<owner>&type=PROXY`` → ``{"address": <relay>, "nonce"}``. ``POST /submit`` takes the signed
request, checked as the wallet contract checks it: a deposit wallet's ``{"type": "WALLET", "from",
"to": factory, "nonce", "signature", "depositWalletParams": {"depositWallet", "deadline", "calls"}}``
signed as EIP-712 ``Batch`` under the wallet's ``DepositWallet`` domain; a Safe's ``{"type": "SAFE",
"from", "to", "proxyWallet", "data", "nonce", "signature", "signatureParams"}`` signed as the Safe's
EIP-712 ``SafeTx`` with ``eth_sign`` (v + 4); a proxy's ``{"type": "PROXY", "from", "to": factory,
"proxyWallet", "data": proxy(calls), "nonce", "signature", "signatureParams": {"gasLimit",
"gasPrice", "relay", "relayHub", "relayerFee"}}`` signed as the personal message of its ``rlx:``
relay hash. Answer ``{"transactionID", "transactionHash", "state": "STATE_NEW"}``; then ``GET
/v1/account/transactions/{id}`` → ``{"transaction_id", "transaction_hash", "state"}``
(``STATE_CONFIRMED``, or ``STATE_FAILED`` with ``error_msg`` when a call reverted). The sandbox
executes at once and mines a block.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils.crypto import keccak
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from copybot.protocol import CHAIN_ID, EIP712_DOMAIN

from .auth import AuthError
from .transactions import execute_call
from .wallets import DEPOSIT_WALLET_FACTORY, PROXY_FACTORY
from .web import BadRequest, json_body

if TYPE_CHECKING:
    from .core import Sandbox

KIND_BY_TYPE: Final = {"WALLET": "deposit", "PROXY": "proxy", "SAFE": "safe"}
ZERO_ADDRESS: Final = "0x" + "00" * 20
RELAY_ADDRESS: Final = "0x" + "5e" * 20  # the relay /relay-payload names (signed into proxy relays)
_PROXY_SELECTOR: Final = keccak(b"proxy((uint8,address,uint256,bytes)[])")[:4]
_SAFE_TX_FIELDS: Final = [
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "data", "type": "bytes"},
    {"name": "operation", "type": "uint8"},
    {"name": "safeTxGas", "type": "uint256"},
    {"name": "baseGas", "type": "uint256"},
    {"name": "gasPrice", "type": "uint256"},
    {"name": "gasToken", "type": "address"},
    {"name": "refundReceiver", "type": "address"},
    {"name": "nonce", "type": "uint256"},
]
INVALID_KEY: Final = "invalid relayer api key"
_BATCH_TYPES: Final = {
    "EIP712Domain": list(EIP712_DOMAIN),
    "Batch": [
        {"name": "wallet", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
        {"name": "calls", "type": "Call[]"},
    ],
    "Call": [
        {"name": "target", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "data", "type": "bytes"},
    ],
}


class Relayer:
    """Relayer API keys, deposit-wallet nonces and the transactions relayed. Thread-safe."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}  # key -> lowercase address it was issued to
        self._nonces: dict[str, int] = {}  # deposit wallet -> next nonce
        self.transactions: dict[str, dict[str, Any]] = {}

    def issue_key(self, address: str) -> str:
        """A relayer API key for ``address`` (what a user creates in Polymarket's settings)."""
        key = secrets.token_hex(16)
        with self._lock:
            self._keys[key] = address.lower()
        return key

    def check_key(self, headers: Any) -> None:
        key, address = headers.get("relayer_api_key", ""), headers.get("relayer_api_key_address", "")
        with self._lock:
            if not key or self._keys.get(key) != address.lower():
                raise AuthError(INVALID_KEY)

    def nonce(self, wallet: str) -> int:
        with self._lock:
            return self._nonces.get(wallet.lower(), 0)

    def submit(self, envelope: Any) -> dict[str, Any]:
        """Check a signed relay request as the wallet contract would, execute its calls for the
        wallet, mine a block: the relayer's answer."""
        if not isinstance(envelope, dict):
            raise BadRequest("invalid payload")
        kind = envelope.get("type")
        if kind == "WALLET":
            wallet, nonce, calls = self._deposit_wallet(envelope)
        elif kind == "SAFE":
            wallet, nonce, calls = self._safe(envelope)
        elif kind == "PROXY":
            wallet, nonce, calls = self._proxy(envelope)
        else:
            raise BadRequest(f"unsupported transaction type {kind!r}")
        with self._lock:
            expected = self._nonces.get(wallet, 0)
            if nonce != expected:
                raise BadRequest(f"invalid nonce: expected {expected}")
            self._nonces[wallet] = nonce + 1
        ok = all(execute_call(self._sandbox, wallet, t, d) for t, d in calls)
        self._sandbox.mine(1)
        tx_id = str(uuid.uuid4())
        tx_hash = "0x" + keccak(tx_id.encode()).hex()
        record = {"transaction_id": tx_id, "transaction_hash": tx_hash, "state": "STATE_CONFIRMED"}
        if not ok:
            record |= {"state": "STATE_FAILED", "error_msg": "execution reverted"}
        with self._lock:
            self.transactions[tx_id] = record | {"wallet": wallet, "calls": len(calls), "type": kind}
        return {"transactionID": tx_id, "transactionHash": tx_hash, "state": "STATE_NEW"}

    def _owned(self, envelope: dict[str, Any], address: object, kind: str) -> str:
        owner = str(envelope.get("from", "")).lower()
        wallet = self._sandbox.clob.wallets.get(str(address or ""))
        if wallet is None or wallet.kind != kind or wallet.owner != owner:
            raise BadRequest(f"the {kind} wallet is not deployed for this signer")
        return wallet.address

    def _deposit_wallet(self, envelope: dict[str, Any]) -> tuple[str, int, list[tuple[str, bytes]]]:
        """The owner's EIP-712 ``Batch`` under the wallet's ``DepositWallet`` domain."""
        params = envelope.get("depositWalletParams")
        if not isinstance(params, dict) or not isinstance(params.get("calls"), list):
            raise BadRequest("invalid depositWalletParams")
        wallet = self._owned(envelope, params.get("depositWallet"), "deposit")
        if str(envelope.get("to", "")).lower() != DEPOSIT_WALLET_FACTORY.lower():
            raise BadRequest("invalid factory")
        try:
            nonce, deadline = int(envelope["nonce"]), int(params["deadline"])
            calls = [(str(c["target"]), int(c["value"]), _hex(c["data"])) for c in params["calls"]]
        except (KeyError, TypeError, ValueError):
            raise BadRequest("invalid nonce, deadline or calls") from None
        if deadline < int(self._sandbox.clock.now()):
            raise BadRequest("deadline passed")
        typed = {
            "primaryType": "Batch",
            "types": _BATCH_TYPES,
            "domain": {"name": "DepositWallet", "version": "1", "chainId": CHAIN_ID, "verifyingContract": wallet},
            "message": {
                "wallet": wallet,
                "nonce": nonce,
                "deadline": deadline,
                "calls": [{"target": t, "value": v, "data": d} for t, v, d in calls],
            },
        }
        _check(envelope, lambda sig: Account.recover_message(encode_typed_data(full_message=typed), signature=sig))
        return wallet, nonce, [(t, d) for t, _, d in calls]

    def _safe(self, envelope: dict[str, Any]) -> tuple[str, int, list[tuple[str, bytes]]]:
        """The owner's signature of the Safe's EIP-712 ``SafeTx`` (as ``eth_sign``: v + 4). One call
        (operation 0); a batch through MultiSend is not simulated."""
        wallet = self._owned(envelope, envelope.get("proxyWallet"), "safe")
        params = envelope.get("signatureParams") or {}
        try:
            nonce, to, data = int(envelope["nonce"]), str(envelope["to"]), _hex(envelope["data"])
            operation = int(params.get("operation", 0))
        except (KeyError, TypeError, ValueError):
            raise BadRequest("invalid nonce, to or data") from None
        if operation != 0:
            raise BadRequest("only single calls (operation 0) are relayed by the sandbox")
        typed = {
            "primaryType": "SafeTx",
            "types": {
                "EIP712Domain": [
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "SafeTx": _SAFE_TX_FIELDS,
            },
            "domain": {"chainId": CHAIN_ID, "verifyingContract": wallet},
            "message": {
                "to": to,
                "value": int(envelope.get("value", 0)),
                "data": data,
                "operation": 0,
                "safeTxGas": 0,
                "baseGas": 0,
                "gasPrice": 0,
                "gasToken": ZERO_ADDRESS,
                "refundReceiver": ZERO_ADDRESS,
                "nonce": nonce,
            },
        }
        signable = encode_typed_data(full_message=typed)
        digest = keccak(b"\x19" + signable.version + signable.header + signable.body)

        def recover(sig: str) -> str:
            raw = bytearray(_hex(sig))
            if len(raw) != 65 or raw[64] not in (31, 32):
                raise ValueError("not an eth_sign Safe signature")
            raw[64] -= 4
            return str(Account.recover_message(encode_defunct(primitive=digest), signature=bytes(raw)))

        _check(envelope, recover)
        return wallet, nonce, [(to, data)]

    def _proxy(self, envelope: dict[str, Any]) -> tuple[str, int, list[tuple[str, bytes]]]:
        """The owner's personal signature of the relay hash ``keccak("rlx:" ‖ from ‖ to ‖ data ‖ fee
        ‖ gasPrice ‖ gasLimit ‖ nonce ‖ relayHub ‖ relay)``; ``data`` is the proxy factory's
        ``proxy((uint8,address,uint256,bytes)[])``."""
        wallet = self._owned(envelope, envelope.get("proxyWallet"), "proxy")
        params = envelope.get("signatureParams") or {}
        try:
            nonce, to, data = int(envelope["nonce"]), str(envelope["to"]), _hex(envelope["data"])
            numbers = [int(params[k]) for k in ("relayerFee", "gasPrice", "gasLimit")]
            hub, relay = _hex(params["relayHub"]), _hex(params["relay"])
        except (KeyError, TypeError, ValueError):
            raise BadRequest("invalid proxy relay payload") from None
        if to.lower() != PROXY_FACTORY.lower() or data[:4] != _PROXY_SELECTOR:
            raise BadRequest("invalid proxy factory call")
        owner = _hex(envelope.get("from", ""))
        fields = b"".join(n.to_bytes(32, "big") for n in (*numbers, nonce))
        relay_hash = keccak(b"rlx:" + owner + _hex(to) + data + fields[:96] + fields[96:] + hub + relay)
        _check(envelope, lambda sig: Account.recover_message(encode_defunct(relay_hash), signature=sig))
        try:
            [inner] = abi_decode(["(uint8,address,uint256,bytes)[]"], data[4:])
        except Exception:  # malformed call data
            raise BadRequest("invalid proxy calls") from None
        return wallet, nonce, [(str(target), bytes(payload)) for _kind, target, _value, payload in inner]

    def transaction(self, tx_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.transactions.get(tx_id)
        if found is None:
            return None
        return {k: v for k, v in found.items() if k in ("transaction_id", "transaction_hash", "state", "error_msg")}


def _hex(raw: object) -> bytes:
    return bytes.fromhex(str(raw).removeprefix("0x"))


def _check(envelope: dict[str, Any], recover: Callable[[str], str]) -> None:
    """The envelope's signature must recover to its ``from`` (the wallet's owner)."""
    try:
        signer = recover(str(envelope.get("signature", "")))
    except Exception:  # a malformed signature: whatever eth_account raises
        raise BadRequest("invalid signature") from None
    if signer.lower() != str(envelope.get("from", "")).lower():
        raise BadRequest("invalid signature")


def relayer_routes(sandbox: Sandbox) -> list[Route]:
    wallets = sandbox.clob.wallets
    relayer = sandbox.relayer

    async def deployed(request: Request) -> JSONResponse:
        address = request.query_params.get("address", "")
        kind = KIND_BY_TYPE.get(request.query_params.get("type", ""))
        if kind is None or len(address) != 42 or not address.startswith("0x"):
            raise BadRequest("invalid address or type")
        wallet = wallets.get(address)
        return JSONResponse({"deployed": wallet is not None and wallet.kind == kind})

    async def params(request: Request) -> JSONResponse:
        """The next nonce of the signer's deposit wallet (``WALLET``) or Safe (``SAFE``)."""
        relayer.check_key(request.headers)
        kind = {"WALLET": "deposit", "SAFE": "safe"}.get(request.query_params.get("type", ""))
        wallet = None if kind is None else wallets.of(request.query_params.get("address", ""), kind)
        if wallet is None:
            raise BadRequest("no such wallet deployed for this address")
        return JSONResponse({"address": wallet.address, "nonce": str(relayer.nonce(wallet.address))})

    async def relay_payload(request: Request) -> JSONResponse:
        """A proxy wallet's next nonce and the relay that will carry it (``type=PROXY``)."""
        relayer.check_key(request.headers)
        wallet = wallets.of(request.query_params.get("address", ""), "proxy")
        if request.query_params.get("type") != "PROXY" or wallet is None:
            raise BadRequest("no proxy wallet deployed for this address")
        return JSONResponse({"address": RELAY_ADDRESS, "nonce": str(relayer.nonce(wallet.address))})

    async def submit(request: Request) -> JSONResponse:
        relayer.check_key(request.headers)
        return JSONResponse(relayer.submit(await json_body(request)))

    async def transaction(request: Request) -> JSONResponse:
        relayer.check_key(request.headers)
        found = relayer.transaction(request.path_params["tx_id"])
        if found is None:
            return JSONResponse({"error": "transaction not found"}, status_code=404)
        return JSONResponse(found)

    return [
        Route("/deployed", deployed),
        Route("/v1/account/transactions/params", params),
        Route("/v1/account/transactions/{tx_id}", transaction),
        Route("/relay-payload", relay_payload),
        Route("/submit", submit, methods=["POST"]),
    ]
