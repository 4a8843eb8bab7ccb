"""Values for the pure rule tables: a leader fill, its market and book, a full decision context."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from copybot.models import Book, BookLevel, DecisionContext, Fill, MarketInfo, Side

U = 1_000_000  # base units per pUSD / per share
NOW = 1_790_000_000.0
TOKEN = 4242


def make_fill(side: Side = Side.BUY, shares: int = 100 * U, collateral: int = 42 * U, age_s: float = 10.0) -> Fill:
    return Fill(
        leader="0x" + "ab" * 20,
        tx_hash="0x" + "cd" * 32,
        log_index=7,
        block=90_000_000,
        timestamp=int(NOW - age_s),
        exchange="0xe111180000d2663c0091e4f400237545b87b996b",
        token_id=TOKEN,
        side=side,
        shares=shares,
        collateral=collateral,
    )


def market(closed: bool = False, accepting: bool = True, condition: str = "0xc0", slug: str = "") -> MarketInfo:
    return MarketInfo(
        token_id=TOKEN, condition_id=condition, outcome="Yes", slug=slug, closed=closed, accepting_orders=accepting
    )


def book(
    ask: str | None = "0.43",
    bid: str | None = "0.41",
    tick: str = "0.01",
    min_size: str = "0",
    condition: str = "0xc0",
) -> Book:
    """A one-level book (1,000 shares a side) for the token of ``make_fill``."""
    asks = (BookLevel(Decimal(ask), Decimal(1000)),) if ask else ()
    bids = (BookLevel(Decimal(bid), Decimal(1000)),) if bid else ()
    return Book(TOKEN, condition, bids, asks, tick_size=Decimal(tick), min_order_size=Decimal(min_size))


def full_ctx(**fields: Any) -> DecisionContext:
    """A context with a fresh book (best ask 0.43) and 1,000 pUSD cash; ``fields`` override."""
    values: dict[str, Any] = {"now": NOW, "cash": 1000 * U, "our_shares": 0, "leader_holding": None, "book": book()}
    values.update(fields)
    return DecisionContext(**values)
