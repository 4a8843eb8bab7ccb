"""Kill switches: daily loss and consecutive failures pause new BUYs until the next UTC day or
``copybot resume``. Exits always run.

The rule itself is pure (``limits.pause_reason``); this module keeps its memory in the store: the
UTC day, the equity at its start (daily P&L = equity now - equity then), the failure streak, and
a latched pause (so a recovering P&L does not un-pause mid-day).
"""

from __future__ import annotations

import time

from copybot.config.settings import RiskSettings
from copybot.models import TradingState
from copybot.rules.limits import pause_reason
from copybot.store import Store


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def trading_state(store: Store, equity: int, risk: RiskSettings, now: float) -> TradingState:
    """Today's kill-switch inputs; rolls the day over and latches a new pause. The daily P&L counts
    from the day's first look, or from the last ``copybot resume`` (which accepts the loss so far)."""
    state = store.risk_state()
    today = utc_day(now)
    if state["day"] != today or state["day_start_equity"] is None:
        updates: dict[str, object] = {"day": today, "day_start_equity": equity}
        if state["paused_reason"] and state["paused_day"] != today and state["paused_reason"].startswith("daily"):
            updates.update(paused_reason="", paused_day=None)  # a daily-loss pause ends with the day
        store.update_risk_state(**updates)
        state = store.risk_state()
    daily = equity - int(state["day_start_equity"] if state["day_start_equity"] is not None else equity)
    current = TradingState(daily, int(state["consecutive_failures"]), str(state["paused_reason"]))
    reason = pause_reason(current, risk)
    if reason and not current.paused_reason:
        store.update_risk_state(paused_reason=reason, paused_day=today)
        current = TradingState(daily, current.consecutive_failures, reason)
    return current


def count_outcomes(store: Store, failed: int, filled: int) -> None:
    """A success resets the failure streak; failures since the last success add to it."""
    if filled:
        store.update_risk_state(consecutive_failures=failed)
    elif failed:
        store.update_risk_state(consecutive_failures=int(store.risk_state()["consecutive_failures"]) + failed)


def resume(store: Store) -> str:
    """Clear a pause (``copybot resume``); returns the reason that was cleared. The daily loss
    counts again from the next look at equity: otherwise today's loss would re-pause at once."""
    was = str(store.risk_state()["paused_reason"])
    store.update_risk_state(paused_reason="", paused_day=None, consecutive_failures=0, day_start_equity=None)
    return was
