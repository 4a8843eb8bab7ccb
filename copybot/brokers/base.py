"""The Broker protocol: where an :class:`OrderIntent` becomes an :class:`OrderResult`.

Sending an order is two steps so that the caller can write the order's intent, with the id the
exchange will know it by, before anything leaves the process: ``prepare`` (sign, compute the id)
then ``submit``. ``lookup`` answers "what became of that id?" after a crash. Paper and live
brokers are chosen once, in ``copybot.app``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from copybot.models import Book, OrderIntent, OrderResult, Skip, TradeState


@dataclass(frozen=True)
class PreparedOrder:
    """An order ready to send; ``order_id`` is what the exchange will call it."""

    order_id: str
    intent: OrderIntent
    payload: Any = None  # broker-specific: the signed order (live), the book to walk (paper)


class Broker(Protocol):
    mode: str
    # True when an order can execute without its answer reaching us (a crash, a timeout): its
    # intent is then stored before it is sent, and looked up before anything else is sent.
    can_lose_answers: bool
    # True when it can trade the position ids of "Protocol V2" markets (ExchangeV3, protocol.md §3),
    # not only CTF tokens on the CLOB V2
    trades_positions: bool

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def prepare(self, intent: OrderIntent, book: Book) -> PreparedOrder | Skip: ...

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        """Send it. Raises ``OrderOutcomeUnknown`` when the answer was lost (the order may have
        executed), another ``TransientError`` when it certainly did not execute."""
        ...

    async def lookup(self, order_id: str) -> OrderResult | None:
        """The fill of an order sent earlier, or None if the exchange never saw it."""
        ...

    async def balance(self) -> int | None:
        """Collateral available to trade (base units), or None when the store's ledger is the bankroll."""
        ...

    async def redeem(self, token_id: int, shares: int, payout: Decimal, condition_id: str = "") -> OrderResult | None:
        """Collect a resolved position (``payout`` per share, 1 or 0): what it paid, or None while
        its shares wait to be redeemed (the position is then marked redeemable)."""
        ...

    async def redeem_market(self, condition_id: str) -> str:
        """Redeem the wallet's outcome tokens of a resolved market now: what was done (a
        transaction hash), for ``copybot redeem``."""
        ...

    async def trade_states(self, trade_ids: Sequence[str]) -> dict[str, TradeState]:
        """What the exchange says of these trades of ours (those it knows of): settled on chain or not."""
        ...

    async def check_wallet(self, token_id: int | None = None) -> str:
        """What ``health`` shows for the wallet trading is done with; ``CheckFailed`` when it cannot
        trade. ``token_id``: an outcome token it holds, to check that it may sell it too."""
        ...
