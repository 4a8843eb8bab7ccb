"""Sizing modes, price bounds on every tick size, and rounding (copybot.rules.sizing via copybot.rules.risk.decide)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from copybot.config.settings import RiskSettings
from copybot.models import DecisionContext, Fill, OrderIntent, Side, Skip
from copybot.rules.risk import decide
from copybot.rules.sizing import buy_bound, ceil_to, floor_to, price_bound, sell_bound, spend_for
from tests.support.risk import TOKEN, U, book, full_ctx, make_fill


def buy_at(leader_price: str) -> Fill:
    """A 100-share leader BUY at ``leader_price``."""
    return make_fill(shares=100 * U, collateral=int(Decimal(leader_price) * 100 * U))


# ---- sizing modes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "fill", "context", "amount"),
    [
        pytest.param({}, make_fill(), full_ctx(), 10 * U, id="fixed"),
        pytest.param({"sizing": "proportional"}, make_fill(), full_ctx(), 4_200_000, id="proportional-0.1x42"),
        pytest.param(
            {"sizing": "bankroll_pct", "bankroll_pct": "0.02"}, make_fill(), full_ctx(equity=1000 * U), 20 * U, id="pct"
        ),
        pytest.param(
            {"sizing": "bankroll_pct", "bankroll_pct": "0.02"},
            make_fill(),
            full_ctx(equity=0, cash=500 * U),
            10 * U,
            id="pct-equity-0-uses-cash",
        ),
        pytest.param(
            {"sizing": "bankroll_pct"}, make_fill(), full_ctx(equity=1_234_567_891), 12_340_000, id="pct-down-to-cent"
        ),
        pytest.param(
            {"sizing": "bankroll_pct", "bankroll_pct": "1"},
            make_fill(),
            full_ctx(equity=10**5 * U),
            100 * U,
            id="pct-max",
        ),
        pytest.param(
            {"sizing": "bankroll_pct", "bankroll_pct": "0.0001"},
            make_fill(),
            full_ctx(equity=1000 * U),
            1 * U,
            id="pct-raised-to-min",
        ),
        # risk: shares = equity x risk_per_trade / max(|ask - leader|, 0.1% x ask); spend = shares x ask
        pytest.param(
            {"sizing": "risk", "max_order_usdc": "1000", "max_slippage": "0.05"},
            buy_at("0.42"),
            full_ctx(equity=1000 * U, book=book(ask="0.45")),
            150 * U,  # 10 / 0.03 = 333.33.. shares x 0.45 = 150 exactly (not 149.99)
            id="risk-ran-away-3c",
        ),
        pytest.param(
            {"sizing": "risk", "max_slippage": "0.05"},
            buy_at("0.42"),
            full_ctx(equity=1000 * U, book=book(ask="0.45")),
            100 * U,
            id="risk-capped-at-max-order",
        ),
        pytest.param(
            {"sizing": "risk", "max_order_usdc": "500"},
            buy_at("0.42"),
            full_ctx(equity=1000 * U, book=book(ask="0.42")),
            500 * U,  # distance floored at 0.1% x 0.42: 10 / 0.00042 x 0.42 = 10,000, capped at 500
            id="risk-no-move-uses-floor",
        ),
        pytest.param(
            {"sizing": "risk", "risk_per_trade": "0.001"},
            buy_at("0.42"),
            full_ctx(equity=1000 * U),
            43 * U,  # 1 / 0.01 = 100 shares x 0.43
            id="risk-1c",
        ),
        pytest.param(
            {"sizing": "risk", "max_order_usdc": "1000"},
            buy_at("0.42"),
            full_ctx(equity=1000 * U, book=book(ask="0.40")),
            200 * U,  # the market moved our way: |0.40 - 0.42| still counts
            id="risk-cheaper-than-leader",
        ),
        pytest.param(
            {"sizing": "risk", "risk_per_trade": "0.001", "max_slippage": "0.25"},
            buy_at("0.30"),
            full_ctx(equity=1000 * U, book=book(ask="0.50")),
            2_500_000,  # 1 / 0.20 = 5 shares x 0.50: the copy shrinks as the market runs away
            id="risk-ran-away-20c",
        ),
        pytest.param(
            {"sizing": "risk", "max_order_usdc": "1000"},
            buy_at("0.42"),
            full_ctx(equity=0, cash=500 * U),
            215 * U,  # equity 0 = cash: 5 / 0.01 x 0.43
            id="risk-equity-0-uses-cash",
        ),
        pytest.param(
            {"sizing": "risk", "max_slippage": "0.1"},
            buy_at("0.38"),
            full_ctx(equity=1000 * U, book=book(ask="0.45")),
            64_280_000,  # 10 x 0.45 / 0.07 = 64.2857.. DOWN to the cent
            id="risk-repeating-down",
        ),
    ],
)
def test_sizing_modes(settings: dict[str, Any], fill: Fill, context: DecisionContext, amount: int) -> None:
    out = decide(fill, context, RiskSettings(**settings))
    assert isinstance(out, OrderIntent), out
    assert (out.side, out.amount) == (Side.BUY, amount)
    assert out.amount % 10_000 == 0
    assert out.details["sizing"] == settings.get("sizing", "fixed")


def test_risk_sizing_records_its_inputs() -> None:
    risk = RiskSettings(sizing="risk", max_slippage=Decimal("0.1"))
    out = decide(buy_at("0.38"), full_ctx(equity=1000 * U, book=book(ask="0.45")), risk)
    assert isinstance(out, OrderIntent)
    d = out.details
    assert (d["equity_usdc"], d["best_ask"], d["leader_price"]) == ("1000", "0.45", "0.38")
    assert (d["raw_usdc"], d["sized_usdc"], d["spend_usdc"]) == ("64.285714", "64.28", "64.28")


@pytest.mark.parametrize(
    ("context", "prefix"),
    [
        pytest.param(full_ctx(book=None), "no price:", id="no-book"),
        pytest.param(full_ctx(book=book(ask=None)), "no liquidity:", id="no-asks"),
    ],
)
def test_risk_sizing_needs_the_ask(context: DecisionContext, prefix: str) -> None:
    out = decide(make_fill(), context, RiskSettings(sizing="risk"))
    assert isinstance(out, Skip) and out.reason.startswith(prefix), out


# ---- price bounds ----------------------------------------------------------------------------

TICKS = ["0.1", "0.01", "0.001", "0.0001"]


@pytest.mark.parametrize(
    ("leader", "slippage", "tick", "expected"),
    [
        ("0.42", "0.02", "0.01", "0.44"),
        ("0.42", "0.02", "0.1", "0.4"),  # DOWN, even below the leader's own price
        ("0.123456", "0.02", "0.1", "0.1"),
        ("0.123456", "0.02", "0.01", "0.14"),
        ("0.123456", "0.02", "0.001", "0.143"),
        ("0.123456", "0.02", "0.0001", "0.1434"),
        ("0.97", "0.05", "0.01", "0.99"),  # clipped to 1 - tick
        ("0.97", "0.05", "0.001", "0.999"),
        ("0.9999", "0.05", "0.0001", "0.9999"),
        ("0.95", "0.5", "0.1", "0.9"),
        ("0.0001", "0", "0.0001", "0.0001"),
        ("0.0004", "0", "0.001", None),  # below the lowest valid price: no valid order honours it
        ("0.05", "0.02", "0.1", None),
    ],
)
def test_buy_bound(leader: str, slippage: str, tick: str, expected: str | None) -> None:
    bound = buy_bound(Decimal(leader), Decimal(slippage), Decimal(tick))
    assert bound == price_bound(Side.BUY, Decimal(leader), Decimal(slippage), Decimal(tick))
    if expected is None:
        assert bound is None
        return
    assert bound == Decimal(expected)
    assert bound % Decimal(tick) == 0
    assert bound <= Decimal(leader) + Decimal(slippage)


@pytest.mark.parametrize(
    ("leader", "slippage", "tick", "expected"),
    [
        ("0.123456", "0.02", "0.1", "0.2"),  # 0.103456 UP
        ("0.123456", "0.02", "0.01", "0.11"),
        ("0.123456", "0.02", "0.001", "0.104"),
        ("0.123456", "0.02", "0.0001", "0.1035"),
        ("0.42", "0.02", "0.01", "0.4"),
        ("0.01", "0.02", "0.01", "0.01"),  # clipped up to the tick
        ("0.01", "0.02", "0.001", "0.001"),
        ("0.05", "0.5", "0.1", "0.1"),
        ("0.995", "0", "0.001", "0.995"),
        ("0.995", "0", "0.01", "0.99"),  # 1.00 is not a valid price: clipped to 1 - tick (documented)
    ],
)
def test_sell_bound(leader: str, slippage: str, tick: str, expected: str) -> None:
    bound = sell_bound(Decimal(leader), Decimal(slippage), Decimal(tick))
    assert bound == price_bound(Side.SELL, Decimal(leader), Decimal(slippage), Decimal(tick))
    assert bound == Decimal(expected)
    assert bound % Decimal(tick) == 0
    assert Decimal(tick) <= bound <= 1 - Decimal(tick)


@pytest.mark.parametrize(
    ("tick", "ask", "worst"),
    [("0.1", "0.4", "0.4"), ("0.01", "0.43", "0.44"), ("0.001", "0.431", "0.44"), ("0.0001", "0.4301", "0.44")],
)
def test_decide_puts_the_buy_bound_on_the_books_tick(tick: str, ask: str, worst: str) -> None:
    out = decide(make_fill(), full_ctx(book=book(ask=ask, tick=tick)), RiskSettings())
    assert isinstance(out, OrderIntent), out
    assert out.worst_price == Decimal(worst)
    assert out.details["tick"] == tick


@pytest.mark.parametrize("tick", TICKS)
def test_decide_puts_the_sell_bound_on_the_books_tick(tick: str) -> None:
    fill = make_fill(Side.SELL, shares=100 * U, collateral=12_345_600)  # 0.123456 - 0.02
    out = decide(fill, full_ctx(our_shares=10 * U, book=book(tick=tick)), RiskSettings())
    assert isinstance(out, OrderIntent), out
    expected = {"0.1": "0.2", "0.01": "0.11", "0.001": "0.104", "0.0001": "0.1035"}[tick]
    assert out.worst_price == Decimal(expected)


def test_coarse_tick_bound_below_the_ask_is_slippage() -> None:
    out = decide(make_fill(), full_ctx(book=book(ask="0.5", tick="0.1")), RiskSettings())
    assert isinstance(out, Skip) and out.reason == "slippage: best ask 0.5 above worst acceptable 0.4"


def test_bound_below_the_lowest_price_is_skipped_not_raised() -> None:
    fill = make_fill(shares=100 * U, collateral=40_000)  # 0.0004
    out = decide(fill, full_ctx(book=book(ask="0.001", tick="0.001")), RiskSettings(max_slippage=Decimal(0)))
    assert isinstance(out, Skip) and out.reason.startswith("slippage: worst acceptable 0.0004"), out


# ---- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "holding", "leader_sells", "expected"),
    [
        pytest.param(12_345_678, None, 25 * U, 12_340_000, id="all-down-to-0.01"),
        pytest.param(12_345_678, 100 * U, 25 * U, 3_080_000, id="quarter-3.0864-down"),
        pytest.param(40 * U, 100 * U, 25 * U, 10 * U, id="exact"),
        pytest.param(10_000, None, 25 * U, 10_000, id="one-hundredth"),
    ],
)
def test_sell_shares_round_down_to_a_hundredth(
    ours: int, holding: int | None, leader_sells: int, expected: int
) -> None:
    fill = make_fill(Side.SELL, shares=leader_sells, collateral=leader_sells * 2 // 5)
    out = decide(fill, full_ctx(our_shares=ours, leader_holding=holding), RiskSettings())
    assert isinstance(out, OrderIntent), out
    assert out.amount == expected
    assert out.amount <= ours


def test_sell_of_less_than_a_hundredth_is_too_small() -> None:
    fill = make_fill(Side.SELL, shares=25 * U, collateral=10 * U)
    out = decide(fill, full_ctx(our_shares=9_999), RiskSettings())
    assert isinstance(out, Skip) and out.reason.startswith("too small:"), out


@pytest.mark.parametrize(
    ("units", "step", "down", "up"),
    [
        (0, 10_000, 0, 0),
        (9_999, 10_000, 0, 10_000),
        (10_000, 10_000, 10_000, 10_000),
        (12_345_678, 10_000, 12_340_000, 12_350_000),
    ],
)
def test_unit_rounding(units: int, step: int, down: int, up: int) -> None:
    assert (floor_to(units, step), ceil_to(units, step)) == (down, up)


@pytest.mark.parametrize(
    ("shares", "price", "expected"),
    [("5", "0.44", 2_200_000), ("5", "0.4431", 2_220_000), ("5", "0.0001", 10_000), ("15", "0.333", 5_000_000)],
)
def test_spend_for_a_minimum_rounds_up_to_a_cent(shares: str, price: str, expected: int) -> None:
    spend = spend_for(Decimal(shares), Decimal(price))
    assert spend == expected
    assert Decimal(spend) / Decimal(price) >= Decimal(shares) * U  # really buys the minimum


def test_token_id_and_side_pass_through() -> None:
    out = decide(make_fill(), full_ctx(), RiskSettings())
    assert isinstance(out, OrderIntent) and out.token_id == TOKEN and out.side is Side.BUY
