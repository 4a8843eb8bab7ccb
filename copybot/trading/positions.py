"""Position management, every cycle, before any new BUY: marks, exits, resolution.

1. Price every open position once per token, in one batched request (best bid: what it could be
   sold at), and raise its high-water bid.
2. Markets whose tokens have no bid any more are asked whether they resolved (once per market).
3. Decide exits with the pure rules (``exits.exit_reason``): take-profit, stop-loss, trailing
   stop, max holding time, resolution.
4. Close concurrently (``gather(..., return_exceptions=True)``): one failure never blocks the
   others. Each close is recorded in its own transaction, and a position has a lock while it is
   being closed (released when done) so two exits never sell the same shares.

Paper settles a resolved position at its payout (1 or 0); live marks it redeemable (redeeming
happens on chain, outside copybot) and reports it in ``status``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.config.settings import Settings, effective_risk
from copybot.errors import CopybotError, OrderOutcomeUnknown, SkipError, TransientError
from copybot.models import Book, OpenPosition, OrderIntent, Side, Skip
from copybot.protocol import LOT
from copybot.rules.exits import exit_reason
from copybot.rules.sizing import sell_bound
from copybot.store import Store
from copybot.store.ledger import ExitOutcome, NewOrder
from copybot.upstream.market import MarketData

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExitPlan:
    leader: str
    token_id: int
    condition_id: str
    shares: int
    reason: str  # the rule's full text; its code is the part before ":"
    resolved_price: Decimal | None = None

    @property
    def code(self) -> str:
        return self.reason.split(":", 1)[0].replace(" ", "_")


class PositionManager:
    def __init__(self, store: Store, market: MarketData, broker: Broker, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._market = market
        self._broker = broker
        self._settings = settings
        self._clock = clock
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}  # only positions being closed
        self.last_exits: list[ExitOutcome] = []

    async def manage(self) -> list[ExitOutcome]:
        rows = self._store.open_positions()
        self.last_exits = []
        if not rows:
            return []
        tokens = list(dict.fromkeys(int(r["token_id"]) for r in rows))
        bids = await self._market.best_bids(tokens)
        now = self._clock.now()
        self._store.update_marks(bids, now)
        unpriced = {r["condition_id"] for r in rows if int(r["token_id"]) not in bids}
        winners = await self._market.resolutions(unpriced) if unpriced else {}
        plans = [plan for r in self._store.open_positions() if (plan := self._plan(r, bids, winners, now))]
        if not plans:
            return []
        books = await self._market.books(p.token_id for p in plans if p.resolved_price is None)
        results = await asyncio.gather(*(self._close(p, books.get(p.token_id)) for p in plans), return_exceptions=True)
        for plan, result in zip(plans, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, CopybotError):
                    raise result
                log.warning("exit of %s for %s failed: %s", plan.token_id, plan.leader[:10], result)
                continue
            if result is not None:
                self.last_exits.append(result)
        return self.last_exits

    async def mark_unpriced(self) -> int:
        """Mark positions opened since :meth:`manage` ran (one batched request, only if any)."""
        rows = self._store.open_positions()
        tokens = list(dict.fromkeys(int(r["token_id"]) for r in rows if r["mark_price"] is None))
        if not tokens:
            return 0
        bids = await self._market.best_bids(tokens)
        self._store.update_marks(bids, self._clock.now())
        return len(bids)

    def _plan(
        self, row: sqlite3.Row, bids: dict[int, Decimal], winners: dict[str, int | None], now: float
    ) -> ExitPlan | None:
        if row["redeemable"]:
            return None  # already resolved in live mode: waits for an on-chain redeem
        token = int(row["token_id"])
        resolved: Decimal | None = None
        if row["condition_id"] in winners and winners[row["condition_id"]] is not None:
            resolved = Decimal(1) if winners[row["condition_id"]] == token else Decimal(0)
        position = OpenPosition(
            int(row["shares"]), int(row["cost"]), float(row["opened_at"]),
            Decimal(row["high_water"]) if row["high_water"] else Decimal(0),
        )  # fmt: skip
        risk = effective_risk(self._settings, row["leader"])
        reason = exit_reason(position, bids.get(token), now, self._settings.exits, risk.min_hold_s, resolved)
        if not reason:
            return None
        return ExitPlan(row["leader"], token, row["condition_id"], position.shares, reason, resolved)

    async def _close(self, plan: ExitPlan, book: Book | CopybotError | None) -> ExitOutcome | None:
        key = (plan.leader, plan.token_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                return await self._close_locked(plan, book)
        finally:
            self._locks.pop(key, None)

    async def _close_locked(self, plan: ExitPlan, book: Book | CopybotError | None) -> ExitOutcome | None:
        now = self._clock.now()
        client_key = f"exit:{plan.leader}:{plan.token_id}:{int(now * 1000)}"
        mode = self._broker.mode
        if plan.resolved_price is not None:
            paid = await self._broker.redeem(plan.token_id, plan.shares, plan.resolved_price)
            status = "redeemable" if paid is None else "filled"  # None: redeemed outside copybot
            outcome = ExitOutcome(
                plan.leader, plan.token_id, "resolved", client_key, result=paid, status=status, detail=plan.reason
            )
            self._store.record_exit(outcome, mode, now)
            return outcome
        if not isinstance(book, Book) or book.best_bid is None:
            raise TransientError(f"no book to exit {plan.token_id} ({plan.reason}); retrying next cycle")
        shares = plan.shares - plan.shares % LOT
        if shares <= 0:
            return None
        slippage = effective_risk(self._settings, plan.leader).max_slippage
        bound = sell_bound(book.best_bid, slippage, book.tick_size)
        intent = OrderIntent(plan.token_id, Side.SELL, shares, bound, {"exit": plan.reason, "bid": str(book.best_bid)})
        return await self._send(plan, intent, book, client_key)

    async def _send(self, plan: ExitPlan, intent: OrderIntent, book: Book, client_key: str) -> ExitOutcome | None:
        mode = self._broker.mode
        prepared = await self._broker.prepare(intent, book)
        if isinstance(prepared, Skip):
            outcome = ExitOutcome(plan.leader, plan.token_id, plan.code, client_key, intent, status="skipped",
                                  detail=prepared.reason)  # fmt: skip
            self._store.record_exit(outcome, mode, self._clock.now())
            return outcome
        if self._broker.can_lose_answers:
            order = NewOrder(client_key, None, f"exit:{plan.code}", plan.leader, mode, intent, prepared.order_id)
            self._store.write_intent(order, self._clock.now())
        try:
            result = await self._broker.submit(prepared)
        except OrderOutcomeUnknown:
            self._store.set_order_status(client_key, "unknown", self._clock.now())
            raise
        except TransientError:
            self._store.set_order_status(client_key, "abandoned", self._clock.now())
            raise
        except SkipError as exc:
            result = Skip(f"rejected: {exc}")
        if isinstance(result, Skip):
            outcome = ExitOutcome(plan.leader, plan.token_id, plan.code, client_key, intent, status="failed",
                                  detail=result.reason)  # fmt: skip
        else:
            outcome = ExitOutcome(plan.leader, plan.token_id, plan.code, client_key, intent, result, detail=plan.reason)
        self._store.record_exit(outcome, mode, self._clock.now())
        return outcome
