"""Copy detected fills in batches of ten.

For each batch: collect the distinct token ids, fetch each book (and Gamma metadata) once,
concurrently; decide every fill with the pure risk rules, in chain order, carrying cash, our
holdings and exposure forward through the batch; then send the orders. Each order's intent is
written (with the exchange's id for it) before it is sent, so a crash can never send it twice:
:meth:`Executor.reconcile` asks the broker about open intents before anything else is sent.

A transient failure leaves the fill pending for the next cycle (a BUY then ages into ``stale``);
a permanent one is recorded as ``failed``; an order whose answer was lost stays open until
looked up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from copybot.accounts import ExitOutcome, NewOrder
from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.config import RiskSettings, Settings, leader_risks
from copybot.errors import CopybotError, OrderOutcomeUnknown, SkipError, TransientError
from copybot.killswitch import Portfolio, count_outcomes, portfolio, trading_state
from copybot.market import MarketData
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
from copybot.risk import decide
from copybot.store import PendingFill, Store

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
class _Running:
    """Our side as the batch goes on: each decision sees the orders before it."""

    book: Portfolio
    state: TradingState
    held: dict[tuple[str, int], int] = field(default_factory=dict)

    def apply(self, fill_token: int, market: str, side: Side, r: OrderResult) -> None:
        sign = 1 if side is Side.BUY else -1
        cost = r.collateral if side is Side.BUY else 0
        tokens, markets = self.book.token_cost, self.book.market_cost
        if side is Side.BUY and tokens.get(fill_token, 0) == 0:
            self.book = replace(self.book, open_positions=self.book.open_positions + 1)
        tokens[fill_token] = tokens.get(fill_token, 0) + cost
        if market:
            markets[market] = markets.get(market, 0) + cost
        self.book = replace(self.book, cash=self.book.cash - sign * r.collateral)


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
        chain order. Returns the number of decisions stored."""
        await self.reconcile()
        decided, self.deferred = 0, 0
        pending = prioritise(self._store.pending_fills(MAX_PENDING))
        for start in range(0, len(pending), self._batch):
            batch = pending[start : start + self._batch]
            outcomes = await self.process_batch(batch)
            self.deferred += len(batch) - len(outcomes)
            if outcomes:
                self._store.record_outcomes(outcomes, self._broker.mode, self._clock.now())
                failed = sum(1 for _, o in outcomes if o.decision is Decision.FAILED)
                filled = sum(1 for _, o in outcomes if o.decision is Decision.FILLED)
                count_outcomes(self._store, failed, filled)
                decided += len(outcomes)
                if self._sink is not None:
                    self._sink([o for _, o in outcomes])
        return decided

    async def process_batch(self, batch: Sequence[PendingFill]) -> list[tuple[int, CopyOutcome]]:
        tokens = [p.fill.token_id for p in batch]
        books, infos = await asyncio.gather(self._market.books(tokens), self._market.market_info(tokens))
        fetched = self._clock.monotonic()
        cash = await self._broker.balance()
        if cash is None:
            cash = self._store.cash()
        else:
            self._store.set_wallet_cash(cash)  # what status shows as cash in live mode
        book = portfolio(self._store, cash)
        state = trading_state(self._store, book.equity, self._settings.risk, self._clock.now())
        running = _Running(book, state)
        out: list[tuple[int, CopyOutcome]] = []
        for p in batch:
            f = p.fill
            key = (f.leader, f.token_id)
            if key not in running.held:
                running.held[key] = self._store.our_shares(f.leader, f.token_id)
            info = infos.get(f.token_id)
            token_book = books.get(f.token_id)
            outcome, refetched = await self._one(p, running, token_book, fetched, info)
            if refetched is not None:  # the book was stale and fetched again: later fills use it
                books[f.token_id], fetched = refetched, self._clock.monotonic()
            if outcome is None:
                continue  # transient failure: stays pending
            if outcome.result is not None and outcome.decision is Decision.FILLED:
                market = info.condition_id if info else (token_book.market if isinstance(token_book, Book) else "")
                running.apply(f.token_id, market, f.side, outcome.result)
                sign = 1 if f.side is Side.BUY else -1
                running.held[key] += sign * outcome.result.shares
            out.append((p.fill_id, outcome))
        return out

    def _context(
        self, p: PendingFill, r: _Running, book: Book | None, age: float, info: MarketInfo | None
    ) -> DecisionContext:
        f = p.fill
        market = info.condition_id if info else (book.market if book else "")
        return DecisionContext(
            now=self._clock.now(),
            cash=r.book.cash,
            our_shares=r.held[(f.leader, f.token_id)],
            leader_holding=p.leader_holding_before,
            market=info,
            book=book,
            book_age_s=age,
            equity=r.book.equity,
            total_cost=r.book.total_cost,
            token_cost=r.book.token_cost.get(f.token_id, 0),
            market_cost=r.book.market_cost.get(market, 0) if market else 0,
            open_positions=r.book.open_positions,
            holds_token=r.book.token_cost.get(f.token_id, 0) > 0,
            daily_pnl=r.state.daily_pnl,
            consecutive_failures=r.state.consecutive_failures,
            paused_reason=r.state.paused_reason,
        )

    async def _one(
        self, p: PendingFill, running: _Running, book: Book | CopybotError | None, fetched: float,
        info: MarketInfo | None,
    ) -> tuple[CopyOutcome | None, Book | None]:  # fmt: skip
        """The outcome for one fill (None: leave it pending) and the book if it had to be refetched."""
        f = p.fill
        if f.side is Side.SELL and not self._settings.exits.mirror_leader_sells:
            return CopyOutcome(f, Decision.SKIPPED, "not mirrored: exits.mirror_leader_sells is off", market=info), None
        if isinstance(book, TransientError) or book is None:
            log.warning("book for %s unavailable, will retry: %s", f.token_id, book)
            return None, None
        if isinstance(book, CopybotError):
            verdict = decide(f, self._context(p, running, None, 0.0, info), self._risk(f.leader))
            if isinstance(verdict, Skip):
                return CopyOutcome(f, Decision.SKIPPED, verdict.reason, market=info, details=verdict.details), None
            return CopyOutcome(f, Decision.FAILED, f"book unavailable: {book}", verdict, market=info), None
        age = self._clock.monotonic() - fetched
        verdict = decide(f, self._context(p, running, book, age, info), self._risk(f.leader))
        refetched: Book | None = None
        if isinstance(verdict, Skip) and verdict.reason.startswith("stale price:"):
            fresh = (await self._market.books([f.token_id])).get(f.token_id)
            if isinstance(fresh, Book):
                refetched = book = fresh
                verdict = decide(f, self._context(p, running, book, 0.0, info), self._risk(f.leader))
        if isinstance(verdict, Skip):
            return CopyOutcome(f, Decision.SKIPPED, verdict.reason, market=info, details=verdict.details), refetched
        return await self._send(p, verdict, book, info), refetched

    async def _send(
        self, p: PendingFill, intent: OrderIntent, book: Book, info: MarketInfo | None
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
        order = NewOrder(key, p.fill_id, "copy", f.leader, self._broker.mode, intent, prepared.order_id)
        self._store.write_intent(order, self._clock.now())
        try:
            result = await self._broker.submit(prepared)
        except OrderOutcomeUnknown as exc:
            self._store.set_order_status(key, "unknown", self._clock.now())
            log.warning("order %s sent but its answer was lost; will look it up: %s", key, exc)
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


def _filled_reason(amount: int, result: OrderResult, side: Side) -> str:
    if side is Side.SELL and result.shares < amount:
        return f"partial: sold {from_units(result.shares)} of {from_units(amount)} shares (bids ran out)"
    return "copied" if side is Side.BUY else "mirrored leader sell"
