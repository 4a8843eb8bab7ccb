"""Synthetic markets and their order books.

A binary market has one book, kept from the first ("Yes") token's point of view, like
Polymarket's CLOB: a bid for Yes at p is an ask for No at 1 - p. The No token's book is that
mirror, so the two tokens are always consistent and a fill on either moves both.

Units are exact integers: prices in millionths (``PRICE_SCALE``), sizes in share base units
(6 decimals) kept on multiples of ``SIZE_STEP`` (0.01 share), so ``size * price`` is always a
whole number of collateral base units.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

from copybot.clock import iso
from copybot.models import Book, BookLevel, Side
from copybot.protocol import CTF_EXCHANGE_V2, EXCHANGE_V3, NEG_RISK_EXCHANGE_V2, UNIT

PRICE_SCALE: Final = 1_000_000  # price units per 1.0 pUSD/share
SIZE_STEP: Final = 10_000  # 0.01 share: sizes on the wire have 2 decimals
LEVELS: Final = 10  # target depth per side
LEVEL_SPACING: Final = 10_000  # 0.01 between resting levels
MIN_MID: Final = 50_000
MAX_MID: Final = 950_000
KEEP: Final = UNIT  # a walk never takes the last share of a side's last level

BookSide = Literal["bids", "asks"]


def units_to_decimal(units: int, scale: int = UNIT) -> Decimal:
    return Decimal(units) / Decimal(scale)


def fmt_units(units: int, scale: int = UNIT) -> str:
    """Base units as a plain decimal string without trailing zeros: 17928, 94104.93, 0.45."""
    return f"{units_to_decimal(units, scale).normalize():f}"


def fmt_price(price: int) -> str:
    return fmt_units(price, PRICE_SCALE)


def price_units(price: Decimal) -> int:
    """A Decimal price strictly between 0 and 1 in millionths; exactness is required."""
    scaled = price * PRICE_SCALE
    if scaled != scaled.to_integral_value() or not 0 < scaled < PRICE_SCALE:
        raise ValueError(f"price {price} must be in (0, 1) with at most 6 decimals")
    return int(scaled)


def collateral_for(shares: int, price: int) -> int:
    """Collateral base units for ``shares`` at ``price``, rounded down (exact on the sandbox grid)."""
    return shares * price // PRICE_SCALE


@dataclass(frozen=True, slots=True)
class Market:
    condition_id: str
    question: str
    slug: str
    tokens: tuple[int, int]
    outcomes: tuple[str, str]
    tick_size: Decimal
    neg_risk: bool
    min_order_size: Decimal
    gamma_id: str
    end_date_iso: str
    fee_bps: int  # the leaders' simulated logs: taker fee, in basis points of collateral
    protocol_v2: bool = False  # traded on ExchangeV3: its token ids are position ids, not CTF tokens
    # what the CLOB charges API orders (its /clob-markets "fd"): rate x (p(1-p))^exponent per share
    fee_rate: Decimal = Decimal(0)
    fee_exponent: Decimal = Decimal(1)

    def taker_fee(self, shares: int, collateral: int) -> int:
        """The fee, in base units, of a taker fill of ``shares`` for ``collateral`` (rounded up)."""
        if self.fee_rate <= 0 or shares <= 0:
            return 0
        p = Decimal(collateral) / Decimal(shares)
        return int(math.ceil(Decimal(shares) * self.fee_rate * (p * (1 - p)) ** self.fee_exponent))

    @property
    def exchange(self) -> str:
        if self.protocol_v2:
            return EXCHANGE_V3
        return NEG_RISK_EXCHANGE_V2 if self.neg_risk else CTF_EXCHANGE_V2

    @property
    def tick(self) -> int:
        return int(self.tick_size * PRICE_SCALE)

    def index_of(self, token_id: int) -> int:
        return self.tokens.index(token_id)


@dataclass
class MarketBook:
    """The book of one market, seen from token 0. ``bids``/``asks`` map price -> size."""

    market: Market
    mid: int  # anchor price of token 0, a multiple of the tick
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    last_trade: int = 0  # token 0's last trade price
    winner: int | None = None  # index of the winning token once resolved (the book is gone then)

    # -- views -----------------------------------------------------------------------------

    def _dict(self, index: int, side: BookSide) -> tuple[dict[int, int], bool]:
        """The underlying dict behind token ``index``'s ``side`` and whether prices are mirrored."""
        if index == 0:
            return (self.bids if side == "bids" else self.asks), False
        return (self.asks if side == "bids" else self.bids), True

    def levels(self, index: int, side: BookSide) -> list[tuple[int, int]]:
        """Token ``index``'s levels on ``side``, best first: bids descending, asks ascending."""
        book, mirrored = self._dict(index, side)
        levels = [((PRICE_SCALE - p) if mirrored else p, s) for p, s in book.items()]
        levels.sort(key=lambda level: level[0], reverse=side == "bids")
        return levels

    def best(self, index: int, side: BookSide) -> int | None:
        levels = self.levels(index, side)
        return levels[0][0] if levels else None

    def midpoint(self, index: int) -> int:
        bid, ask = self.best(index, "bids"), self.best(index, "asks")
        if bid is None or ask is None:
            return self.mid if index == 0 else PRICE_SCALE - self.mid
        return (bid + ask) // 2

    def last_trade_price(self, index: int) -> int:
        last = self.last_trade or self.mid
        return last if index == 0 else PRICE_SCALE - last

    def snapshot(self, index: int, timestamp_ms: int = 0) -> Book:
        def level(price: int, size: int) -> BookLevel:
            return BookLevel(price=units_to_decimal(price, PRICE_SCALE), size=units_to_decimal(size))

        return Book(
            token_id=self.market.tokens[index],
            market=self.market.condition_id,
            bids=tuple(level(p, s) for p, s in self.levels(index, "bids")),
            asks=tuple(level(p, s) for p, s in self.levels(index, "asks")),
            tick_size=self.market.tick_size,
            min_order_size=self.market.min_order_size,
            neg_risk=self.market.neg_risk,
            timestamp_ms=timestamp_ms,
        )

    # -- fills -----------------------------------------------------------------------------

    def walk(
        self,
        index: int,
        side: Side,
        *,
        shares: int | None = None,
        collateral: int | None = None,
        limit: int | None = None,
        max_levels: int = 6,
    ) -> list[tuple[int, int]]:
        """A taker order on token ``index`` consumes resting liquidity, best level first.

        BUY walks the asks, SELL the bids, until ``shares`` or ``collateral`` is used up, the
        ``limit`` price is passed or ``max_levels`` are touched. Returns ``[(price, shares)]``
        per level touched and removes what was taken. The side is never emptied entirely.
        """
        book_side: BookSide = "asks" if side is Side.BUY else "bids"
        book, mirrored = self._dict(index, book_side)
        fills: list[tuple[int, int]] = []
        for price, size in self.levels(index, book_side)[:max_levels]:
            if limit is not None and (price > limit if side is Side.BUY else price < limit):
                break
            available = size - KEEP if len(book) == 1 else size
            if collateral is not None:
                spent = sum(collateral_for(s, p) for p, s in fills)
                available = min(available, (collateral - spent) * PRICE_SCALE // price)
            if shares is not None:
                available = min(available, shares - sum(s for _, s in fills))
            take = available - available % SIZE_STEP
            if take <= 0:
                break
            raw = (PRICE_SCALE - price) if mirrored else price
            if take >= size:
                del book[raw]
            else:
                book[raw] = size - take
            fills.append((price, take))
        if fills:
            self._traded(index, fills[-1][0])
        return fills

    def plan(
        self, index: int, side: Side, *, limit: int, shares: int | None = None, collateral: int | None = None
    ) -> tuple[list[tuple[int, int]], bool]:
        """What a taker order would take, without taking it: ``[(price, shares)]`` best level
        first, within ``limit`` (BUY: at most, SELL: at least), until ``shares`` or ``collateral``
        (exactly one) is used up, in whole SIZE_STEPs, never the last KEEP of the side. The flag
        says whether the order is complete: every share taken, or what collateral is left cannot
        buy one step more even at the limit price."""
        book_side: BookSide = "asks" if side is Side.BUY else "bids"
        levels = self.levels(index, book_side)
        fills: list[tuple[int, int]] = []
        left = shares if shares is not None else collateral
        assert left is not None and (shares is None) != (collateral is None)
        for n, (price, size) in enumerate(levels):
            if price > limit if side is Side.BUY else price < limit:
                break
            available = size - KEEP if n == len(levels) - 1 else size
            wanted = left if shares is not None else left * PRICE_SCALE // price
            take = min(available, wanted)
            take -= take % SIZE_STEP
            if take <= 0:
                break
            fills.append((price, take))
            left -= take if shares is not None else collateral_for(take, price)
        complete = left < SIZE_STEP if shares is not None else left * PRICE_SCALE < SIZE_STEP * limit
        return fills, complete

    def take(self, index: int, side: Side, fills: list[tuple[int, int]]) -> None:
        """Remove what :meth:`plan` planned (a BUY takes asks, a SELL bids) and set the last price."""
        book, mirrored = self._dict(index, "asks" if side is Side.BUY else "bids")
        for price, size in fills:
            raw = (PRICE_SCALE - price) if mirrored else price
            if book[raw] > size:
                book[raw] -= size
            else:
                del book[raw]
        if fills:
            self._traded(index, fills[-1][0])

    def _traded(self, index: int, price: int) -> None:
        self.last_trade = price if index == 0 else PRICE_SCALE - price

    def record_trade(self, index: int, price: int) -> None:
        """A fill that did not walk the visible book (a resting order taken) still sets the last price."""
        self._traded(index, price)

    # -- time ------------------------------------------------------------------------------

    def step(self, rng: random.Random) -> None:
        """One block passes: the mid drifts a little, stale quotes are pulled, liquidity refills."""
        tick = self.market.tick
        if rng.random() < 0.35:
            move = tick * (rng.randint(1, 5) if tick < LEVEL_SPACING else 1)
            self.mid = min(MAX_MID, max(MIN_MID, self.mid + rng.choice((-move, move))))
        self.refill(rng, probability=0.4)

    def refill(self, rng: random.Random, probability: float) -> None:
        tick = self.market.tick
        for stale in [p for p in self.asks if p <= self.mid]:
            del self.asks[stale]
        for stale in [p for p in self.bids if p >= self.mid]:
            del self.bids[stale]
        for i in range(LEVELS):
            ask = self.mid + tick + i * LEVEL_SPACING
            bid = self.mid - tick - i * LEVEL_SPACING
            if ask < PRICE_SCALE and ask not in self.asks and rng.random() < probability:
                self.asks[ask] = _level_size(rng, i)
            if bid > 0 and bid not in self.bids and rng.random() < probability:
                self.bids[bid] = _level_size(rng, i)
        for book, far_first in ((self.asks, True), (self.bids, False)):
            # keep about LEVELS quotes: old off-grid quotes far from the mid are pulled first
            for price in sorted(book, reverse=far_first)[: max(0, len(book) - LEVELS - 2)]:
                del book[price]
        if not self.asks:
            self.asks[min(self.mid + tick, PRICE_SCALE - tick)] = _level_size(rng, 0)
        if not self.bids:
            self.bids[max(self.mid - tick, tick)] = _level_size(rng, 0)


def _level_size(rng: random.Random, depth: int) -> int:
    """Shares resting at a level: deeper levels hold more. Multiples of 0.01 share."""
    return rng.randint(500, 30_000 * (1 + depth // 3)) * SIZE_STEP


def new_market(rng: random.Random, number: int, genesis: int) -> MarketBook:
    """A synthetic binary market with a full book around a random mid."""
    # every fourth market has a fine tick, every other one is neg-risk: both kinds always exist
    tick_size = Decimal("0.001") if number % 4 == 2 else Decimal("0.01")
    tokens = (_token_id(rng), _token_id(rng))
    topic = rng.choice(("BTC above 100k", "Rain in London", "Team A wins", "Fed cuts rates", "ETH flips BTC"))
    question = f"Sandbox market {number}: {topic} by day {number + 1}?"
    slug = f"sandbox-{number}-" + topic.lower().replace(" ", "-")
    market = Market(
        condition_id=f"0x{rng.getrandbits(256):064x}",
        question=question,
        slug=slug,
        tokens=tokens,
        outcomes=("Yes", "No"),
        tick_size=tick_size,
        neg_risk=number % 2 == 1,
        min_order_size=Decimal(5),
        gamma_id=str(500_000 + number),
        end_date_iso=_iso_day(genesis + 86_400 * (30 + number)),
        fee_bps=rng.choice((0, 0, 50, 100)),
    )
    tick = market.tick
    mid = rng.randint(MIN_MID // tick, MAX_MID // tick) * tick
    book = MarketBook(market=market, mid=mid, last_trade=mid)
    book.refill(rng, probability=1.0)
    return book


def _token_id(rng: random.Random) -> int:
    """A realistic ERC-1155 position id: a 256-bit number of 77 decimal digits."""
    while True:
        value = rng.getrandbits(256)
        if 10**76 <= value < 10**77:
            return value


def _iso_day(ts: int) -> str:
    return iso(ts - ts % 86_400)
