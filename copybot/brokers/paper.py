"""Paper trading: fills are simulated by walking the real (or sandbox) order book.

The fill price is what the size would really pay level by level, not the top of the book.
BUYs are fill-or-kill within the worst-price bound (like the live market orders copybot sends);
SELLs take what the bids give (fill-and-kill), so an exit is never blocked by thin depth.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from copybot.brokers.base import PreparedOrder
from copybot.models import (
    Book,
    OrderIntent,
    OrderResult,
    Reason,
    Side,
    Skip,
    TradeState,
    from_units,
    to_units,
    value_at,
)


def _units(value: Decimal, rounding: str) -> int:
    return int(value.to_integral_value(rounding=rounding))


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def walk_buy(book: Book, spend: int, bound: Decimal | None) -> OrderResult | Skip:
    remaining, shares, paid = spend, 0, 0
    for level in book.asks:
        if bound is not None and level.price > bound:
            break
        take = min(to_units(level.size), _units(Decimal(remaining) / level.price, ROUND_FLOOR))
        if take <= 0:
            break
        cost = _units(take * level.price, ROUND_CEILING)
        shares, paid, remaining = shares + take, paid + cost, remaining - cost
        if take < to_units(level.size):
            break  # the money ran out inside this level
    if shares > 0 and remaining * 1000 <= spend:  # filled to within 0.1% (tick/base-unit rounding)
        return OrderResult(shares, paid)
    best = book.best_ask
    if best is None:
        return Skip(Reason.NO_LIQUIDITY, "no liquidity: the book has no asks")
    if bound is not None and best > bound:
        return Skip(Reason.SLIPPAGE, f"slippage: best ask {_fmt(best)} above worst acceptable {_fmt(bound)}")
    fillable = _fmt(from_units(paid))
    if bound is not None and any(level.price > bound for level in book.asks):
        return Skip(
            Reason.SLIPPAGE,
            f"slippage: only {fillable} of {_fmt(from_units(spend))} fillable at or below {_fmt(bound)} (FOK)",
        )
    return Skip(Reason.NO_LIQUIDITY, f"no liquidity: only {fillable} of {_fmt(from_units(spend))} on the asks (FOK)")


def walk_sell(book: Book, amount: int, bound: Decimal | None) -> OrderResult | Skip:
    remaining, sold, received = amount, 0, 0
    for level in book.bids:
        if remaining <= 0 or (bound is not None and level.price < bound):
            break
        take = min(to_units(level.size), remaining)
        received += _units(take * level.price, ROUND_FLOOR)
        sold, remaining = sold + take, remaining - take
    if sold <= 0:
        return Skip(Reason.NO_LIQUIDITY, "no liquidity: no bids to sell into")
    return OrderResult(sold, received)


def walk_book(book: Book, intent: OrderIntent) -> OrderResult | Skip:
    if intent.side is Side.BUY:
        return walk_buy(book, intent.amount, intent.worst_price)
    return walk_sell(book, intent.amount, intent.worst_price)


class PaperBroker:
    """Simulated orders: nothing leaves the process, so nothing can be in flight after a crash."""

    mode = "paper"
    can_lose_answers = False  # in-process: an order either ran and is recorded, or never ran
    trades_positions = False  # paper rehearses what live can do: CTF tokens on the CLOB V2

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def trade_states(self, trade_ids: Sequence[str]) -> dict[str, TradeState]:
        return {}  # a paper fill is final when it is made

    async def prepare(self, intent: OrderIntent, book: Book) -> PreparedOrder | Skip:
        return PreparedOrder(f"paper-{uuid.uuid4().hex}", intent, book)

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        book: Book = order.payload
        return walk_book(book, order.intent)

    async def lookup(self, order_id: str) -> OrderResult | None:
        return None  # a paper order interrupted before its outcome was stored never happened

    async def balance(self) -> int | None:
        return None  # the paper bankroll is the store's ledger

    async def redeem(self, token_id: int, shares: int, payout: Decimal, condition_id: str = "") -> OrderResult | None:
        return OrderResult(shares, value_at(shares, payout))  # settled at once, at the resolved price

    async def redeem_market(self, condition_id: str) -> str:
        return "paper: settled at resolution, nothing to send"

    async def check_wallet(self, token_id: int | None = None) -> str:
        return "paper: the bankroll is the database's ledger"

    async def place(self, intent: OrderIntent, book: Book) -> OrderResult | Skip:
        return walk_book(book, intent)
