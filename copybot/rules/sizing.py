"""Pure order arithmetic: how much a copied BUY spends, how many shares a SELL mirrors, price
bounds on the book's tick, and the rounding of each.

Rounding always favours the caps: spend and shares round DOWN (an order never exceeds what was
sized or held), a BUY's worst price rounds DOWN and a SELL's UP (never a worse bound than the
leader's price +/- ``max_slippage``). The one deliberate UP is :func:`ceil_to`, used when an order
is raised to the market's minimum size, and only after the caps have been checked.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from copybot.config.settings import RiskSettings
from copybot.models import Fill, Side, from_units, to_units
from copybot.protocol import CENT, UNIT

MIN_DISTANCE = Decimal("0.001")  # risk sizing: the price distance never counts as less than 0.1% of price


def fmt(value: Decimal | int) -> str:
    """A number for reasons and details: plain notation, no trailing zeros."""
    value = Decimal(value)
    return format(value.normalize(), "f") if value else "0"


def usdc(units: int) -> str:
    """Base units as a pUSD (or share) amount for reasons and details."""
    return fmt(from_units(units))


def floor_to(units: int, step: int) -> int:
    """``units`` rounded DOWN to a multiple of ``step`` (toward minus infinity)."""
    return units - units % step


def ceil_to(units: int, step: int) -> int:
    """``units`` rounded UP to a multiple of ``step``."""
    return -floor_to(-units, step)


def price_floor(price: Decimal, tick: Decimal) -> Decimal:
    """``price`` rounded DOWN to a multiple of ``tick``."""
    return (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


def price_ceil(price: Decimal, tick: Decimal) -> Decimal:
    """``price`` rounded UP to a multiple of ``tick``."""
    return (price / tick).to_integral_value(rounding=ROUND_CEILING) * tick


def buy_bound(leader_price: Decimal, slippage: Decimal, tick: Decimal) -> Decimal | None:
    """The highest price a BUY copying ``leader_price`` accepts: ``leader_price + slippage`` clipped
    to ``1 - tick`` and rounded DOWN to the tick, so it never exceeds leader + slippage.

    None when that is below the lowest valid price ``tick``: no valid order can honour it, and
    the caller skips rather than pay more.
    """
    bound = price_floor(min(leader_price + slippage, 1 - tick), tick)
    return bound if bound >= tick else None


def sell_bound(leader_price: Decimal, slippage: Decimal, tick: Decimal) -> Decimal:
    """The lowest price a SELL copying ``leader_price`` accepts: ``leader_price - slippage``
    rounded UP to the tick and clipped into [tick, 1 - tick].

    Never below leader - slippage, except when that is above ``1 - tick``, the highest price a
    SELL can ask: the bound is then ``1 - tick`` (an exit is never blocked by the clip).
    """
    return min(max(price_ceil(leader_price - slippage, tick), tick), 1 - tick)


def price_bound(side: Side, leader_price: Decimal, slippage: Decimal, tick: Decimal) -> Decimal | None:
    """:func:`buy_bound` or :func:`sell_bound` by ``side``."""
    if side is Side.BUY:
        return buy_bound(leader_price, slippage, tick)
    return sell_bound(leader_price, slippage, tick)


def sized_usdc(fill: Fill, risk: RiskSettings, equity: int, price: Decimal | None) -> Decimal:
    """The raw size of a copied BUY in pUSD, before clamping to [min, max] and rounding.

    ``equity`` (base units) feeds ``bankroll_pct`` and ``risk``; ``price`` is what the BUY would
    pay now (the best ask), needed by ``risk`` sizing only:
    shares = equity x risk_per_trade / max(|price - leader price|, 0.1% x price); spend = shares x price.
    So the copy shrinks as the market runs away from the price the leader got.
    """
    if risk.sizing == "fixed":
        return risk.fixed_usdc
    if risk.sizing == "proportional":
        return from_units(fill.collateral) * risk.copy_ratio
    if risk.sizing == "bankroll_pct":
        return from_units(equity) * risk.bankroll_pct
    if price is None or price <= 0:
        raise ValueError("risk sizing needs the current price")
    distance = max(abs(price - fill.price), MIN_DISTANCE * price)
    # (equity x risk / distance) shares x price, dividing last so an exact result stays exact
    return from_units(equity) * risk.risk_per_trade * price / distance


def buy_spend(fill: Fill, risk: RiskSettings, equity: int = 0, price: Decimal | None = None) -> int:
    """Collateral (base units) to spend copying a leader BUY: :func:`sized_usdc` clamped to
    [min_order_usdc, max_order_usdc], then rounded DOWN to a whole cent (so it never exceeds the max).
    """
    raw = sized_usdc(fill, risk, equity, price)
    clamped = min(max(raw, risk.min_order_usdc), risk.max_order_usdc)
    return floor_to(to_units(clamped.quantize(Decimal("0.000001"), rounding=ROUND_DOWN)), CENT)


def sell_shares(fill: Fill, our_shares: int, leader_holding: int | None) -> int:
    """Shares to sell mirroring a leader SELL of ``fill.shares`` out of ``leader_holding``.

    The same fraction of our shares (rounded down to a base unit; the caller rounds to
    :data:`~copybot.protocol.LOT`); all of them when the leader's holding is unknown (they bought before we
    followed) or the sell is at least all they were seen holding.
    """
    if leader_holding is None or fill.shares >= leader_holding:
        return our_shares
    return our_shares * fill.shares // leader_holding


def shares_at(spend: int, price: Decimal) -> Decimal:
    """Shares (base units, exact) that ``spend`` buys at ``price``: the fewest a BUY bounded by it gets."""
    return Decimal(spend) / price


def spend_for(shares: Decimal, price: Decimal) -> int:
    """Collateral (base units) that buys ``shares`` (whole shares, not base units) at ``price``,
    rounded UP to a whole cent so it really buys them."""
    return ceil_to(int((shares * price * UNIT).to_integral_value(rounding=ROUND_CEILING)), CENT)
