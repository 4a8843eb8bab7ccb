"""The store's reporting reads: the heartbeat and cycles, leader totals, recent copies, P&L sums.

What ``status``, ``health``, the dashboard and the metrics read; the daemon writes only the
heartbeat and the cycle rows (:meth:`Reports.record_cycle`). Mixed into :class:`~copybot.store.Store`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from copybot.store.connection import Connection

CYCLES_KEPT = 2000


@dataclass(frozen=True, slots=True)
class CycleStats:
    started_at: float
    duration_ms: float
    fills: int
    decisions: int
    api_calls: int
    cache_hits: int
    cache_misses: int
    source_health: Mapping[str, Any]
    last_error: str = ""


class Reports(Connection):
    def realized_by_leader(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT leader, SUM(realized) FROM positions GROUP BY leader").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def realized_pnl(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(SUM(realized), 0) FROM positions").fetchone()[0])

    # ---- heartbeat and reporting ----------------------------------------------------------
    def record_cycle(self, s: CycleStats) -> None:
        ended = s.started_at + s.duration_ms / 1000
        health = json.dumps(s.source_health, default=str)
        with self.tx() as c:
            c.execute(
                "UPDATE heartbeat SET cycles = cycles + 1, last_cycle_at = ?, api_calls = api_calls + ?, "
                "cache_hits = cache_hits + ?, cache_misses = cache_misses + ?, last_error = ?, source_health = ? "
                "WHERE id = 1",
                (ended, s.api_calls, s.cache_hits, s.cache_misses, s.last_error, health),
            )
            cid = c.execute(
                "INSERT INTO cycles (started_at, duration_ms, fills, decisions, api_calls) VALUES (?, ?, ?, ?, ?)",
                (s.started_at, s.duration_ms, s.fills, s.decisions, s.api_calls),
            ).lastrowid
            if cid is not None and cid % 100 == 0:
                c.execute("DELETE FROM cycles WHERE id <= ?", (cid - CYCLES_KEPT,))

    def heartbeat(self) -> sqlite3.Row:
        row: sqlite3.Row = self._conn.execute("SELECT * FROM heartbeat WHERE id = 1").fetchone()
        return row

    def recent_cycles(self, limit: int) -> list[sqlite3.Row]:
        return self._conn.execute("SELECT * FROM cycles ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    def leader_rows(self) -> list[sqlite3.Row]:
        """Each leader with its all-time totals (kept by triggers, compaction included)."""
        return self._conn.execute(
            "SELECT l.address, l.label, l.cursor_block, COALESCE(t.fills, 0) AS fills_seen, "
            "COALESCE(t.copied, 0) AS copied, COALESCE(t.skipped, 0) AS skipped, t.last_ts AS last_fill_ts "
            "FROM leaders l LEFT JOIN leader_totals t ON t.leader = l.address ORDER BY l.added_at, l.address"
        ).fetchall()

    def totals(self) -> tuple[int, int]:
        """(fills ever stored, copies ever filled), over every leader."""
        row = self._conn.execute("SELECT COALESCE(SUM(fills), 0), COALESCE(SUM(copied), 0) FROM leader_totals")
        fills, copied = row.fetchone()
        return int(fills), int(copied)

    def copy_rows(self, limit: int) -> list[sqlite3.Row]:
        sql = (
            "SELECT f.*, d.decision, d.code, d.reason, d.order_usdc, d.fill_shares, d.fill_usdc, d.fill_price, d.at, "
            "l.label AS leader_label, m.outcome, m.question FROM decisions d JOIN fills f ON f.id = d.fill_id "
            "LEFT JOIN leaders l ON l.address = f.leader LEFT JOIN markets m ON m.token_id = f.token_id "
            "ORDER BY d.id DESC"
        )
        return self._newest(sql, limit)

    def count(self, table: str) -> int:
        if table not in {"fills", "decisions", "orders", "trades", "positions", "ledger", "cycles"}:
            raise ValueError(table)
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def exit_rows(self, limit: int) -> list[sqlite3.Row]:
        """The newest exits (0: all), with their market's question and outcome and the leader's label."""
        sql = (
            "SELECT e.*, m.question, m.outcome, l.label AS leader_label FROM exits e "
            "LEFT JOIN markets m ON m.token_id = e.token_id LEFT JOIN leaders l ON l.address = e.leader "
            "ORDER BY e.id DESC"
        )
        return self._newest(sql, limit)

    def _newest(self, sql: str, limit: int) -> list[sqlite3.Row]:
        """``sql`` (newest first) cut to ``limit`` rows; 0 = all of them."""
        if limit > 0:
            return self._conn.execute(sql + " LIMIT ?", (limit,)).fetchall()
        return self._conn.execute(sql).fetchall()
