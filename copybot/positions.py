"""Position upkeep each cycle: mark every open position at its best bid (what it could be sold at).

Prices are fetched once per distinct token per cycle, in batched requests. Exits (TP/SL, market
resolution) build on this in a later slice; leader exits are mirrored by the executor.
"""

from __future__ import annotations

from copybot.clock import Clock
from copybot.market import MarketData
from copybot.store import Store


async def mark_positions(store: Store, market: MarketData, clock: Clock) -> int:
    """Refresh mark prices of open positions; returns how many tokens were priced."""
    tokens = list(dict.fromkeys(int(row["token_id"]) for row in store.open_positions()))
    if not tokens:
        return 0
    bids = await market.best_bids(tokens)
    store.update_marks(bids, clock.now())
    return len(bids)
