"""Sending one order, the one way copies and exits both use: prepare, write the intent, submit.

1. ``broker.prepare`` signs the order and names it (the exchange's id for it). A transient failure
   means nothing was sent (retry later); a refusal is a rejection; a Skip is a skip.
2. If the broker can lose answers (live), the intent is written, with that id, before anything
   leaves the process: after a crash, reconciliation asks the exchange about it first.
3. ``broker.submit`` sends it. A lost answer leaves the intent ``unknown`` (looked up later, never
   sent again blindly); a transient failure before matching marks it ``abandoned`` (retry later);
   a refusal is a rejection (a failure for the kill switch); a Skip (nothing matched) is a skip.
   A SELL refused for balance / allowance soon after its shares were bought is deferred instead
   (``OrderTicket.settle_until``): the purchase may not have settled on chain yet. An order refused
   for the market's tick (changed since the book was read) is signed again once, on the new tick.

:func:`send` returns a :class:`Sent` saying which of these happened; the caller records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import StrEnum

from copybot.brokers.base import Broker
from copybot.clock import Clock, iso
from copybot.errors import InsufficientFunds, OrderOutcomeUnknown, SkipError, TickSizeChanged, TransientError
from copybot.models import Book, FeeRate, OrderIntent, OrderResult, Reason, Side, Skip
from copybot.rules.fees import fee_units
from copybot.store import Store
from copybot.store.ledger import NewOrder

log = logging.getLogger(__name__)


class Sending(StrEnum):
    FILLED = "filled"  # it executed (maybe partly): ``result`` says how much
    SKIPPED = "skipped"  # not executed and not a failure (nothing matched, a guard said no)
    REJECTED = "rejected"  # the exchange refused it: a failure
    UNKNOWN = "unknown"  # sent, but the answer was lost: it may have executed
    DEFERRED = "deferred"  # certainly not executed (the exchange was unreachable): try again later


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of one order."""

    status: Sending
    client_key: str
    order_id: str = ""  # the exchange's id, once the order was prepared
    result: OrderResult | None = None  # FILLED only
    code: Reason = Reason.REJECTED  # SKIPPED and REJECTED: why, for programs
    reason: str = ""  # why, for people (the error's text for UNKNOWN and DEFERRED)

    @property
    def skip(self) -> Skip:
        return Skip(self.code, self.reason)


def settle_deadline(store: Store, leader: str, token_id: int, now: float, wait_s: float) -> float | None:
    """Until when a SELL of this position refused for balance waits for its shares to settle: its
    last purchase (or ``now``, for one bought earlier in this batch and not stored yet) plus
    ``wait_s`` (``live.sell_settle_wait_s``); None when there is no wait."""
    if wait_s <= 0:
        return None
    bought = store.last_buy_at(leader, token_id)
    return (now if bought is None else bought) + wait_s


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """Who an order is for: its idempotency key and what it is about."""

    client_key: str
    leader: str
    fill_id: int | None = None  # the copied fill; None for an exit
    purpose: str = "copy"  # "copy", or records.exit_purpose(rule)
    # a SELL refused for balance / allowance before this time is retried on a later cycle: the
    # shares of a recent purchase may not have settled yet (None: never retried)
    settle_until: float | None = None


async def send(
    store: Store,
    broker: Broker,
    clock: Clock,
    intent: OrderIntent,
    book: Book,
    ticket: OrderTicket,
    *,
    retried: bool = False,
) -> Sent:
    key = ticket.client_key
    try:
        prepared = await broker.prepare(intent, book)
    except TransientError as exc:
        return Sent(Sending.DEFERRED, key, reason=str(exc))
    except SkipError as exc:
        return Sent(Sending.REJECTED, key, code=Reason.REJECTED, reason=f"rejected: {exc}")
    if isinstance(prepared, Skip):
        return Sent(Sending.SKIPPED, key, code=prepared.code, reason=prepared.reason)
    if broker.can_lose_answers:
        order = NewOrder(key, ticket.fill_id, ticket.purpose, ticket.leader, broker.mode, intent, prepared.order_id)
        store.write_intent(order, clock.now())
    try:
        result = await broker.submit(prepared)
    except OrderOutcomeUnknown as exc:
        store.set_order_status(key, "unknown", clock.now())
        log.warning("order %s sent but its answer was lost; will look it up: %s", key, exc)
        return Sent(Sending.UNKNOWN, key, prepared.order_id, reason=str(exc))
    except TransientError as exc:
        store.set_order_status(key, "abandoned", clock.now())
        log.warning("order %s not sent, will retry: %s", key, exc)
        return Sent(Sending.DEFERRED, key, prepared.order_id, reason=str(exc))
    except TickSizeChanged as exc:
        # refused before matching for the market's new tick: signed again once on the tick the
        # refusal names, under a key of its own (this one certainly did not execute)
        store.set_order_status(key, "abandoned", clock.now())
        if exc.tick is None or exc.tick == book.tick_size or retried:
            return Sent(Sending.REJECTED, key, prepared.order_id, code=Reason.REJECTED, reason=f"rejected: {exc}")
        log.warning("order %s refused for its tick (now %s): signing it again", key, exc.tick)
        again = replace(ticket, client_key=f"{key}:tick")
        return await send(store, broker, clock, intent, replace(book, tick_size=exc.tick), again, retried=True)
    except InsufficientFunds as exc:
        if intent.side is Side.SELL and ticket.settle_until is not None and clock.now() < ticket.settle_until:
            store.set_order_status(key, "abandoned", clock.now())
            why = f"waiting for the shares to settle (retried until {iso(ticket.settle_until)}): {exc}"
            log.warning("SELL %s refused, %s", key, why)
            return Sent(Sending.DEFERRED, key, prepared.order_id, reason=why)
        return Sent(Sending.REJECTED, key, prepared.order_id, code=Reason.REJECTED, reason=f"rejected: {exc}")
    except SkipError as exc:
        return Sent(Sending.REJECTED, key, prepared.order_id, code=Reason.REJECTED, reason=f"rejected: {exc}")
    if isinstance(result, Skip):
        return Sent(Sending.SKIPPED, key, prepared.order_id, code=result.code, reason=result.reason)
    return Sent(Sending.FILLED, key, prepared.order_id, result=with_fee(result, intent.fee))


def with_fee(result: OrderResult, fee: FeeRate | None) -> OrderResult:
    """The fill with the fee the market charges on it (unless the broker already said what it was)."""
    if result.fee or fee is None:
        return result
    return replace(result, fee=fee_units(result.shares, result.avg_price, fee))
