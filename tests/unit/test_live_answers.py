"""What a POST /order answer and a lookup say about a live order: production shapes, as tables."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account

from copybot.brokers.live import LiveBroker, fill_from_answer
from copybot.models import OrderIntent, OrderResult, Reason, Side, Skip

BUY = OrderIntent(7, Side.BUY, 10_000_000, Decimal("0.55"))
SELL = OrderIntent(7, Side.SELL, 20_000_000, Decimal("0.45"))


@pytest.mark.parametrize(
    ("intent", "answer", "expected"),
    [
        (
            BUY,
            {"success": True, "makingAmount": "9.9", "takingAmount": "18", "status": "matched"},
            OrderResult(shares=18_000_000, collateral=9_900_000),
        ),
        (
            SELL,
            {"success": True, "makingAmount": "20", "takingAmount": "9.1", "status": "matched"},
            OrderResult(shares=20_000_000, collateral=9_100_000),
        ),
        (
            BUY,
            {"success": True, "makingAmount": "", "takingAmount": "", "status": "unmatched"},
            Skip(Reason.NOT_FILLED, "not filled: order unmatched"),
        ),
        (
            BUY,
            {"success": True, "makingAmount": "9.9", "takingAmount": "0"},
            Skip(Reason.NOT_FILLED, "not filled: order unmatched"),
        ),
        (
            BUY,
            {"success": True, "makingAmount": "0", "takingAmount": "18", "status": "delayed"},
            Skip(Reason.NOT_FILLED, "not filled: order delayed"),
        ),
        (BUY, {"success": False, "errorMsg": ""}, Skip(Reason.REJECTED, "rejected: order not accepted")),
        (
            BUY,
            {"success": True, "errorMsg": "invalid signature", "makingAmount": "9.9", "takingAmount": "18"},
            Skip(Reason.REJECTED, "rejected: invalid signature"),
        ),
        (BUY, {}, Skip(Reason.REJECTED, "rejected: order not accepted")),
    ],
)
def test_post_order_answers(intent: OrderIntent, answer: dict[str, Any], expected: OrderResult | Skip) -> None:
    assert fill_from_answer(intent, answer) == expected


class Client:
    """Stands in for the SDK client behind the broker: an order and its trades, as the CLOB answers them."""

    def __init__(self, order: Any, trades: dict[str, list[dict[str, Any]]]) -> None:
        self.order, self.trades = order, trades

    def get_order(self, order_id: str) -> Any:
        return self.order

    def get_trades(self, params: Any, only_first_page: bool) -> list[dict[str, Any]]:
        return self.trades.get(params.id, [])


def test_a_lookup_adds_up_the_orders_trades_leaving_out_failed_ones() -> None:
    broker = LiveBroker("http://127.0.0.1:9", Account.create().key.hex())
    broker._client = Client(  # type: ignore[assignment]
        {"id": "0xo", "associate_trades": ["t1", "t2", "t3"]},
        {
            "t1": [{"id": "t1", "size": "10", "price": "0.5", "status": "CONFIRMED"}],
            "t2": [{"id": "t2", "size": "4", "price": "0.25", "status": "MATCHED"}],
            "t3": [{"id": "t3", "size": "100", "price": "0.5", "status": "FAILED"}],  # reversed on chain
        },
    )
    assert asyncio.run(broker.lookup("0xo")) == OrderResult(shares=14_000_000, collateral=6_000_000)
    broker._client = Client({}, {})  # type: ignore[assignment]
    assert asyncio.run(broker.lookup("0xo")) is None


@pytest.mark.parametrize(("order_type", "expected"), [("FOK", "FOK"), ("FAK", "FAK")])
def test_the_configured_order_type_is_the_one_posted(order_type: str, expected: str) -> None:
    broker = LiveBroker("http://127.0.0.1:9", Account.create().key.hex(), order_type=order_type)
    posted: list[Any] = []

    class Posting:
        def post_order(self, order: Any, kind: Any) -> dict[str, Any]:
            posted.append(kind)
            return {"success": True, "makingAmount": "1", "takingAmount": "2"}

    from copybot.brokers.base import PreparedOrder

    broker._client = Posting()  # type: ignore[assignment]
    asyncio.run(broker.submit(PreparedOrder("0xo", BUY, object())))
    assert [str(getattr(k, "value", k)) for k in posted] == [expected]


def test_the_funder_and_signature_type_reach_the_signer() -> None:
    funder = "0x" + "5a" * 20
    broker = LiveBroker("http://127.0.0.1:9", Account.create().key.hex(), signature_type=2, funder=funder)
    assert broker._client.builder.funder.lower() == funder
    assert broker._client.builder.signature_type == 2
