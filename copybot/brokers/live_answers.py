"""What ``polymarket-client``'s answers and exceptions mean for copybot (pure: no I/O).

``POST /order`` (protocol.md §6): an :class:`AcceptedOrder` ``matched`` is a fill (BUY: making =
pUSD paid, taking = shares got; SELL the other way round); ``delayed`` (matching later) and
``live`` (resting) are not decided yet: :class:`OrderPending`, looked up on later cycles, never a
final skip. A :class:`RejectedOrder` ``unmatched`` / FOK killed / FAK with nothing to match is a
skip (``not_filled``, not a failure for the kill switch); short balance or allowance is
:class:`InsufficientFunds`; anything else a rejection with the CLOB's words.

Exceptions: 429 -> :class:`RateLimited` with its Retry-After; 425 and 503 with a trading restriction
-> refused before matching; other 5xx, a transport failure or an unreadable 2xx answer *after an
order was sent* -> :class:`OrderOutcomeUnknown` (it may have executed); a 4xx -> by the CLOB's text;
the SDK's own validation (``UserInputError``: price off the tick grid, size) -> a rejection.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from copybot.errors import (
    CopybotError,
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
from copybot.models import OrderIntent, OrderResult, Reason, Side, Skip, to_units

if TYPE_CHECKING:
    from polymarket import OrderResponse

NOT_FILLED_CODES: Final = frozenset({"unmatched", "fok_not_filled", "fak_not_filled"})
KILLED_TEXTS: Final = ("fully filled or killed", "couldn't be fully filled", "no orders found to match")
PENDING_STATUSES: Final = frozenset({"delayed", "live"})
TICK_RULE: Final = re.compile(r"minimum tick size rule: ([0-9]*\.?[0-9]+)")
ALLOWED_TICKS: Final = frozenset(Decimal(t) for t in ("0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001"))


def from_answer(intent: OrderIntent, answer: OrderResponse) -> OrderResult | Skip:
    """``post_order``'s answer -> a fill or a skip; :class:`OrderPending` while undecided."""
    if not answer.ok:
        if answer.code in NOT_FILLED_CODES:
            return Skip(Reason.NOT_FILLED, f"not filled: {answer.message or answer.code}"[:200])
        if answer.code == "not_enough_balance":
            raise InsufficientFunds(f"clob: {answer.message}"[:200])
        return Skip(Reason.REJECTED, f"rejected: {answer.message or answer.code}"[:200])
    if answer.status in PENDING_STATUSES:
        raise OrderPending(f"clob: order {answer.order_id} accepted as {answer.status}; its fill is looked up later")
    making, taking = _units(answer.making_amount), _units(answer.taking_amount)
    if making <= 0 or taking <= 0:
        return Skip(Reason.NOT_FILLED, f"not filled: order {answer.status} with nothing matched")
    trades = tuple(answer.trade_ids)  # confirmed (or failed) on chain later: copybot.trading.settlement
    if intent.side is Side.BUY:
        return OrderResult(shares=taking, collateral=making, trades=trades)
    return OrderResult(shares=making, collateral=taking, trades=trades)


def _units(value: Decimal | None) -> int:
    return to_units(value or Decimal(0))


def classify(exc: Exception, *, sent: bool) -> CopybotError:
    """An SDK exception -> the error tree. ``sent``: the request was a ``POST /order`` that may have
    reached the engine, so a lost or garbled answer leaves the outcome unknown."""
    from polymarket import (
        RateLimitError,
        RequestRejectedError,
        TransportError,
        UnexpectedResponseError,
        UserInputError,
    )

    text = str(exc)[:200] or type(exc).__name__
    if isinstance(exc, RateLimitError):
        return RateLimited(f"clob: HTTP 429 rate limited: {text}", exc.retry_after)
    if isinstance(exc, UserInputError):
        return OrderRejected(f"clob: {text}")
    if isinstance(exc, TransportError | UnexpectedResponseError):
        return OrderOutcomeUnknown(f"clob: no answer: {text}") if sent else UpstreamUnavailable(f"clob: {text}")
    if not isinstance(exc, RequestRejectedError):
        return UpstreamUnavailable(f"clob: {type(exc).__name__}: {text}")
    status = exc.status
    if status == 425 or (status == 503 and exc.restriction):
        return UpstreamRestarting(f"clob: HTTP {status} ({exc.restriction or 'restarting'}): {text}")
    if status >= 500:
        lost = f"clob: HTTP {status}: {text}"
        return OrderOutcomeUnknown(lost) if sent else UpstreamUnavailable(lost)
    if status == 401:
        return InvalidApiKey(f"clob: HTTP 401: {text}")
    lowered = text.lower()
    if any(k in lowered for k in KILLED_TEXTS):
        return OrderNotFilled(f"not filled: {text}")
    if "balance" in lowered or "allowance" in lowered:
        return InsufficientFunds(f"clob: {text}")
    if "version" in lowered:  # the exchange signs a newer order version than this SDK: upgrade it
        return OrderVersionMismatch(f"clob: order version mismatch: {text}")
    if "tick" in lowered:
        named = TICK_RULE.search(text)
        tick = Decimal(named.group(1)) if named else None
        return TickSizeChanged(f"clob: tick size: {text}", tick if tick in ALLOWED_TICKS else None)
    if "minimum" in lowered or "lower than" in lowered:
        return OrderRejected(f"clob: below minimum size: {text}")
    return OrderRejected(f"clob: HTTP {status}: {text}")
