"""Copy detected fills in batches of ten.

For each batch: collect the distinct token ids, fetch each book (and Gamma metadata) once,
concurrently; decide every fill with the pure risk rules, in chain order, carrying cash and our
holdings forward through the batch; place orders through the Broker; store the batch's outcomes
in one transaction. A transient failure leaves the fill pending for the next cycle (a BUY then
ages into ``stale``); a permanent one is recorded as ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.config import RiskSettings
from copybot.errors import CopybotError, SkipError, TransientError
from copybot.market import MarketData
from copybot.models import (
    Book,
    CopyOutcome,
    Decision,
    DecisionContext,
    MarketInfo,
    OrderResult,
    Side,
    Skip,
    from_units,
)
from copybot.risk import decide
from copybot.store import PendingFill, Store

log = logging.getLogger(__name__)

OutcomeSink = Callable[[Sequence[CopyOutcome]], None]


class Executor:
    def __init__(
        self,
        store: Store,
        market: MarketData,
        broker: Broker,
        risk: RiskSettings,
        clock: Clock,
        batch_size: int = 10,
        on_outcomes: OutcomeSink | None = None,
    ) -> None:
        self._store = store
        self._market = market
        self._broker = broker
        self._risk = risk
        self._clock = clock
        self._batch = batch_size
        self._sink = on_outcomes
        self.deferred = 0  # fills left pending by a transient failure in the last run

    async def run_pending(self) -> int:
        """Decide every pending fill, ten at a time. Returns the number of decisions stored."""
        decided, self.deferred = 0, 0
        after = (-1, -1)
        while True:
            batch = self._store.pending_fills(self._batch, after)
            if not batch:
                return decided
            after = (batch[-1].fill.block, batch[-1].fill.log_index)
            outcomes = await self.process_batch(batch)
            self.deferred += len(batch) - len(outcomes)
            if outcomes:
                self._store.record_outcomes(outcomes, self._broker.mode, self._clock.now())
                decided += len(outcomes)
                if self._sink is not None:
                    self._sink([o for _, o in outcomes])

    async def process_batch(self, batch: Sequence[PendingFill]) -> list[tuple[int, CopyOutcome]]:
        tokens = [p.fill.token_id for p in batch]
        books, infos = await asyncio.gather(self._market.books(tokens), self._market.market_info(tokens))
        cash = self._store.cash()
        held: dict[tuple[str, int], int] = {}
        out: list[tuple[int, CopyOutcome]] = []
        for p in batch:
            f = p.fill
            key = (f.leader, f.token_id)
            if key not in held:
                held[key] = self._store.our_shares(f.leader, f.token_id)
            info = infos.get(f.token_id)
            ctx = DecisionContext(self._clock.now(), cash, held[key], p.leader_holding_before, info)
            outcome = await self._one(p, ctx, books.get(f.token_id), info)
            if outcome is None:
                continue  # transient failure: stays pending
            if outcome.result is not None and outcome.decision is Decision.FILLED:
                r = outcome.result
                if f.side is Side.BUY:
                    cash -= r.collateral
                    held[key] += r.shares
                else:
                    cash += r.collateral
                    held[key] -= r.shares
            out.append((p.fill_id, outcome))
        return out

    async def _one(
        self, p: PendingFill, ctx: DecisionContext, book: Book | CopybotError | None, info: MarketInfo | None
    ) -> CopyOutcome | None:
        f = p.fill
        verdict = decide(f, ctx, self._risk)
        if isinstance(verdict, Skip):
            return CopyOutcome(f, Decision.SKIPPED, verdict.reason, market=info, details=verdict.details)
        details = dict(verdict.details)
        if isinstance(book, TransientError) or book is None:
            log.warning("book for %s unavailable, will retry: %s", f.token_id, book)
            return None
        if isinstance(book, CopybotError):
            return CopyOutcome(f, Decision.FAILED, f"book unavailable: {book}", verdict, market=info, details=details)
        if book.best_bid is not None:
            details["best_bid"] = str(book.best_bid)
        if book.best_ask is not None:
            details["best_ask"] = str(book.best_ask)
        try:
            result = await self._broker.place(verdict, book)
        except TransientError as exc:
            log.warning("order for %s deferred: %s", f.token_id, exc)
            return None
        except SkipError as exc:
            return CopyOutcome(f, Decision.FAILED, f"rejected: {exc}", verdict, market=info, details=details)
        if isinstance(result, Skip):
            return CopyOutcome(f, Decision.SKIPPED, result.reason, verdict, market=info, details=details)
        return CopyOutcome(f, Decision.FILLED, _filled_reason(verdict.amount, result, f.side), verdict, result, info,
                           details)  # fmt: skip


def _filled_reason(amount: int, result: OrderResult, side: Side) -> str:
    if side is Side.SELL and result.shares < amount:
        return f"partial: sold {from_units(result.shares)} of {from_units(amount)} shares (bids ran out)"
    return "copied" if side is Side.BUY else "mirrored leader sell"
