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


class Reason(StrEnum):
    """Why a fill was decided the way it was: the code programs branch on and the store keeps.
    The human text beside it (``Skip.reason``, ``CopyOutcome.reason``) is for people only."""

    # copied
    COPIED = "copied"  # a leader BUY copied
    MIRRORED = "mirrored"  # a leader SELL mirrored
    PARTIAL = "partial"  # a mirrored SELL the bids could only partly take
    # decided by the rules (copybot.rules.risk): BUY unless noted
    INVALID = "invalid"  # both sides
    PAUSED = "paused"
    STALE = "stale"  # the leader's fill is too old to copy
    MARKET_CLOSED = "market_closed"
    TOO_SMALL = "too_small"  # both sides
    MARKET_FILTER = "market_filter"  # a filter is set but the market is unknown
    MARKET_BLOCKED = "market_blocked"
    MARKET_NOT_ALLOWED = "market_not_allowed"
    LIMIT = "limit"  # a cap (the key is named in the text)
    INSUFFICIENT_BANKROLL = "insufficient_bankroll"
    STALE_PRICE = "stale_price"  # both sides: the book is too old: read it again, decide again
    NO_LIQUIDITY = "no_liquidity"
    SLIPPAGE = "slippage"
    NO_PRICE = "no_price"
    MIN_SIZE = "min_size"  # both sides
    NOT_HELD = "not_held"  # SELL
    # decided around the rules
    NOT_MIRRORED = "not_mirrored"  # exits.mirror_leader_sells is off
    UNSUPPORTED_MARKET = "unsupported_market"  # a market kind the broker cannot trade (position ids)
    NOT_FILLED = "not_filled"  # the order was taken, nothing matched (FOK killed)
    REJECTED = "rejected"  # the exchange refused the order: a failure
    BOOK_UNAVAILABLE = "book_unavailable"  # a failure
    REORGED = "reorged"  # the log left the chain before it was copied


class ExitRule(StrEnum):
    """Why copybot closes a position on its own (``copybot.rules.exits``)."""

    RESOLVED = "resolved"
    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"
    TAKE_PROFIT = "take_profit"
    MAX_HOLD = "max_hold"
    LEADER_EXIT = "leader_exit"  # not copybot's own rule: a mirrored leader SELL, listed with the exits


class PauseKind(StrEnum):
    """Which kill switch paused new BUYs: a daily-loss pause ends with the UTC day, the others at
    ``copybot resume``."""

    NONE = ""
    DAILY_LOSS = "daily_loss"
    FAILURES = "failures"


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
class FeeRate:
    """A market's taker fee: ``rate × (p(1−p))^exponent`` pUSD per share at price p (``copybot.rules.fees``)."""

    rate: Decimal
    exponent: Decimal = Decimal(1)


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
    fee: FeeRate | None = None  # the market's taker fee (None: none known, none charged)


@dataclass(frozen=True, slots=True)
class TradingState:
    """The kill-switch inputs alone, for callers without a fill to decide (status, the daemon)."""

    daily_pnl: int = 0
    consecutive_failures: int = 0
    paused_reason: str = ""


@dataclass(frozen=True, slots=True)
class Pause:
    """A kill switch that just tripped: which one, and why in words."""

    kind: PauseKind
    text: str


