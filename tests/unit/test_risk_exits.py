"""Exit rules for open positions (copybot.rules.exits.exit_reason): pure tables."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from copybot.config.settings import ExitSettings
from copybot.models import ExitRule, Position
from copybot.rules.exits import exit_reason

U = 1_000_000
NOW = 1_790_000_000.0
ALL = {"take_profit": "0.5", "stop_loss": "0.25", "trailing_stop": "0.1"}


def pos(shares: int = 100 * U, cost: int = 40 * U, held_s: float = 3600.0, high: str | None = None) -> Position:
    """100 shares bought at 0.40 an hour ago."""
    water = None if high is None else Decimal(high)
    return Position("0xleader", 1, "0xmarket", shares=shares, cost=cost, opened_at=NOW - held_s, high_water=water)


RULES = {
    "resolved:": ExitRule.RESOLVED,
    "stop loss:": ExitRule.STOP_LOSS,
    "trailing stop:": ExitRule.TRAILING_STOP,
    "take profit:": ExitRule.TAKE_PROFIT,
    "max hold:": ExitRule.MAX_HOLD,
}


@pytest.mark.parametrize(
    ("position", "bid", "settings", "min_hold", "prefix"),
    [
        pytest.param(pos(), "0.40", ALL, 0, "", id="flat-holds"),
        pytest.param(pos(), "0.60", ALL, 0, "take profit:", id="tp-exactly-at-target"),
        pytest.param(pos(), "0.59", ALL, 0, "", id="tp-just-below"),
        pytest.param(pos(), "0.30", ALL, 0, "stop loss:", id="sl-exactly-at-limit"),
        pytest.param(pos(), "0.31", ALL, 0, "", id="sl-just-above"),
        pytest.param(pos(high="0.60"), "0.54", ALL, 0, "trailing stop:", id="trail-exactly-10pct-off-high"),
        pytest.param(pos(high="0.60"), "0.55", ALL, 0, "", id="trail-just-above"),
        pytest.param(pos(high="0.50"), "0.60", ALL, 0, "take profit:", id="new-high-is-not-a-drop"),
        pytest.param(pos(high="0.60"), "0.30", ALL, 0, "stop loss:", id="sl-before-trailing"),
        pytest.param(pos(high="0.80"), "0.70", ALL, 0, "trailing stop:", id="trailing-before-tp"),
        pytest.param(pos(), "0.99", {}, 0, "", id="all-off"),
        pytest.param(pos(), "0.01", {}, 0, "", id="all-off-low"),
        pytest.param(pos(), "0.60", {"stop_loss": "0.25"}, 0, "", id="only-sl-ignores-gain"),
        pytest.param(pos(), "0.30", {"take_profit": "0.5"}, 0, "", id="only-tp-ignores-loss"),
        pytest.param(pos(), None, ALL, 0, "", id="no-bids-no-tp-sl"),
        pytest.param(pos(shares=0), "0.99", ALL, 0, "", id="nothing-held"),
        pytest.param(pos(cost=0, high="0.60"), "0.99", ALL, 0, "", id="free-shares-no-tp"),
        pytest.param(pos(cost=0, high="0.60"), "0.50", ALL, 0, "trailing stop:", id="free-shares-trailing"),
        pytest.param(pos(cost=33_333_333), "0.50", ALL, 0, "take profit:", id="exact-decimal-threshold"),
        # never within min_hold_s of opening for TP/SL/trailing
        pytest.param(pos(held_s=10), "0.30", ALL, 60, "", id="sl-within-min-hold"),
        pytest.param(pos(held_s=10), "0.60", ALL, 60, "", id="tp-within-min-hold"),
        pytest.param(pos(held_s=10, high="0.6"), "0.5", ALL, 60, "", id="trail-within-min-hold"),
        pytest.param(pos(held_s=60), "0.30", ALL, 60, "stop loss:", id="sl-once-min-hold-passed"),
        # the maximum holding time ignores min_hold_s
        pytest.param(pos(held_s=3600), "0.40", {"max_hold_s": 3600}, 0, "max hold:", id="max-hold-reached"),
        pytest.param(pos(held_s=3599), "0.40", {"max_hold_s": 3600}, 0, "", id="max-hold-not-yet"),
        pytest.param(pos(held_s=3600), "0.40", {"max_hold_s": 3600}, 7200, "max hold:", id="max-hold-in-min-hold"),
        pytest.param(pos(held_s=3600), None, {"max_hold_s": 60}, 0, "max hold:", id="max-hold-without-bids"),
        pytest.param(pos(held_s=10), "0.30", {**ALL, "max_hold_s": 5}, 60, "max hold:", id="max-hold-not-sl"),
    ],
)
def test_exit_reason(
    position: Position, bid: str | None, settings: dict[str, Any], min_hold: float, prefix: str
) -> None:
    why = exit_reason(position, None if bid is None else Decimal(bid), NOW, ExitSettings(**settings), min_hold)
    if prefix:
        assert why is not None and why.rule is RULES[prefix], why
        assert why.text.startswith(prefix) and "\n" not in why.text, why
    else:
        assert why is None


@pytest.mark.parametrize(
    ("bid", "expected"),
    [
        ("0.30", "stop loss: bid 0.3 values 100 shares at 30, cost 40 (-25%, limit -25%)"),
        ("0.62", "take profit: bid 0.62 values 100 shares at 62, cost 40 (+55%, target +50%)"),
    ],
)
def test_exit_reason_names_the_numbers(bid: str, expected: str) -> None:
    why = exit_reason(pos(), Decimal(bid), NOW, ExitSettings(**ALL))
    assert why is not None and why.text == expected


def test_trailing_stop_message() -> None:
    why = exit_reason(pos(high="0.60"), Decimal("0.50"), NOW, ExitSettings(trailing_stop=Decimal("0.1")))
    assert why is not None and why.rule is ExitRule.TRAILING_STOP
    assert why.text == "trailing stop: bid 0.5 is 16.67% below the high-water bid 0.6 (limit 10%)"


@pytest.mark.parametrize(("pays", "text"), [("1", "1"), ("0", "0")])
def test_resolution_ignores_min_hold_and_everything_else(pays: str, text: str) -> None:
    why = exit_reason(pos(held_s=1), Decimal("0.30"), NOW, ExitSettings(**ALL), 3600, resolved_price=Decimal(pays))
    assert why is not None and why.rule is ExitRule.RESOLVED and why.text == f"resolved: the outcome pays {text}"
