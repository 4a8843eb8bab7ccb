"""Shared pieces of the reliability suite: `watch` processes that can be killed, the chain's ground
truth read straight from the sandbox, and audits of the database against it.

Every audit reads the SQLite file with plain SQL (not through copybot's Store), so a bug in the
code under test cannot hide itself from the check.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from copybot.protocol import EXCHANGES, ORDER_FILLED_V1, ORDER_FILLED_V2, topic_to_address
from copybot.sandbox import Sandbox

LOT = 10_000  # 0.01 share in base units: a position's dust below this is written off on a sell
STARTING = 1000 * 10**6  # settings_dict's paper bankroll, in base units


@dataclass
class Watch:
    """``copybot watch`` as a child process whose output goes to files (a killed child cannot
    block on a full pipe, and every run's log is kept for the final checks)."""

    cfg: Path
    env: dict[str, str]
    log_dir: Path
    name: str
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "copybot", "watch", "--config", str(self.cfg), "--no-dashboard", *self.args],
                stdout=out,
                stderr=err,
                env={**os.environ, **self.env},
            )

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"{self.name}.out"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}.err"

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")


def chain_fills(box: Sandbox, leaders: Iterable[str], lo: int, hi: int) -> dict[tuple[str, int], tuple[object, ...]]:
    """Ground truth: every leader's own fill (the leader as the indexed maker of an OrderFilled
    emitted by a Polymarket exchange) in blocks [lo, hi], read from the sandbox's chain itself,
    keyed by (tx hash, log index), with the fill's identity (tx, leader, token, side, amounts)."""
    followed = {a.lower() for a in leaders}
    out: dict[tuple[str, int], tuple[object, ...]] = {}
    for log in box.logs(lo, hi):
        if log.address.lower() not in EXCHANGES or log.topics[0] not in (ORDER_FILLED_V1, ORDER_FILLED_V2):
            continue
        maker = topic_to_address(log.topics[2])
        if maker in followed:
            out[(log.tx_hash.lower(), log.log_index)] = (log.tx_hash.lower(), maker, log.data)
    return out


def covered_range(db: Path, start: int) -> tuple[int, int]:
    """[start, the lowest leader cursor]: the blocks every leader has fully read."""
    conn = connect(db)
    try:
        cursors = [r[0] for r in conn.execute("SELECT cursor_block FROM leaders")]
    finally:
        conn.close()
    assert all(c is not None and c >= start for c in cursors), cursors
    return start, min(cursors)


