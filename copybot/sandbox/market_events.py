"""Market events in the sandbox. Resolution: a resolved market has no book, refuses orders, and its
LIVE orders are canceled; the winning token is what Gamma and ``/clob-markets`` then show. A
tick-size change (production sends ``tick_size_change`` on its market channel; it happens while a
market trades): every answer shows the new tick at once, and orders priced off it are refused. A fee
change: the CLOB charges API orders the new taker fee from then on, and ``/clob-markets`` shows it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from .book import Market
from .ledger import COLLATERAL

TICKS: Final = frozenset(Decimal(t) for t in ("0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001"))

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
            if record.market.condition_id == market.condition_id and record.status == "LIVE":
                record.status, record.reserved = "CANCELED", 0


def change_tick(sandbox: Sandbox, condition_id: str, tick: Decimal) -> None:
    """The market now trades on ``tick``; its book keeps its levels."""
    if tick not in TICKS:
        raise ValueError(f"tick {tick} is not one the exchange uses ({', '.join(map(str, sorted(TICKS)))})")
    with sandbox._lock:
        old = sandbox.market(condition_id)
        book = sandbox._lookup(old.tokens[0])[0]
        new = replace(old, tick_size=tick)
        book.market = new
        sandbox.markets[sandbox.markets.index(old)] = new
        sandbox._by_condition[new.condition_id] = new


def set_fees(sandbox: Sandbox, rate: Decimal, exponent: Decimal = Decimal(1), condition_id: str | None = None) -> None:
    """The CLOB charges API orders ``rate × (p(1−p))^exponent`` per share from now on, on one market
    or on all (``/clob-markets`` shows it as ``fd``)."""
    if not 0 <= rate < 1 or exponent < 0:
        raise ValueError(f"fee rate {rate} must be in [0, 1) and exponent {exponent} >= 0")
    with sandbox._lock:
        chosen = [sandbox.market(condition_id)] if condition_id else list(sandbox.markets)
        for old in chosen:
            book = sandbox._lookup(old.tokens[0])[0]
            new = replace(old, fee_rate=rate, fee_exponent=exponent)
            book.market = new
            sandbox.markets[sandbox.markets.index(old)] = new
            sandbox._by_condition[new.condition_id] = new


def redeem(sandbox: Sandbox, holder: str, condition_id: str) -> int:
    """Redeem ``holder``'s outcome tokens of a resolved market, as a user does on polymarket.com:
    the tokens are burned and each winning one pays 1 pUSD. Returns the pUSD base units paid."""
    clob = sandbox.clob
    with sandbox._lock:
        market = sandbox.market(condition_id)
        won = winner(sandbox, market)
        if won is None:
            raise ValueError(f"{condition_id} is not resolved")
        address = holder.lower()
        held = clob.ledger.balances(address).shares
        paid = held.get(won, 0)
        for token in market.tokens:
            if held.get(token, 0) > 0:
                clob.ledger.spend(address, token, held[token])
        clob.ledger.deposit(address, COLLATERAL, paid)
        return paid
