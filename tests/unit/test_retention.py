"""Compaction keeps the store small without losing totals, money or the dedupe guarantee."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from copybot.cli.status import snapshot
from copybot.models import CopyOutcome, Decision, Fill, OrderIntent, OrderResult, Reason, Side
from copybot.sources.base import PollResult
from copybot.store import Store
from copybot.store.retention import DAY_S, compact

L1 = "0x" + "a1" * 20
TOKEN = 123456789
NOW = 1_790_000_000.0
U = 10**6


def fill(block: int, side: Side = Side.BUY, shares: int = 20 * U) -> Fill:
    return Fill(
        L1,
        "0x" + format(block, "064x"),
        0,
        block,
        int(NOW),
        "0xe111180000d2663c0091e4f400237545b87b996b",
        TOKEN,
        side,
        shares,
        shares // 2,
        0,
        True,
    )


def decide_all(store: Store, now: float) -> None:
    outcomes = []
    for p in store.pending_fills(100):
        f = p.fill
        if f.side is Side.BUY:
            intent = OrderIntent(TOKEN, Side.BUY, 5 * U, Decimal("0.55"))
            outcomes.append(
                (
                    p.fill_id,
                    CopyOutcome(f, Decision.FILLED, Reason.COPIED, "copied", intent, OrderResult(10 * U, 5 * U)),
                )
            )
        else:
            outcomes.append((p.fill_id, CopyOutcome(f, Decision.SKIPPED, Reason.NOT_HELD, "not held: test")))
    store.record_outcomes(outcomes, "paper", now)


def test_old_decided_fills_are_compacted_totals_money_and_dedupe_survive(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r.db")
    store.init_paper("paper", 1000 * U, NOW)
    store.sync_leaders([(L1, "")], NOW)
    old = [fill(100 + i) for i in range(5)] + [fill(105, Side.SELL, 1 * U)]
    store.save_fills(old, {L1: 110}, NOW)
    decide_all(store, NOW)
    later = NOW + 120 * DAY_S
    store.save_fills([fill(200)], {L1: 220}, later)  # recent: must stay, and stay pending
    before = snapshot(store, later, limit=0)

    done = compact(store, later, retention_days=90, confirmations_window=12)
    assert done is not None and done.fills == 6 and done.watermark == 106
    assert store.count("fills") == 1 and store.count("decisions") == 0
    assert store.count("orders") == 0 and store.count("trades") == 0
    after = snapshot(store, later, limit=0)
    assert after["leaders"] == before["leaders"]  # fills_seen / copied / skipped kept as totals
    assert after["bankroll"] == before["bankroll"]  # the ledger and positions are untouched
    assert [p.fill.block for p in store.pending_fills(10)] == [200]
    # a source re-reading the compacted range cannot bring the fills back
    assert store.save_poll(PollResult(fills=old, cursors={L1: 220}), later).new == 0
    assert store.count("fills") == 1
    # at most once a day, and never when retention is off
    assert compact(store, later + 60, retention_days=90, confirmations_window=12) is None
    assert compact(store, later + 2 * DAY_S, retention_days=0, confirmations_window=12) is None
    assert store.integrity_ok()
    store.close()


def test_fills_a_source_could_still_return_are_kept(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r.db")
    store.init_paper("paper", 1000 * U, NOW)
    store.sync_leaders([(L1, "")], NOW)
    store.save_fills([fill(100), fill(105)], {L1: 110}, NOW)
    decide_all(store, NOW)
    # the cursor is only 110: blocks from 98 up may be re-read (reorg window of 12)
    done = compact(store, NOW + 120 * DAY_S, retention_days=90, confirmations_window=12)
    assert done is not None and done.fills == 0 and store.count("fills") == 2
    store.close()
