"""Copy detected fills in batches of ten.

A run first fetches every pending fill's book (batched ``POST /books``) and Gamma metadata once per
token, concurrently. Then, ten fills at a time: decide each with the pure risk rules, in chain
order, carrying cash, our holdings and exposure forward (and each book as our own fills left it);
send the orders; store the batch in one transaction. A book older than half the staleness limit is
fetched again before its batch. Each order's intent is written (with the exchange's id for it)
before it is sent, so a crash can never send it twice: :meth:`Executor.reconcile` asks the broker
about open intents before anything else is sent.

A transient failure leaves the fill pending for the next cycle (a BUY then ages into ``stale``);
a permanent one is recorded as ``failed``; an order whose answer was lost stays open until
looked up (a BUY's amount counts as spent for the rest of the run). While the CLOB is down (no
book, no wallet balance), a BUY already too old to copy is skipped as ``stale`` all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.config.settings import RiskSettings, Settings, leader_risks
from copybot.errors import CopybotError, MalformedResponse, OrderOutcomeUnknown, SkipError, TransientError
from copybot.models import (
    Book,
    CopyOutcome,
    Decision,
    DecisionContext,
    MarketInfo,
    OrderIntent,
    OrderResult,
    Side,
    Skip,
    TradingState,
    from_units,
)
from copybot.protocol import LOT
from copybot.rules.exposure import Exposure
from copybot.rules.risk import decide
from copybot.store import PendingFill, Store
from copybot.store.ledger import ExitOutcome, NewOrder
from copybot.trading.killswitch import count_outcomes, trading_state
from copybot.upstream.market import MarketData, after_fill

log = logging.getLogger(__name__)

OutcomeSink = Callable[[Sequence[CopyOutcome]], None]
MAX_PENDING = 10_000  # fills decided per cycle at most: bounds memory after a long outage


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


@dataclass
class _Quotes:
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


@dataclass
class _Running:
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


class Executor:
    def __init__(
        self,
        store: Store,
        market: MarketData,
        broker: Broker,
        settings: Settings,
        clock: Clock,
        on_outcomes: OutcomeSink | None = None,
    ) -> None:
        self._store = store
        self._market = market
        self._broker = broker
        self._settings = settings
        self._risks = leader_risks(settings)
        self._clock = clock
        self._batch = settings.executor.batch_size
        self._sink = on_outcomes
        self.deferred = 0  # fills left pending by a transient failure in the last run

    def _risk(self, leader: str) -> RiskSettings:
        return self._risks.get(leader, self._settings.risk)

    async def reconcile(self) -> int:
        """Resolve orders whose outcome is unknown (a crash or a lost answer) before sending more."""
        resolved = 0
        for row in self._store.open_intents():
            result = await self._broker.lookup(row["exchange_order_id"] or "")
            now = self._clock.now()
            pending = self._store.fill(row["fill_id"]) if row["fill_id"] is not None else None
            if result is None or result.shares <= 0:
                self._store.set_order_status(row["client_key"], "abandoned", now)  # never executed
            elif str(row["purpose"]).startswith("exit:"):
                intent = OrderIntent(int(row["token_id"]), Side.SELL, int(row["amount"]), None)
                exit_ = ExitOutcome(row["leader"], int(row["token_id"]), str(row["purpose"])[5:], row["client_key"],
                                    intent, result, detail="reconciled after a lost answer")  # fmt: skip
                self._store.record_exit(exit_, self._broker.mode, now)
            elif pending is not None:
                f = pending.fill
                intent = OrderIntent(f.token_id, f.side, int(row["amount"]), None)
                # the market too: a position without its condition id is never checked for resolution
                info = (await self._market.market_info([f.token_id])).get(f.token_id)
                outcome = CopyOutcome(f, Decision.FILLED, "copied (reconciled after a lost answer)", intent,
                                      result, info, client_key=row["client_key"])  # fmt: skip
                self._store.record_outcomes([(pending.fill_id, outcome)], self._broker.mode, now)
            else:
                self._store.set_order_status(row["client_key"], "filled", now)
                log.warning("order %s filled but its fill is gone; record it by hand", row["client_key"])
            resolved += 1
        return resolved

    async def run_pending(self) -> int:
        """Decide every pending fill, ten at a time: leader exits (SELLs) first, then the rest in
        chain order. Books and metadata for all of them are fetched first, in one concurrent round;
        a batch refetches only books that aged past half the staleness limit. Returns the number
        of decisions stored."""
        await self.reconcile()
        decided, self.deferred = 0, 0
        pending = prioritise(self._store.pending_fills(MAX_PENDING))
        if not pending:
            return 0
        tokens = list(dict.fromkeys(p.fill.token_id for p in pending))
        asked = self._clock.monotonic()  # a book is as old as the request that read it
        books, infos = await asyncio.gather(self._market.books(tokens), self._market.market_info(tokens))
        quotes = _Quotes({}, {}, infos)
        quotes.update(books, asked)
        exposure = Exposure.load(self._store)
        for start in range(0, len(pending), self._batch):
            batch = pending[start : start + self._batch]
            outcomes = await self.process_batch(batch, quotes, exposure)
            self.deferred += len(batch) - len(outcomes)
            if outcomes:
                self._store.record_outcomes(outcomes, self._broker.mode, self._clock.now())
                failed = sum(1 for _, o in outcomes if o.decision is Decision.FAILED)
                filled = [(o.fill.leader, o.fill.token_id) for _, o in outcomes if o.decision is Decision.FILLED]
                count_outcomes(self._store, failed, len(filled))
                exposure.refresh(self._store, filled)  # exact again: what the batch stored
                decided += len(outcomes)
                if self._sink is not None:
                    self._sink([o for _, o in outcomes])
        return decided

    async def _refresh_aged(self, batch: Sequence[PendingFill], quotes: _Quotes) -> None:
        now = self._clock.monotonic()
        aged = [
            p.fill.token_id for p in batch
            if now - quotes.fetched.get(p.fill.token_id, now) > self._risk(p.fill.leader).price_staleness_s / 2
        ]  # fmt: skip
        if aged:
            asked = self._clock.monotonic()
            quotes.update(await self._market.books(aged), asked)

    async def process_batch(
        self, batch: Sequence[PendingFill], quotes: _Quotes, exposure: Exposure
    ) -> list[tuple[int, CopyOutcome]]:
        await self._refresh_aged(batch, quotes)
        try:
            cash = await self._broker.balance()
        except TransientError as exc:  # the CLOB is down: orders wait, but stale BUYs can still age out
            log.warning("wallet balance unavailable, orders wait for the next cycle: %s", exc)
            return self._stale_only(batch, quotes, exposure)
        if cash is None:
            cash = self._store.cash()
        else:
            self._store.set_wallet_cash(cash)  # what status shows as cash in live mode
        state = trading_state(self._store, cash + exposure.value, self._settings.risk, self._clock.now())
        running = _Running(exposure, cash, state)
        out: list[tuple[int, CopyOutcome]] = []
        for p in batch:
            f = p.fill
            running.load_held(p, self._store)
            info = quotes.infos.get(f.token_id)
            token_book = quotes.books.get(f.token_id)
            fetched = quotes.fetched.get(f.token_id, self._clock.monotonic())
            outcome, refetched = await self._one(p, running, token_book, fetched, info)
            if refetched is not None:  # the book was stale and read again: later fills use that answer
                quotes.books[f.token_id], quotes.fetched[f.token_id] = refetched
            if outcome is None:
                continue  # transient failure: stays pending
            result = outcome.result
            if result is not None and outcome.decision is Decision.FILLED:
                held = quotes.books.get(f.token_id)
                book = held if isinstance(held, Book) else None
                if info is None and book is not None and book.market:
                    # no Gamma metadata: the book still names the market, and the position keeps it
                    # (market caps across runs, resolution checks)
                    outcome = replace(outcome, market=MarketInfo(f.token_id, book.market, ""))
                running.apply(p, _market_of(info, book), result)
                if book is not None:
                    quotes.books[f.token_id] = after_fill(book, f.side, result.shares)
            out.append((p.fill_id, outcome))
        return out

    def _stale_only(
        self, batch: Sequence[PendingFill], quotes: _Quotes, exposure: Exposure
    ) -> list[tuple[int, CopyOutcome]]:
        """Without the wallet's balance nothing is sized or sent (nor the kill switch fed a guess):
        only BUYs already too old to copy are decided, as ``stale``; the rest wait."""
        running = _Running(exposure, 0, TradingState())
        out = []
        for p in batch:
            running.load_held(p, self._store)
            skip = self._stale_skip(p, running, quotes.infos.get(p.fill.token_id))
            if skip is not None:
                out.append((p.fill_id, skip))
        return out

    def _context(
        self, p: PendingFill, r: _Running, book: Book | None, age: float, info: MarketInfo | None
    ) -> DecisionContext:
        f = p.fill
        market = _market_of(info, book)
        return DecisionContext(
            now=self._clock.now(),
            cash=r.cash,
            our_shares=r.held[(f.leader, f.token_id)],
            leader_holding=p.leader_holding_before,
            market=info,
            book=book,
            book_age_s=age,
            equity=r.equity,
            total_cost=r.exposure.total_cost,
            token_cost=r.exposure.token_cost(f.token_id),
            market_cost=r.exposure.market_cost.get(market, 0) if market else 0,
            open_positions=r.exposure.open_positions,
            holds_token=r.exposure.token_cost(f.token_id) > 0,
            daily_pnl=r.state.daily_pnl,
            consecutive_failures=r.state.consecutive_failures,
            paused_reason=r.state.paused_reason,
        )

    async def _one(
        self, p: PendingFill, running: _Running, book: Book | CopybotError | None, fetched: float,
        info: MarketInfo | None,
    ) -> tuple[CopyOutcome | None, tuple[Book | CopybotError, float] | None]:  # fmt: skip
        """The outcome for one fill (None: leave it pending) and, if the book had to be read again,
        the answer with the time it was asked for."""
        f = p.fill
        if f.side is Side.SELL and not self._settings.exits.mirror_leader_sells:
            return CopyOutcome(f, Decision.SKIPPED, "not mirrored: exits.mirror_leader_sells is off", market=info), None
        if isinstance(book, TransientError) or book is None:
            skip = self._stale_skip(p, running, info)
            if skip is None:
                log.warning("book for %s unavailable, will retry: %s", f.token_id, book)
            return skip, None
        if isinstance(book, CopybotError):
            verdict = decide(f, self._context(p, running, None, 0.0, info), self._risk(f.leader))
            if isinstance(verdict, Skip):
                return CopyOutcome(f, Decision.SKIPPED, verdict.reason, market=info, details=verdict.details), None
            return CopyOutcome(f, Decision.FAILED, f"book unavailable: {book}", verdict, market=info), None
        age = self._clock.monotonic() - fetched
        verdict = decide(f, self._context(p, running, book, age, info), self._risk(f.leader))
        refetched: tuple[Book | CopybotError, float] | None = None
        if isinstance(verdict, Skip) and verdict.reason.startswith("stale price:"):
            asked = self._clock.monotonic()
            fresh = (await self._market.books([f.token_id])).get(f.token_id)
            if fresh is None:
                fresh = MalformedResponse(f"clob: no book for {f.token_id} in the answer")
            if not isinstance(fresh, Book):  # decide as if the book had never been read: never on the old one
                outcome, _ = await self._one(p, running, fresh, asked, info)
                return outcome, (fresh, asked)
            refetched, book = (fresh, asked), fresh
            age = self._clock.monotonic() - asked
            verdict = decide(f, self._context(p, running, book, age, info), self._risk(f.leader))
        if isinstance(verdict, Skip):
            return CopyOutcome(f, Decision.SKIPPED, verdict.reason, market=info, details=verdict.details), refetched
        return await self._send(p, running, verdict, book, info), refetched

    def _stale_skip(self, p: PendingFill, running: _Running, info: MarketInfo | None) -> CopyOutcome | None:
        """A BUY already too old to copy, skipped as ``stale`` without its book; None otherwise."""
        f = p.fill
        if f.side is not Side.BUY:  # exits never age out: they wait
            return None
        verdict = decide(f, self._context(p, running, None, 0.0, info), self._risk(f.leader))
        if isinstance(verdict, Skip) and verdict.reason.startswith("stale:"):
            return CopyOutcome(f, Decision.SKIPPED, verdict.reason, market=info, details=verdict.details)
        return None

    async def _send(
        self, p: PendingFill, running: _Running, intent: OrderIntent, book: Book, info: MarketInfo | None
    ) -> CopyOutcome | None:
        f = p.fill
        details: dict[str, object] = dict(intent.details)
        if book.best_bid is not None:
            details["best_bid"] = str(book.best_bid)
        if book.best_ask is not None:
            details["best_ask"] = str(book.best_ask)
        try:
            prepared = await self._broker.prepare(intent, book)
        except TransientError as exc:
            log.warning("order for %s deferred: %s", f.token_id, exc)
            return None
        except SkipError as exc:
            return CopyOutcome(f, Decision.FAILED, f"rejected: {exc}", intent, market=info, details=details)
        if isinstance(prepared, Skip):
            return CopyOutcome(f, Decision.SKIPPED, prepared.reason, intent, market=info, details=details)
        key = f"{f.tx_hash}:{f.log_index}:{self._store.orders_for_fill(p.fill_id)}"
        if self._broker.can_lose_answers:
            order = NewOrder(key, p.fill_id, "copy", f.leader, self._broker.mode, intent, prepared.order_id)
            self._store.write_intent(order, self._clock.now())
        try:
            result = await self._broker.submit(prepared)
        except OrderOutcomeUnknown as exc:
            self._store.set_order_status(key, "unknown", self._clock.now())
            log.warning("order %s sent but its answer was lost; will look it up: %s", key, exc)
            if f.side is Side.BUY:  # it may have filled: later decisions in this run must not spend it again
                running.reserve(p, _market_of(info, book), intent.amount)
            else:  # nor sell again shares that may be gone
                position = (f.leader, f.token_id)
                running.held[position] = max(0, running.held[position] - intent.amount)
            return None
        except TransientError as exc:
            self._store.set_order_status(key, "abandoned", self._clock.now())
            log.warning("order for %s not sent, will retry: %s", f.token_id, exc)
            return None
        except SkipError as exc:
            return CopyOutcome(f, Decision.FAILED, f"rejected: {exc}", intent, market=info, details=details,
                               client_key=key, order_id=prepared.order_id)  # fmt: skip
        if isinstance(result, Skip):
            return CopyOutcome(f, Decision.SKIPPED, result.reason, intent, market=info, details=details,
                               client_key=key, order_id=prepared.order_id)  # fmt: skip
        return CopyOutcome(f, Decision.FILLED, _filled_reason(intent.amount, result, f.side), intent, result, info,
                           details, key, prepared.order_id)  # fmt: skip


def _market_of(info: MarketInfo | None, book: Book | None) -> str:
    """The fill's market (condition id): Gamma's, else the one its book names, else unknown ("")."""
    if info is not None and info.condition_id:
        return info.condition_id
    return book.market if book is not None else ""


def _filled_reason(amount: int, result: OrderResult, side: Side) -> str:
    if side is Side.SELL and result.shares < amount:
        return f"partial: sold {from_units(result.shares)} of {from_units(amount)} shares (bids ran out)"
    return "copied" if side is Side.BUY else "mirrored leader sell"
