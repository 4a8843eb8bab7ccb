"""The sandbox CLOB with the REAL ``py_clob_client_v2``, continued: market resolution, resting
(GTC/GTD) orders and cancels, batches, pagination, the tick rule, 425/429 faults on order
placement, the HTTP controls, and determinism under the seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    MarketOrderArgsV2,
    OrderArgsV2,
    OrderPayload,
    OrderType,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, Side, SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, SignedOrderV2
from py_clob_client_v2.signer import Signer

from copybot.clock import ManualClock
from copybot.protocol import UNIT
from copybot.sandbox import Faults, Sandbox, serve_in_thread

from .test_sandbox_clob import Env, asks, market_order, refused, serve_env

NO_BOOK = {"error": "No orderbook exists for the requested token id"}


@pytest.fixture
def env(caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    yield from serve_env(caplog)


def limit_order(client: ClobClient, token: str, price: float, size: float, side: str = "BUY", **kw: Any) -> Any:
    return client.create_order(OrderArgsV2(token_id=token, price=price, size=size, side=side, **kw))


def hand_signed(
    account: LocalAccount, token: str, maker_amount: int, taker_amount: int, salt: str = "42"
) -> SignedOrderV2:
    """A V2 BUY signed for the CTF exchange with a fixed salt and timestamp: the same bytes every run."""
    builder = ExchangeOrderBuilderV2(
        get_contract_config(137).exchange_v2, 137, Signer(account.key.hex(), 137), generate_salt=lambda: salt
    )
    data = OrderDataV2(
        maker=account.address,
        tokenId=token,
        makerAmount=str(maker_amount),
        takerAmount=str(taker_amount),
        side=Side.BUY,
        signer=account.address,
        signatureType=SignatureTypeV2.EOA,
        timestamp="1790000000000",
    )
    return builder.build_signed_order(data)


# -- resolution ------------------------------------------------------------------------------


def test_resolution_closes_the_market_everywhere(env: Env) -> None:
    sandbox, client, base = env.sandbox, env.client, env.running.base_url
    market = sandbox.markets[0]
    yes, no = (str(t) for t in market.tokens)
    bought = market_order(client, yes, 10, "BUY", 0.99)
    resting = client.post_order(limit_order(client, no, 0.01, 500), OrderType.GTC)
    assert resting["status"] == "live"
    answer = httpx.post(f"{base}/_sandbox/resolve", json={"condition_id": market.condition_id, "winning_token_id": yes})
    assert answer.status_code == 200
    clob_market = httpx.get(f"{base}/clob/markets/{market.condition_id}").json()
    assert (clob_market["closed"], clob_market["accepting_orders"], clob_market["active"]) == (True, False, True)
    assert [(t["winner"], t["price"]) for t in clob_market["tokens"]] == [(True, 1), (False, 0)]
    (gamma,) = httpx.get(f"{base}/gamma/markets", params={"condition_ids": market.condition_id}).json()
    assert (gamma["closed"], gamma["acceptingOrders"], json.loads(gamma["outcomePrices"])) == (True, False, ["1", "0"])
    for path in (f"/clob/book?token_id={yes}", f"/clob/price?token_id={no}&side=BUY", f"/clob/midpoint?token_id={no}"):
        reply = httpx.get(base + path)
        assert (reply.status_code, reply.json()) == (404, NO_BOOK)
    other = str(sandbox.markets[1].tokens[0])
    books = httpx.post(f"{base}/clob/books", json=[{"token_id": yes}, {"token_id": other}]).json()
    assert [b["asset_id"] for b in books] == [other]
    assert client.get_clob_market_info(market.condition_id)["ao"] is False
    # no new orders; the resting one was canceled; what was bought is still held (redeemable)
    assert refused(lambda: market_order(client, yes, 10, "BUY", 0.99)) == (400, NO_BOOK)
    assert client.get_order(resting["orderID"])["status"] == "CANCELED" and client.get_open_orders() == []
    assert sandbox.balances(env.account.address).shares == {int(yes): Decimal(bought["takingAmount"]) * UNIT}
    # the other outcome wins another market; resolving again the other way is refused
    second = sandbox.markets[2]
    sandbox.resolve(second.condition_id, second.tokens[1])
    (gamma,) = httpx.get(f"{base}/gamma/markets", params={"condition_ids": second.condition_id}).json()
    assert json.loads(gamma["outcomePrices"]) == ["0", "1"]
    with pytest.raises(ValueError, match="already resolved"):
        sandbox.resolve(second.condition_id, second.tokens[0])
    sandbox.resolve(second.condition_id, second.tokens[1])  # the same outcome again: no-op
    for body in ({"condition_id": "0x" + "ab" * 32, "winning_token_id": yes}, {"condition_id": market.condition_id}):
        assert httpx.post(f"{base}/_sandbox/resolve", json=body).status_code == 400


def test_leaders_stop_trading_a_resolved_market() -> None:
    sandbox = Sandbox(seed=4, clock=ManualClock(), etherscan_rate_limit=None, trade_prob=1.0, noise_prob=1.0, markets=3)
    market = sandbox.markets[0]

    def traded(first: int, last: int) -> set[int]:
        return {int(log.data[2 + 64 : 2 + 128], 16) for log in sandbox.logs(first, last)}

    start = sandbox.latest_block() + 1
    before = sandbox.mine(40)
    assert traded(start, before) & set(market.tokens)
    sandbox.resolve(market.condition_id, market.tokens[0])
    after = sandbox.mine(40)
    assert traded(before + 1, after) and not traded(before + 1, after) & set(market.tokens)
    with pytest.raises(ValueError, match="resolved"):
        sandbox.inject_fill(sandbox.leaders[0], token_id=market.tokens[1])


# -- resting orders, batches, pagination, the tick rule ---------------------------------------


def test_gtc_orders_rest_hold_balance_back_and_cancel(env: Env) -> None:
    client, token = env.client, env.token()
    best_ask = float(asks(env.sandbox, token)[0][0])
    live = client.post_order(limit_order(client, token, 0.01, 99_000), OrderType.GTC)  # holds 990 pUSD back
    assert (live["status"], live["makingAmount"], live["takingAmount"], live["tradeIDs"]) == ("live", "", "", [])
    (listed,) = client.get_open_orders()
    assert (listed["id"], listed["status"], listed["original_size"], listed["size_matched"]) == (
        live["orderID"],
        "LIVE",
        "99000",
        "0",
    )
    assert refused(lambda: market_order(client, token, 20, "BUY", 0.99)) == (
        400,
        {"error": "not enough balance / allowance"},
    )
    assert client.cancel_order(OrderPayload(orderID=live["orderID"])) == {
        "canceled": [live["orderID"]],
        "not_canceled": {},
    }
    assert client.get_open_orders() == [] and client.get_order(live["orderID"])["status"] == "CANCELED"
    # a marketable GTC fills at once; one too big for the book within its price rests the rest
    filled = client.post_order(limit_order(client, token, round(best_ask + 0.05, 2), 10), OrderType.GTC)
    assert (filled["status"], filled["takingAmount"]) == ("matched", "10")
    price, size = asks(env.sandbox, token)[0]
    partial = client.post_order(limit_order(client, token, float(price), float(size) + 100), OrderType.GTC)
    assert partial["status"] == "matched" and Decimal(partial["takingAmount"]) == size
    (rest,) = client.get_open_orders()
    assert rest["size_matched"] == partial["takingAmount"]
    crossing = limit_order(client, token, round(best_ask + 0.05, 2), 10)
    assert refused(lambda: client.post_order(crossing, OrderType.GTC, post_only=True)) == (
        400,
        {"error": "invalid post-only order: order crosses book"},
    )
    assert client.cancel_all() == {"canceled": [partial["orderID"]], "not_canceled": {}}
    expired = limit_order(client, token, 0.01, 100, expiration=int(env.clock.now()) + 30)
    assert refused(lambda: client.post_order(expired, OrderType.GTD)) == (400, {"error": "invalid expiration"})


def test_batches_answer_each_order(env: Env) -> None:
    client, token = env.client, env.token()
    first = client.create_market_order(MarketOrderArgsV2(token_id=token, amount=5, side="BUY", price=0.99))
    second = client.create_market_order(MarketOrderArgsV2(token_id=token, amount=6, side="BUY", price=0.99))
    answers = client.post_orders(
        [
            PostOrdersV2Args(order=first, orderType=OrderType.FOK),
            PostOrdersV2Args(order=first, orderType=OrderType.FOK),
            PostOrdersV2Args(order=second, orderType=OrderType.FAK),
        ]
    )
    assert [a["success"] for a in answers] == [True, False, True]
    assert answers[1]["errorMsg"].endswith("is invalid. Duplicated.") and answers[1]["orderID"] == ""
    assert [round(Decimal(a["makingAmount"])) for a in (answers[0], answers[2])] == [5, 6]


def test_trades_are_paginated_with_cursors(env: Env) -> None:
    client, token = env.client, env.token()
    env.sandbox.clob.page_size = 2
    ids = [market_order(client, token, 5, "BUY", 0.99)["tradeIDs"][0] for _ in range(3)]
    assert [t["id"] for t in client.get_trades()] == ids
    first = client.get_trades_paginated()
    assert [t["id"] for t in first["trades"]] == ids[:2] and (first["limit"], first["count"]) == (2, 2)
    rest = client.get_trades_paginated(next_cursor=first["next_cursor"])
    assert [t["id"] for t in rest["trades"]] == ids[2:] and rest["next_cursor"] == "LTE="
    assert client.get_trades(TradeParams(market=env.sandbox.markets[0].condition_id, after=1)) != []
    assert client.get_trades(TradeParams(before=int(env.clock.now()) - 1)) == []


def test_off_tick_prices_are_refused(env: Env) -> None:
    token = env.token()  # a 0.01-tick market
    order = hand_signed(env.account, token, 5_550_000, 10_000_000)  # 0.555 per share
    status, body = refused(lambda: env.client.post_order(order, OrderType.FOK))
    assert status == 400 and body["error"].endswith("is invalid. Price (0.555) breaks minimum tick size rule: 0.01")


# -- faults, controls, determinism -----------------------------------------------------------


def test_425_and_429_come_from_clob_fault_injection(env: Env) -> None:
    client, sandbox = env.client, env.sandbox
    signed = client.create_market_order(MarketOrderArgsV2(token_id=env.token(), amount=5, side="BUY", price=0.99))
    for kind, status, text in (("http_425", 425, "Too Early"), ("http_429", 429, "Too Many Requests")):
        sandbox.set_faults("clob", Faults(**{kind: 1.0}))
        assert refused(lambda: client.post_order(signed, OrderType.FOK)) == (status, {"error": text})
    sandbox.set_faults("clob", Faults())
    assert client.post_order(signed, OrderType.FOK)["status"] == "matched"  # refused orders were never taken
    with pytest.raises(ValueError, match="clob"):
        sandbox.set_faults("etherscan", Faults(http_425=0.5))


def test_fund_and_balances_controls(env: Env) -> None:
    base, address = env.running.base_url, Account.create().address
    funded = httpx.post(f"{base}/_sandbox/fund", json={"address": address, "usdc": "12.5"})
    assert funded.json() == {"usdc": "12.5", "collateral": "12500000", "shares": {}}
    assert httpx.get(f"{base}/_sandbox/balances", params={"address": address}).json()["collateral"] == "12500000"
    for body in ({"address": "0x12", "usdc": "1"}, {"address": address, "usdc": "-1"}, {"address": address}):
        assert httpx.post(f"{base}/_sandbox/fund", json=body).status_code == 400


def test_the_same_seed_and_orders_give_the_same_answers() -> None:
    account: LocalAccount = Account.create()
    results = []
    for _ in range(2):
        sandbox = Sandbox(seed=5, clock=ManualClock(), etherscan_rate_limit=None)
        sandbox.fund(account.address, Decimal(100))
        with serve_in_thread(sandbox) as running:
            client = ClobClient(host=running.urls["clob"], chain_id=137, key=account.key.hex())
            client.set_api_creds(client.derive_api_key())
            token = str(sandbox.markets[0].tokens[0])
            answers = [
                client.post_order(hand_signed(account, token, 10_000_000, 10_204_081, salt=str(n)), OrderType.FAK)
                for n in range(3)
            ]
            block = sandbox.mine()
            results.append((answers, client.get_trades(), sandbox.logs(block, block), client.creds))
    assert results[0] == results[1]
    assert len({a["orderID"] for a in results[0][0]}) == 3
