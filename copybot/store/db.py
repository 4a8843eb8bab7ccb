"""SQLite store (WAL, one file): the daemon's memory across restarts.

Schema is versioned with ``PRAGMA user_version`` and migrated at open. Idempotency lives here:
fills are UNIQUE on (tx hash, log index), a fill gets exactly one decision (UNIQUE fill_id), and
orders carry a UNIQUE client key. Writes that belong together share one transaction: new fills
with the cursors that cover them; a batch of decisions with their orders, positions and ledger.
Money columns are INTEGER base units (6 decimals); prices are decimal TEXT.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from cachetools import LRUCache

from copybot.errors import StoreError
from copybot.models import CopyOutcome, Fill, OrderRecord, Position, RiskState, UnsettledTrade
from copybot.sources.base import PollResult
from copybot.store import ledger, records
from copybot.store.connection import check_writable, connect, connect_read_only
from copybot.store.fills import drop_vanished, insert_fill
from copybot.store.reports import Reports
from copybot.store.schema import SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class PendingFill:
    fill_id: int
    fill: Fill
    leader_holding_before: int | None


@dataclass
class IngestReport:
    new: int = 0
    duplicates: int = 0
    moved: int = 0  # re-included by a reorg at another position: not stored twice
    vanished: int = 0  # gone in a reorg before being copied: skipped


class Store(Reports):
    """The facade: one connection, its transactions, and every read and write the daemon makes
    (the reporting reads live in :class:`~copybot.store.reports.Reports`)."""

    def __init__(self, conn: sqlite3.Connection, path: str, recent_keys: int = 50_000) -> None:
        super().__init__(conn, path)
        # Keys stored recently: re-read windows repeat them every poll; this skips the lookups.
        self._recent: LRUCache[tuple[str, int], bool] = LRUCache(maxsize=recent_keys)

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, recent_keys: int = 50_000) -> Store:
        """The database to read and write (created and migrated when needed)."""
        p = Path(path)
        if not create and not p.exists():
            raise StoreError(f"storage.path: no database at {p} yet (run `copybot watch` first)")
        conn: sqlite3.Connection | None = None
        try:
            if create and p.parent != Path("."):
                p.parent.mkdir(parents=True, exist_ok=True)
            check_writable(p)
            conn = connect(p)
            store = cls(conn, str(p), recent_keys)
            store._migrate()
        except (sqlite3.DatabaseError, OSError, StoreError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, OSError):
                raise StoreError(f"storage.path: cannot create database {p}: {exc.strerror}") from None
            raise StoreError(f"storage.path: cannot use database {p}: {exc}") from None
        return store

    @classmethod
    def open_read_only(cls, path: str | Path, *, check_schema: bool = True, threads: bool = False) -> Store:
        """The database to look at (``status``): never created, migrated or written. ``check_schema``:
        refuse a database of another schema version, with what to do about it."""
        p = Path(path)
        store = cls(connect_read_only(p, threads=threads), str(p), recent_keys=1)
        if check_schema and store.schema_version != SCHEMA_VERSION:
            version = store.schema_version
            store.close()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"storage.path: {p} has schema v{version}, newer than this copybot (v{SCHEMA_VERSION})"
                )
            raise StoreError(
                f"storage.path: {p} has schema v{version}, older than this copybot (v{SCHEMA_VERSION}): "
                "run `copybot watch` once to migrate it"
            )
        return store

    # ---- bankroll -------------------------------------------------------------------------
    def init_paper(self, mode: str, starting_units: int, now: float) -> None:
        """First run: record the mode and deposit the starting bankroll, once."""
        with self.tx() as c:
            if c.execute("SELECT value FROM meta WHERE key = 'mode'").fetchone() is None:
                c.execute("INSERT INTO meta VALUES ('mode', ?), ('created_at', ?)", (mode, str(now)))
                c.execute(
                    "INSERT INTO ledger (at, kind, amount, ref) VALUES (?, 'deposit', ?, 'starting bankroll')",
                    (now, starting_units),
                )

    def cash(self) -> int:
        """The ledger's sum, kept by triggers (schema v4): one row however long the ledger."""
        return int(self._conn.execute("SELECT amount FROM ledger_total WHERE id = 1").fetchone()[0])

    def set_wallet_cash(self, units: int) -> None:
        """Live: the wallet's collateral as the exchange just reported it, with the ledger's sum at
        that moment, so :meth:`bankroll_cash` can add the trades booked since."""
        with self.tx() as c:
            booked = int(c.execute("SELECT amount FROM ledger_total WHERE id = 1").fetchone()[0])
            c.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("live_cash", str(units)), ("live_cash_ledger", str(booked))],
            )

    def bankroll_cash(self) -> int:
        """The cash to show: paper, the ledger; live, the wallet balance last read plus what the
        trades booked since then moved (the live ledger starts at 0, not at the wallet's balance)."""
        booked = self.cash()
        wallet, at = self.meta("live_cash"), self.meta("live_cash_ledger")
        if wallet is None:
            return booked
        return int(wallet) + (booked - int(at) if at is not None else 0)

    # ---- leaders and fills ----------------------------------------------------------------
    def sync_leaders(self, leaders: Iterable[tuple[str, str]], now: float) -> None:
        with self.tx() as c:
            c.executemany(
                "INSERT INTO leaders (address, label, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT (address) DO UPDATE SET label = excluded.label",
                [(a, label, now) for a, label in leaders],
            )

    def cursors(self) -> dict[str, int | None]:
        return {r[0]: r[1] for r in self._conn.execute("SELECT address, cursor_block FROM leaders")}

    def floors(self) -> dict[str, int]:
        """Per leader, the first block it was followed from (0 when it was followed before v6 knew)."""
        return {r[0]: r[1] or 0 for r in self._conn.execute("SELECT address, followed_from FROM leaders")}

    def save_fills(self, fills: Sequence[Fill], cursors: Mapping[str, int], now: float) -> int:
        """Store new fills and advance cursors (see :meth:`save_poll`). Returns how many were new."""
        return self.save_poll(PollResult(fills=list(fills), cursors=dict(cursors)), now).new

    def save_poll(self, poll: PollResult, now: float) -> IngestReport:
        """Store a poll's fills and advance its cursors, in one transaction.

        - a fill already stored (same tx hash and log index) is ignored;
        - a fill that a reorg moved (same tx, leader, token, side and amounts, new position) is not
          stored again: the stored row takes its new position;
        - a pending fill inside a window that was re-read completely, whose log is gone, is
          recorded as skipped (``reorged``) so it is never copied;
        - a fill below the block its leader was first followed from is not ours to copy (a new
          leader records that block here, from ``poll.started``).
        Each new fill records the leader's observed holding of the token just before it, so a later
        SELL can be mirrored as a fraction.
        """
        report = IngestReport()
        present = {f.key for f in poll.fills}
        floor = self.watermark()
        floors = {**self.floors(), **poll.started}
        fresh = [
            f
            for f in poll.fills
            if f.key not in self._recent and f.block >= floor and f.block >= floors.get(f.leader, 0)
        ]
        report.duplicates = len(poll.fills) - len(fresh)
        with self.tx() as c:
            c.executemany(
                "UPDATE leaders SET followed_from = ? WHERE address = ? AND followed_from IS NULL",
                [(block, leader) for leader, block in poll.started.items()],
            )
            for f in sorted(fresh, key=lambda x: (x.block, x.log_index)):
                outcome = insert_fill(c, f, present, poll.windows, now)
                setattr(report, outcome, getattr(report, outcome) + 1)
            report.vanished = drop_vanished(c, poll.windows, present, now)
            c.executemany(
                "UPDATE leaders SET cursor_block = ? WHERE address = ?",
                [(block, leader) for leader, block in poll.cursors.items()],
            )
        for key in present:
            self._recent[key] = True
        return report

    def pending_fills(self, limit: int, after: tuple[int, int] = (-1, -1)) -> list[PendingFill]:
        """Undecided fills in chain order, strictly after ``after`` = (block, log index), leaving out
        those with an order whose outcome is still open (sent: deciding again could send twice)."""
        rows = self._conn.execute(
            "SELECT * FROM fills WHERE state = 'pending' AND (block, log_index) > (?, ?) "
            "AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.fill_id = fills.id AND o.status IN ('intent', 'unknown')) "
            "ORDER BY block, log_index LIMIT ?",
            (after[0], after[1], limit),
        ).fetchall()
        return [PendingFill(r["id"], records.fill(r), r["leader_holding_before"]) for r in rows]

    # ---- positions and decisions ----------------------------------------------------------
    def our_shares(self, leader: str, token_id: int) -> int:
        row = self._conn.execute(
            "SELECT shares FROM positions WHERE leader = ? AND token_id = ?", (leader, str(token_id))
        ).fetchone()
        return 0 if row is None else int(row[0])

    def record_outcomes(self, outcomes: Sequence[tuple[int, CopyOutcome]], mode: str, now: float) -> None:
        """Store a batch of decisions with their orders, trades, positions and ledger: one transaction."""
        try:
            with self.tx() as c:
                for fill_id, o in outcomes:
                    ledger.record_copy(c, fill_id, o, mode, now)
        except sqlite3.IntegrityError as exc:  # a fill decided twice: a bug, never silently accepted
            raise StoreError(f"refusing to record a batch of decisions: {exc}") from None

    def open_positions(self) -> list[Position]:
        """Every open position, newest first, with its market's question."""
        rows = self._conn.execute(
            "SELECT p.*, m.question FROM positions p LEFT JOIN markets m USING (token_id) "
            "WHERE p.shares > 0 ORDER BY p.opened_at DESC"
        ).fetchall()
        return [records.position(r) for r in rows]

    def position_costs(self, keys: Sequence[tuple[str, int]] | None = None) -> list[Position]:
        """What risk needs of the open positions (of the (leader, token id) ``keys`` only, if given):
        leader, token, market, shares, cost and mark."""
        sql = (
            "SELECT leader, token_id, condition_id, shares, cost, mark_price, redeemable, resolved_price "
            "FROM positions WHERE shares > 0"
        )
        if keys is None:
            return [records.position(r) for r in self._conn.execute(sql)]
        out: list[Position] = []
        for i in range(0, len(keys), 100):  # ORed primary-key lookups (a row-value IN would scan the table)
            chunk = keys[i : i + 100]
            args = [v for leader, token in chunk for v in (leader, str(token))]
            pairs = " OR ".join(["(leader = ? AND token_id = ?)"] * len(chunk))
            out += [records.position(r) for r in self._conn.execute(f"{sql} AND ({pairs})", args)]
        return out

    def update_marks(self, marks: Mapping[int, Decimal], now: float) -> None:
        """Mark open positions at their best bid and raise their high-water bid (trailing stops)."""
        with self.tx() as c:
            c.executemany(
                "UPDATE positions SET mark_price = ?, updated_at = ?, high_water = CASE "
                "WHEN high_water IS NULL OR CAST(high_water AS REAL) < CAST(? AS REAL) THEN ? ELSE high_water END "
                "WHERE token_id = ? AND shares > 0",
                [(str(price), now, str(price), str(price), str(token)) for token, price in marks.items()],
            )

    # ---- orders: intents before sending, outcomes after ---------------------------------------
    def write_intent(self, order: ledger.NewOrder, now: float) -> bool:
        """Record an order before it is sent (its own transaction). False if the key exists."""
        with self.tx() as c:
            return ledger.write_intent(c, order, now)

    def set_order_status(self, client_key: str, status: str, now: float) -> None:
        with self.tx() as c:
            c.execute("UPDATE orders SET status = ?, answered_at = ? WHERE client_key = ?", (status, now, client_key))

    def open_intents(self) -> list[OrderRecord]:
        """Orders sent (or about to be) whose outcome is not known: reconcile these first."""
        rows = self._conn.execute("SELECT * FROM orders WHERE status IN ('intent', 'unknown') ORDER BY id")
        return [records.order(r) for r in rows]

    def last_buy_at(self, leader: str, token_id: int) -> float | None:
        """When copybot last bought this position's token for this leader (None: never)."""
        row = self._conn.execute(
            "SELECT last_buy_at FROM positions WHERE leader = ? AND token_id = ?", (leader, str(token_id))
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def orders_for_fill(self, fill_id: int) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM orders WHERE fill_id = ?", (fill_id,)).fetchone()[0])

    def record_exit(self, exit_: ledger.ExitOutcome, mode: str, now: float) -> int | None:
        """A position exit (TP/SL/trailing/max hold/resolution) with its order, trade and ledger row;
        the P&L it realized (None when nothing was sold)."""
        with self.tx() as c:
            return ledger.record_exit(c, exit_, mode, now)

    # ---- settlement of live trades -----------------------------------------------------------
    def unsettled_trades(self, limit: int = 200) -> list[UnsettledTrade]:
        """Booked trades whose exchange trades are not all final yet, oldest first."""
        rows = self._conn.execute(
            "SELECT t.id, o.leader, t.token_id, t.side, t.shares, t.usdc, t.cost_out, t.exchange_trades, t.fee "
            "FROM trades t JOIN orders o ON o.id = t.order_id WHERE t.settlement = 'pending' ORDER BY t.id LIMIT ?",
            (limit,),
        )
        return [records.unsettled_trade(r) for r in rows]

    def settle_trade(self, t: UnsettledTrade, waiting: tuple[str, ...], failed: tuple[int, int], now: float) -> None:
        """Record what became of a trade's exchange trades: ``waiting`` are still not final;
        ``failed`` = (shares, usdc) that failed on chain and are reversed now (``ledger.reverse_trade``)."""
        shares, usdc = failed
        if waiting:
            settlement = "pending"
        else:
            settlement = "failed" if shares >= t.shares else "partly_failed" if shares else "confirmed"
        with self.tx() as c:
            if shares > 0:
                ledger.reverse_trade(c, t, shares, usdc, now)
            c.execute(
                "UPDATE trades SET settlement = ?, exchange_trades = ? WHERE id = ?",
                (settlement, ",".join(waiting), t.row_id),
            )

    def fill(self, fill_id: int) -> PendingFill | None:
        row = self._conn.execute("SELECT * FROM fills WHERE id = ?", (fill_id,)).fetchone()
        return None if row is None else PendingFill(row["id"], records.fill(row), row["leader_holding_before"])

    # ---- kill switch --------------------------------------------------------------------------
    def risk_state(self) -> RiskState:
        return records.risk_state(self._conn.execute("SELECT * FROM risk_state WHERE id = 1").fetchone())

    def update_risk_state(self, **values: object) -> None:
        allowed = {"paused_reason", "paused_kind", "paused_day", "consecutive_failures", "day", "day_start_equity"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"unknown risk_state fields: {sorted(set(values) - allowed)}")
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.tx() as c:
            c.execute(f"UPDATE risk_state SET {sets} WHERE id = 1", tuple(values.values()))

    def watermark(self) -> int:
        """Every fill below this block was decided and compacted: a source returning one is old news."""
        value = self.meta("watermark_block")
        return int(value) if value is not None else 0
