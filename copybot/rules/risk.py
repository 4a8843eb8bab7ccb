"""Pure sizing and checks: (fill, our context, limits) -> OrderIntent | Skip(code, reason).

Entry point: :func:`decide`. A Skip's ``code`` (:class:`~copybot.models.Reason`) is what callers
branch on; its ``reason`` is for people: the code in words followed by the numbers that led to it.
``details`` carries the numbers as strings for the store, including the sizing inputs, the room
under each cap, the tick and the price bound.

The caller's contract for ``Reason.STALE_PRICE``: the book in the context is older than
``risk.price_staleness_s``; refetch it once and call :func:`decide` again with the fresh book
(and ``book_age_s`` near 0). If it is still stale, store the Skip. ``STALE_PRICE`` is only
returned once every check that does not need the book has passed, so a refetch is never wasted.

Order of a BUY's checks: pause, fill age, market open, ``min_leader_usdc``, market filters,
``max_open_positions``, book age, liquidity and slippage against the bound, sizing, caps (the BUY
shrinks to the tightest room, or is skipped when that room is below the minimum order), the
market's minimum size. A SELL (an exit) skips everything that could keep us in a position: no
pause, age, market or cap check; only staleness of the book, rounding and the minimum size.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from copybot.config.settings import RiskSettings
from copybot.models import DecisionContext, Fill, OrderIntent, Reason, Side, Skip, to_units
from copybot.protocol import CENT, DEFAULT_TICK, LOT, UNIT
from copybot.rules.fees import fee_at_most, fee_fraction, spend_within
from copybot.rules.limits import (
    cap_skip,
    market_filter,
    open_positions_limit,
    pause_reason,
    rooms,
    tightest,
)
from copybot.rules.sizing import (
    buy_bound,
    buy_spend,
    ceil_to,
    floor_to,
    fmt,
    sell_bound,
    sell_shares,
    shares_at,
    sized_usdc,
    spend_for,
    usdc,
)

__all__ = ["buy_spend", "decide", "pause_reason", "sell_shares"]


def decide(fill: Fill, ctx: DecisionContext, risk: RiskSettings) -> OrderIntent | Skip:
    """Decide what to do about one leader fill.

    ``risk`` is the leader's effective settings (``config.effective_risk``). BUY: the intent's
    ``amount`` is collateral in base units, a whole number of cents, and ``worst_price`` the
    highest acceptable price on the book's tick. SELL: ``amount`` is shares in base units, a whole
    hundredth of a share, never more than ``ctx.our_shares``, and ``worst_price`` the lowest
    acceptable price on the tick. Pure: no I/O, no clock (``ctx.now`` is the time).
    """
    price = fill.price
    details = {
        "leader_price": fmt(price),
        "leader_shares": usdc(fill.shares),
        "leader_usdc": usdc(fill.collateral),
    }
    if fill.shares <= 0 or fill.collateral <= 0:
        return Skip(Reason.INVALID, "invalid: leader fill has a zero amount", details)
    if not 0 < price < 1:
        return Skip(Reason.INVALID, f"invalid: leader price {fmt(price)} is outside (0, 1)", details)
    if fill.side is Side.BUY:
        return _decide_buy(fill, ctx, risk, details)
    return _decide_sell(fill, ctx, risk, details)


def _book_checks(ctx: DecisionContext, risk: RiskSettings, details: dict[str, str]) -> Decimal | Skip:
    """The tick to use, or a Skip when the book is stale or its tick is unusable."""
    if ctx.book is None:
        details["tick"] = fmt(DEFAULT_TICK)
        return DEFAULT_TICK
    details["book_age_s"] = f"{ctx.book_age_s:.1f}"
    if ctx.book_age_s > risk.price_staleness_s:
        return Skip(
            Reason.STALE_PRICE,
            f"stale price: book is {ctx.book_age_s:.0f}s old (max {risk.price_staleness_s:g}s)",
            details,
        )
    tick = ctx.book.tick_size
    details["tick"] = fmt(tick)
    if not 0 < tick < 1:
        return Skip(Reason.INVALID, f"invalid: tick size {fmt(tick)} is outside (0, 1)", details)
    if ctx.book.min_order_size > 0:
        details["min_order_size"] = fmt(ctx.book.min_order_size)
    return tick


def _entry_skip(fill: Fill, ctx: DecisionContext, risk: RiskSettings, details: dict[str, str]) -> Skip | None:
    """The BUY checks that need no book: pause, age, market state, leader size, filters, count."""
    why = pause_reason(ctx, risk)
    if why:
        return Skip(Reason.PAUSED, f"paused: {why}", details)
    age = ctx.now - fill.timestamp
    details["age_s"] = f"{age:.0f}"
    if age > risk.max_trade_age_s:
        return Skip(Reason.STALE, f"stale: leader fill is {age:.0f}s old (max {risk.max_trade_age_s:g}s)", details)
    if ctx.market is not None and (ctx.market.closed or not ctx.market.accepting_orders):
        return Skip(Reason.MARKET_CLOSED, "market closed: not accepting orders", details)
    least = to_units(risk.min_leader_usdc)
    if fill.collateral < least:
        return Skip(
            Reason.TOO_SMALL,
            f"too small: leader spent {usdc(fill.collateral)}, below min_leader_usdc {usdc(least)}",
            details,
        )
    limited = market_filter(ctx, risk) or open_positions_limit(ctx, risk)
    return None if limited is None else Skip(limited.code, limited.reason, details)


def _decide_buy(fill: Fill, ctx: DecisionContext, risk: RiskSettings, details: dict[str, str]) -> OrderIntent | Skip:
    skip = _entry_skip(fill, ctx, risk, details)
    if skip is not None:
        return skip
    tick = _book_checks(ctx, risk, details)
    if isinstance(tick, Skip):
        return tick
    bound = buy_bound(fill.price, risk.max_slippage, tick)
    if bound is None:
        limit = fmt(fill.price + risk.max_slippage)
        return Skip(
            Reason.SLIPPAGE, f"slippage: worst acceptable {limit} is below the lowest valid price {fmt(tick)}", details
        )
    details["worst_price"] = fmt(bound)
    price = None
    if ctx.book is not None:
        price = ctx.book.best_ask
        if price is None:
            return Skip(Reason.NO_LIQUIDITY, "no liquidity: the book has no asks", details)
        details["best_ask"] = fmt(price)
        if price > bound:
            return Skip(
                Reason.SLIPPAGE, f"slippage: best ask {fmt(price)} above worst acceptable {fmt(bound)}", details
            )
    if risk.sizing == "risk" and price is None:
        return Skip(Reason.NO_PRICE, "no price: risk sizing needs the order book's best ask", details)
    return _size_buy(fill, ctx, risk, details, price, bound)


def _size_buy(
    fill: Fill,
    ctx: DecisionContext,
    risk: RiskSettings,
    details: dict[str, str],
    price: Decimal | None,
    bound: Decimal,
) -> OrderIntent | Skip:
    equity = ctx.equity or ctx.cash
    details["sizing"] = risk.sizing
    if risk.sizing in ("bankroll_pct", "risk"):
        details["equity_usdc"] = usdc(equity)
    raw = sized_usdc(fill, risk, equity, price)
    details["raw_usdc"] = fmt(raw.quantize(Decimal("0.000001"), rounding=ROUND_DOWN))
    spend = buy_spend(fill, risk, equity, price)  # clamped to [min, max], DOWN to a cent
    details["sized_usdc"] = usdc(spend)
    details["cash_usdc"] = usdc(ctx.cash)
    caps = rooms(ctx, risk)
    for cap in caps:
        if cap.name not in ("max_order_usdc", "cash"):  # those two are in sized_usdc / cash_usdc
            details[f"room_{cap.name}"] = usdc(cap.room)
    least = max(ceil_to(to_units(risk.min_order_usdc), CENT), CENT)  # a BUY is at least a cent
    if spend < least:
        return Skip(
            Reason.TOO_SMALL, f"too small: order sized at {usdc(spend)}, below the minimum {usdc(least)}", details
        )
    binding = tightest(caps)
    # the fee is paid on top of the spend: both must fit the caps and the cash
    fraction = fee_fraction(ctx.fee, *(p for p in (price, bound) if p is not None))
    room = spend_within(binding.room, fraction)
    if room < spend:
        if room < least:
            capped = cap_skip(binding, least)
            return Skip(capped.code, capped.reason, details)
        spend = room
        details["capped_by"] = binding.name
    minimum = ctx.book.min_order_size if ctx.book is not None else Decimal(0)
    got = shares_at(spend, bound)
    if minimum > 0 and got < minimum * UNIT:
        shown = fmt((got / UNIT).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
        what = f"{usdc(spend)} buys at least {shown} shares at {fmt(bound)}, below the market minimum {fmt(minimum)}"
        if not risk.round_up_to_minimum:
            return Skip(Reason.MIN_SIZE, f"min size: {what}", details)
        needed = spend_for(minimum, bound)
        if needed > room:
            return Skip(
                Reason.MIN_SIZE, f"min size: {what}; rounding up to {usdc(needed)} exceeds {binding.name}", details
            )
        spend = needed
        details["rounded_up_to_minimum"] = usdc(needed)
    details["spend_usdc"] = usdc(spend)
    if fraction > 0:
        details["fee_usdc_at_most"] = usdc(fee_at_most(spend, fraction))
    return OrderIntent(fill.token_id, Side.BUY, spend, bound, details, ctx.fee)


def _decide_sell(fill: Fill, ctx: DecisionContext, risk: RiskSettings, details: dict[str, str]) -> OrderIntent | Skip:
    details["our_shares"] = usdc(ctx.our_shares)
    details["leader_holding"] = "unknown" if ctx.leader_holding is None else usdc(ctx.leader_holding)
    if ctx.our_shares <= 0:
        return Skip(Reason.NOT_HELD, "not held: we hold no shares of this token from this leader", details)
    tick = _book_checks(ctx, risk, details)
    if isinstance(tick, Skip):
        return tick
    mirrored = sell_shares(fill, ctx.our_shares, ctx.leader_holding)
    shares = floor_to(mirrored, LOT)  # DOWN to 0.01 share: never more than we hold
    details["mirrored_shares"] = usdc(mirrored)
    if shares <= 0:
        return Skip(Reason.TOO_SMALL, "too small: mirrored sell rounds to zero shares", details)
    minimum = to_units(ctx.book.min_order_size) if ctx.book is not None else 0
    if shares < minimum:
        everything = floor_to(ctx.our_shares, LOT)
        if everything < minimum:
            return Skip(
                Reason.MIN_SIZE,
                f"min size: we hold {usdc(everything)} shares, below the market minimum {usdc(minimum)}",
                details,
            )
        shares = everything  # an exit below the minimum sells the whole position instead
        details["raised_to_all"] = "true"
    bound = sell_bound(fill.price, risk.max_slippage, tick)
    details["worst_price"] = fmt(bound)
    details["sell_shares"] = usdc(shares)
    return OrderIntent(fill.token_id, Side.SELL, shares, bound, details, ctx.fee)
