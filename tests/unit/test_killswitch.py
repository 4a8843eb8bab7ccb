"""The kill switch's memory in a real store: a daily-loss pause ends with the UTC day, a failure
streak only with `copybot resume`; a success resets the streak."""

from __future__ import annotations

from decimal import Decimal

import pytest

from copybot.config.settings import RiskSettings
from copybot.models import PauseKind
from copybot.store import Store
from copybot.trading.killswitch import count_outcomes, resume, trading_state

U = 10**6
DAY = 86_400.0
MONDAY_NOON = 1_790_000_000.0 - 1_790_000_000.0 % DAY + DAY / 2  # 12:00 UTC
RISK = RiskSettings(daily_loss_limit_usdc=Decimal(50), max_consecutive_failures=3)


def test_a_daily_loss_pause_latches_for_the_day_and_lifts_at_the_next(store: Store) -> None:
    assert trading_state(store, 1000 * U, RISK, MONDAY_NOON).paused_reason == ""  # the day's first look
    state = trading_state(store, 940 * U, RISK, MONDAY_NOON + 60)  # -60 against a 50 limit
    assert state.paused_reason == "daily loss 60 reached daily_loss_limit_usdc 50"
    assert store.risk_state().paused_kind is PauseKind.DAILY_LOSS
    # equity recovers within the day: still paused (latched)
    assert trading_state(store, 1000 * U, RISK, MONDAY_NOON + 3600).paused_reason.startswith("daily loss")
    # 00:00 UTC: a new day, a new start; the pause is gone and the day's P&L counts from here
    tuesday = trading_state(store, 940 * U, RISK, MONDAY_NOON + DAY / 2 + 1)
    assert (tuesday.paused_reason, tuesday.daily_pnl) == ("", 0)
    assert store.risk_state().paused_kind is PauseKind.NONE


def test_a_failure_pause_does_not_end_with_the_day(store: Store) -> None:
    count_outcomes(store, failed=3, filled=0)
    state = trading_state(store, 1000 * U, RISK, MONDAY_NOON)
    assert state.paused_reason == "3 orders failed in a row (max_consecutive_failures 3)"
    assert store.risk_state().paused_kind is PauseKind.FAILURES
    tomorrow = trading_state(store, 1000 * U, RISK, MONDAY_NOON + DAY)
    assert tomorrow.paused_reason.startswith("3 orders failed"), "only `copybot resume` lifts it"
    assert resume(store).startswith("3 orders failed")
    assert trading_state(store, 1000 * U, RISK, MONDAY_NOON + DAY + 1).paused_reason == ""


@pytest.mark.parametrize(
    ("batches", "streak"),
    [
        ([(2, 0), (1, 0)], 3),  # failures add up across batches
        ([(2, 0), (0, 1)], 0),  # a success resets the streak
        ([(2, 0), (1, 1)], 1),  # a batch with a success counts only its own failures
        ([(0, 0)], 0),
    ],
)
def test_the_failure_streak(store: Store, batches: list[tuple[int, int]], streak: int) -> None:
    for failed, filled in batches:
        count_outcomes(store, failed=failed, filled=filled)
    assert store.risk_state().consecutive_failures == streak
