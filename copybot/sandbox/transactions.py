"""Transactions an EOA sends itself through the node (``eth_sendRawTransaction``), as far as a
trader's wallet needs them: redeeming resolved positions through Polymarket's collateral adapters.

The node answers ``eth_getTransactionCount`` (the sender's nonce), ``eth_gasPrice``,
``eth_estimateGas`` and ``eth_getTransactionReceipt``. A raw transaction is a signed legacy
(EIP-155) transaction: the sandbox recovers its sender, checks chain id and nonce, and executes
what it understands: ``redeemPositions(address collateral, bytes32 parent, bytes32 conditionId,
uint256[] indexSets)`` sent to the collateral adapter of the market's kind (the neg-risk one for a
neg-risk market) burns the sender's outcome tokens of a resolved market and pays 1 pUSD per winning
share. Anything else, or a market not resolved, is mined as a reverted transaction (status 0).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

import rlp  # type: ignore[import-untyped]
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_utils.crypto import keccak

from copybot.protocol import CHAIN_ID

from .market_events import redeem

if TYPE_CHECKING:
    from .core import Sandbox

COLLATERAL_ADAPTER: Final = "0xada100db00ca00073811820692005400218fce1f"
NEG_RISK_COLLATERAL_ADAPTER: Final = "0xada2005600dec949baf300f4c6120000bdb6eaab"
REDEEM_SELECTOR: Final = keccak(b"redeemPositions(address,bytes32,bytes32,uint256[])")[:4]
GAS_PRICE: Final = 30 * 10**9
GAS_LIMIT: Final = 200_000


class TxError(Exception):
    """Refused before it was mined (the node's -32000 errors: bad signature, chain, nonce)."""


class Transactions:
    """The EOAs' nonces and the receipts of what they sent. Thread-safe."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self._nonces: dict[str, int] = {}
        self._receipts: dict[str, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []  # every transaction mined, for tests

    def nonce(self, address: str) -> int:
        with self._lock:
            return self._nonces.get(address.lower(), 0)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        with self._lock:
            return self._receipts.get(tx_hash.lower())

    def send_raw(self, raw_hex: str) -> str:
        raw = bytes.fromhex(raw_hex.removeprefix("0x"))
        try:
            fields = rlp.decode(raw)
            sender = Account.recover_transaction(raw).lower()
        except Exception as exc:  # not a signed legacy transaction: whatever rlp / eth_account raise
            raise TxError(f"invalid transaction: {exc}") from None
        if not isinstance(fields, list) or len(fields) != 9:
            raise TxError("only signed legacy transactions are accepted")
        nonce, to, data, v = _int(fields[0]), bytes(fields[3]), bytes(fields[5]), _int(fields[6])
        if (v - 35) // 2 != CHAIN_ID:
            raise TxError("invalid chain id")
        tx_hash = "0x" + keccak(raw).hex()
        with self._lock:
            expected = self._nonces.get(sender, 0)
            if nonce != expected:
                raise TxError(
                    f"nonce too {'low' if nonce < expected else 'high'}: next nonce {expected}, tx nonce {nonce}"
                )
            self._nonces[sender] = nonce + 1
        ok = execute_call(self._sandbox, sender, "0x" + to.hex(), data)
        block = self._sandbox.mine(1)
        receipt = {
            "transactionHash": tx_hash,
            "status": "0x1" if ok else "0x0",
            "blockNumber": hex(block),
            "from": sender,
            "to": "0x" + to.hex(),
            "gasUsed": hex(GAS_LIMIT // 2),
            "logs": [],
        }
        with self._lock:
            self._receipts[tx_hash] = receipt
            self.sent.append(receipt | {"data": "0x" + data.hex()})
        return tx_hash


def execute_call(sandbox: Sandbox, holder: str, to: str, data: bytes) -> bool:
    """Run one call for ``holder`` (an EOA's transaction, or a wallet's call the relayer executes):
    True if it succeeded, False if it reverted."""
    if data[:4] != REDEEM_SELECTOR:
        return False
    try:
        _collateral, _parent, condition, _sets = abi_decode(["address", "bytes32", "bytes32", "uint256[]"], data[4:])
        market = sandbox.market("0x" + condition.hex())
    except Exception:  # malformed call data or an unknown market: the call reverts
        return False
    adapter = NEG_RISK_COLLATERAL_ADAPTER if market.neg_risk else COLLATERAL_ADAPTER
    if to.lower() != adapter:
        return False
    try:
        redeem(sandbox, holder, market.condition_id)
    except ValueError:  # not resolved
        return False
    return True


def _int(raw: Any) -> int:
    return int.from_bytes(bytes(raw), "big")
