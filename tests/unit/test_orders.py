"""The one order path (trading/orders.send) against a scripted broker and a real store: every way an
order can end, what the caller is told, and what the store keeps of it."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest

from copybot.brokers.base import PreparedOrder
from copybot.clock import ManualClock
from copybot.errors import (
    InsufficientFunds,
    OrderOutcomeUnknown,
    RateLimited,
    TickSizeChanged,
    UpstreamRestarting,
)
from copybot.models import Book, OrderIntent, OrderResult, Reason, Side, Skip
from copybot.store import Store
from copybot.trading.orders import OrderTicket, Sending, Sent, send

INTENT = OrderIntent(7, Side.BUY, 10_000_000, Decimal("0.55"))
BOOK = Book(7, "0xc0", (), ())
TICKET = OrderTicket("k1", "0x" + "a1" * 20, fill_id=None, purpose="copy")


@dataclass
class Scripted:
    """A broker whose ``prepare`` and ``submit`` do what the test says (return it, or raise it)."""

    prepared: Any = None
    submitted: Any = None
    can_lose_answers: bool = True
    mode: str = "live"
    trades_positions: bool = False
    calls: list[str] = field(default_factory=list)

    async def prepare(self, intent: OrderIntent, book: Book) -> PreparedOrder | Skip:
        self.calls.append("prepare")
        if isinstance(self.prepared, BaseException):
            raise self.prepared
        return self.prepared or PreparedOrder("0xorder", intent, None)

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        self.calls.append("submit")
        if isinstance(self.submitted, BaseException):
            raise self.submitted
        return self.submitted


def statuses(store: Store) -> list[tuple[str, str | None]]:
    with closing(sqlite3.connect(store.path)) as conn:
        return conn.execute("SELECT status, exchange_order_id FROM orders ORDER BY id").fetchall()


def run(store: Store, broker: Scripted) -> Sent:
    return asyncio.run(send(store, broker, ManualClock(), INTENT, BOOK, TICKET))  # type: ignore[arg-type]


FILLED = OrderResult(18_000_000, 9_900_000)


@pytest.mark.parametrize(
    ("broker", "status", "code", "reason", "order_id", "stored"),
    [
        pytest.param(
            Scripted(submitted=FILLED),
            Sending.FILLED,
            Reason.REJECTED,
            "",
            "0xorder",
            [("intent", "0xorder")],
            id="filled: the intent stays for the caller to record the fill",
        ),
        pytest.param(
            Scripted(submitted=Skip(Reason.NOT_FILLED, "not filled: FOK order killed")),
            Sending.SKIPPED,
            Reason.NOT_FILLED,
            "not filled: FOK order killed",
            "0xorder",
            [("intent", "0xorder")],
            id="nothing-matched",
        ),
        pytest.param(
            Scripted(submitted=InsufficientFunds("clob: not enough balance / allowance")),
            Sending.REJECTED,
            Reason.REJECTED,
            "rejected: clob: not enough balance / allowance",
            "0xorder",
            [("intent", "0xorder")],
            id="refused",
        ),
        pytest.param(
            Scripted(submitted=OrderOutcomeUnknown("clob: HTTP 502")),
            Sending.UNKNOWN,
            Reason.REJECTED,
            "clob: HTTP 502",
            "0xorder",
            [("unknown", "0xorder")],
            id="answer-lost",
        ),
        pytest.param(
            Scripted(submitted=RateLimited("clob: HTTP 429 rate limited")),
            Sending.DEFERRED,
            Reason.REJECTED,
            "clob: HTTP 429 rate limited",
            "0xorder",
            [("abandoned", "0xorder")],
            id="refused-before-matching",
        ),
        pytest.param(
            Scripted(prepared=UpstreamRestarting("clob: HTTP 425")),
            Sending.DEFERRED,
            Reason.REJECTED,
            "clob: HTTP 425",
            "",
            [],
            id="prepare-failed-transiently: nothing written, nothing sent",
        ),
        pytest.param(
            Scripted(prepared=InsufficientFunds("clob: no allowance")),
            Sending.REJECTED,
            Reason.REJECTED,
            "rejected: clob: no allowance",
            "",
            [],
            id="prepare-refused",
        ),
        pytest.param(
            Scripted(prepared=Skip(Reason.INVALID, "invalid: no bound")),
            Sending.SKIPPED,
            Reason.INVALID,
            "invalid: no bound",
            "",
            [],
            id="prepare-said-no",
        ),
    ],
)
def test_every_way_an_order_ends(
    store: Store, broker: Scripted, status: Sending, code: Reason, reason: str, order_id: str, stored: list[Any]
) -> None:
    broker = replace(broker, calls=[])  # the parameters live as long as the module: start each run fresh
    sent = run(store, broker)
    assert (sent.status, sent.code, sent.reason, sent.order_id, sent.client_key) == (
        status,
        code,
        reason,
        order_id,
        "k1",
    )
    assert sent.result == (FILLED if status is Sending.FILLED else None)
    assert statuses(store) == stored
    assert broker.calls == (["prepare", "submit"] if order_id else ["prepare"])


def test_the_intent_is_written_before_the_order_is_sent(store: Store) -> None:
    seen: list[list[Any]] = []

    class Watching(Scripted):
        async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
            seen.append(statuses(store))  # what a crash at this moment would leave behind
            return await super().submit(order)

    run(store, Watching(submitted=FILLED))
    assert seen == [[("intent", "0xorder")]]


def test_a_broker_that_cannot_lose_answers_writes_no_intent(store: Store) -> None:
    sent = run(store, Scripted(submitted=FILLED, can_lose_answers=False, mode="paper"))
    assert sent.status is Sending.FILLED and statuses(store) == []
    deferred = run(store, Scripted(submitted=RateLimited("x"), can_lose_answers=False, mode="paper"))
    assert deferred.status is Sending.DEFERRED and statuses(store) == []


def test_sent_speaks_as_a_skip() -> None:
    sent = Sent(Sending.SKIPPED, "k", code=Reason.SLIPPAGE, reason="slippage: x")
    assert sent.skip == Skip(Reason.SLIPPAGE, "slippage: x")


class TickMoved(Scripted):
    """Refuses the first order for the market's tick (naming the new one), then fills or refuses again."""

    def __init__(self, then: Any) -> None:
        super().__init__()
        self.then, self.ticks = then, []

    async def prepare(self, intent: OrderIntent, book: Book) -> PreparedOrder | Skip:
        self.ticks.append(book.tick_size)
        return PreparedOrder(f"0xorder{len(self.ticks)}", intent, None)

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        self.calls.append("submit")
        if len(self.calls) == 1:
            raise TickSizeChanged("clob: tick size: Price (0.553) breaks minimum tick size rule: 0.01", Decimal("0.01"))
        if isinstance(self.then, BaseException):
            raise self.then
        return self.then


