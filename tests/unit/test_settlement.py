"""Trades confirmed or failed after matching (copybot/trading/settlement.py) against a real store:
what is reversed, exactly, and what is left waiting."""

from __future__ import annotations

import asyncio

import pytest

from copybot.clock import ManualClock
from copybot.errors import UpstreamUnavailable
from copybot.models import OrderResult, Side, TradeState
from copybot.store import Store
from copybot.store.ledger import Trade, book_trade
from copybot.trading.settlement import settle

U = 10**6
NOW = 1_790_000_000.0
LEADER = "0x" + "a1" * 20
TOKEN = 42


class Exchange:
    def __init__(self, states: dict[str, TradeState] | Exception) -> None:
        self.states = states
        self.asked: list[list[str]] = []

    async def trade_states(self, ids: list[str]) -> dict[str, TradeState]:
        self.asked.append(list(ids))
        if isinstance(self.states, Exception):
            raise self.states
        return {i: s for i, s in self.states.items() if i in ids}


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store.open(tmp_path / "s.db")
    s.init_paper("live", 0, NOW)
    return s


def booked_buy(store: Store, trades: tuple[str, ...], shares: int = 10 * U, usdc: int = 5 * U, fee: int = 0) -> None:
    with store.tx() as c:
        c.execute(
            "INSERT INTO orders (client_key, purpose, leader, mode, token_id, side, amount, status, created_at) "
            "VALUES (?, 'copy', ?, 'live', ?, 'BUY', ?, 'filled', ?)",
            (f"k-{trades[0]}", LEADER, str(TOKEN), usdc, NOW),
        )
        order_id = c.execute("SELECT MAX(id) FROM orders").fetchone()[0]
        book_trade(
            c,
            Trade(LEADER, TOKEN, Side.BUY, OrderResult(shares, usdc, trades, fee)),
            order_id=order_id,
            ref="k",
            now=NOW,
        )


def run(store: Store, exchange: Exchange) -> int:
    return asyncio.run(settle(store, exchange, ManualClock(NOW)))  # type: ignore[arg-type]


def position(store: Store) -> tuple[int, int]:
    row = store._conn.execute("SELECT shares, cost FROM positions").fetchone()
    return int(row["shares"]), int(row["cost"])


def test_two_failed_trades_of_one_fill_are_both_reversed_with_the_fee(store: Store) -> None:
    booked_buy(store, ("a", "b"), fee=50_000)
    states = {"a": TradeState("FAILED", 4 * U, 2 * U), "b": TradeState("FAILED", 6 * U, 3 * U)}
    assert run(store, Exchange(states)) == 1
    assert position(store) == (0, 0)
    assert store.cash() == 0, "the 5 pUSD and the fee came back"
    assert store._conn.execute("SELECT settlement, exchange_trades FROM trades").fetchone()[:] == ("failed", "")


def test_one_failed_trade_of_two_reverses_its_part_only_and_the_other_is_confirmed(store: Store) -> None:
    booked_buy(store, ("a", "b"))
    states = {"a": TradeState("CONFIRMED", 4 * U, 2 * U), "b": TradeState("FAILED", 6 * U, 3 * U)}
    run(store, Exchange(states))
    assert position(store) == (4 * U, 2 * U)
    assert store.cash() == -2 * U
    assert store._conn.execute("SELECT settlement FROM trades").fetchone()[0] == "partly_failed"


def test_trades_not_final_wait_and_are_asked_again_only_while_pending(store: Store) -> None:
    booked_buy(store, ("a", "b"))
    exchange = Exchange({"a": TradeState("CONFIRMED", 4 * U, 2 * U), "b": TradeState("MINED", 6 * U, 3 * U)})
    run(store, exchange)
    assert store._conn.execute("SELECT settlement, exchange_trades FROM trades").fetchone()[:] == ("pending", "b")
    run(store, exchange)
    assert exchange.asked == [["a", "b"], ["b"]]
    exchange.states = {"b": TradeState("CONFIRMED", 6 * U, 3 * U)}  # type: ignore[assignment]
    run(store, exchange)
    run(store, exchange)
    assert exchange.asked[-1] == ["b"] and len(exchange.asked) == 3, "nothing pending: nothing asked"
    assert position(store) == (10 * U, 5 * U) and store.cash() == -5 * U


def test_an_unreachable_exchange_leaves_everything_as_it_was(store: Store) -> None:
    booked_buy(store, ("a",))
    assert run(store, Exchange(UpstreamUnavailable("clob: down"))) == 0
    assert store._conn.execute("SELECT settlement FROM trades").fetchone()[0] == "pending"
    assert position(store) == (10 * U, 5 * U)


def test_a_trade_still_pending_does_not_hold_up_the_next_ones_and_confirmations_reverse_nothing(
    store: Store,
) -> None:
    booked_buy(store, ("a",))  # first booked: still mining
    booked_buy(store, ("c",), shares=2 * U, usdc=U)  # then a second fill of the same position: failed
    booked_buy(store, ("d",), shares=3 * U, usdc=U)  # and a third: confirmed
    states = {
        "a": TradeState("MINED", 10 * U, 5 * U),
        "c": TradeState("FAILED", 2 * U, U),
        "d": TradeState("CONFIRMED", 3 * U, U),
    }
    assert run(store, Exchange(states)) == 1, "one trade reversed; a confirmation reverses nothing"
    settlements = [r[0] for r in store._conn.execute("SELECT settlement FROM trades ORDER BY id")]
    assert settlements == ["pending", "failed", "confirmed"]
    assert position(store) == (13 * U, 6 * U)
