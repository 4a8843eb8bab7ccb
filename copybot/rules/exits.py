"""Pure exit rules for an open position: (position, best bid, now, settings) -> ExitSignal or None (hold).

Rules, first match wins:

1. ``RESOLVED``: the market resolved (the caller passes what the outcome pays, 1 or 0);
2. ``STOP_LOSS``: shares x bid <= cost x (1 - stop_loss);
3. ``TRAILING_STOP``: bid <= high-water bid x (1 - trailing_stop);
4. ``TAKE_PROFIT``: shares x bid >= cost x (1 + take_profit);
5. ``MAX_HOLD``: held for at least ``max_hold_s``.

TP/SL and the trailing stop are judged on the best bid (what we could actually sell at) and
never within ``min_hold_s`` of opening; resolution and the maximum holding time ignore
``min_hold_s``. A threshold reached exactly triggers. Comparisons are exact (Decimal x int).
"""

from __future__ import annotations

from decimal import Decimal

from copybot.config.settings import ExitSettings
from copybot.models import ExitRule, ExitSignal, Position
from copybot.rules.sizing import fmt, usdc


def _pct(fraction: Decimal) -> str:
    return fmt((fraction * 100).quantize(Decimal("0.01")))


def _price_rules(position: Position, bid: Decimal, exits: ExitSettings) -> ExitSignal | None:
    value = position.shares * bid  # base units of pUSD, exact
    cost = position.cost
    change = (value - cost) / cost if cost > 0 else Decimal(0)
    worth = f"bid {fmt(bid)} values {usdc(position.shares)} shares at {usdc(int(value))}, cost {usdc(cost)}"
    if cost > 0 and exits.stop_loss > 0 and value <= cost * (1 - exits.stop_loss):
        return ExitSignal(ExitRule.STOP_LOSS, f"stop loss: {worth} ({_pct(change)}%, limit -{_pct(exits.stop_loss)}%)")
    high = max(position.high_water or Decimal(0), bid)
    if exits.trailing_stop > 0 and high > 0 and bid <= high * (1 - exits.trailing_stop):
        drop = (high - bid) / high
        text = (
            f"trailing stop: bid {fmt(bid)} is {_pct(drop)}% below the high-water bid {fmt(high)} "
            f"(limit {_pct(exits.trailing_stop)}%)"
        )
        return ExitSignal(ExitRule.TRAILING_STOP, text)
    if cost > 0 and exits.take_profit > 0 and value >= cost * (1 + exits.take_profit):
        return ExitSignal(
            ExitRule.TAKE_PROFIT, f"take profit: {worth} (+{_pct(change)}%, target +{_pct(exits.take_profit)}%)"
        )
    return None


def exit_reason(
    position: Position,
    bid: Decimal | None,
    now: float,
    exits: ExitSettings,
    min_hold_s: float = 0.0,
    resolved_price: Decimal | None = None,
) -> ExitSignal | None:
    """Why ``position`` should be closed now, or None to hold it.

    ``bid`` is the token's best bid (None or 0 = no bids: only resolution and max hold can fire);
    ``now`` unix seconds; ``min_hold_s`` is the leader's ``risk.min_hold_s``; ``resolved_price``
    is what a share pays once the market resolved (None = not resolved). Mirrored leader sells
    are not decided here: they come through ``risk.decide`` (see ``exits.mirror_leader_sells``).
    """
    if position.shares <= 0:
        return None
    if resolved_price is not None:
        return ExitSignal(ExitRule.RESOLVED, f"resolved: the outcome pays {fmt(resolved_price)}")
    held = now - position.opened_at
    if bid is not None and bid > 0 and held >= min_hold_s:
        signal = _price_rules(position, bid, exits)
        if signal is not None:
            return signal
    if exits.max_hold_s > 0 and held >= exits.max_hold_s:
        return ExitSignal(ExitRule.MAX_HOLD, f"max hold: held {held:.0f}s (max {exits.max_hold_s:g}s)")
    return None
