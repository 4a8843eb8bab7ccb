"""The SQLite schema, as an ordered list of migrations (``PRAGMA user_version`` = how many ran).

Never edit a migration that has shipped: add a new one. Money columns are INTEGER base units
(6 decimals); prices are decimal TEXT; times are unix seconds (REAL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE leaders (
        address TEXT PRIMARY KEY, label TEXT NOT NULL DEFAULT '', cursor_block INTEGER, added_at REAL NOT NULL);
    CREATE TABLE fills (
        id INTEGER PRIMARY KEY, tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL, leader TEXT NOT NULL,
        block INTEGER NOT NULL, ts INTEGER NOT NULL, exchange TEXT NOT NULL, token_id TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')), shares INTEGER NOT NULL, collateral INTEGER NOT NULL,
        fee INTEGER NOT NULL, as_taker INTEGER NOT NULL, leader_holding_before INTEGER,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')), seen_at REAL NOT NULL,
        UNIQUE (tx_hash, log_index));
    CREATE INDEX fills_pending ON fills (block, log_index) WHERE state = 'pending';
    CREATE INDEX fills_leader ON fills (leader);
    CREATE TABLE leader_holdings (
        leader TEXT NOT NULL, token_id TEXT NOT NULL, shares INTEGER, PRIMARY KEY (leader, token_id));
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY, fill_id INTEGER NOT NULL UNIQUE REFERENCES fills (id),
        decision TEXT NOT NULL CHECK (decision IN ('filled', 'skipped', 'failed')), reason TEXT NOT NULL,
        order_usdc INTEGER, fill_shares INTEGER, fill_usdc INTEGER, fill_price TEXT,
        details TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE orders (
        id INTEGER PRIMARY KEY, client_key TEXT NOT NULL UNIQUE, fill_id INTEGER NOT NULL REFERENCES fills (id),
        mode TEXT NOT NULL, token_id TEXT NOT NULL, side TEXT NOT NULL, amount INTEGER NOT NULL,
        worst_price TEXT, status TEXT NOT NULL, created_at REAL NOT NULL);
    CREATE TABLE trades (
        id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id), token_id TEXT NOT NULL,
        side TEXT NOT NULL, shares INTEGER NOT NULL, usdc INTEGER NOT NULL, price TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE positions (
        leader TEXT NOT NULL, token_id TEXT NOT NULL, condition_id TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL DEFAULT '', shares INTEGER NOT NULL, cost INTEGER NOT NULL,
        realized INTEGER NOT NULL DEFAULT 0, mark_price TEXT, opened_at REAL NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (leader, token_id));
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL, ref TEXT);
    CREATE TABLE markets (
        token_id TEXT PRIMARY KEY, condition_id TEXT NOT NULL, outcome TEXT NOT NULL,
        question TEXT NOT NULL, slug TEXT NOT NULL);
    CREATE TABLE heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1), cycles INTEGER NOT NULL DEFAULT 0, last_cycle_at REAL,
        api_calls INTEGER NOT NULL DEFAULT 0, cache_hits INTEGER NOT NULL DEFAULT 0,
        cache_misses INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', source_health TEXT);
    INSERT INTO heartbeat (id) VALUES (1);
    CREATE TABLE cycles (
        id INTEGER PRIMARY KEY, started_at REAL NOT NULL, duration_ms REAL NOT NULL, fills INTEGER NOT NULL,
        decisions INTEGER NOT NULL, api_calls INTEGER NOT NULL);
    """,
    # v2: live orders need intents (written before sending) that may not belong to a fill (exits);
    # positions track a high-water bid and resolution; the kill switch keeps its state.
    """
    CREATE TABLE orders_v2 (
        id INTEGER PRIMARY KEY, client_key TEXT NOT NULL UNIQUE, fill_id INTEGER REFERENCES fills (id),
        purpose TEXT NOT NULL DEFAULT 'copy', leader TEXT, mode TEXT NOT NULL, token_id TEXT NOT NULL,
        side TEXT NOT NULL, amount INTEGER NOT NULL, worst_price TEXT, status TEXT NOT NULL,
        exchange_order_id TEXT, created_at REAL NOT NULL, answered_at REAL);
    INSERT INTO orders_v2 (id, client_key, fill_id, mode, token_id, side, amount, worst_price, status, created_at,
        answered_at)
        SELECT id, client_key, fill_id, mode, token_id, side, amount, worst_price, status, created_at, created_at
        FROM orders;
    DROP TABLE orders;
    ALTER TABLE orders_v2 RENAME TO orders;
    CREATE INDEX orders_open ON orders (status) WHERE status IN ('intent', 'unknown');
    CREATE INDEX orders_fill ON orders (fill_id);
    ALTER TABLE positions ADD COLUMN high_water TEXT;
    ALTER TABLE positions ADD COLUMN resolved_price TEXT;
    ALTER TABLE positions ADD COLUMN redeemable INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE risk_state (
        id INTEGER PRIMARY KEY CHECK (id = 1), paused_reason TEXT NOT NULL DEFAULT '', paused_day TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0, day TEXT, day_start_equity INTEGER);
    INSERT INTO risk_state (id) VALUES (1);
    """,
    # v3: compaction keeps per-leader totals of what it deletes (decisions and fills past retention)
    """
    CREATE TABLE leader_totals (
        leader TEXT PRIMARY KEY, fills INTEGER NOT NULL DEFAULT 0, copied INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0);
    """,
    # v4: running totals kept by triggers, so the per-cycle reads stay O(1) however long the history:
    # the ledger's sum (cash) and, per leader, fills seen, copied, skipped and the last fill's time.
    # leader_totals now counts everything ever stored (compaction no longer adds to it). Nothing reads
    # fills by leader any more: its index only slowed inserts and misled the planner (a reorg-twin
    # lookup by tx hash read every fill of the leader instead). Positions are read and marked by token.
    """
    CREATE TABLE ledger_total (id INTEGER PRIMARY KEY CHECK (id = 1), amount INTEGER NOT NULL);
    INSERT INTO ledger_total VALUES (1, (SELECT COALESCE(SUM(amount), 0) FROM ledger));
    CREATE TRIGGER ledger_total_insert AFTER INSERT ON ledger BEGIN
        UPDATE ledger_total SET amount = amount + NEW.amount WHERE id = 1;
    END;
    CREATE TRIGGER ledger_total_delete AFTER DELETE ON ledger BEGIN
        UPDATE ledger_total SET amount = amount - OLD.amount WHERE id = 1;
    END;
    CREATE TRIGGER ledger_total_update AFTER UPDATE OF amount ON ledger BEGIN
        UPDATE ledger_total SET amount = amount - OLD.amount + NEW.amount WHERE id = 1;
    END;
    ALTER TABLE leader_totals ADD COLUMN last_ts INTEGER;
    INSERT INTO leader_totals (leader, fills, copied, skipped, last_ts)
        SELECT f.leader, COUNT(*), COALESCE(SUM(d.decision = 'filled'), 0), COALESCE(SUM(d.decision != 'filled'), 0),
            MAX(f.ts)
        FROM fills f LEFT JOIN decisions d ON d.fill_id = f.id WHERE 1 GROUP BY f.leader
        ON CONFLICT (leader) DO UPDATE SET fills = fills + excluded.fills, copied = copied + excluded.copied,
            skipped = skipped + excluded.skipped, last_ts = excluded.last_ts;
    CREATE TRIGGER leader_totals_fill AFTER INSERT ON fills BEGIN
        INSERT INTO leader_totals (leader, fills, last_ts) VALUES (NEW.leader, 1, NEW.ts)
        ON CONFLICT (leader) DO UPDATE SET fills = fills + 1, last_ts = MAX(COALESCE(last_ts, 0), excluded.last_ts);
    END;
    CREATE TRIGGER leader_totals_decision AFTER INSERT ON decisions BEGIN
        UPDATE leader_totals SET copied = copied + (NEW.decision = 'filled'),
            skipped = skipped + (NEW.decision != 'filled')
        WHERE leader = (SELECT leader FROM fills WHERE id = NEW.fill_id);
    END;
    DROP INDEX fills_leader;
    CREATE INDEX positions_token ON positions (token_id);
    """,
    # v5: decisions keep their reason's code (models.Reason) beside the text, and the kill switch its
    # pause's kind (models.PauseKind): programs read the codes, never the words. Rows written before
    # carried the code as the text's first words ("stale price: ...") and are converted once here.
    """
    ALTER TABLE decisions ADD COLUMN code TEXT NOT NULL DEFAULT '';
    UPDATE decisions SET code = CASE
        WHEN instr(reason, ':') > 0 THEN replace(lower(substr(reason, 1, instr(reason, ':') - 1)), ' ', '_')
        WHEN reason LIKE 'mirrored%' THEN 'mirrored'
        ELSE 'copied' END;
    ALTER TABLE risk_state ADD COLUMN paused_kind TEXT NOT NULL DEFAULT '';
    UPDATE risk_state SET paused_kind = CASE
        WHEN paused_reason LIKE 'daily loss%' THEN 'daily_loss'
        WHEN paused_reason != '' THEN 'failures'
        ELSE '' END;
    """,
    # v6: the block each leader was first followed from: re-reading recent blocks never reaches below
    # it, so a fresh start never copies what was mined before it (leaders followed before: unknown, 0)
    """
    ALTER TABLE leaders ADD COLUMN followed_from INTEGER;
    """,
    # v7: every exit, copybot's own (take-profit, stop-loss, trailing, max hold, resolution) and the
    # leader's mirrored ones, with what it sold and the P&L it realized: listed by status and logs
    """
    CREATE TABLE exits (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, leader TEXT NOT NULL, token_id TEXT NOT NULL,
        rule TEXT NOT NULL, status TEXT NOT NULL, shares INTEGER, usdc INTEGER, realized INTEGER,
        detail TEXT NOT NULL DEFAULT '', ref TEXT NOT NULL DEFAULT '');
    CREATE INDEX exits_at ON exits (at);
    """,
    # v6: live trades are confirmed on chain after matching, or FAIL: each booked trade keeps the
    # exchange's ids of its trades until they are final, and a sale the cost basis it took out, so
    # a failed trade can be reversed exactly; every trade keeps the fee it was charged; a position
    # when it was last bought (a SELL refused for balance soon after waits for the shares to settle)
    """
    ALTER TABLE trades ADD COLUMN exchange_trades TEXT NOT NULL DEFAULT '';
    ALTER TABLE trades ADD COLUMN settlement TEXT NOT NULL DEFAULT '';
    ALTER TABLE trades ADD COLUMN cost_out INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE trades ADD COLUMN fee INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE positions ADD COLUMN last_buy_at REAL;
    CREATE INDEX trades_unsettled ON trades (settlement) WHERE settlement = 'pending';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> Iterator[str]:
    """A migration's statements: split at each ``;`` that ends one (a trigger body holds several)."""
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                yield buffer
            buffer = ""
    if buffer.strip(" \n;"):
        raise ValueError(f"migration ends inside a statement: {buffer.strip()[:60]!r}")
