"""Trading fees, as the exchange charges them at match time (pure).

A market's fee data (the CLOB's ``/clob-markets/{condition_id}`` ``fd``: rate ``r``, exponent ``e``)
sets the fee of a taker fill of ``s`` shares at price ``p``: ``s × r × (p(1−p))^e`` pUSD. copybot
rounds it up to the base unit (it never books less than it may pay). A BUY pays it on top of what
it spends; a SALE has it taken from its proceeds. So a BUY is sized so that spend plus fee fits the
caps and the cash (:func:`spend_within`), and cost basis and realized P&L include it.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from copybot.models import FeeRate
from copybot.protocol import CENT


def fee_units(shares: int, price: Decimal, fee: FeeRate | None) -> int:
    """The fee, in pUSD base units, for ``shares`` (base units) taken at ``price``."""
    if fee is None or fee.rate <= 0 or shares <= 0 or not 0 < price < 1:
        return 0
    per_share = fee.rate * (price * (1 - price)) ** fee.exponent
    return int((Decimal(shares) * per_share).to_integral_value(rounding=ROUND_CEILING))


def fee_fraction(fee: FeeRate | None, *prices: Decimal) -> Decimal:
    """The most a BUY's fee can be, per pUSD spent, at any of ``prices`` (spend / p shares each
    pay ``r × (p(1−p))^e``): the worst case over the prices the order may fill at."""
    if fee is None or fee.rate <= 0:
        return Decimal(0)
    return max((fee.rate * (p * (1 - p)) ** fee.exponent / p for p in prices if 0 < p < 1), default=Decimal(0))


def fee_at_most(spend: int, fraction: Decimal) -> int:
    """The most a BUY spending ``spend`` can be charged (base units, rounded up)."""
    return int((Decimal(spend) * fraction).to_integral_value(rounding=ROUND_CEILING))


def spend_within(limit: int, fraction: Decimal) -> int:
    """The largest spend, in whole cents, whose worst-case fee still fits ``limit`` with it."""
    if fraction <= 0:
        return limit - limit % CENT
    spend = int((Decimal(limit) / (1 + fraction)).to_integral_value(rounding=ROUND_FLOOR))
    spend -= spend % CENT
    while spend > 0 and spend + fee_at_most(spend, fraction) > limit:
        spend -= CENT
    return max(spend, 0)
