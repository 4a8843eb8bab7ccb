"""What an executor run carries from one decision to the next: the books it read (and how our own
fills moved them) and our side of the market (cash, holdings, exposure, the kill-switch state).

Each decision must see every order before it in the same run: a BUY spends cash and fills a cap
before the store is written, a SELL's proceeds replace the position it closed, and a copy takes
depth from the book the next copy of the token reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from copybot.errors import CopybotError, TransientError
from copybot.models import Book, MarketInfo, OrderResult, Side, TradingState
from copybot.protocol import LOT
from copybot.rules.exposure import Exposure
from copybot.store import PendingFill, Store


def prioritise(pending: Sequence[PendingFill]) -> list[PendingFill]:
    """Leader SELLs first (an exit never waits behind entries), except a SELL whose BUY is
    itself still pending: that pair keeps its chain order."""
    first: list[PendingFill] = []
    rest: list[PendingFill] = []
    buying: set[tuple[str, int]] = set()
    for p in pending:
        key = (p.fill.leader, p.fill.token_id)
        if p.fill.side is Side.SELL and key not in buying:
            first.append(p)
        else:
            rest.append(p)
            if p.fill.side is Side.BUY:
                buying.add(key)
    return first + rest


def market_of(info: MarketInfo | None, book: Book | None) -> str:
    """The fill's market (condition id): Gamma's, else the one its book names, else unknown ("")."""
    if info is not None and info.condition_id:
        return info.condition_id
    return book.market if book is not None else ""


@dataclass
class Quotes:
    """Books and metadata for a run: fetched once per token up front, each with the time it was read,
    and moved along by our own fills (so a later decision on the token sees the depth left)."""

    books: dict[int, Book | CopybotError]
    fetched: dict[int, float]
    infos: dict[int, MarketInfo]

    def update(self, books: dict[int, Book | CopybotError], at: float) -> None:
        """Books read from ``at`` (when the request went out: their age is never understated). A
        transient failure does not replace a book still held: it stays, with its own age."""
        kept = {t: b for t, b in books.items() if not (isinstance(b, TransientError) and t in self.books)}
        self.books.update(kept)
        self.fetched.update(dict.fromkeys(kept, at))

    def book(self, token_id: int) -> Book | None:
        held = self.books.get(token_id)
        return held if isinstance(held, Book) else None


@dataclass
class Running:
    """Our side as the run goes on: each decision sees the orders before it."""

    exposure: Exposure
    cash: int
    state: TradingState
    held: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def equity(self) -> int:
        return self.cash + self.exposure.value

    def apply(self, f: PendingFill, market: str, r: OrderResult) -> None:
        key = (f.fill.leader, f.fill.token_id)
        if f.fill.side is Side.BUY:
            self.exposure.add_buy(key, market, r.collateral)
            self.cash -= r.collateral
            self.held[key] += r.shares
        else:  # proceeds in, the shares' cost and value out: equity does not count them twice
            held = self.held[key]
            sold = held if held - r.shares < LOT else r.shares  # dust is written off, as the store does
            self.exposure.sell(key, sold, held)
            self.cash += r.collateral
            self.held[key] = held - sold

    def load_held(self, f: PendingFill, store: Store) -> None:
        key = (f.fill.leader, f.fill.token_id)
        if key not in self.held:
            self.held[key] = store.our_shares(*key)

    def reserve(self, f: PendingFill, market: str, amount: int) -> None:
        """A BUY sent whose answer was lost: its cost is spent as far as this run can tell (the next
        batch reads the wallet again, which knows)."""
        self.exposure.reserve((f.fill.leader, f.fill.token_id), market, amount)
        self.cash -= amount

    def lost_sell(self, f: PendingFill, shares: int) -> None:
        """A SELL sent whose answer was lost: those shares may be gone; never sell them again this run."""
        key = (f.fill.leader, f.fill.token_id)
        self.held[key] = max(0, self.held[key] - shares)
