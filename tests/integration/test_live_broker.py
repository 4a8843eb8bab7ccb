"""The live broker against the sandbox CLOB: the real polymarket-client, signed V2 orders, real
loopback HTTP, a throwaway key. Production error bodies map to clear decisions; no secret leaks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal

import pytest
from eth_account import Account

from copybot.brokers.live import LiveBroker
from copybot.errors import InsufficientFunds
from copybot.models import Book, OrderIntent, OrderResult, Side, Skip, to_units
from copybot.sandbox import RunningSandbox, Sandbox, serve_in_thread
from tests.support.live import endpoints


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, RunningSandbox]]:
    box = Sandbox(seed=41, leaders=0, markets=4, trade_prob=0.0, noise_prob=0.0)
    with serve_in_thread(box) as server:
        yield box, server


def on_tick(price: Decimal, tick: Decimal, up: bool) -> Decimal:
    steps = (price / tick).to_integral_value(rounding="ROUND_CEILING" if up else ROUND_DOWN)
    return steps * tick


def test_live_orders_fill_reconcile_and_map_errors(served, caplog: pytest.LogCaptureFixture) -> None:
    box, server = served
    caplog.set_level(logging.DEBUG)
    account = Account.create()
    key = account.key.hex()
    box.fund(account.address, Decimal(50))
    market = box.markets[1]  # odd index: a neg-risk market, signed for the neg-risk exchange
    token = market.tokens[0]

    async def scenario() -> dict[str, object]:
        broker = LiveBroker(endpoints(server.urls), key, signature_type=0)
        await broker.start()
        book: Book = box.book(token)
        assert book.neg_risk
        ask = book.best_ask
        assert ask is not None
        bound = on_tick(ask + Decimal("0.05"), book.tick_size, up=False)
        buy = OrderIntent(token, Side.BUY, to_units(Decimal(10)), bound)
        prepared = await broker.prepare(buy, book)
        assert not isinstance(prepared, Skip)
        bought = await broker.submit(prepared)
        looked_up = await broker.lookup(prepared.order_id)
        unknown = await broker.lookup("0x" + "ab" * 32)
        # the shares are sold right away: the broker refreshes the balance cache first
        sell_book = box.book(token)
        assert sell_book.best_bid is not None
        sell_bound = on_tick(sell_book.best_bid - Decimal("0.05"), book.tick_size, up=True)
        assert isinstance(bought, OrderResult)
        shares = bought.shares // 10_000 * 10_000
        sold = await broker.place(OrderIntent(token, Side.SELL, shares, sell_bound), box.book(token))
        # a FOK that cannot fill within its bound is killed, not failed
        too_low = on_tick(box.book(token).best_ask - Decimal("0.1"), book.tick_size, up=False)
        killed = await broker.place(OrderIntent(token, Side.BUY, to_units(Decimal(5)), too_low), box.book(token))
        try:
            await broker.place(OrderIntent(token, Side.BUY, to_units(Decimal(500)), bound), box.book(token))
            broke = None
        except InsufficientFunds as exc:
            broke = exc
        creds = broker._client.credentials
        await broker.close()
        return {
            "bought": bought,
            "looked_up": looked_up,
            "unknown": unknown,
            "sold": sold,
            "killed": killed,
            "broke": broke,
            "creds": creds,
        }

    out = asyncio.run(scenario())
    bought, sold = out["bought"], out["sold"]
    assert isinstance(bought, OrderResult) and bought.shares > 0 and 0 < bought.collateral <= to_units(Decimal(10))
    assert out["looked_up"] == bought, "reconciliation must see exactly the fill the answer reported"
    assert out["unknown"] is None
    assert isinstance(sold, OrderResult) and sold.shares == bought.shares // 10_000 * 10_000
    balances = box.balances(account.address)
    assert balances.collateral == to_units(Decimal(50)) - bought.collateral + sold.collateral
    assert isinstance(out["killed"], Skip) and out["killed"].reason.startswith("not filled")
    assert isinstance(out["broke"], InsufficientFunds) and "balance" in str(out["broke"])
    creds = out["creds"]
    secrets = [key, key.removeprefix("0x"), creds.secret, creds.passphrase]
    text = caplog.text + " ".join(str(v) for v in out.values() if not hasattr(v, "secret"))
    for secret in secrets:
        assert secret not in text
