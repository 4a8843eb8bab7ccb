"""The sandbox's account wallets, driven by the real polymarket-client: proxy, Safe and deposit
wallets at production's CREATE2 addresses, the relayer's ``/deployed``, deposit-wallet signatures
checked the way the wallet contract checks them (ERC-1271), and production's refusals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from polymarket import RequestRejectedError

from copybot.models import to_units
from copybot.sandbox import RunningSandbox, Sandbox, serve_in_thread
from copybot.sandbox.accounts import DEPOSIT_WALLET_FLOW, NOT_SIGNER
from copybot.sandbox.wallets import derive
from tests.support.live import sdk_client


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, RunningSandbox]]:
    box = Sandbox(seed=43, leaders=0, markets=4, trade_prob=0.0, noise_prob=0.0)
    with serve_in_thread(box) as server:
        yield box, server


def deployed(server: RunningSandbox, address: str, kind: str) -> bool:
    answer = httpx.get(f"{server.urls['relayer']}/deployed", params={"address": address, "type": kind}, timeout=5)
    answer.raise_for_status()
    return bool(answer.json()["deployed"])


def buy(client, token: int, usdc: str = "5") -> object:
    signed = client.create_market_order(
        token_id=str(token), side="BUY", amount=Decimal(usdc), max_price=Decimal("0.99"), order_type="FOK"
    )
    return signed


def test_the_relayer_knows_a_wallet_once_it_is_deployed_and_only_as_its_kind(served) -> None:
    box, server = served
    owner = Account.create().address
    wallet = derive(owner, "deposit")
    assert not deployed(server, wallet, "WALLET")
    assert box.clob.open_account(owner, "deposit") == wallet
    assert deployed(server, wallet, "WALLET")
    assert not deployed(server, wallet, "SAFE"), "a deposit wallet is not a Safe"
    assert not deployed(server, derive(owner, "proxy"), "PROXY")


@pytest.mark.parametrize("kind", ["proxy", "safe", "deposit"])
def test_each_wallet_kind_trades_with_the_sdk_and_pays_from_the_wallet(served, kind: str) -> None:
    box, server = served
    owner = Account.create()
    wallet = box.clob.open_account(owner.address, kind)
    box.fund(wallet, Decimal(20))
    with sdk_client(server.urls, owner.key.hex(), wallet) as client:
        assert client.wallet_type == {"proxy": "POLY_PROXY", "safe": "GNOSIS_SAFE", "deposit": "DEPOSIT_WALLET"}[kind]
        answer = client.post_order(buy(client, box.markets[0].tokens[0]))
    assert answer.ok and answer.status == "matched", answer
    paid = to_units(answer.making_amount)
    assert box.balances(wallet).collateral == to_units(Decimal(20)) - paid
    assert box.balances(owner.address).collateral == 0, "the owner's EOA pays nothing"


def test_a_deposit_wallet_signature_is_checked_not_just_its_addresses(served) -> None:
    box, server = served
    owner = Account.create()
    wallet = box.clob.open_account(owner.address, "deposit")
    box.fund(wallet, Decimal(20))
    with sdk_client(server.urls, owner.key.hex(), wallet) as client:
        signed = buy(client, box.markets[1].tokens[0])
        raw = bytearray(bytes.fromhex(signed.signature[2:]))
        raw[10] ^= 0x01  # one bit of the owner's ECDSA signature
        with pytest.raises(RequestRejectedError) as info:
            client.post_order(replace(signed, signature="0x" + raw.hex()))
        assert (info.value.status, str(info.value)) == (400, "invalid signature")
        unreadable = bytearray(bytes.fromhex(signed.signature[2:]))
        unreadable[64] = 99  # no valid recovery id: nothing to recover, still a 400, never a 500
        with pytest.raises(RequestRejectedError) as info:
            client.post_order(replace(signed, signature="0x" + unreadable.hex()))
        assert (info.value.status, str(info.value)) == (400, "invalid signature")
        trailer = bytearray(bytes.fromhex(signed.signature[2:]))
        trailer[100] ^= 0x01  # the contents hash the wrapper claims: no longer the order's
        with pytest.raises(RequestRejectedError, match="invalid signature"):
            client.post_order(replace(signed, signature="0x" + trailer.hex()))
        assert client.post_order(signed).status == "matched", "the untouched order goes through"


def test_a_key_that_does_not_own_the_deposit_wallet_cannot_trade_from_it(served) -> None:
    box, server = served
    owner, intruder = Account.create(), Account.create()
    wallet = box.clob.open_account(owner.address, "deposit")
    box.fund(wallet, Decimal(20))
    # the SDK cannot classify someone else's wallet and falls back to a session key's deposit wallet
    with sdk_client(server.urls, intruder.key.hex(), wallet) as client:
        assert client.wallet_type == "DEPOSIT_WALLET"
        with pytest.raises(RequestRejectedError) as info:
            client.post_order(buy(client, box.markets[0].tokens[0]))
    assert (info.value.status, str(info.value)) == (400, NOT_SIGNER)
    assert box.balances(wallet).collateral == to_units(Decimal(20))


def test_accounts_made_since_may_2026_must_use_the_deposit_wallet_flow(served) -> None:
    box, server = served
    box.clob.deposit_wallet_only = True
    eoa = Account.create()
    box.fund(eoa.address, Decimal(20))
    with sdk_client(server.urls, eoa.key.hex(), eoa.address) as client, pytest.raises(RequestRejectedError) as info:
        client.post_order(buy(client, box.markets[0].tokens[0]))
    assert str(info.value) == DEPOSIT_WALLET_FLOW
    wallet = box.clob.open_account(eoa.address, "deposit")
    box.fund(wallet, Decimal(20))
    with sdk_client(server.urls, eoa.key.hex(), wallet) as client:
        assert client.post_order(buy(client, box.markets[0].tokens[0])).status == "matched"


def test_l2_signatures_cover_the_body_exactly_as_sent_quotes_included(served) -> None:
    from tests.support.clob_orders import Creds, RawClob

    box, server = served
    owner = Account.create()
    box.fund(owner.address, Decimal(5))
    with sdk_client(server.urls, owner.key.hex(), owner.address) as client:
        creds = Creds.of(client.credentials)
    raw = RawClob(server.urls["clob"], owner.address, creds)
    # a body holding a single quote, signed as sent (polymarket-client does not rewrite it)
    answer = raw.request("DELETE", "/orders", body=["0xit's-not-an-order"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["not_canceled"] == {"0xit's-not-an-order": "order not found"}
