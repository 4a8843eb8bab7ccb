"""What polymarket-client's answers and exceptions mean for a live order: production shapes, as
tables. The answers are the SDK's own models, parsed from the raw bodies the CLOB sends."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from polymarket import (
    RateLimitError,
    RequestRejectedError,
    TransportError,
    UnexpectedResponseError,
    UserInputError,
)
from polymarket.models.clob.order_response import RawOrderResponse, normalize_order_response

from copybot.brokers.live_answers import classify, from_answer
from copybot.errors import (
    InsufficientFunds,
    InvalidApiKey,
    OrderNotFilled,
    OrderOutcomeUnknown,
    OrderPending,
    OrderRejected,
    OrderVersionMismatch,
    RateLimited,
    TickSizeChanged,
    UpstreamRestarting,
    UpstreamUnavailable,
)
from copybot.models import OrderIntent, OrderResult, Reason, Side, Skip
from tests.support.fixtures import load_fixture

BUY = OrderIntent(7, Side.BUY, 10_000_000, Decimal("0.55"))
SELL = OrderIntent(7, Side.SELL, 20_000_000, Decimal("0.45"))
BLANK = {"errorMsg": "", "makingAmount": "", "takingAmount": "", "orderID": "", "status": "", "success": False}


def answer(**fields: Any) -> Any:
    return normalize_order_response(RawOrderResponse.model_validate(BLANK | fields))


OID = "0x" + "ab" * 32


@pytest.mark.parametrize(
    ("intent", "raw", "expected"),
    [
        (
            BUY,
            {"success": True, "orderID": OID, "makingAmount": "9.9", "takingAmount": "18", "status": "matched"},
            OrderResult(shares=18_000_000, collateral=9_900_000),
        ),
        (
            SELL,
            {"success": True, "orderID": OID, "makingAmount": "20", "takingAmount": "9.1", "status": "matched"},
            OrderResult(shares=20_000_000, collateral=9_100_000),
        ),
        (  # async settlement: tradeIDs and no transaction hashes, amounts as before
            BUY,
            {
                "success": True,
                "orderID": OID,
                "makingAmount": "4.599999",
                "takingAmount": "10",
                "status": "matched",
                "tradeIDs": ["t-1"],
            },
            OrderResult(shares=10_000_000, collateral=4_599_999, trades=("t-1",)),  # confirmed later
        ),
        (
            BUY,
            {"success": True, "orderID": OID, "status": "matched", "makingAmount": "", "takingAmount": ""},
            Skip(Reason.NOT_FILLED, "not filled: order matched with nothing matched"),
        ),
        (  # one side of the amounts missing: nothing to book
            BUY,
            {"success": True, "orderID": OID, "status": "matched", "makingAmount": "9.9", "takingAmount": ""},
            Skip(Reason.NOT_FILLED, "not filled: order matched with nothing matched"),
        ),
        (
            BUY,
            {"success": False, "status": "unmatched", "errorMsg": "no match"},
            Skip(Reason.NOT_FILLED, "not filled: no match"),
        ),
        (
            BUY,
            {"success": False, "errorMsg": "invalid signature"},
            Skip(Reason.REJECTED, "rejected: invalid signature"),
        ),
        (BUY, {"success": False}, Skip(Reason.REJECTED, "rejected: Unknown order failure")),
    ],
)
def test_post_order_answers(intent: OrderIntent, raw: dict[str, Any], expected: OrderResult | Skip) -> None:
    assert from_answer(intent, answer(**raw)) == expected


@pytest.mark.parametrize("status", ["delayed", "live"])
def test_an_accepted_order_not_yet_matched_is_pending_never_a_final_skip(status: str) -> None:
    with pytest.raises(OrderPending, match=status) as info:
        from_answer(BUY, answer(success=True, orderID=OID, status=status))
    assert isinstance(info.value, OrderOutcomeUnknown)  # so the intent stays open and is looked up


def test_a_fok_or_fak_kill_answered_as_a_rejection_is_a_skip() -> None:
    fok = "order couldn't be fully filled. FOK orders are fully filled or killed."
    skip = from_answer(BUY, answer(errorMsg=fok))
    assert isinstance(skip, Skip) and skip.code is Reason.NOT_FILLED


def test_short_balance_in_an_answer_is_insufficient_funds() -> None:
    with pytest.raises(InsufficientFunds, match="not enough balance"):
        from_answer(SELL, answer(errorMsg="not enough balance / allowance"))


VERSION = OrderVersionMismatch
REJECTED = [
    (RequestRejectedError("Too Early", status=425), False, UpstreamRestarting),
    (RequestRejectedError("closed", status=503, restriction="cancel_only"), True, UpstreamRestarting),
    (RequestRejectedError("Bad Gateway", status=502), True, OrderOutcomeUnknown),
    (RequestRejectedError("Bad Gateway", status=502), False, UpstreamUnavailable),
    (RequestRejectedError("Unauthorized/Invalid api key", status=401), False, InvalidApiKey),
    (RequestRejectedError(load_fixture("clob_error_fok.json")["error"], status=400), True, OrderNotFilled),
    (RequestRejectedError("not enough balance / allowance", status=400), True, InsufficientFunds),
    (RequestRejectedError(load_fixture("clob_error_version_mismatch.json")["error"], status=400), True, VERSION),
    (RequestRejectedError("Price (0.553) breaks minimum tick size rule: 0.01", status=400), True, TickSizeChanged),
    (TransportError("connection reset"), True, OrderOutcomeUnknown),
    (TransportError("connection refused"), False, UpstreamUnavailable),
    (UnexpectedResponseError("not JSON"), True, OrderOutcomeUnknown),
    (UserInputError("price 0.553 is not on the 0.01 tick grid"), False, OrderRejected),
]


@pytest.mark.parametrize(("exc", "sent", "kind"), REJECTED)
def test_sdk_exceptions_map_to_the_error_tree(exc: Exception, sent: bool, kind: type) -> None:
    error = classify(exc, sent=sent)
    assert type(error) is kind
    assert str(exc) in str(error) and str(error).startswith(("clob: ", "not filled: ")), "the CLOB's words, said where"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("not enough allowance", InsufficientFunds),
        ("insufficient balance", InsufficientFunds),
        ("order is invalid. size is below the minimum", OrderRejected),
        ("Size (1.5) lower than the allowed size", OrderRejected),
    ],
)
def test_each_refusal_word_alone_is_recognised(text: str, kind: type) -> None:
    error = classify(RequestRejectedError(text, status=400), sent=True)
    assert type(error) is kind and text in str(error)
    if kind is OrderRejected:
        assert "below minimum size" in str(error)


def test_a_restriction_is_named_in_the_message() -> None:
    error = classify(RequestRejectedError("paused", status=503, restriction="cancel_only"), sent=True)
    assert "cancel_only" in str(error)
    assert "restarting" in str(classify(RequestRejectedError("Too Early", status=425), sent=True))


def test_a_429_carries_its_retry_after() -> None:
    error = classify(RateLimitError("slow down", retry_after=7.5), sent=True)
    assert isinstance(error, RateLimited) and error.retry_after == 7.5


@pytest.mark.parametrize(
    ("text", "tick"),
    [
        ("order 0xab is invalid. Price (0.553) breaks minimum tick size rule: 0.01", Decimal("0.01")),
        ("order 0xab is invalid. Price (0.5525) breaks minimum tick size rule: 0.005", Decimal("0.005")),
        ("Price (0.5) breaks minimum tick size rule: 0.3", None),  # not a tick the exchange has
        ("invalid tick size", None),
    ],
)
def test_a_tick_refusal_names_the_new_tick_when_it_says_one(text: str, tick: Decimal | None) -> None:
    error = classify(RequestRejectedError(text, status=400), sent=True)
    assert isinstance(error, TickSizeChanged) and error.tick == tick
