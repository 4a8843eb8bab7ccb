"""Orders whose outcome is not known (copybot died, or an answer was lost, between sending and
recording, or the exchange accepted the order to match it later): ask the exchange what became of
each, and record that, before anything else is sent.

One the exchange has not decided yet (``delayed``, resting) stays open and is asked about again next
cycle; meanwhile its fill is not decided again (``Store.pending_fills`` leaves it out) and its
position is not exited.

An order the exchange never saw, or that filled nothing, is ``abandoned``: its fill is decided
again, its exit tried again. One that filled is recorded as if its answer had arrived: a copy
with its fill (and its market, so the position can be checked for resolution), an exit with its
sale. A fill is therefore never copied twice.
"""

from __future__ import annotations

import logging

from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.errors import OrderPending
from copybot.models import CopyOutcome, Decision, OrderIntent, Reason, Side
from copybot.store import Store
from copybot.store.ledger import ExitOutcome
from copybot.trading.orders import with_fee
from copybot.upstream.market import MarketData

log = logging.getLogger(__name__)
NOTE = "reconciled after a lost answer"


async def reconcile(store: Store, broker: Broker, market: MarketData, clock: Clock) -> int:
    """Resolve every open intent; returns how many were resolved."""
    resolved = 0
    for order in store.open_intents():
        try:
            result = await broker.lookup(order.exchange_order_id)
        except OrderPending as exc:
            store.set_order_status(order.client_key, "unknown", clock.now())
            log.info("order %s not decided by the exchange yet: %s", order.client_key, exc)
            continue
        now = clock.now()
        pending = store.fill(order.fill_id) if order.fill_id is not None else None
        resolved += 1
        if result is None or result.shares <= 0:
            store.set_order_status(order.client_key, "abandoned", now)  # never executed
            continue
        # the market: its fee, and a position without its condition id is never checked for resolution
        info = (await market.market_info([order.token_id])).get(order.token_id)
        if info is not None and info.condition_id:  # what the fill cost on top (or took from a sale)
            result = with_fee(result, (await market.fee_rates([info.condition_id])).get(info.condition_id))
        if order.exit_rule is not None:
            intent = OrderIntent(order.token_id, Side.SELL, order.amount, None)
            exit_ = ExitOutcome(
                order.leader, order.token_id, order.exit_rule, order.client_key, intent, result, detail=NOTE
            )
            store.record_exit(exit_, broker.mode, now)
        elif pending is not None:
            f = pending.fill
            outcome = CopyOutcome(
                f,
                Decision.FILLED,
                Reason.COPIED if f.side is Side.BUY else Reason.MIRRORED,
                f"copied ({NOTE})",
                intent=OrderIntent(f.token_id, f.side, order.amount, None),
                result=result,
                market=info,
                client_key=order.client_key,
            )
            store.record_outcomes([(pending.fill_id, outcome)], broker.mode, now)
        else:
            store.set_order_status(order.client_key, "filled", now)
            log.warning("order %s filled but its fill is gone; record it by hand", order.client_key)
    return resolved
