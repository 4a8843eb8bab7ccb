"""Market resolution in the sandbox: a resolved market has no book, refuses orders, and its LIVE
orders are canceled; the winning token is what Gamma and ``/clob-markets`` then show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .book import Market

if TYPE_CHECKING:
    from .core import Sandbox


def winner(sandbox: Sandbox, market: Market) -> int | None:
    """The winning token of a resolved market, None while it trades."""
    with sandbox._lock:
        index = sandbox._lookup(market.tokens[0])[0].winner
        return None if index is None else market.tokens[index]


def resolve(sandbox: Sandbox, condition_id: str, winning_token_id: int) -> None:
    """Resolve a market: the book is gone, orders on it are refused, LIVE ones canceled."""
    with sandbox._lock:
        sandbox._sync()
        try:
            market = sandbox.market(condition_id)
        except KeyError:
            raise ValueError(f"unknown condition id {condition_id}") from None
        if winning_token_id not in market.tokens:
            raise ValueError(f"token {winning_token_id} is not an outcome of {condition_id}")
        book = sandbox._lookup(winning_token_id)[0]
        index = market.index_of(winning_token_id)
        if book.winner is not None and book.winner != index:
            raise ValueError(f"{condition_id} is already resolved to the other outcome")
        book.winner = index
        for record in sandbox.clob.orders.values():
            if record.market == market and record.status == "LIVE":
                record.status, record.reserved = "CANCELED", 0
