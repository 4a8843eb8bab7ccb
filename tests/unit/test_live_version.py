"""A CLOB order-version bump: the order is refused, nothing executed, and the next one is re-signed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from py_clob_client_v2.exceptions import PolyApiException

from copybot.brokers.base import PreparedOrder
from copybot.brokers.live import LiveBroker
from copybot.errors import OrderVersionChanged, TransientError
from copybot.models import OrderIntent, Side


def test_version_mismatch_is_retried_with_a_fresh_client() -> None:
    broker = LiveBroker("http://127.0.0.1:9", Account.create().key.hex())
    old = broker._client
    calls: list[str] = []

    def refused(*_: object) -> None:
        calls.append("post")
        raise PolyApiException(httpx.Response(400, json={"error": "order_version_mismatch"}))

    old.post_order = refused  # type: ignore[method-assign]
    order = PreparedOrder("0x" + "00" * 32, OrderIntent(1, Side.BUY, 5_000_000, Decimal("0.5")), object())
    with pytest.raises(OrderVersionChanged) as info:
        asyncio.run(broker.submit(order))
    assert isinstance(info.value, TransientError)  # the executor leaves the fill pending: retried next cycle
    assert "order version mismatch" in str(info.value)
    assert calls == ["post"] and broker._client is not old
