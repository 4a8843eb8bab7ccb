"""The executor's running view of our side between a decision and the store: it must agree with
what the store will say once the batch is recorded."""

from __future__ import annotations

import pytest

from copybot.models import Fill, OrderResult, Side, TradingState
from copybot.protocol import LOT
from copybot.rules.exposure import Exposure, Holding
from copybot.store import PendingFill, Store
from copybot.store.ledger import apply_trade
from copybot.trading.run_state import Running

U = 10**6
LEADER = "0x" + "a1" * 20
TOKEN = 7
KEY = (LEADER, TOKEN)
EXCHANGE = "0xe111180000d2663c0091e4f400237545b87b996b"


def leader(side: Side) -> PendingFill:
    fill = Fill(LEADER, "0x" + "77" * 32, 0, 1, 0, EXCHANGE, TOKEN, side, shares=10 * U, collateral=5 * U)
    return PendingFill(1, fill, None)


@pytest.mark.parametrize(
    ("held", "sold", "left"),
    [
        (10 * U + LOT - 1, 10 * U, 0),  # less than a lot left: written off, the position is gone
        (10 * U + LOT, 10 * U, LOT),  # a whole lot left: it stays
        (10 * U, 4 * U, 6 * U),
    ],
)
def test_a_sell_leaves_the_running_view_as_the_store_will(store: Store, held: int, sold: int, left: int) -> None:
    with store.tx() as c:
        apply_trade(c, LEADER, TOKEN, Side.BUY, held, 5 * U, None, 0.0)
    running = Running(Exposure({KEY: Holding(5 * U, 5 * U, "m")}), cash=100 * U, state=TradingState())
    running.load_held(leader(Side.SELL), store)
    running.apply(leader(Side.SELL), "m", OrderResult(sold, 3 * U))
    with store.tx() as c:  # what recording the batch does to the position
        apply_trade(c, LEADER, TOKEN, Side.SELL, sold, 3 * U, None, 0.0)
    assert running.held[KEY] == left == store.our_shares(LEADER, TOKEN)
    assert running.exposure.open_positions == (1 if left else 0)
    assert running.cash == 103 * U
    if left == 0:
        assert running.exposure.total_cost == running.exposure.value == 0


def test_a_buy_spends_cash_and_adds_shares_and_cost(store: Store) -> None:
    running = Running(Exposure(), cash=100 * U, state=TradingState())
    running.load_held(leader(Side.BUY), store)
    running.apply(leader(Side.BUY), "m", OrderResult(20 * U, 9 * U))
    assert (running.held[KEY], running.cash, running.exposure.total_cost) == (20 * U, 91 * U, 9 * U)
    assert running.exposure.market_cost == {"m": 9 * U} and running.equity == 100 * U
