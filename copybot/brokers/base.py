"""The Broker protocol: where an :class:`OrderIntent` becomes an :class:`OrderResult`.

Paper and live brokers are chosen once, in ``copybot.app``.
"""

from __future__ import annotations

from typing import Protocol

from copybot.models import Book, OrderIntent, OrderResult, Skip


class Broker(Protocol):
    mode: str

    async def place(self, intent: OrderIntent, book: Book) -> OrderResult | Skip:
        """Execute ``intent`` against ``book``; a Skip says why nothing was done."""
        ...
