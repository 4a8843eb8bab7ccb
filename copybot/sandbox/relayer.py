"""Polymarket's relayer, as far as copybot's SDK asks it.

``GET /deployed?address=&type=`` → ``{"deployed": bool}`` (``type`` is ``WALLET`` for a deposit
wallet, ``PROXY``, or ``SAFE``): asked before trading from a proxy, Safe or deposit wallet.

Gasless transactions of deposit wallets (what redeeming from one takes), authenticated with a relayer
API key (headers ``RELAYER_API_KEY`` and ``RELAYER_API_KEY_ADDRESS``; 401 otherwise; keys are issued
by :meth:`Relayer.issue_key`): ``GET /v1/account/transactions/params?address=<owner>&type=WALLET`` →
``{"address", "nonce"}``; ``POST /submit`` with ``{"type": "WALLET", "from": owner, "to": factory,
"nonce", "signature", "metadata", "depositWalletParams": {"depositWallet", "deadline", "calls":
[{"target", "value", "data"}]}}``, the signature being the owner's EIP-712 ``Batch(address wallet,
uint256 nonce, uint256 deadline, Call[] calls)`` under the domain ``DepositWallet`` / ``1`` / chain /
the wallet, as the wallet contract checks it → ``{"transactionID", "transactionHash", "state":
"STATE_NEW"}``; ``GET /v1/account/transactions/{id}`` → ``{"transaction_id", "transaction_hash",
"state"}`` (``STATE_CONFIRMED``, or ``STATE_FAILED`` with ``error_msg`` when a call reverted). The
sandbox executes at once and mines a block. Proxy and Safe relays are not simulated (400).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from typing import TYPE_CHECKING, Any, Final

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from copybot.protocol import CHAIN_ID

from .auth import AuthError
from .transactions import execute_call
from .wallets import DEPOSIT_WALLET_FACTORY
from .web import BadRequest, json_body

if TYPE_CHECKING:
    from .core import Sandbox

KIND_BY_TYPE: Final = {"WALLET": "deposit", "PROXY": "proxy", "SAFE": "safe"}
INVALID_KEY: Final = "invalid relayer api key"
_BATCH_TYPES: Final = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
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
        if not isinstance(envelope, dict) or envelope.get("type") != "WALLET":
            raise BadRequest("only deposit-wallet (WALLET) transactions are relayed by the sandbox")
        params = envelope.get("depositWalletParams")
        if not isinstance(params, dict) or not isinstance(params.get("calls"), list):
            raise BadRequest("invalid depositWalletParams")
        owner = str(envelope.get("from", "")).lower()
        wallet = self._sandbox.clob.wallets.get(str(params.get("depositWallet", "")))
        if wallet is None or wallet.kind != "deposit" or wallet.owner != owner:
            raise BadRequest("the deposit wallet is not deployed for this signer")
        if str(envelope.get("to", "")).lower() != DEPOSIT_WALLET_FACTORY.lower():
            raise BadRequest("invalid factory")
        try:
            nonce, deadline = int(envelope["nonce"]), int(params["deadline"])
            calls = [
                (str(c["target"]), int(c["value"]), bytes.fromhex(str(c["data"]).removeprefix("0x")))
                for c in params["calls"]
            ]
        except (KeyError, TypeError, ValueError):
            raise BadRequest("invalid nonce, deadline or calls") from None
        if deadline < int(self._sandbox.clock.now()):
            raise BadRequest("deadline passed")
        typed = {
            "primaryType": "Batch",
            "types": _BATCH_TYPES,
            "domain": {
                "name": "DepositWallet",
                "version": "1",
                "chainId": CHAIN_ID,
                "verifyingContract": wallet.address,
            },
            "message": {
                "wallet": wallet.address,
                "nonce": nonce,
                "deadline": deadline,
                "calls": [{"target": t, "value": v, "data": d} for t, v, d in calls],
            },
        }
        try:
            signer = Account.recover_message(encode_typed_data(full_message=typed), signature=envelope.get("signature"))
        except Exception:  # a malformed signature: whatever eth_account raises
            raise BadRequest("invalid signature") from None
        if signer.lower() != owner:
            raise BadRequest("invalid signature")
        with self._lock:
            if nonce != self._nonces.get(wallet.address, 0):
                raise BadRequest(f"invalid nonce: expected {self._nonces.get(wallet.address, 0)}")
            self._nonces[wallet.address] = nonce + 1
        ok = all(execute_call(self._sandbox, wallet.address, t, d) for t, _, d in calls)
        self._sandbox.mine(1)
        tx_id = str(uuid.uuid4())
        tx_hash = "0x" + keccak(tx_id.encode()).hex()
        record = {"transaction_id": tx_id, "transaction_hash": tx_hash, "state": "STATE_CONFIRMED"}
        if not ok:
            record |= {"state": "STATE_FAILED", "error_msg": "execution reverted"}
        with self._lock:
            self.transactions[tx_id] = record | {"wallet": wallet.address, "calls": len(calls)}
        return {"transactionID": tx_id, "transactionHash": tx_hash, "state": "STATE_NEW"}

    def transaction(self, tx_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.transactions.get(tx_id)
        if found is None:
            return None
        return {k: v for k, v in found.items() if k in ("transaction_id", "transaction_hash", "state", "error_msg")}


def _hex(raw: object) -> bytes:
    return bytes.fromhex(str(raw).removeprefix("0x"))


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
        relayer.check_key(request.headers)
        owner = request.query_params.get("address", "")
        if request.query_params.get("type") != "WALLET":
            raise BadRequest("only deposit-wallet (WALLET) transactions are relayed by the sandbox")
        wallet = wallets.of(owner, "deposit")
        if wallet is None:
            raise BadRequest("no deposit wallet deployed for this address")
        return JSONResponse({"address": wallet.address, "nonce": str(relayer.nonce(wallet.address))})

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
        Route("/submit", submit, methods=["POST"]),
    ]
