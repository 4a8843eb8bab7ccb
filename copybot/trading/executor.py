"""Copy detected fills in batches of ten.

A run first fetches every pending fill's book (batched ``POST /books``) and Gamma metadata once per
token, concurrently. Then, ten fills at a time: decide each with the pure risk rules, in chain
order, carrying cash, our holdings and exposure forward (and each book as our own fills left it,
see :mod:`copybot.trading.run_state`); send the orders (:mod:`copybot.trading.orders`); store the
batch in one transaction. A book older than half the staleness limit is fetched again before its
batch. Orders whose outcome is unknown are reconciled (:mod:`copybot.trading.reconcile`) before
anything else is sent.

A transient failure leaves the fill pending for the next cycle (a BUY then ages into ``stale``);
a permanent one is recorded as ``failed``; an order whose answer was lost stays open until
looked up (a BUY's amount counts as spent for the rest of the run). While the CLOB is down (no
book, no wallet balance), a BUY already too old to copy is skipped as ``stale`` all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.config.settings import RiskSettings, Settings, leader_risks
from copybot.errors import CopybotError, MalformedResponse, TransientError
from copybot.models import (
    Book,
    CopyOutcome,
    Decision,
    DecisionContext,
    FeeRate,
    Fill,
    MarketInfo,
    OrderIntent,
    OrderResult,
    Reason,
    Side,
    Skip,
    TradingState,
    from_units,
)
from copybot.protocol import POSITION_EXCHANGES
from copybot.rules.exposure import Exposure
from copybot.rules.risk import decide
from copybot.store import PendingFill, Store
from copybot.trading import orders
from copybot.trading.killswitch import count_outcomes, trading_state
from copybot.trading.reconcile import reconcile
from copybot.trading.run_state import Quotes, Running, market_of, prioritise
from copybot.trading.settlement import settle
from copybot.upstream.market import MarketData, after_fill

log = logging.getLogger(__name__)

OutcomeSink = Callable[[Sequence[CopyOutcome]], None]
MAX_PENDING = 10_000  # fills decided per cycle at most: bounds memory after a long outage
Refetched = tuple[Book | CopybotError, float]  # a book read again during a decision, and when it was asked for


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
        self._fees: dict[str, FeeRate | None] = {}  # the markets' taker fees, by condition id, this run

    def _risk(self, leader: str) -> RiskSettings:
        return self._risks.get(leader, self._settings.risk)

    async def reconcile(self) -> int:
        """Resolve orders whose outcome is unknown (a crash or a lost answer) before sending more,
        then follow up on trades not yet final on chain (a FAILED one is reversed)."""
        resolved = await reconcile(self._store, self._broker, self._market, self._clock)
        await settle(self._store, self._broker, self._clock)
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
        tokens = list(dict.fromkeys(p.fill.token_id for p in pending if self._tradeable(p)))
        asked = self._clock.monotonic()  # a book is as old as the request that read it
        books, infos = await asyncio.gather(self._market.books(tokens), self._market.market_info(tokens))
        quotes = Quotes({}, {}, infos)
        quotes.update(books, asked)
        markets = {market_of(infos.get(t), quotes.book(t)) for t in tokens} - {""}
        self._fees = await self._market.fee_rates(markets)  # one request per market, cached
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

    def _tradeable(self, p: PendingFill) -> bool:
        """Can the broker trade the market this fill happened in? (Not the position ids of ExchangeV3.)"""
        return self._broker.trades_positions or p.fill.exchange not in POSITION_EXCHANGES

    async def _refresh_aged(self, batch: Sequence[PendingFill], quotes: Quotes) -> None:
        now = self._clock.monotonic()
        aged = [
            p.fill.token_id
            for p in batch
            if self._tradeable(p) and now - quotes.fetched.get(p.fill.token_id, now) > self._max_age(p)
        ]
        if aged:
            asked = self._clock.monotonic()
            quotes.update(await self._market.books(aged), asked)

    def _max_age(self, p: PendingFill) -> float:
        """A book older than this is read again before its batch: half the leader's staleness limit."""
        return self._risk(p.fill.leader).price_staleness_s / 2

    async def process_batch(
        self, batch: Sequence[PendingFill], quotes: Quotes, exposure: Exposure
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
        running = Running(exposure, cash, state)
        out: list[tuple[int, CopyOutcome]] = []
        for p in batch:
            f = p.fill
            running.load_held(p, self._store)
            info = quotes.infos.get(f.token_id)
            fetched = quotes.fetched.get(f.token_id, self._clock.monotonic())
            outcome, refetched = await self._one(p, running, quotes.books.get(f.token_id), fetched, info)
            if refetched is not None:  # the book was stale and read again: later fills use that answer
                quotes.books[f.token_id], quotes.fetched[f.token_id] = refetched
            if outcome is None:
                continue  # transient failure: stays pending
            if outcome.result is not None and outcome.decision is Decision.FILLED:
                outcome = self._filled(p, outcome, outcome.result, quotes, running)
            out.append((p.fill_id, outcome))
        return out

    def _filled(
        self, p: PendingFill, outcome: CopyOutcome, result: OrderResult, quotes: Quotes, running: Running
    ) -> CopyOutcome:
        """Carry a fill forward: into our running cash and exposure, and out of the book it took."""
        f = p.fill
        book = quotes.book(f.token_id)
        if outcome.market is None and book is not None and book.market:
            # no Gamma metadata: the book still names the market, and the position keeps it
            # (market caps across runs, resolution checks)
            outcome = replace(outcome, market=MarketInfo(f.token_id, book.market, ""))
        running.apply(p, market_of(outcome.market, book), result)
        if book is not None:
            quotes.books[f.token_id] = after_fill(book, f.side, result.shares)
        return outcome

    def _stale_only(
        self, batch: Sequence[PendingFill], quotes: Quotes, exposure: Exposure
    ) -> list[tuple[int, CopyOutcome]]:
        """Without the wallet's balance nothing is sized or sent (nor the kill switch fed a guess):
        only BUYs already too old to copy are decided, as ``stale``; the rest wait."""
        running = Running(exposure, 0, TradingState())
        out = []
        for p in batch:
            running.load_held(p, self._store)
            info = quotes.infos.get(p.fill.token_id)
            skip = self._stale_skip(p, running, info) if self._tradeable(p) else _unsupported(p.fill, info)
            if skip is not None:
                out.append((p.fill_id, skip))
        return out

    def _context(
        self, p: PendingFill, r: Running, book: Book | None, age: float, info: MarketInfo | None
    ) -> DecisionContext:
        f = p.fill
        market = market_of(info, book)
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
            fee=self._fees.get(market) if market else None,
        )

    def _decide(
        self, p: PendingFill, running: Running, book: Book | None, age: float, info: MarketInfo | None
    ) -> OrderIntent | Skip:
        return decide(p.fill, self._context(p, running, book, age, info), self._risk(p.fill.leader))

    async def _one(
        self,
        p: PendingFill,
        running: Running,
        book: Book | CopybotError | None,
        fetched: float,
        info: MarketInfo | None,
    ) -> tuple[CopyOutcome | None, Refetched | None]:
        """The outcome for one fill (None: leave it pending) and, if the book had to be read again,
        the answer with the time it was asked for."""
        f = p.fill
        if not self._tradeable(p):
            return _unsupported(f, info), None
        if f.side is Side.SELL and not self._settings.exits.mirror_leader_sells:
            skip = Skip(Reason.NOT_MIRRORED, "not mirrored: exits.mirror_leader_sells is off")
            return CopyOutcome.skipped(f, skip, info), None
        if isinstance(book, TransientError) or book is None:
            stale = self._stale_skip(p, running, info)
            if stale is None:
                log.warning("book for %s unavailable, will retry: %s", f.token_id, book)
            return stale, None
        if isinstance(book, CopybotError):  # the CLOB refused the book: decided without it
            verdict = self._decide(p, running, None, 0.0, info)
            if isinstance(verdict, Skip):
                return CopyOutcome.skipped(f, verdict, info), None
            why = f"book unavailable: {book}"
            return CopyOutcome(f, Decision.FAILED, Reason.BOOK_UNAVAILABLE, why, intent=verdict, market=info), None
        verdict = self._decide(p, running, book, self._clock.monotonic() - fetched, info)
        refetched: Refetched | None = None
        if isinstance(verdict, Skip) and verdict.code is Reason.STALE_PRICE:
            asked = self._clock.monotonic()
            fresh = (await self._market.books([f.token_id])).get(f.token_id)
            if fresh is None:
                fresh = MalformedResponse(f"clob: no book for {f.token_id} in the answer")
            if not isinstance(fresh, Book):  # decide as if the book had never been read: never on the old one
                outcome, _ = await self._one(p, running, fresh, asked, info)
                return outcome, (fresh, asked)
            refetched, book = (fresh, asked), fresh
            verdict = self._decide(p, running, book, self._clock.monotonic() - asked, info)
        if isinstance(verdict, Skip):
            return CopyOutcome.skipped(f, verdict, info), refetched
        return await self._send(p, running, verdict, book, info), refetched

    def _stale_skip(self, p: PendingFill, running: Running, info: MarketInfo | None) -> CopyOutcome | None:
        """A BUY already too old to copy, skipped as ``stale`` without its book; None otherwise."""
        if p.fill.side is not Side.BUY:  # exits never age out: they wait
            return None
        verdict = self._decide(p, running, None, 0.0, info)
        if isinstance(verdict, Skip) and verdict.code is Reason.STALE:
            return CopyOutcome.skipped(p.fill, verdict, info)
        return None

    async def _send(
        self, p: PendingFill, running: Running, intent: OrderIntent, book: Book, info: MarketInfo | None
    ) -> CopyOutcome | None:
        f = p.fill
        details: dict[str, object] = dict(intent.details)
        if book.best_bid is not None:
            details["best_bid"] = str(book.best_bid)
        if book.best_ask is not None:
            details["best_ask"] = str(book.best_ask)
        key = f"{f.tx_hash}:{f.log_index}:{self._store.orders_for_fill(p.fill_id)}"
        wait = self._settings.live.sell_settle_wait_s if f.side is Side.SELL else 0.0  # BUYs never wait
        until = orders.settle_deadline(self._store, f.leader, f.token_id, self._clock.now(), wait)
        ticket = orders.OrderTicket(key, f.leader, fill_id=p.fill_id, settle_until=until)
        sent = await orders.send(self._store, self._broker, self._clock, intent, book, ticket)
        if sent.status is orders.Sending.UNKNOWN:
            if f.side is Side.BUY:  # it may have filled: later decisions in this run must not spend it again
                running.reserve(p, market_of(info, book), intent.amount)
            else:  # nor sell again shares that may be gone
                running.lost_sell(p, intent.amount)
            return None
        if sent.status is orders.Sending.DEFERRED:
            return None
        skipped = CopyOutcome(
            f,
            Decision.SKIPPED,
            sent.code,
            sent.reason,
            intent=intent,
            market=info,
            details=details,
            client_key=sent.client_key,  # the order that was decided (a re-signed one has its own key)
            order_id=sent.order_id,
        )
        if sent.status is orders.Sending.FILLED and sent.result is not None:
            code, reason = _filled_reason(intent.amount, sent.result, f.side)
            return replace(skipped, decision=Decision.FILLED, code=code, reason=reason, result=sent.result)
        if sent.status is orders.Sending.REJECTED:
            return replace(skipped, decision=Decision.FAILED)
        return skipped


def _unsupported(fill: Fill, info: MarketInfo | None) -> CopyOutcome:
    why = "unsupported market: a Protocol V2 position (ExchangeV3); the broker trades CTF tokens only"
    return CopyOutcome.skipped(fill, Skip(Reason.UNSUPPORTED_MARKET, why), info)


def _filled_reason(amount: int, result: OrderResult, side: Side) -> tuple[Reason, str]:
    if side is Side.SELL and result.shares < amount:
        return (
            Reason.PARTIAL,
            f"partial: sold {from_units(result.shares)} of {from_units(amount)} shares (bids ran out)",
        )
    return (Reason.COPIED, "copied") if side is Side.BUY else (Reason.MIRRORED, "mirrored leader sell")
