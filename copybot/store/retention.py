"""Keep the store small over months: compact decided fills older than ``storage.retention_days``.

What goes: the fills, their decisions, orders and trade rows. What stays: per-leader totals (so
``status`` counts do not drop), positions and their realized P&L, the whole cash ledger, leader
holdings (for mirroring sells) and cursors. Dedupe survives: a watermark block is recorded, below
which every fill was decided long ago; ingestion ignores anything a source returns below it.
Only fills below every leader's cursor (minus the reorg window) can go, so nothing a source could
still return as new is ever forgotten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from copybot.store import Store

log = logging.getLogger(__name__)
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Compaction:
    fills: int
    watermark: int


def compact(store: Store, now: float, retention_days: float, confirmations_window: int) -> Compaction | None:
    """Compact once per day at most; None when it was not due or retention is off."""
    if retention_days <= 0:
        return None
    last = store.meta("compacted_at")
    if last is not None and now - float(last) < DAY_S:
        return None
    cursors = [c for c in store.cursors().values() if c is not None]
    if not cursors:
        return None
    below = min(cursors) - confirmations_window
    removed, watermark = _delete_old(store, now - retention_days * DAY_S, below, now)
    if removed:
        log.info("compacted %d fills older than %g days (watermark block %d)", removed, retention_days, watermark)
    return Compaction(removed, watermark)


def _delete_old(store: Store, seen_before: float, below_block: int, now: float) -> tuple[int, int]:
    """Delete decided fills seen before ``seen_before`` and below ``below_block``, with their
    decisions, orders and trades (``leader_totals`` keeps counting them); raise the watermark.
    Returns (fills removed, watermark). One transaction."""
    with store.tx() as c:
        old = "SELECT id FROM fills WHERE state = 'done' AND seen_at < ? AND block < ?"
        args = (seen_before, below_block)
        top = c.execute(f"SELECT MAX(block) FROM fills WHERE id IN ({old})", args).fetchone()[0]
        c.execute(f"DELETE FROM trades WHERE order_id IN (SELECT id FROM orders WHERE fill_id IN ({old}))", args)
        c.execute(f"DELETE FROM orders WHERE fill_id IN ({old})", args)
        c.execute(f"DELETE FROM decisions WHERE fill_id IN ({old})", args)
        removed = c.execute(f"DELETE FROM fills WHERE id IN ({old})", args).rowcount
        watermark = max(int(top) + 1 if top is not None else 0, store.watermark())
        c.execute("INSERT OR REPLACE INTO meta VALUES ('watermark_block', ?)", (str(watermark),))
        c.execute("INSERT OR REPLACE INTO meta VALUES ('compacted_at', ?)", (str(now),))
    return removed, watermark
