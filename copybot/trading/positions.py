"""Position management, every cycle, before any new BUY: marks, exits, resolution.

1. Price every open position once per token, in one batched request (best bid: what it could be
   sold at), and raise its high-water bid.
2. Markets whose tokens have no bid any more are asked whether they resolved (once per market).
3. Decide exits with the pure rules (``exits.exit_reason``): take-profit, stop-loss, trailing
   stop, max holding time, resolution.
4. Close concurrently (``gather(..., return_exceptions=True)``): one failure never blocks the
   others. Each close is recorded in its own transaction, and a position has a lock while it is
   being closed (released when done) so two exits never sell the same shares.

A resolved position is handed to the broker's ``redeem``: paper settles it at its payout (1 or 0)
at once; live closes a losing one at 0 and marks a winning one redeemable (``status`` reports it),
then asks every five minutes whether it was redeemed (the wallet no longer holds the tokens) and
books its payout then. Until then it is worth its payout in equity but holds no room under the caps
and does not count as an open position. Sells go
through the one order path copies use (:mod:`copybot.trading.orders`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from decimal import Decimal

from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.config.settings import Settings, effective_risk
from copybot.errors import CopybotError, TransientError
from copybot.models import Book, ExitRule, ExitSignal, OrderIntent, Position, Side, from_units
from copybot.protocol import LOT
from copybot.rules.exits import exit_reason
from copybot.rules.sizing import sell_bound
from copybot.store import Store
from copybot.store.ledger import ExitOutcome
from copybot.store.records import exit_purpose
from copybot.trading.orders import OrderTicket, Sending, send, settle_deadline
from copybot.upstream.market import MarketData

log = logging.getLogger(__name__)
REDEEM_CHECK_S = 300.0  # a resolved position waiting to be redeemed is asked about every five minutes


@dataclass(frozen=True, slots=True)
class ExitPlan:
    position: Position
    signal: ExitSignal
    resolved_price: Decimal | None = None


class PositionManager:
    def __init__(self, store: Store, market: MarketData, broker: Broker, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._market = market
        self._broker = broker
        self._settings = settings
        self._clock = clock
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}  # only positions being closed
        self.last_exits: list[ExitOutcome] = []
        self._redeem_checked: dict[tuple[str, int], float] = {}  # resolved positions: when last asked

    async def manage(self) -> list[ExitOutcome]:
        held = self._store.open_positions()
        self.last_exits = []
        if not held:
            return []
        bids = await self._market.best_bids(dict.fromkeys(p.token_id for p in held))
        now = self._clock.now()
        self._store.update_marks(bids, now)
        unpriced = {p.condition_id for p in held if p.token_id not in bids and not p.redeemable}
        winners = await self._market.resolutions(unpriced) if unpriced else {}
        # a position with a SELL still undecided by the exchange (delayed, or its answer lost) waits:
        # its shares may be gone already
        selling = {(o.leader, o.token_id) for o in self._store.open_intents() if o.side is Side.SELL}
        plans = [
            plan
            for p in self._store.open_positions()
            if p.key not in selling and (plan := self._plan(p, bids, winners, now))
        ]
        if not plans:
            return []
        to_sell = (p.position.token_id for p in plans if p.resolved_price is None)
        books = await self._market.books(to_sell)
        closes = (self._close(p, books.get(p.position.token_id)) for p in plans)
        results = await asyncio.gather(*closes, return_exceptions=True)
        for plan, result in zip(plans, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, CopybotError):
                    raise result
                log.warning("exit of %s for %s failed: %s", plan.position.token_id, plan.position.leader[:10], result)
                continue
            if result is not None:
                self.last_exits.append(result)
        return self.last_exits

    async def mark_unpriced(self) -> int:
        """Mark positions opened since :meth:`manage` ran (one batched request, only if any)."""
        tokens = list(dict.fromkeys(p.token_id for p in self._store.open_positions() if p.mark_price is None))
        if not tokens:
            return 0
        bids = await self._market.best_bids(tokens)
        self._store.update_marks(bids, self._clock.now())
        return len(bids)

    def _plan(
        self, position: Position, bids: dict[int, Decimal], winners: dict[str, int | None], now: float
    ) -> ExitPlan | None:
        if position.redeemable:  # resolved earlier: asked again now and then whether it was redeemed
            last = self._redeem_checked.get(position.key)
            if last is not None and now - last < REDEEM_CHECK_S:
                return None
            self._redeem_checked[position.key] = now
            price = position.resolved_price if position.resolved_price is not None else Decimal(0)
            text = f"resolved: the outcome pays {price.normalize():f}"
            return ExitPlan(position, ExitSignal(ExitRule.RESOLVED, text), price)
        resolved: Decimal | None = None
        winner = winners.get(position.condition_id)
        if winner is not None:
            resolved = Decimal(1) if winner == position.token_id else Decimal(0)
        risk = effective_risk(self._settings, position.leader)
        exits = self._settings.exits
        signal = exit_reason(position, bids.get(position.token_id), now, exits, risk.min_hold_s, resolved)
        return None if signal is None else ExitPlan(position, signal, resolved)

    async def _close(self, plan: ExitPlan, book: Book | CopybotError | None) -> ExitOutcome | None:
        key = plan.position.key
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                return await self._close_locked(plan, book)
        finally:
            self._locks.pop(key, None)

    async def _close_locked(self, plan: ExitPlan, book: Book | CopybotError | None) -> ExitOutcome | None:
        position, signal = plan.position, plan.signal
        now = self._clock.now()
        client_key = f"exit:{position.leader}:{position.token_id}:{int(now * 1000)}"
        closing = ExitOutcome(position.leader, position.token_id, signal.rule, client_key, detail=signal.text)
        if plan.resolved_price is not None:
            paid = await self._broker.redeem(
                position.token_id, position.shares, plan.resolved_price, position.condition_id
            )
            if paid is None and position.redeemable:
                return None  # still waiting to be redeemed: nothing new to record
            status = "redeemable" if paid is None else "filled"  # None: the shares wait to be redeemed
            outcome = replace(closing, result=paid, status=status, resolved_price=plan.resolved_price)
            _log_exit(outcome, self._store.record_exit(outcome, self._broker.mode, now))
            self._redeem_checked.pop(position.key, None)
            return outcome
        if not isinstance(book, Book) or book.best_bid is None:
            raise TransientError(f"no book to exit {position.token_id} ({signal.text}); retrying next cycle")
        shares = position.shares - position.shares % LOT
        if shares <= 0:
            return None
        slippage = effective_risk(self._settings, position.leader).max_slippage
        bound = sell_bound(book.best_bid, slippage, book.tick_size)
        intent = OrderIntent(
            position.token_id, Side.SELL, shares, bound, {"exit": signal.text, "bid": str(book.best_bid)}
        )
        wait = self._settings.live.sell_settle_wait_s
        until = settle_deadline(self._store, position.leader, position.token_id, now, wait)
        ticket = OrderTicket(client_key, position.leader, purpose=exit_purpose(signal.rule), settle_until=until)
        sent = await send(self._store, self._broker, self._clock, intent, book, ticket)
        if sent.status in (Sending.UNKNOWN, Sending.DEFERRED):
            raise TransientError(f"exit of {position.token_id} not settled: {sent.reason}")  # looked up / retried
        status = {Sending.FILLED: "filled", Sending.SKIPPED: "skipped"}.get(sent.status, "failed")
        detail = signal.text if sent.status is Sending.FILLED else sent.reason
        outcome = replace(
            closing, client_key=sent.client_key, intent=intent, result=sent.result, status=status, detail=detail
        )
        _log_exit(outcome, self._store.record_exit(outcome, self._broker.mode, self._clock.now()))
        return outcome


def _log_exit(e: ExitOutcome, realized: int | None) -> None:
    """One line per exit, as copy decisions are logged: the fields as JSON keys, or in the text."""
    fields: dict[str, str] = {"exit": e.rule.value, "status": e.status, "leader": e.leader, "token": str(e.token_id)}
    if e.result is not None and e.status == "filled":
        fields |= {"shares": str(from_units(e.result.shares)), "usdc": str(from_units(e.result.collateral))}
    if realized is not None:
        fields["realized"] = str(from_units(realized))
    fields["detail"] = e.detail
    line = " ".join(f"{k}={v!r}" if k == "detail" else f"{k}={v}" for k, v in fields.items())
    log.log(logging.WARNING if e.status == "failed" else logging.INFO, line, extra={"fields": fields})
