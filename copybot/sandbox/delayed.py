"""Production's ``delayed`` order answers, on demand (``Clob.matching_delay_s > 0``): a market
order is accepted at once (``{"success": true, "status": "delayed", "orderID": …}`` with empty
amounts), listed as DELAYED, and matched ``delay_s`` later on the sandbox clock, when it becomes
MATCHED (with its trade) or UNMATCHED (a FOK/FAK that would have been killed). Tests that drive no
clock call :meth:`Delayed.match_all`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from copybot.models import Side

from .book import Market
from .ledger import OrderRecord
from .orders import OrderError, SignedOrder

if TYPE_CHECKING:
    from .auth import ApiKey
    from .core import Sandbox


class Delayed:
    def __init__(self, orders: dict[str, OrderRecord], sandbox: Sandbox) -> None:
        self._orders = orders
        self._sandbox = sandbox
        self.delay_s = 0.0
        self._waiting: list[tuple[float, Callable[[], None]]] = []  # (due on the sandbox clock, match)

    def accept(
        self,
        key: ApiKey,
        order: SignedOrder,
        order_id: str,
        order_type: str,
        market: Market,
        price: int,
        execute: Callable[[], Any],
    ) -> dict[str, Any]:
        """Record the order as DELAYED and answer as production does (the sandbox's lock held)."""
        now = self._sandbox.clock.now()
        self._orders[order_id] = OrderRecord(
            order_id=order_id,
            owner=key.api_key,
            signer=key.address,
            maker_address=order.maker,
            market=market,
            token_id=order.token_id,
            side=order.side,
            order_type=order_type,
            price=price,
            original_size=order.taker_amount if order.side is Side.BUY else order.maker_amount,
            size_matched=0,
            status="DELAYED",
            created_at=int(now),
            expiration=order.expiration,
        )

        def match() -> None:
            try:
                execute()
            except OrderError:  # killed: nothing to match within its price
                self._orders[order_id].status = "UNMATCHED"

        self._waiting.append((now + self.delay_s, match))
        return {
            "success": True,
            "orderID": order_id,
            "status": "delayed",
            "makingAmount": "",
            "takingAmount": "",
            "transactionsHashes": [],
            "tradeIDs": [],
            "errorMsg": "",
        }

    def match_due(self) -> None:
        """Match the orders whose time has come (the sandbox's lock held)."""
        if not self._waiting:
            return
        now = self._sandbox.clock.now()
        due = [m for t, m in self._waiting if t <= now]
        self._waiting = [(t, m) for t, m in self._waiting if t > now]
        for match in due:
            match()

    def match_all(self) -> None:
        """Match every waiting order now, due or not."""
        with self._sandbox._lock:
            due, self._waiting = [m for _, m in self._waiting], []
            for match in due:
                match()
