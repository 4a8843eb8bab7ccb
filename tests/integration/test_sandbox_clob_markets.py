"""The sandbox CLOB with the REAL ``polymarket-client`` SDK, continued: market resolution, resting
(GTC/GTD) orders and cancels, batches, pagination, the tick rule, 425/429 faults on order
placement, the HTTP controls, and determinism under the seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any, Literal

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from polymarket import OrderType, RejectedOrder, SecureClient, SignedOrder

from copybot.clock import ManualClock
from copybot.protocol import CTF_EXCHANGE_V2, UNIT
from copybot.sandbox import Faults, Sandbox, serve_in_thread
from tests.support.clob_orders import sign_v2
from tests.support.live import sdk_client

from .test_sandbox_clob import (
    Answer,
    Env,
    accepted,
    asks,
    capture,
    market_order,
    refused,
    serve_env,
    signed_market_order,
    trades,
)

NO_BOOK = {"error": "No orderbook exists for the requested token id"}


@pytest.fixture
def env(caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    yield from serve_env(caplog)


def limit_order(
    client: SecureClient,
    token: str,
    price: Decimal | str,
    size: Decimal | int | str,
    side: Literal["BUY", "SELL"] = "BUY",
    **kw: Any,
) -> SignedOrder:
    """The SDK's GTC limit order (GTD with an ``expiration``)."""
    return client.create_limit_order(token_id=token, price=Decimal(price), size=Decimal(size), side=side, **kw)


def hand_signed(
    account: LocalAccount, token: str, maker_amount: int, taker_amount: int, salt: int = 42, kind: OrderType = "FOK"
) -> SignedOrder:
    """A V2 BUY signed for the CTF exchange with a fixed salt and timestamp: the same bytes every run."""
    return sign_v2(
        account,
        exchange=CTF_EXCHANGE_V2,
        token_id=token,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        salt=salt,
        order_type=kind,
    )


# -- resolution ------------------------------------------------------------------------------


def test_resolution_closes_the_market_everywhere(env: Env) -> None:
    sandbox, client, base = env.sandbox, env.client, env.running.base_url
    market = sandbox.markets[0]
    yes, no = (str(t) for t in market.tokens)
    bought = market_order(client, yes, 10, "BUY", "0.99")
    resting = accepted(client.post_order(limit_order(client, no, "0.01", 500)))
    assert resting.status == "live"
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
    assert httpx.get(f"{base}/clob/clob-markets/{market.condition_id}").json()["ao"] is False
    # no new orders; the resting one was canceled; what was bought is still held (redeemable)
    assert refused(env, lambda: market_order(client, yes, 10, "BUY", "0.99")) == (400, NO_BOOK)
    assert client.get_order(order_id=resting.order_id).status == "CANCELED"
    assert client.list_open_orders().first_page().items == ()
    assert sandbox.balances(env.account.address).shares == {int(yes): bought.taking_amount * UNIT}
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
    best_ask = asks(env.sandbox, token)[0][0]
    live = accepted(client.post_order(limit_order(client, token, "0.01", 99_000)))  # holds 990 pUSD back
    raw = env.answer("/order")
    assert (raw["status"], raw["makingAmount"], raw["takingAmount"], raw["tradeIDs"]) == ("live", "", "", [])
    assert (live.status, live.making_amount, live.taking_amount, live.trade_ids) == ("live", Decimal(0), Decimal(0), ())
    (listed,) = client.list_open_orders().first_page().items
    (raw_listed,) = env.answer("/data/orders")["data"]
    assert (listed.id, listed.status, listed.original_size, listed.size_matched) == (
        live.order_id,
        "LIVE",
        Decimal(99_000),
        Decimal(0),
    )
    assert (raw_listed["id"], raw_listed["original_size"], raw_listed["size_matched"]) == (live.order_id, "99000", "0")
    assert refused(env, lambda: market_order(client, token, 20, "BUY", "0.99")) == (
        400,
        {"error": "not enough balance / allowance"},
    )
    assert client.cancel_order(order_id=live.order_id).canceled == (live.order_id,)
    assert env.answer("/order") == {"canceled": [live.order_id], "not_canceled": {}}
    assert client.list_open_orders().first_page().items == ()
    assert client.get_order(order_id=live.order_id).status == "CANCELED"
    # a marketable GTC fills at once; one too big for the book within its price rests the rest
    filled = accepted(client.post_order(limit_order(client, token, best_ask + Decimal("0.05"), 10)))
    assert (filled.status, env.answer("/order")["takingAmount"]) == ("matched", "10")
    price, size = asks(env.sandbox, token)[0]
    partial = accepted(client.post_order(limit_order(client, token, price, size + 100)))
    raw_partial = env.answer("/order")
    assert partial.status == "matched" and partial.taking_amount == size == Decimal(raw_partial["takingAmount"])
    (rest,) = client.list_open_orders().first_page().items
    assert rest.id == partial.order_id and rest.size_matched == partial.taking_amount
    assert env.answer("/data/orders")["data"][0]["size_matched"] == raw_partial["takingAmount"]
    crossing = limit_order(client, token, best_ask + Decimal("0.05"), 10, post_only=True)
    assert refused(env, lambda: client.post_order(crossing)) == (
        400,
        {"error": "invalid post-only order: order crosses book"},
    )
    assert client.cancel_all().canceled == (partial.order_id,)
    assert env.answer("/cancel-all") == {"canceled": [partial.order_id], "not_canceled": {}}
    # the SDK only signs expirations 3 minutes past the wall clock; the sandbox's clock is its own,
    # and the expiration is not signed: set it on a signed GTC order
    expired = replace(limit_order(client, token, "0.01", 100), expiration=int(env.clock.now()) + 30, order_type="GTD")
    assert refused(env, lambda: client.post_order(expired)) == (400, {"error": "invalid expiration"})


