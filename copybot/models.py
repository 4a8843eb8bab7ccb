"""Immutable values that flow through copybot: source -> decode -> risk -> execute -> positions -> store.

Money and shares are integers in base units (6 decimals, see ``protocol.UNIT``); prices are
``Decimal``. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from copybot.protocol import DEFAULT_TICK, UNIT


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Decision(StrEnum):
    FILLED = "filled"
    SKIPPED = "skipped"
    FAILED = "failed"


def to_units(amount: Decimal) -> int:
    """Decimal pUSD/shares -> base units, rounded toward zero (never overstates an amount)."""
    return int(amount * UNIT)


def from_units(units: int) -> Decimal:
    return Decimal(units) / UNIT


def value_at(shares: int, price: Decimal | str) -> int:
    """What ``shares`` (base units) are worth at ``price``, in base units rounded down: a mark, a
    payout, never more than the shares would fetch."""
    return int((shares * Decimal(price)).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class Fill:
    """One leader fill, attributed per protocol.md §3 (the leader is the log's maker)."""

    leader: str  # lowercase address
    tx_hash: str  # lowercase 0x-hex
    log_index: int
    block: int
    timestamp: int  # unix seconds of the block
    exchange: str  # lowercase address of the emitting exchange
    token_id: int
    side: Side
    shares: int  # base units
    collateral: int  # base units
    fee: int = 0
    as_taker: bool = False  # topic3 was the exchange: the leader's whole taker fill

    @property
    def key(self) -> tuple[str, int]:
        return (self.tx_hash, self.log_index)

    @property
    def price(self) -> Decimal:
        """collateral / shares; 0 when shares is 0 (rejected later by risk)."""
        if self.shares <= 0:
            return Decimal(0)
        return Decimal(self.collateral) / Decimal(self.shares)


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal  # shares


@dataclass(frozen=True, slots=True)
class Book:
    """An order book with levels sorted best first (bids descending, asks ascending)."""

    token_id: int
    market: str  # condition id
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    tick_size: Decimal = DEFAULT_TICK
    min_order_size: Decimal = Decimal(0)
    neg_risk: bool = False
    timestamp_ms: int = 0

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What Gamma says about the market a token belongs to."""

    token_id: int
    condition_id: str
    outcome: str
    question: str = ""
    slug: str = ""
    closed: bool = False
    accepting_orders: bool = True
    neg_risk: bool = False


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """What risk needs to know about our side when deciding on one fill (see ``risk.decide``).

    Amounts are base units. The fields after ``market`` have defaults so a caller that knows less
    still gets a decision: without a ``book`` there is no staleness, liquidity, slippage or
    minimum-size check and the tick is 0.01, and ``risk`` sizing skips; zero exposure numbers mean
    "nothing held". The exposure numbers are cost basis (what we paid), across ALL leaders.
    """

    now: float  # unix seconds
    cash: int  # base units available to spend
    our_shares: int  # shares we hold in this token because of this leader
    leader_holding: int | None  # leader's observed shares in this token before this fill; None = unknown
    market: MarketInfo | None = None
    book: Book | None = None  # the token's book: best ask = the price a BUY would pay now
    book_age_s: float = 0.0  # seconds since the book was fetched
    equity: int = 0  # cash + open positions at their bid; 0 = use cash (bankroll_pct / risk sizing)
    total_cost: int = 0  # cost basis of every open position
    token_cost: int = 0  # cost basis held in this token
    market_cost: int = 0  # cost basis held in this token's market (condition id), all outcomes
    open_positions: int = 0  # number of open positions (tokens held)
    holds_token: bool = False  # we already hold this token, so a BUY adds to a position, not a new one
    daily_pnl: int = 0  # realized + unrealized P&L since 00:00 UTC; negative = loss
    consecutive_failures: int = 0  # orders failed in a row (reset by a success)
    paused_reason: str = ""  # non-empty: BUYs are paused (manually or by a kill switch latched earlier)


@dataclass(frozen=True, slots=True)
class TradingState:
    """The kill-switch inputs alone, for callers without a fill to decide (status, the daemon)."""

    daily_pnl: int = 0
    consecutive_failures: int = 0
    paused_reason: str = ""


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """One open position as ``exits.exit_reason`` sees it."""

    shares: int  # base units held
    cost: int  # base units paid for them (cost basis)
    opened_at: float  # unix seconds of the first fill
    high_water_bid: Decimal = Decimal(0)  # highest best bid seen since opening (trailing stop)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order we want placed. BUY: ``amount`` is collateral to spend; SELL: shares to sell."""

    token_id: int
    side: Side
    amount: int  # base units
    worst_price: Decimal | None  # BUY: highest acceptable price; SELL: lowest; None = no bound
    details: dict[str, str] = field(default_factory=dict)  # the numbers behind the decision


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What an order actually did."""

    shares: int  # base units bought or sold
    collateral: int  # base units paid (BUY) or received (SELL)

    @property
    def avg_price(self) -> Decimal:
        if self.shares <= 0:
            return Decimal(0)
        return Decimal(self.collateral) / Decimal(self.shares)


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """The decision on one fill, ready to be stored."""

    fill: Fill
    decision: Decision
    reason: str
    intent: OrderIntent | None = None
    result: OrderResult | None = None
    market: MarketInfo | None = None
    details: dict[str, Any] = field(default_factory=dict)
    client_key: str = ""  # the order's idempotency key, when an order was (or was to be) sent
    order_id: str = ""  # the exchange's id for it
