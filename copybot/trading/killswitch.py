"""Kill switches: daily loss and consecutive failures pause new BUYs until the next UTC day or
``copybot resume``. Exits always run.

The rule itself is pure (``limits.tripped``); this module keeps its memory in the store: the
UTC day, the equity at its start (daily P&L = equity now - equity then), the failure streak, and
a latched pause (so a recovering P&L does not un-pause mid-day).
"""

from __future__ import annotations

import time

from copybot.config.settings import RiskSettings
from copybot.models import PauseKind, TradingState
from copybot.rules.limits import tripped
from copybot.store import Store


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def trading_state(store: Store, equity: int, risk: RiskSettings, now: float) -> TradingState:
    """Today's kill-switch inputs; rolls the day over and latches a new pause. The daily P&L counts
    from the day's first look, or from the last ``copybot resume`` (which accepts the loss so far)."""
    state = store.risk_state()
    today = utc_day(now)
    if state.day != today or state.day_start_equity is None:
        updates: dict[str, object] = {"day": today, "day_start_equity": equity}
        if state.paused_kind is PauseKind.DAILY_LOSS and state.paused_day != today:
            updates.update(paused_reason="", paused_kind=PauseKind.NONE.value, paused_day=None)  # ends with the day
        store.update_risk_state(**updates)
        state = store.risk_state()
    start = state.day_start_equity if state.day_start_equity is not None else equity
    current = TradingState(equity - start, state.consecutive_failures, state.paused_reason)
    trip = None if current.paused_reason else tripped(current, risk)
    if trip is not None:
        store.update_risk_state(paused_reason=trip.text, paused_kind=trip.kind.value, paused_day=today)
        current = TradingState(current.daily_pnl, current.consecutive_failures, trip.text)
    return current


def count_outcomes(store: Store, failed: int, filled: int) -> None:
    """A success resets the failure streak; failures since the last success add to it."""
    if filled:
        store.update_risk_state(consecutive_failures=failed)
    elif failed:
        store.update_risk_state(consecutive_failures=store.risk_state().consecutive_failures + failed)


def resume(store: Store) -> str:
    """Clear a pause (``copybot resume``); returns the reason that was cleared. The daily loss
    counts again from the next look at equity: otherwise today's loss would re-pause at once."""
    was = store.risk_state().paused_reason
    lifted = {"paused_reason": "", "paused_kind": PauseKind.NONE.value, "paused_day": None}
    store.update_risk_state(**lifted, consecutive_failures=0, day_start_equity=None)
    return was