def no_tracebacks(logs: Path) -> None:
    """No log of any run (killed or not) shows a traceback."""
    for path in sorted(logs.iterdir()):
        text = path.read_text(errors="replace")
        assert "Traceback" not in text, f"{path.name}:\n{text[-3000:]}"


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def assert_integrity(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def assert_every_fill_decided_once(
    conn: sqlite3.Connection, truth: dict[tuple[str, int], tuple[object, ...]], lo: int, hi: int
) -> dict[str, int]:
    """Every fill of the chain in [lo, hi] is stored once and decided once (filled, or skipped /
    failed with a reason); nothing anywhere is left pending; no fill is stored twice, even under
    another position (same transaction, leader, token, side and amounts). Returns decision counts."""
    rows = conn.execute(
        "SELECT f.id, f.tx_hash, f.log_index, f.block, f.state, f.leader, f.token_id, f.side, f.shares, "
        "f.collateral, d.decision, d.reason, (SELECT COUNT(*) FROM decisions x WHERE x.fill_id = f.id) AS n "
        "FROM fills f LEFT JOIN decisions d ON d.fill_id = f.id"
    ).fetchall()
    undecided = [dict(r) for r in rows if r["state"] != "done" or r["decision"] is None]
    assert not undecided, f"{len(undecided)} fills still pending, e.g. {undecided[:3]}"
    assert all(r["n"] == 1 for r in rows), "a fill has more than one decision"
    assert all(r["reason"] for r in rows), "every decision carries its reason"
    stored = {(r["tx_hash"], r["log_index"]): r for r in rows}
    missing = set(truth) - set(stored)
    assert not missing, f"{len(missing)} of {len(truth)} chain fills never stored (lost): {sorted(missing)[:3]}"
    extra = [dict(r) for key, r in stored.items() if lo <= r["block"] <= hi and key not in truth]
    assert all(str(r["reason"]).startswith("reorged") for r in extra), f"fills that are not on the chain: {extra[:3]}"
    identity = Counter(
        (r["tx_hash"], r["leader"], r["token_id"], r["side"], r["shares"], r["collateral"]) for r in rows
    )
    twice = [k for k, n in identity.items() if n > 1]
    assert not twice, f"the same fill stored (and decided) more than once: {twice[:3]}"
    return dict(Counter(r["decision"] for r in rows))


def assert_no_open_orders(conn: sqlite3.Connection) -> None:
    open_ = [dict(r) for r in conn.execute("SELECT * FROM orders WHERE status IN ('intent', 'unknown')")]
    assert not open_, f"orders left unresolved after a clean run: {open_[:3]}"


def assert_orders_match_decisions(conn: sqlite3.Connection) -> None:
    """Each filled copy decision has exactly one filled order with exactly one trade, and every
    trade belongs to a filled order (none of a skipped, failed or abandoned attempt)."""
    rows = conn.execute(
        "SELECT d.fill_id, d.decision, "
        "(SELECT COUNT(*) FROM orders o WHERE o.fill_id = d.fill_id AND o.status = 'filled') AS filled_orders, "
        "(SELECT COUNT(*) FROM trades t JOIN orders o ON o.id = t.order_id WHERE o.fill_id = d.fill_id) AS trades "
        "FROM decisions d"
    ).fetchall()
    for r in rows:
        want = 1 if r["decision"] == "filled" else 0
        assert (r["filled_orders"], r["trades"]) == (want, want), dict(r)
    stray = conn.execute(
        "SELECT COUNT(*) FROM trades t JOIN orders o ON o.id = t.order_id WHERE o.status != 'filled'"
    ).fetchone()[0]
    assert stray == 0, "a trade belongs to an order that is not filled"


def assert_paper_books_balance(conn: sqlite3.Connection, starting: int) -> dict[str, int]:
    """The paper bankroll: one ledger row per trade moving exactly its money, cash never below 0,
    positions equal to the trades that built them, and cash + open cost == starting + realized."""
    ledger = conn.execute("SELECT kind, amount, ref FROM ledger ORDER BY id").fetchall()
    deposits = [r for r in ledger if r["kind"] == "deposit"]
    assert [r["amount"] for r in deposits] == [starting], "the starting bankroll is deposited exactly once"
    cash = sum(r["amount"] for r in ledger)
    trades = conn.execute(
        "SELECT t.side, t.shares, t.usdc, o.client_key, o.leader, o.token_id "
        "FROM trades t JOIN orders o ON o.id = t.order_id ORDER BY t.id"
    ).fetchall()
    by_ref = Counter(r["ref"] for r in ledger if r["kind"] != "deposit")
    assert all(n == 1 for n in by_ref.values()), "a trade's money moved twice"
    moves = {r["ref"]: r["amount"] for r in ledger if r["kind"] != "deposit"}
    for t in trades:
        assert moves.get(t["client_key"]) == (-t["usdc"] if t["side"] == "BUY" else t["usdc"]), dict(t)
    redeems = sum(r["amount"] for r in ledger if r["kind"] == "redeem")
    assert len(moves) == len(trades) + sum(1 for r in ledger if r["kind"] == "redeem"), "ledger rows without a trade"
    assert cash == starting + sum(t["usdc"] if t["side"] == "SELL" else -t["usdc"] for t in trades) + redeems
    assert cash >= 0, "paper cash went negative"
    replayed = replay_positions(trades)
    positions = conn.execute("SELECT leader, token_id, shares, cost, realized FROM positions").fetchall()
    assert {(p["leader"], p["token_id"]) for p in positions} == set(replayed), "positions without trades, or back"
    for p in positions:
        assert (p["shares"], p["cost"], p["realized"]) == replayed[(p["leader"], p["token_id"])], dict(p)
    cost = sum(p["cost"] for p in positions)
    realized = sum(p["realized"] for p in positions)
    assert cash + cost == starting + realized, (cash, cost, starting, realized)
    return {"cash": cash, "cost": cost, "realized": realized, "trades": len(trades)}


def replay_positions(trades: Iterable[sqlite3.Row]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(shares, cost, realized) per (leader, token), rebuilt from the trades in order with the rules
    README states: average cost out on a sell, and a remainder below one 0.01-share lot written off."""
    book: dict[tuple[str, str], list[int]] = {}
    for t in trades:
        pos = book.setdefault((t["leader"], t["token_id"]), [0, 0, 0])
        shares, cost = pos[0], pos[1]
        if t["side"] == "BUY":
            pos[0], pos[1] = shares + t["shares"], cost + t["usdc"]
            continue
        assert shares > 0, f"a sell without a position: {dict(t)}"
        sold = min(t["shares"], shares)
        if shares - sold < LOT:
            sold = shares
        cost_out = cost if sold == shares else cost * sold // shares
        pos[0], pos[1], pos[2] = shares - sold, cost - cost_out, pos[2] + t["usdc"] - cost_out
    return {key: (v[0], v[1], v[2]) for key, v in book.items()}


def table_count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def assert_paper_run_consistent(db: Path, truth: Any, lo: int, hi: int, starting: int) -> None:
    """After a paper run: integrity, every chain fill decided once, no open order, orders match
    decisions, the books balance, and at least ten copies were actually filled."""
    conn = connect(db)
    try:
        assert_integrity(conn)
        decisions = assert_every_fill_decided_once(conn, truth, lo, hi)
        assert_no_open_orders(conn)
        assert_orders_match_decisions(conn)
        books = assert_paper_books_balance(conn, starting)
    finally:
        conn.close()
    assert decisions.get("filled", 0) >= 10, decisions
    assert books["trades"] == decisions["filled"]