def test_batches_answer_each_order(env: Env) -> None:
    client, token = env.client, env.token()
    first = signed_market_order(client, token, 5, "BUY", "0.99", "FOK")
    second = signed_market_order(client, token, 6, "BUY", "0.99", "FAK")
    answers = client.post_orders([first, first, second])
    raw = env.answer("/orders")
    assert [a.ok for a in answers] == [a["success"] for a in raw] == [True, False, True]
    duplicate = answers[1]
    assert isinstance(duplicate, RejectedOrder) and duplicate.message == raw[1]["errorMsg"]
    assert duplicate.message.endswith("is invalid. Duplicated.") and raw[1]["orderID"] == ""
    assert [round(accepted(a).making_amount) for a in (answers[0], answers[2])] == [5, 6]


def test_trades_are_paginated_with_cursors(env: Env) -> None:
    client, token = env.client, env.token()
    env.sandbox.clob.page_size = 2
    ids = [market_order(client, token, 5, "BUY", "0.99").trade_ids[0] for _ in range(3)]
    assert [t.id for t in trades(client)] == ids
    assert [t.id for t in trades(client, id=ids[1])] == ids[1:2]
    first = client.list_account_trades().first_page()
    raw = env.answer("/data/trades")
    assert [t.id for t in first.items] == ids[:2] and (raw["limit"], raw["count"]) == (2, 2)
    assert first.next_cursor == raw["next_cursor"]
    rest = client.list_account_trades().from_cursor(first.next_cursor).first_page()
    assert [t.id for t in rest.items] == ids[2:] and env.answer("/data/trades")["next_cursor"] == "LTE="
    assert not rest.has_more
    assert trades(client, market=env.sandbox.markets[0].condition_id, after="1") != []
    assert trades(client, before=str(int(env.clock.now()) - 1)) == []


def test_off_tick_prices_are_refused(env: Env) -> None:
    token = env.token()  # a 0.01-tick market
    order = hand_signed(env.account, token, 5_550_000, 10_000_000)  # 0.555 per share: the SDK would not sign it
    status, body = refused(env, lambda: env.client.post_order(order))
    assert status == 400 and body["error"].endswith("is invalid. Price (0.555) breaks minimum tick size rule: 0.01")


# -- faults, controls, determinism -----------------------------------------------------------


def test_425_and_429_come_from_clob_fault_injection(env: Env) -> None:
    client, sandbox = env.client, env.sandbox
    signed = signed_market_order(client, env.token(), 5, "BUY", "0.99")
    for kind, status, text in (("http_425", 425, "Too Early"), ("http_429", 429, "Too Many Requests")):
        sandbox.set_faults("clob", Faults(**{kind: 1.0}))
        assert refused(env, lambda: client.post_order(signed)) == (status, {"error": text})
    sandbox.set_faults("clob", Faults())
    assert accepted(client.post_order(signed)).status == "matched"  # refused orders were never taken
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
        bodies: list[bytes] = []
        answers: list[Answer] = []
        sandbox.app = capture(sandbox.app, bodies, answers)  # type: ignore[assignment]  # any ASGI app serves
        sandbox.fund(account.address, Decimal(100))
        with (
            serve_in_thread(sandbox) as running,
            sdk_client(running.urls, account.key.hex(), account.address) as client,
        ):
            token = str(sandbox.markets[0].tokens[0])
            orders = [
                client.post_order(hand_signed(account, token, 10_000_000, 10_204_081, salt=n, kind="FAK"))
                for n in range(3)
            ]
            block = sandbox.mine()
            listed = trades(client)
            wire = [(a.path, a.status, a.json()) for a in answers if a.path.endswith(("/order", "/data/trades"))]
            results.append((orders, listed, wire, sandbox.logs(block, block), client.credentials))
    assert results[0] == results[1]
    assert len({accepted(a).order_id for a in results[0][0]}) == 3
    assert len(results[0][2]) == 4 and len(results[0][1]) == 3
