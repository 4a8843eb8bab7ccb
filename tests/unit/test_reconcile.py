"""Reconciliation against a scripted exchange: what the lookup finds decides, and a lookup that
found nothing (or no shares) means the order never executed."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from copybot.clock import ManualClock
from copybot.models import ExitRule, FeeRate, Fill, MarketInfo, OrderIntent, OrderResult, Side
from copybot.store import Store
from copybot.store.ledger import NewOrder, apply_trade
from copybot.store.records import exit_purpose
from copybot.trading.reconcile import reconcile

U = 10**6
NOW = 1_790_000_000.0
LEADER = "0x" + "a1" * 20
TOKEN = 42
EXCHANGE = "0xe111180000d2663c0091e4f400237545b87b996b"


class Exchange:
    """A live-like broker whose only answer is what ``lookup`` finds for each order id."""

    mode = "live"
    can_lose_answers = True

    def __init__(self, found: dict[str, OrderResult | None]) -> None:
        self.found = found
        self.asked: list[str] = []

    async def lookup(self, order_id: str) -> OrderResult | None:
        self.asked.append(order_id)
        return self.found.get(order_id)


class Markets:
    def __init__(self, fee: FeeRate | None = None) -> None:
        self.fee = fee

    async def market_info(self, token_ids: Any) -> dict[int, MarketInfo]:
        return {TOKEN: MarketInfo(TOKEN, "0xcond", "Yes", question="Will it?")}

    async def fee_rates(self, condition_ids: Any) -> dict[str, FeeRate | None]:
        return {c: self.fee for c in condition_ids}


@pytest.fixture(autouse=True)
def live_store(store: Store) -> None:
    store.init_paper("live", 0, NOW)


def copy_intent(store: Store, order_id: str) -> Fill:
    fill = Fill(LEADER, "0x" + "77" * 32, 3, 100, int(NOW) - 5, EXCHANGE, TOKEN, Side.BUY, 10 * U, 5 * U)
    store.save_fills([fill], {}, NOW)
    [pending] = store.pending_fills(1)
    intent = OrderIntent(TOKEN, Side.BUY, 5 * U, Decimal("0.55"))
    store.write_intent(NewOrder("k1", pending.fill_id, "copy", LEADER, "live", intent, order_id), NOW)
    store.set_order_status("k1", "unknown", NOW)
    return fill


def run(store: Store, exchange: Exchange) -> int:
    return asyncio.run(reconcile(store, exchange, Markets(), ManualClock(NOW)))  # type: ignore[arg-type]


def statuses(store: Store) -> list[str]:
    return [r.status for r in store.open_intents()] + [
        str(row[0])
        for row in store._conn.execute("SELECT status FROM orders WHERE status NOT IN ('intent', 'unknown')")
    ]


@pytest.mark.parametrize("found", [None, OrderResult(0, 0)], ids=["never-seen", "zero-shares"])
def test_an_order_that_filled_nothing_is_abandoned_and_its_fill_decided_again(store: Store, found: Any) -> None:
    copy_intent(store, "0xorder")
    assert run(store, Exchange({"0xorder": found})) == 1
    assert statuses(store) == ["abandoned"]
    assert len(store.pending_fills(10)) == 1, "the fill waits to be decided again"
    assert store.count("trades") == 0 and store.count("decisions") == 0 and store.open_positions() == []


def test_an_order_that_filled_is_recorded_as_the_copy(store: Store) -> None:
    copy_intent(store, "0xorder")
    assert run(store, Exchange({"0xorder": OrderResult(9 * U, 4_950_000)})) == 1
    assert statuses(store) == ["filled"] and store.pending_fills(10) == []
    [position] = store.open_positions()
    assert (position.shares, position.cost, position.condition_id) == (9 * U, 4_950_000, "0xcond")
    assert store.cash() == -4_950_000  # the live ledger moved by what the exchange did


def test_an_exit_that_filled_is_recorded_as_the_sale(store: Store) -> None:
    with store.tx() as c:
        apply_trade(c, LEADER, TOKEN, Side.BUY, 10 * U, 5 * U, None, NOW)
    intent = OrderIntent(TOKEN, Side.SELL, 10 * U, Decimal("0.3"))
    purpose = exit_purpose(ExitRule.STOP_LOSS)
    store.write_intent(NewOrder("exit-1", None, purpose, LEADER, "live", intent, "0xsell"), NOW)
    assert run(store, Exchange({"0xsell": OrderResult(10 * U, 3 * U)})) == 1
    assert statuses(store) == ["filled"] and store.open_positions() == []
    assert store.realized_pnl() == -2 * U


def test_a_reconciled_fill_books_the_fee_its_market_charges(store: Store) -> None:
    copy_intent(store, "0xorder")
    markets = Markets(FeeRate(Decimal("0.02")))
    found = Exchange({"0xorder": OrderResult(9 * U, 4_950_000)})  # 9 shares at 0.55
    assert asyncio.run(reconcile(store, found, markets, ManualClock(NOW))) == 1  # type: ignore[arg-type]
    fee = 44_550  # 9 x 0.02 x 0.55 x 0.45
    [position] = store.open_positions()
    assert position.cost == 4_950_000 + fee
    assert store.cash() == -(4_950_000 + fee)