@dataclass(frozen=True, slots=True)
class Position:
    """A position as the store keeps it: the shares copybot holds in one token because of one leader."""

    leader: str
    token_id: int
    condition_id: str
    shares: int  # base units held (0 once closed)
    cost: int  # base units paid for the shares held (cost basis)
    opened_at: float = 0.0
    outcome: str = ""
    question: str = ""
    realized: int = 0  # base units of P&L realized by what was sold
    mark_price: Decimal | None = None  # the best bid last seen (None: never priced)
    high_water: Decimal | None = None  # the highest best bid since opening
    redeemable: bool = False  # resolved; its shares wait to be redeemed
    resolved_price: Decimal | None = None  # redeemable: what a share pays (1 or 0)

    @property
    def key(self) -> tuple[str, int]:
        return (self.leader, self.token_id)

    @property
    def payout(self) -> int:
        """What a resolved position pays when redeemed (base units; 0 until it is resolved)."""
        return value_at(self.shares, self.resolved_price or Decimal(0))


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the store keeps it; those still ``intent`` or ``unknown`` are reconciled first."""

    client_key: str
    fill_id: int | None  # the copied fill; None for an exit
    exit_rule: ExitRule | None  # why copybot closed the position; None for a copy
    leader: str
    token_id: int
    side: Side
    amount: int  # BUY: collateral, SELL: shares (base units)
    status: str
    exchange_order_id: str = ""


@dataclass(frozen=True, slots=True)
class RiskState:
    """The kill switch's memory: the UTC day, the equity it started with, the failure streak, a pause."""

    day: str | None = None
    day_start_equity: int | None = None
    consecutive_failures: int = 0
    paused_reason: str = ""
    paused_kind: PauseKind = PauseKind.NONE
    paused_day: str | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order we want placed. BUY: ``amount`` is collateral to spend; SELL: shares to sell."""

    token_id: int
    side: Side
    amount: int  # base units
    worst_price: Decimal | None  # BUY: highest acceptable price; SELL: lowest; None = no bound
    details: dict[str, str] = field(default_factory=dict)  # the numbers behind the decision
    fee: FeeRate | None = None  # the market's taker fee, charged on the fill (``OrderResult.fee``)


@dataclass(frozen=True, slots=True)
class Skip:
    """No order: the code says why (for programs), the reason says it with the numbers (for people)."""

    code: Reason
    reason: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExitSignal:
    """An exit rule that fired: which one, and why in words."""

    rule: ExitRule
    text: str


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What an order actually did."""

    shares: int  # base units bought or sold
    collateral: int  # base units paid (BUY) or received (SELL)
    # the exchange's ids of the trades behind it that are not confirmed on chain yet (live): a trade
    # can still FAIL after matching, and is then reversed (copybot.trading.settlement)
    trades: tuple[str, ...] = ()
    fee: int = 0  # pUSD base units charged on top (BUY) or taken from the proceeds (SELL)

    @property
    def avg_price(self) -> Decimal:
        if self.shares <= 0:
            return Decimal(0)
        return Decimal(self.collateral) / Decimal(self.shares)


@dataclass(frozen=True, slots=True)
class TradeState:
    """What the exchange says of one of its trades: its status and what it moved."""

    status: str  # MATCHED, MINED, CONFIRMED, RETRYING, FAILED (…)
    shares: int
    collateral: int

    @property
    def final(self) -> bool:
        return self.status in ("CONFIRMED", "FAILED")


@dataclass(frozen=True, slots=True)
class UnsettledTrade:
    """One of our booked trades whose exchange trades are not all confirmed yet."""

    row_id: int
    leader: str
    token_id: int
    side: Side
    shares: int
    collateral: int
    cost_out: int  # the cost basis a sale took out of the position (0 for a purchase)
    exchange_trades: tuple[str, ...]
    fee: int = 0  # what it was charged


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """The decision on one fill, ready to be stored."""

    fill: Fill
    decision: Decision
    code: Reason
    reason: str
    intent: OrderIntent | None = None
    result: OrderResult | None = None
    market: MarketInfo | None = None
    details: dict[str, Any] = field(default_factory=dict)
    client_key: str = ""  # the order's idempotency key, when an order was (or was to be) sent
    order_id: str = ""  # the exchange's id for it

    @classmethod
    def skipped(cls, fill: Fill, skip: Skip, market: MarketInfo | None = None) -> CopyOutcome:
        """No order was sent: the rules (or the switches around them) said no."""
        return cls(fill, Decision.SKIPPED, skip.code, skip.reason, market=market, details=dict(skip.details))
