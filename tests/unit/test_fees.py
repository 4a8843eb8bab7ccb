"""The fee formula and fee-aware sizing (copybot/rules/fees.py), as tables and a property."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from copybot.errors import MalformedResponse
from copybot.models import FeeRate
from copybot.protocol import CENT
from copybot.rules.fees import fee_at_most, fee_fraction, fee_units, spend_within
from copybot.upstream.market import parse_fee_data

TWO = FeeRate(Decimal("0.02"))


@pytest.mark.parametrize(
    ("shares", "price", "fee", "expected"),
    [
        (19_800_000, Decimal("0.5"), TWO, 99_000),  # 19.8 x 0.02 x 0.25
        (9_000_000, Decimal("0.55"), TWO, 44_550),
        (1, Decimal("0.5"), TWO, 1),  # a fraction of a base unit is charged as one
        (10_000_000, Decimal("0.5"), FeeRate(Decimal("0.02"), Decimal(2)), 12_500),  # exponent 2: 0.02 x 0.0625
        (10_000_000, Decimal("0.5"), None, 0),
        (10_000_000, Decimal("0.5"), FeeRate(Decimal(0)), 0),
        (10_000_000, Decimal(1), TWO, 0),  # p(1-p) = 0 at the edges
    ],
)
def test_the_fee_of_a_fill(shares: int, price: Decimal, fee: FeeRate | None, expected: int) -> None:
    assert fee_units(shares, price, fee) == expected


def test_the_most_a_buy_can_be_charged_is_rounded_up() -> None:
    assert fee_at_most(1_000_001, Decimal("0.5")) == 500_001  # 500,000.5 -> never less than it may pay
    assert fee_at_most(1_000_000, Decimal("0.5")) == 500_000


def test_the_worst_case_fraction_is_taken_over_the_prices_an_order_may_fill_at() -> None:
    # per pUSD spent: r (1-p) for exponent 1, highest at the lowest price
    assert fee_fraction(TWO, Decimal("0.5"), Decimal("0.55")) == Decimal("0.01")
    assert fee_fraction(None, Decimal("0.5")) == 0


@given(
    limit=st.integers(min_value=0, max_value=10**12),
    rate=st.decimals(min_value=0, max_value=Decimal("0.2"), places=4),
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.99"), places=2),
)
def test_spend_within_is_the_largest_whole_cent_spend_whose_fee_fits(limit: int, rate: Decimal, price: Decimal) -> None:
    fraction = fee_fraction(FeeRate(rate), price)
    spend = spend_within(limit, fraction)
    assert spend % CENT == 0 and spend >= 0
    assert spend + fee_at_most(spend, fraction) <= limit
    more = spend + CENT
    assert more + fee_at_most(more, fraction) > limit


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"mts": 0.01}, None),  # "fd" is optional: no fee data, no fee
        ({"fd": {"r": 0, "e": 1}}, None),
        ({"fd": {"r": "0.02", "e": "2"}}, FeeRate(Decimal("0.02"), Decimal(2))),
        ({"fd": {"r": 0.03}}, FeeRate(Decimal("0.03"), Decimal(1))),  # exponent defaults to 1
        ({"fd": "none"}, None),
    ],
)
def test_a_markets_fee_data_as_the_clob_sends_it(body: dict, expected: FeeRate | None) -> None:
    assert parse_fee_data(body) == expected


@pytest.mark.parametrize("body", [[], {"fd": {"r": -0.1}}, {"fd": {"r": 1}}, {"fd": {"r": "x"}}])
def test_fee_data_that_cannot_be_is_malformed(body: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_fee_data(body)
