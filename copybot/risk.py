"""Pure sizing and checks: (fill, our context, limits) -> OrderIntent | Skip(reason).

Every reason starts with a stable code (``stale:``, ``slippage:`` ...) followed by the numbers that
led to it; ``details`` carries the same numbers as strings for the store.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from copybot.config import RiskSettings
from copybot.models import DecisionContext, Fill, OrderIntent, Side, Skip, from_units, to_units


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def buy_spend(fill: Fill, risk: RiskSettings) -> int:
    """Collateral (base units) to spend copying a leader BUY, clamped to [min, max] order size."""
    raw = risk.fixed_usdc if risk.sizing == "fixed" else from_units(fill.collateral) * risk.copy_ratio
    clamped = min(max(raw, risk.min_order_usdc), risk.max_order_usdc)
    return to_units(clamped.quantize(Decimal("0.000001"), rounding=ROUND_DOWN))


def sell_shares(fill: Fill, our_shares: int, leader_holding: int | None) -> int:
    """Shares to sell mirroring a leader SELL of ``fill.shares`` out of ``leader_holding``.

    The same fraction of our shares (rounded down); all of them when the leader's holding is
    unknown (they bought before we followed) or the sell is at least all they were seen holding.
    """
    if leader_holding is None or fill.shares >= leader_holding:
        return our_shares
    return our_shares * fill.shares // leader_holding


def decide(fill: Fill, ctx: DecisionContext, risk: RiskSettings) -> OrderIntent | Skip:
    price = fill.price
    details = {
        "leader_price": _fmt(price),
        "leader_shares": _fmt(from_units(fill.shares)),
        "leader_usdc": _fmt(from_units(fill.collateral)),
    }
    if fill.shares <= 0 or fill.collateral <= 0:
        return Skip("invalid: leader fill has a zero amount", details)
    if not 0 < price < 1:
        return Skip(f"invalid: leader price {_fmt(price)} is outside (0, 1)", details)
    if fill.side is Side.BUY:
        return _decide_buy(fill, ctx, risk, details)
    return _decide_sell(fill, ctx, details)


def _decide_buy(fill: Fill, ctx: DecisionContext, risk: RiskSettings, details: dict[str, str]) -> OrderIntent | Skip:
    age = ctx.now - fill.timestamp
    details["age_s"] = f"{age:.0f}"
    if age > risk.max_trade_age_s:
        return Skip(f"stale: leader fill is {age:.0f}s old (max {risk.max_trade_age_s:g}s)", details)
    if ctx.market is not None and (ctx.market.closed or not ctx.market.accepting_orders):
        return Skip("market closed: not accepting orders", details)
    spend = buy_spend(fill, risk)
    min_units = to_units(risk.min_order_usdc)
    details["sized_usdc"] = _fmt(from_units(spend))
    details["cash_usdc"] = _fmt(from_units(ctx.cash))
    if ctx.cash < spend:
        if ctx.cash < max(min_units, 1):
            return Skip(
                f"insufficient bankroll: cash {_fmt(from_units(ctx.cash))} < order {_fmt(from_units(spend))}",
                details,
            )
        spend = ctx.cash
    worst = fill.price + risk.max_slippage
    details["worst_price"] = _fmt(worst)
    return OrderIntent(fill.token_id, Side.BUY, spend, worst, details)


def _decide_sell(fill: Fill, ctx: DecisionContext, details: dict[str, str]) -> OrderIntent | Skip:
    details["our_shares"] = _fmt(from_units(ctx.our_shares))
    details["leader_holding"] = "unknown" if ctx.leader_holding is None else _fmt(from_units(ctx.leader_holding))
    if ctx.our_shares <= 0:
        return Skip("not held: we hold no shares of this token from this leader", details)
    shares = sell_shares(fill, ctx.our_shares, ctx.leader_holding)
    if shares <= 0:
        return Skip("too small: mirrored sell rounds to zero shares", details)
    details["sell_shares"] = _fmt(from_units(shares))
    return OrderIntent(fill.token_id, Side.SELL, shares, None, details)
