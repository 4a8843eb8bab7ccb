"""Pure limit checks for new BUYs: market filters, caps on what we hold, and the kill switches.

Each check returns a reason ("" = fine) or the room left under each cap; ``copybot.rules.risk.decide``
composes them. Exits (SELLs) are never limited here: nothing in this module ever blocks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from copybot.config.settings import RiskSettings
from copybot.models import DecisionContext, to_units
from copybot.protocol import CENT
from copybot.rules.sizing import floor_to, usdc


class PauseInputs(Protocol):
    """What :func:`pause_reason` reads: a ``DecisionContext`` or a ``models.TradingState``."""

    @property
    def daily_pnl(self) -> int: ...

    @property
    def consecutive_failures(self) -> int: ...

    @property
    def paused_reason(self) -> str: ...


def pause_reason(state: PauseInputs, risk: RiskSettings) -> str:
    """Why new BUYs are paused, or "" when they are not. Exits are never paused.

    In order: a pause already in force (``paused_reason``, set manually or latched earlier), the
    daily loss (``-daily_pnl >= daily_loss_limit_usdc``, realized + unrealized since 00:00 UTC),
    then ``consecutive_failures >= max_consecutive_failures``. A limit of 0 is off. The caller
    should latch a non-empty answer into ``paused_reason`` until 00:00 UTC or ``copybot resume``:
    unrealized P&L can recover within the day, and this function has no memory.
    """
    if state.paused_reason:
        return state.paused_reason
    limit = to_units(risk.daily_loss_limit_usdc)
    if limit > 0 and -state.daily_pnl >= limit:
        return f"daily loss {usdc(-state.daily_pnl)} reached daily_loss_limit_usdc {usdc(limit)}"
    most = risk.max_consecutive_failures
    if most > 0 and state.consecutive_failures >= most:
        return f"{state.consecutive_failures} orders failed in a row (max_consecutive_failures {most})"
    return ""


def _identity(ctx: DecisionContext) -> tuple[str, str]:
    """(condition id, slug) of the fill's market, lowercase; "" when unknown."""
    condition = ctx.market.condition_id if ctx.market is not None else ""
    if not condition and ctx.book is not None:
        condition = ctx.book.market
    slug = ctx.market.slug if ctx.market is not None else ""
    return condition.lower(), slug.lower()


def _match(entries: tuple[str, ...], condition: str, slug: str) -> str:
    """The first entry equal to the condition id or contained in the slug; "" if none."""
    for entry in entries:
        if (condition and entry == condition) or (slug and entry in slug):
            return entry
    return ""


def market_filter_reason(ctx: DecisionContext, risk: RiskSettings) -> str:
    """Why ``allowed_markets`` / ``blocked_markets`` keep a BUY out of this market ("" = they don't).

    An entry matches a condition id exactly or is a substring of the market slug (both already
    lowercase). With a list configured and the market unknown (no MarketInfo and no book), the
    BUY is refused: a filter that cannot be checked is not passed.
    """
    if not risk.allowed_markets and not risk.blocked_markets:
        return ""
    condition, slug = _identity(ctx)
    if not condition and not slug:
        return "market filter: the market is unknown, so allowed_markets/blocked_markets cannot be checked"
    name = slug or condition
    hit = _match(risk.blocked_markets, condition, slug)
    if hit:
        return f"market blocked: {name} matches blocked_markets entry {hit!r}"
    if risk.allowed_markets and not _match(risk.allowed_markets, condition, slug):
        return f"market not allowed: {name} matches no allowed_markets entry"
    return ""


def open_positions_reason(ctx: DecisionContext, risk: RiskSettings) -> str:
    """Why this BUY may not open a new position: ``max_open_positions`` already open ("" = it may)."""
    most = risk.max_open_positions
    if most > 0 and not ctx.holds_token and ctx.open_positions >= most:
        return f"limit: max_open_positions {most} reached ({ctx.open_positions} open)"
    return ""


@dataclass(frozen=True, slots=True)
class Room:
    """How much more a BUY may spend under one cap (base units, whole cents, never negative)."""

    name: str  # the settings key (or "cash")
    room: int
    used: int  # what the cap already holds (0 for cash and max_order_usdc)
    cap: int


def rooms(ctx: DecisionContext, risk: RiskSettings) -> list[Room]:
    """The room under every cap that applies to a BUY, the binding one first on ties.

    Order: ``max_order_usdc``, cash, ``max_position_usdc`` (this token), ``max_market_usdc``
    (this condition), ``max_exposure_usdc`` (everything held). Caps set to 0 are off and absent.
    Rooms round DOWN to a cent, so a BUY shrunk to one is a valid collateral amount.
    """
    max_order = to_units(risk.max_order_usdc)
    out = [Room("max_order_usdc", floor_to(max_order, CENT), 0, max_order)]
    out.append(Room("cash", floor_to(max(ctx.cash, 0), CENT), 0, ctx.cash))
    for name, cap, used in (
        ("max_position_usdc", risk.max_position_usdc, ctx.token_cost),
        ("max_market_usdc", risk.max_market_usdc, ctx.market_cost),
        ("max_exposure_usdc", risk.max_exposure_usdc, ctx.total_cost),
    ):
        units = to_units(cap)
        if units > 0:
            out.append(Room(name, floor_to(max(units - used, 0), CENT), used, units))
    return out


def tightest(caps: list[Room]) -> Room:
    """The cap with the least room (the first of equals)."""
    return min(caps, key=lambda r: r.room)


def cap_reason(room: Room, minimum: int) -> str:
    """Why no BUY of at least ``minimum`` fits under ``room``."""
    if room.name == "cash":
        return f"insufficient bankroll: cash {usdc(room.cap)} < minimum order {usdc(minimum)}"
    held = f"; {usdc(room.used)} of {usdc(room.cap)} used" if room.used else ""
    return f"limit: {room.name} leaves room for {usdc(room.room)}, below the minimum order {usdc(minimum)}{held}"
