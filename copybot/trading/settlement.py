"""Trades confirmed after matching, or reversed when they fail on chain.

Since asynchronous settlement (2026-07-24) a match is only the start: each of the exchange's trades
goes MATCHED → MINED → CONFIRMED, or FAILED (the transaction reverted, nothing changed hands). A
live fill is booked when it matches, with the ids of its trades; every cycle, the trades not final
yet are asked about (one request per trade id, only while some are pending), the confirmed ones are
marked so, and the part that FAILED is reversed in the ledger: shares and cost basis, realized P&L
and cash, exactly as they were booked (``Store.settle_trade``). Paper fills have no trades to wait for.
"""

from __future__ import annotations

import logging

from copybot.brokers.base import Broker
from copybot.clock import Clock
from copybot.errors import TransientError
from copybot.models import from_units
from copybot.store import Store

log = logging.getLogger(__name__)


async def settle(store: Store, broker: Broker, clock: Clock) -> int:
    """Follow up on booked trades not final yet; returns how many trades were reversed."""
    pending = store.unsettled_trades()
    if not pending:
        return 0
    try:
        states = await broker.trade_states([i for t in pending for i in t.exchange_trades])
    except TransientError as exc:
        log.warning("trade settlement not checked this cycle: %s", exc)
        return 0
    reversed_ = 0
    for t in pending:
        waiting: list[str] = []
        failed_shares = failed_usdc = 0
        for trade_id in t.exchange_trades:
            state = states.get(trade_id)
            if state is None or not state.final:
                waiting.append(trade_id)
            elif state.status == "FAILED":
                failed_shares += state.shares
                failed_usdc += state.collateral
        if len(waiting) == len(t.exchange_trades):
            continue  # nothing final yet
        failed = (min(failed_shares, t.shares), min(failed_usdc, t.collateral))
        store.settle_trade(t, tuple(waiting), failed, clock.now())
        if failed[0] > 0:
            reversed_ += 1
            log.warning(
                "trade of %s (%s %s shares for %s pUSD) FAILED on chain: reversed in the ledger",
                t.token_id,
                t.side.value,
                from_units(failed[0]),
                from_units(failed[1]),
            )
    return reversed_
