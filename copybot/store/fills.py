"""Storing what a poll found: new fills, fills moved or erased by a reorg.

Plain functions on an open transaction (``Store.save_poll`` owns the transaction and the
recent-key cache). Dedupe is by (tx hash, log index); a reorg can re-include the same fill at
another position (same tx, leader, token, side and amounts), which is recognised, not re-stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from copybot.models import Fill, Side
from copybot.sources.base import Window


def covered(windows: Sequence[Window], leader: str, block: int) -> bool:
    return any(w.lo <= block <= w.hi and leader in w.leaders for w in windows)


def insert_fill(
    c: sqlite3.Connection, f: Fill, present: set[tuple[str, int]], windows: Sequence[Window], now: float
) -> str:
    token = str(f.token_id)
    # one indexed read of the transaction's stored fills answers both questions: stored already? moved?
    same_tx = c.execute(
        "SELECT id, log_index, block, leader, token_id, side, shares, collateral FROM fills WHERE tx_hash = ?",
        (f.tx_hash,),
    ).fetchall()
    if any(r["log_index"] == f.log_index for r in same_tx):
        return "duplicates"
    identity = (f.leader, token, f.side.value, f.shares, f.collateral)
    for twin in same_tx:
        if (twin["leader"], twin["token_id"], twin["side"], twin["shares"], twin["collateral"]) != identity:
            continue
        # The same fill moved by a reorg: its old position was re-read and is no longer there.
        if (f.tx_hash, twin["log_index"]) not in present and covered(windows, f.leader, twin["block"]):
            c.execute(
                "UPDATE OR IGNORE fills SET block = ?, log_index = ?, ts = ? WHERE id = ?",
                (f.block, f.log_index, f.timestamp, twin["id"]),
            )
            return "moved"
    row = c.execute(
        "SELECT shares FROM leader_holdings WHERE leader = ? AND token_id = ?", (f.leader, token)
    ).fetchone()
    before: int | None = None if row is None else row[0]
    where = (f.tx_hash, f.log_index, f.leader, f.block, f.timestamp, f.exchange)
    what = (token, f.side.value, f.shares, f.collateral, f.fee, int(f.as_taker))
    c.execute(
        "INSERT INTO fills (tx_hash, log_index, leader, block, ts, exchange, token_id, side, "
        "shares, collateral, fee, as_taker, leader_holding_before, seen_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*where, *what, before, now),
    )
    if f.side is Side.BUY:
        after: int | None = (before or 0) + f.shares
    else:
        after = None if before is None else max(0, before - f.shares)
    c.execute(
        "INSERT INTO leader_holdings VALUES (?, ?, ?) "
        "ON CONFLICT (leader, token_id) DO UPDATE SET shares = excluded.shares",
        (f.leader, token, after),
    )
    return "new"


def drop_vanished(c: sqlite3.Connection, windows: Sequence[Window], present: set[tuple[str, int]], now: float) -> int:
    vanished = 0
    for w in windows:
        rows = c.execute(
            "SELECT id, leader, tx_hash, log_index FROM fills WHERE state = 'pending' AND block BETWEEN ? AND ?",
            (w.lo, w.hi),
        ).fetchall()
        for r in rows:
            if r["leader"] in w.leaders and (r["tx_hash"], r["log_index"]) not in present:
                c.execute(
                    "INSERT INTO decisions (fill_id, decision, code, reason, details, at) "
                    "VALUES (?, 'skipped', 'reorged', ?, ?, ?)",
                    (r["id"], f"reorged: log no longer on chain (blocks {w.lo}-{w.hi} re-read)", "{}", now),
                )
                c.execute("UPDATE fills SET state = 'done' WHERE id = ?", (r["id"],))
                vanished += 1
    return vanished
