"""Pure limit checks for new BUYs: market filters, caps on what we hold, and the kill switches.

Each check returns a :class:`~copybot.models.Skip` (None = fine) or the room left under each cap;
``copybot.rules.risk.decide`` composes them. Exits (SELLs) are never limited here: nothing in this
module ever blocks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from copybot.config.settings import RiskSettings
from copybot.models import DecisionContext, Pause, PauseKind, Reason, Skip, to_units
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


def tripped(state: PauseInputs, risk: RiskSettings) -> Pause | None:
    """The kill switch these numbers trip, or None: the daily loss first
    (``-daily_pnl >= daily_loss_limit_usdc``, realized + unrealized since 00:00 UTC), then
    ``consecutive_failures >= max_consecutive_failures``. A limit of 0 is off. The caller latches a
    trip (it has the memory this function lacks): unrealized P&L can recover within the day.
    """
    limit = to_units(risk.daily_loss_limit_usdc)
    if limit > 0 and -state.daily_pnl >= limit:
        text = f"daily loss {usdc(-state.daily_pnl)} reached daily_loss_limit_usdc {usdc(limit)}"
        return Pause(PauseKind.DAILY_LOSS, text)
    most = risk.max_consecutive_failures
    if most > 0 and state.consecutive_failures >= most:
        text = f"{state.consecutive_failures} orders failed in a row (max_consecutive_failures {most})"
        return Pause(PauseKind.FAILURES, text)
    return None


def pause_reason(state: PauseInputs, risk: RiskSettings) -> str:
    """Why new BUYs are paused, or "" when they are not: a pause already in force
    (``paused_reason``, latched earlier), else a switch that trips now (:func:`tripped`).
    Exits are never paused."""
    if state.paused_reason:
        return state.paused_reason
    trip = tripped(state, risk)
    return trip.text if trip is not None else ""


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


def market_filter(ctx: DecisionContext, risk: RiskSettings) -> Skip | None:
    """Why ``allowed_markets`` / ``blocked_markets`` keep a BUY out of this market (None = they don't).

    An entry matches a condition id exactly or is a substring of the market slug (both already
    lowercase). With a list configured and the market unknown (no MarketInfo and no book), the
    BUY is refused: a filter that cannot be checked is not passed.
    """
    if not risk.allowed_markets and not risk.blocked_markets:
        return None
    condition, slug = _identity(ctx)
    if not condition and not slug:
        why = "market filter: the market is unknown, so allowed_markets/blocked_markets cannot be checked"
        return Skip(Reason.MARKET_FILTER, why)
    name = slug or condition
    hit = _match(risk.blocked_markets, condition, slug)
    if hit:
        return Skip(Reason.MARKET_BLOCKED, f"market blocked: {name} matches blocked_markets entry {hit!r}")
    if risk.allowed_markets and not _match(risk.allowed_markets, condition, slug):
        return Skip(Reason.MARKET_NOT_ALLOWED, f"market not allowed: {name} matches no allowed_markets entry")
    return None


def open_positions_limit(ctx: DecisionContext, risk: RiskSettings) -> Skip | None:
    """Why this BUY may not open a new position: ``max_open_positions`` already open (None = it may)."""
    most = risk.max_open_positions
    if most > 0 and not ctx.holds_token and ctx.open_positions >= most:
        return Skip(Reason.LIMIT, f"limit: max_open_positions {most} reached ({ctx.open_positions} open)")
    return None


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


def cap_skip(room: Room, minimum: int) -> Skip:
    """Why no BUY of at least ``minimum`` fits under ``room``."""
    if room.name == "cash":
        return Skip(
            Reason.INSUFFICIENT_BANKROLL,
            f"insufficient bankroll: cash {usdc(room.cap)} < minimum order {usdc(minimum)}",
        )
    held = f"; {usdc(room.used)} of {usdc(room.cap)} used" if room.used else ""
    why = f"limit: {room.name} leaves room for {usdc(room.room)}, below the minimum order {usdc(minimum)}{held}"
    return Skip(Reason.LIMIT, why)
