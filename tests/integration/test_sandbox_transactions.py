"""The sandbox node's wallet transactions: signed legacy transactions, nonces and chain id checked,
and a redeem that pays only when sent to the market's adapter for a resolved market."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_checksum_address

from copybot.protocol import CHAIN_ID
from copybot.sandbox import Sandbox
from copybot.sandbox.transactions import (
    COLLATERAL_ADAPTER,
    NEG_RISK_COLLATERAL_ADAPTER,
    REDEEM_SELECTOR,
    Transactions,
    TxError,
)

PUSD = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"


def redeem_call(condition_id: str) -> str:
    args = abi_encode(
        ["address", "bytes32", "bytes32", "uint256[]"], [PUSD, b"\0" * 32, bytes.fromhex(condition_id[2:]), [1, 2]]
    )
    return "0x" + (REDEEM_SELECTOR + args).hex()


def signed(account, to: str, data: str, nonce: int, chain_id: int = CHAIN_ID) -> str:
    tx = {
        "to": to_checksum_address(to),
        "value": 0,
        "data": data,
        "gas": 200_000,
        "gasPrice": 30 * 10**9,
        "nonce": nonce,
        "chainId": chain_id,
    }
    return "0x" + account.sign_transaction(tx).raw_transaction.hex()


@pytest.fixture
def box() -> Sandbox:
    return Sandbox(seed=5, leaders=0, markets=2, trade_prob=0.0, noise_prob=0.0)


def holder_of_winner(box: Sandbox, index: int) -> tuple[object, int]:
    account = Account.create()
    market = box.markets[index]
    box.clob.ledger.deposit(account.address.lower(), market.tokens[0], 7_000_000)
    return account, market.tokens[0]


def test_a_redeem_to_the_markets_adapter_pays_the_winner_once(box: Sandbox) -> None:
    txs: Transactions = box.transactions
    account, token = holder_of_winner(box, 1)  # neg-risk market
    market = box.markets[1]
    box.resolve(market.condition_id, token)
    wrong = txs.send_raw(signed(account, COLLATERAL_ADAPTER, redeem_call(market.condition_id), 0))
    assert txs.receipt(wrong)["status"] == "0x0", "the plain adapter cannot redeem a neg-risk market"
    paid = txs.send_raw(signed(account, NEG_RISK_COLLATERAL_ADAPTER, redeem_call(market.condition_id), 1))
    assert txs.receipt(paid)["status"] == "0x1"
    balances = box.balances(account.address)
    assert balances.collateral == 7_000_000 and balances.shares.get(token, 0) == 0
    txs.send_raw(signed(account, NEG_RISK_COLLATERAL_ADAPTER, redeem_call(market.condition_id), 2))
    assert box.balances(account.address).collateral == 7_000_000, "burned tokens pay nothing twice"


def test_an_unresolved_market_reverts_and_bad_transactions_are_refused(box: Sandbox) -> None:
    txs: Transactions = box.transactions
    account, token = holder_of_winner(box, 0)
    market = box.markets[0]
    early = txs.send_raw(signed(account, COLLATERAL_ADAPTER, redeem_call(market.condition_id), 0))
    assert txs.receipt(early)["status"] == "0x0" and box.balances(account.address).shares[token] == 7_000_000
    with pytest.raises(TxError, match="nonce too low"):
        txs.send_raw(signed(account, COLLATERAL_ADAPTER, redeem_call(market.condition_id), 0))
    with pytest.raises(TxError, match="invalid chain id"):
        txs.send_raw(signed(account, COLLATERAL_ADAPTER, redeem_call(market.condition_id), 1, chain_id=1))
    assert txs.nonce(account.address) == 1
    assert box.balances(account.address).collateral == 0


def test_the_relayer_executes_a_safe_call_only_with_the_owners_signature_and_the_next_nonce(box: Sandbox) -> None:
    from polymarket._internal.actions.relayer.signing.safe import sign_safe_transaction

    from copybot.sandbox.web import BadRequest

    owner = Account.create()
    safe = box.clob.open_account(owner.address, "safe")
    market = box.markets[0]
    box.clob.ledger.deposit(safe, market.tokens[0], 3_000_000)
    box.resolve(market.condition_id, market.tokens[0])
    data = redeem_call(market.condition_id)

    def envelope(signer, nonce: int) -> dict:
        sig = sign_safe_transaction(
            signer,
            safe_address=to_checksum_address(safe),
            to=to_checksum_address(COLLATERAL_ADAPTER),
            data=data,
            value=0,
            operation=0,
            nonce=str(nonce),
            chain_id=CHAIN_ID,
        )
        return {
            "type": "SAFE",
            "from": owner.address,
            "to": COLLATERAL_ADAPTER,
            "proxyWallet": safe,
            "data": data,
            "nonce": str(nonce),
            "signature": sig,
            "signatureParams": {"operation": "0"},
        }

    with pytest.raises(BadRequest, match="invalid signature"):
        box.relayer.submit(envelope(Account.create(), 0))  # someone else signed it
    with pytest.raises(BadRequest, match="invalid nonce"):
        box.relayer.submit(envelope(owner, 1))
    assert box.balances(safe).collateral == 0
    box.relayer.submit(envelope(owner, 0))
    assert box.balances(safe).collateral == 3_000_000 and box.relayer.nonce(safe) == 1