def test_an_order_refused_for_a_new_tick_is_signed_again_once_on_that_tick(tmp_path) -> None:
    store = Store.open(tmp_path / "s.db")
    broker = TickMoved(FILLED)
    book = replace(BOOK, tick_size=Decimal("0.001"))
    sent = asyncio.run(send(store, broker, ManualClock(), INTENT, book, TICKET))  # type: ignore[arg-type]
    assert (sent.status, sent.result, sent.client_key) == (Sending.FILLED, FILLED, "k1:tick")
    assert broker.ticks == [Decimal("0.001"), Decimal("0.01")], "the second signing used the refusal's tick"
    assert statuses(store) == [("abandoned", "0xorder1"), ("intent", "0xorder2")]


def test_a_second_tick_refusal_is_a_rejection_not_a_loop(tmp_path) -> None:
    store = Store.open(tmp_path / "s.db")
    again = TickSizeChanged("clob: tick size: breaks minimum tick size rule: 0.1", Decimal("0.1"))
    broker = TickMoved(again)
    book = replace(BOOK, tick_size=Decimal("0.001"))
    sent = asyncio.run(send(store, broker, ManualClock(), INTENT, book, TICKET))  # type: ignore[arg-type]
    assert sent.status is Sending.REJECTED and "tick size" in sent.reason
    assert broker.calls == ["submit", "submit"]
    assert statuses(store) == [("abandoned", "0xorder1"), ("abandoned", "0xorder2")]


def test_a_tick_refusal_naming_the_tick_already_used_is_a_rejection_at_once(tmp_path) -> None:
    store = Store.open(tmp_path / "s.db")
    broker = TickMoved(FILLED)
    sent = asyncio.run(send(store, broker, ManualClock(), INTENT, BOOK, TICKET))  # type: ignore[arg-type]
    assert sent.status is Sending.REJECTED and broker.calls == ["submit"], "re-signing would change nothing"
