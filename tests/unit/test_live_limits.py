"""Order posting under the CLOB's rate limits: a sliding-second limiter, and a 429's Retry-After
holding every order back until it has passed (nothing posted meanwhile). Time is a ManualClock."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from polymarket import RateLimitError
from polymarket.models.clob.order_response import RawOrderResponse, normalize_order_response

from copybot.brokers.base import PreparedOrder
from copybot.brokers.live import LiveBroker
from copybot.clock import ManualClock
from copybot.errors import RateLimited
from copybot.models import OrderIntent, OrderResult, Side
from tests.support.live import endpoints
from tests.support.sandbox import URLS

ORDER = PreparedOrder("0x" + "00" * 32, OrderIntent(1, Side.BUY, 5_000_000, Decimal("0.5")), object())
MATCHED = {
    "success": True,
    "orderID": "0x" + "00" * 32,
    "status": "matched",
    "makingAmount": "5",
    "takingAmount": "10",
    "errorMsg": "",
}


class Clob:
    """Stands in for the SDK client: records when each post happened; refuses with 429 on demand."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.posted, self.refuse_with = clock, [], None

    async def post_order(self, signed: Any) -> Any:
        self.posted.append(self.clock.monotonic())
        if self.refuse_with is not None:
            retry_after, self.refuse_with = self.refuse_with, None
            seconds = retry_after if isinstance(retry_after, float) else None
            raise RateLimitError("Too Many Requests", retry_after=seconds)
        return normalize_order_response(RawOrderResponse.model_validate(MATCHED))


def broker_on(clock: ManualClock, rate: float = 10) -> tuple[LiveBroker, Clob]:
    broker = LiveBroker(endpoints(URLS), Account.create().key.hex(), orders_per_second=rate, clock=clock)
    clob = Clob(clock)
    broker._client = clob  # type: ignore[assignment]
    return broker, clob


def test_a_429_holds_every_order_back_for_its_retry_after() -> None:
    clock = ManualClock()
    broker, clob = broker_on(clock)
    clob.refuse_with = 30.0

    async def go() -> None:
        with pytest.raises(RateLimited) as first:
            await broker.submit(ORDER)
        assert first.value.retry_after == 30.0
        clock.advance(29)
        with pytest.raises(RateLimited, match="wait 1.0 s more"):
            await broker.submit(ORDER)  # not posted: the CLOB asked for 30 s
        with pytest.raises(RateLimited):
            await broker.prepare(ORDER.intent, None)  # type: ignore[arg-type]  # nor signed
        clock.advance(1)
        assert await broker.submit(ORDER) == OrderResult(10_000_000, 5_000_000)

    asyncio.run(go())
    assert clob.posted == [0.0, 30.0], "one refused post, then one after the wait: none in between"


def test_a_429_without_retry_after_holds_orders_back_a_second() -> None:
    clock = ManualClock()
    broker, clob = broker_on(clock)
    clob.refuse_with = "no Retry-After"

    async def go() -> None:
        with pytest.raises(RateLimited) as refused:
            await broker.submit(ORDER)
        assert refused.value.retry_after is None
        clock.advance(0.5)
        with pytest.raises(RateLimited, match="wait 0.5 s more"):
            await broker.submit(ORDER)
        clock.advance(0.5)
        await broker.submit(ORDER)

    asyncio.run(go())
    assert clob.posted == [0.0, 1.0]


def test_orders_are_posted_at_most_n_per_sliding_second() -> None:
    clock = ManualClock()
    broker, clob = broker_on(clock, rate=2)

    async def go() -> None:
        for _ in range(5):
            await broker.submit(ORDER)

    asyncio.run(go())
    for i in range(2, len(clob.posted)):
        assert clob.posted[i] - clob.posted[i - 2] >= 1.0, clob.posted
