"""Sizing and skip rules (copybot.rules.risk): pure tables, money in base units (6 decimals)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from copybot.config.settings import RiskSettings
from copybot.models import DecisionContext, Fill, MarketInfo, OrderIntent, Side, Skip
from copybot.rules.risk import buy_spend, decide, sell_shares
from tests.support.risk import NOW, TOKEN, U, make_fill, market


def ctx(
    cash: int = 1000 * U,
    our_shares: int = 0,
    leader_holding: int | None = None,
    market: MarketInfo | None = None,
) -> DecisionContext:
    return DecisionContext(now=NOW, cash=cash, our_shares=our_shares, leader_holding=leader_holding, market=market)


# ---- buy_spend -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "leader_collateral", "expected"),
    [
        pytest.param({"sizing": "fixed", "fixed_usdc": "10"}, 234_660_000, 10 * U, id="fixed-ignores-leader-size"),
        pytest.param({"sizing": "fixed", "fixed_usdc": "10"}, 1, 10 * U, id="fixed-tiny-leader"),
        pytest.param({"sizing": "fixed", "fixed_usdc": "0.5"}, 50 * U, 1 * U, id="fixed-raised-to-min"),
        pytest.param({"sizing": "fixed", "fixed_usdc": "500"}, 50 * U, 100 * U, id="fixed-capped-at-max"),
        # BUY collateral is a whole number of cents, rounded DOWN (the CLOB takes 2 decimals)
        pytest.param({"sizing": "fixed", "fixed_usdc": "12.345678"}, 1, 12_340_000, id="fixed-down-to-cent"),
        pytest.param({"sizing": "fixed", "fixed_usdc": "12.35"}, 1, 12_350_000, id="fixed-exact-cents"),
        pytest.param({"sizing": "proportional", "copy_ratio": "0.1"}, 234_660_000, 23_460_000, id="prop-ratio"),
        pytest.param({"sizing": "proportional", "copy_ratio": "1"}, 7_434_000, 7_430_000, id="prop-one-to-one"),
        pytest.param({"sizing": "proportional", "copy_ratio": "1"}, 7_439_999, 7_430_000, id="prop-never-rounds-up"),
        pytest.param({"sizing": "proportional", "copy_ratio": "0.1"}, 5 * U, 1 * U, id="prop-raised-to-min"),
        pytest.param({"sizing": "proportional", "copy_ratio": "0.5"}, 1000 * U, 100 * U, id="prop-capped-at-max"),
        pytest.param(
            {"sizing": "proportional", "copy_ratio": "0.5", "max_order_usdc": "250"}, 1000 * U, 250 * U, id="custom-max"
        ),
        pytest.param(
            {"sizing": "proportional", "copy_ratio": "0.9", "min_order_usdc": "0"},
            1_111_111,  # 0.9 x 1.111111 = 0.9999999 -> rounded DOWN to 0.99, never up to 1
            990_000,
            id="prop-rounds-down",
        ),
        pytest.param(
            {"sizing": "proportional", "copy_ratio": "0.5", "min_order_usdc": "0"}, 3, 0, id="prop-half-unit-down"
        ),
        pytest.param(
            {"sizing": "proportional", "copy_ratio": "0.1", "min_order_usdc": "2", "max_order_usdc": "2"},
            1000 * U,
            2 * U,
            id="min-equals-max",
        ),
    ],
)
def test_buy_spend(settings: dict[str, Any], leader_collateral: int, expected: int) -> None:
    risk = RiskSettings(**settings)
    spend = buy_spend(make_fill(collateral=leader_collateral), risk)
    assert isinstance(spend, int)
    assert spend == expected


# ---- sell_shares -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leader_sells", "leader_holding", "ours", "expected"),
    [
        pytest.param(25 * U, 100 * U, 40 * U, 10 * U, id="quarter"),
        pytest.param(50 * U, 100 * U, 33 * U, 16_500_000, id="half"),
        pytest.param(1, 3, 10, 3, id="third-rounds-down"),
        pytest.param(2, 3, 1, 0, id="rounds-down-to-zero"),
        pytest.param(1 * U, 3 * U, 10 * U, 3_333_333, id="third-of-ten-shares-down"),
        pytest.param(10 * U, None, 7 * U, 7 * U, id="unknown-holding-sells-all"),
        pytest.param(100 * U, 100 * U, 40 * U, 40 * U, id="sells-exactly-all"),
        pytest.param(150 * U, 100 * U, 40 * U, 40 * U, id="sells-more-than-seen"),
        pytest.param(5 * U, 0, 40 * U, 40 * U, id="zero-holding-sells-all"),
    ],
)
def test_sell_shares(leader_sells: int, leader_holding: int | None, ours: int, expected: int) -> None:
    fill = make_fill(side=Side.SELL, shares=leader_sells, collateral=leader_sells // 2 or 1)
    assert sell_shares(fill, ours, leader_holding) == expected


# ---- decide: skips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fill", "context", "settings", "prefix"),
    [
        pytest.param(make_fill(collateral=0), ctx(), {}, "invalid: leader fill has a zero amount", id="price-0"),
        pytest.param(make_fill(shares=0), ctx(), {}, "invalid: leader fill has a zero amount", id="zero-shares"),
        pytest.param(make_fill(shares=42 * U, collateral=42 * U), ctx(), {}, "invalid: leader price 1", id="price-1"),
        pytest.param(make_fill(shares=10 * U, collateral=11 * U), ctx(), {}, "invalid: leader price", id="price-gt-1"),
        pytest.param(
            make_fill(Side.SELL, shares=10 * U, collateral=10 * U),
            ctx(our_shares=5 * U),
            {},
            "invalid: leader price 1",
            id="sell-price-1",
        ),
        pytest.param(make_fill(age_s=301), ctx(), {}, "stale:", id="stale-buy"),
        pytest.param(make_fill(age_s=61), ctx(), {"max_trade_age_s": 60}, "stale:", id="stale-custom-age"),
        pytest.param(make_fill(), ctx(market=market(closed=True)), {}, "market closed", id="market-closed"),
        pytest.param(make_fill(), ctx(market=market(accepting=False)), {}, "market closed", id="not-accepting"),
        pytest.param(make_fill(), ctx(cash=999_999), {}, "insufficient bankroll", id="cash-below-min"),
        pytest.param(make_fill(), ctx(cash=0), {}, "insufficient bankroll", id="no-cash"),
        pytest.param(make_fill(), ctx(cash=0), {"min_order_usdc": "0"}, "insufficient bankroll", id="no-cash-min-zero"),
        pytest.param(make_fill(Side.SELL), ctx(our_shares=0), {}, "not held", id="sell-not-held"),
        pytest.param(
            make_fill(Side.SELL, shares=2, collateral=1),
            ctx(our_shares=1, leader_holding=3),
            {},
            "too small",
            id="sell-rounds-to-zero",
        ),
    ],
)
def test_decide_skips(fill: Fill, context: DecisionContext, settings: dict[str, Any], prefix: str) -> None:
    out = decide(fill, context, RiskSettings(**settings))
    assert isinstance(out, Skip), out
    assert out.reason.startswith(prefix), out.reason
    assert "\n" not in out.reason
    assert out.details["leader_price"]  # the numbers behind every decision are kept


# ---- decide: orders --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fill", "context", "settings", "side", "amount", "worst"),
    [
        pytest.param(make_fill(), ctx(), {}, Side.BUY, 10 * U, Decimal("0.44"), id="buy-fixed-0.42+0.02"),
        pytest.param(make_fill(age_s=300), ctx(), {}, Side.BUY, 10 * U, Decimal("0.44"), id="buy-age-at-limit"),
        pytest.param(make_fill(age_s=-5), ctx(), {}, Side.BUY, 10 * U, Decimal("0.44"), id="buy-from-the-future"),
        pytest.param(
            make_fill(), ctx(), {"max_slippage": "0"}, Side.BUY, 10 * U, Decimal("0.42"), id="buy-zero-slippage"
        ),
        pytest.param(
            make_fill(shares=261_000_000, collateral=234_660_000),
            ctx(),
            {"sizing": "proportional", "copy_ratio": "0.1", "max_slippage": "0.05"},
            Side.BUY,
            23_460_000,  # 23.466 DOWN to the cent
            Decimal("0.94"),  # 0.89908... + 0.05 = 0.94908... DOWN to the 0.01 tick
            id="buy-proportional-real-fill",
        ),
        pytest.param(make_fill(), ctx(cash=4 * U), {}, Side.BUY, 4 * U, Decimal("0.44"), id="cash-capped"),
        pytest.param(make_fill(), ctx(cash=1 * U), {}, Side.BUY, 1 * U, Decimal("0.44"), id="cash-exactly-min"),
        pytest.param(make_fill(), ctx(cash=10 * U), {}, Side.BUY, 10 * U, Decimal("0.44"), id="cash-exactly-spend"),
        pytest.param(make_fill(), ctx(market=market()), {}, Side.BUY, 10 * U, Decimal("0.44"), id="open-market-buys"),
        pytest.param(
            make_fill(Side.SELL, shares=25 * U, collateral=10 * U, age_s=86_400 * 30),
            ctx(our_shares=40 * U, leader_holding=100 * U),
            {},
            Side.SELL,
            10 * U,
            Decimal("0.38"),  # leader 0.40 - 0.02
            id="sell-never-stale",
        ),
        pytest.param(
            make_fill(Side.SELL, shares=25 * U, collateral=10 * U),
            ctx(our_shares=40 * U, leader_holding=None, market=market(closed=True)),
            {},
            Side.SELL,
            40 * U,
            Decimal("0.38"),
            id="sell-unknown-holding-all-even-if-closed",
        ),
        pytest.param(
            make_fill(Side.SELL, shares=25 * U, collateral=10 * U),
            ctx(cash=0, our_shares=40 * U, leader_holding=25 * U),
            {},
            Side.SELL,
            40 * U,
            Decimal("0.38"),
            id="sell-needs-no-cash",
        ),
    ],
)
def test_decide_orders(
    fill: Fill,
    context: DecisionContext,
    settings: dict[str, Any],
    side: Side,
    amount: int,
    worst: Decimal | None,
) -> None:
    out = decide(fill, context, RiskSettings(**settings))
    assert isinstance(out, OrderIntent), out
    assert out.side is side
    assert out.token_id == TOKEN
    assert out.amount == amount
    assert out.worst_price == worst


def test_buy_details_carry_the_numbers() -> None:
    out = decide(make_fill(), ctx(cash=4 * U), RiskSettings())
    assert isinstance(out, OrderIntent)
    assert out.details == {
        "leader_price": "0.42",
        "leader_shares": "100",
        "leader_usdc": "42",
        "age_s": "10",
        "tick": "0.01",
        "worst_price": "0.44",
        "sizing": "fixed",
        "raw_usdc": "10",
        "sized_usdc": "10",
        "cash_usdc": "4",
        "capped_by": "cash",
        "spend_usdc": "4",
    }


def test_stale_reason_names_age_and_limit() -> None:
    out = decide(make_fill(age_s=301), ctx(), RiskSettings(max_trade_age_s=300))
    assert isinstance(out, Skip)
    assert out.reason == "stale: leader fill is 301s old (max 300s)"
