"""The SQLite store on a real file: schema, idempotency, holdings tracking, atomic bookkeeping."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from copybot.errors import StoreError
from copybot.models import CopyOutcome, Decision, Fill, MarketInfo, OrderIntent, OrderResult, PauseKind, Reason, Side
from copybot.store import MIGRATIONS, Store
from copybot.store.ledger import remember_market
from copybot.store.schema import statements

U = 1_000_000
NOW = 1_790_000_000.0
L1 = "0x" + "a1" * 20
L2 = "0x" + "b2" * 20
TOKEN = 84002167289818084946834195019107495872273829708192582096244977447292806293745  # > 2**63: stored as TEXT
OTHER_TOKEN = 77
START = 1000 * U


def fill(
    block: int,
    log_index: int = 0,
    side: Side = Side.BUY,
    shares: int = 100 * U,
    collateral: int = 42 * U,
    leader: str = L1,
    token: int = TOKEN,
    tx: str | None = None,
) -> Fill:
    return Fill(
        leader=leader,
        tx_hash=tx or "0x" + format(block * 1000 + log_index, "064x"),
        log_index=log_index,
        block=block,
        timestamp=int(NOW) - 5,
        exchange="0xe2222d279d744050d28e00520010520000310f59",
        token_id=token,
        side=side,
        shares=shares,
        collateral=collateral,
        fee=3,
        as_taker=True,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "copybot.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = Store.open(db)
    s.sync_leaders([(L1, "one"), (L2, "two")], NOW)
    yield s
    s.close()


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read through a second connection, as `status` would."""
    with closing(sqlite3.connect(db)) as conn:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        "fills",
        "decisions",
        "orders",
        "trades",
        "positions",
        "ledger",
        "markets",
        "leader_holdings",
        "ledger_total",
        "leader_totals",
    ]
    return {t: query(db, f"SELECT * FROM {t} ORDER BY rowid") for t in tables}


# ---- schema ----------------------------------------------------------------------------------


def test_schema_created_at_open_and_reopen_is_idempotent(db: Path) -> None:
    s = Store.open(db)
    try:
        assert s.schema_version == len(MIGRATIONS) >= 1
        s.init_paper("paper", START, NOW)
        assert s.save_fills([fill(10)], {}, NOW) == 1
    finally:
        s.close()
    s = Store.open(db)  # migrating again must not fail nor lose data
    try:
        assert s.schema_version == len(MIGRATIONS)
        assert s.count("fills") == 1
        assert s.cash() == START
        assert s.integrity_ok()
    finally:
        s.close()
    assert query(db, "PRAGMA journal_mode") == [("wal",)]
    assert query(db, "PRAGMA user_version") == [(len(MIGRATIONS),)]


def _v3_database(path: Path) -> None:
    """A database as copybot v3 left it: two leaders' fills and decisions, a compacted total, a ledger."""
    with closing(sqlite3.connect(path)) as conn:
        for script in MIGRATIONS[:3]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO leaders (address, label, added_at) VALUES (?, 'one', 0), (?, 'two', 0)", (L1, L2))
        conn.executemany(
            "INSERT INTO fills (id, tx_hash, log_index, leader, block, ts, exchange, token_id, side, shares, "
            "collateral, fee, as_taker, state, seen_at) VALUES (?, ?, 0, ?, ?, ?, 'x', '1', 'BUY', 1, 1, 0, 1, ?, 0)",
            [
                (1, "0x01", L1, 10, 100, "done"),
                (2, "0x02", L1, 11, 170, "done"),
                (3, "0x03", L1, 12, 150, "pending"),
                (4, "0x04", L2, 12, 160, "done"),
            ],
        )
        conn.executemany(
            "INSERT INTO decisions (fill_id, decision, reason, details, at) VALUES (?, ?, 'r', '{}', 0)",
            [(1, "filled"), (2, "skipped"), (4, "failed")],
        )
        conn.execute("INSERT INTO leader_totals VALUES (?, 40, 30, 10)", (L1,))  # compacted by v3
        conn.executemany("INSERT INTO ledger (at, kind, amount) VALUES (0, ?, ?)", [("deposit", START), ("buy", -7)])
        conn.commit()


def test_upgrade_from_v3_keeps_totals_and_cash_then_triggers_keep_them(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    _v3_database(path)
    s = Store.open(path)
    try:
        assert s.schema_version == len(MIGRATIONS)
        rows = {r["address"]: tuple(r)[3:] for r in s.leader_rows()}
        # fills_seen, copied, skipped, last_fill_ts: the compacted totals plus what is still stored
        assert rows == {L1: (43, 31, 11, 170), L2: (1, 0, 1, 160)}
        assert s.cash() == START - 7
        assert s.totals() == (44, 31)
        s.save_fills([fill(20, leader=L2)], {}, NOW)
        (p,) = [p for p in s.pending_fills(10) if p.fill.leader == L2]
        s.record_outcomes(
            [(p.fill_id, CopyOutcome(p.fill, Decision.SKIPPED, Reason.STALE, "stale: test"))], "paper", NOW
        )
        assert {r["address"]: tuple(r)[3:] for r in s.leader_rows()}[L2] == (2, 0, 2, int(NOW) - 5)
        s.init_paper("paper", 5 * U, NOW)  # the v3 store had no mode yet: deposits once
        assert s.cash() == START - 7 + 5 * U == query(path, "SELECT SUM(amount) FROM ledger")[0][0]
        # the reorg-twin lookup reads one transaction's fills, never a leader's whole history
        plan = query(path, "EXPLAIN QUERY PLAN SELECT id FROM fills WHERE tx_hash = ? AND leader = ?", "0x01", L1)
        assert "sqlite_autoindex_fills_1" in str(plan), plan
        assert query(path, "SELECT name FROM sqlite_master WHERE name = 'fills_leader'") == []
        assert s.integrity_ok()
    finally:
        s.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store.open(path)


def test_open_without_create_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database"):
        Store.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


# ---- bankroll --------------------------------------------------------------------------------


def test_init_paper_deposits_only_once(store: Store) -> None:
    store.init_paper("paper", START, NOW)
    store.init_paper("paper", START, NOW + 1)
    store.init_paper("paper", 5 * START, NOW + 2)
    assert store.cash() == START
    assert store.count("ledger") == 1
    assert store.meta("mode") == "paper"


# ---- fills and cursors -----------------------------------------------------------------------


def test_save_fills_dedupes_and_counts_new(store: Store) -> None:
    a, b, c = fill(10, 0), fill(10, 1), fill(11, 0)
    assert store.save_fills([a, b], {L1: 10}, NOW) == 2
    assert store.save_fills([b, a], {L1: 10}, NOW) == 0
    assert store.save_fills([b, c, c], {L1: 11}, NOW) == 1
    assert store.count("fills") == 3
    # same tx, different log index: a different fill
    assert store.save_fills([fill(11, 5, tx=c.tx_hash)], {}, NOW) == 1
    assert store.count("fills") == 4


def test_save_fills_advances_cursors(store: Store) -> None:
    assert store.cursors() == {L1: None, L2: None}
    store.save_fills([], {L1: 100, L2: 90}, NOW)  # an empty range still moves the cursor
    assert store.cursors() == {L1: 100, L2: 90}
    store.save_fills([fill(120)], {L1: 130}, NOW)
    assert store.cursors() == {L1: 130, L2: 90}


def test_save_fills_is_one_transaction(store: Store, db: Path) -> None:
    store.save_fills([fill(5)], {L1: 5}, NOW)
    before = snapshot(db)
    good = fill(6)
    # not storable: the INSERT fails mid-batch, after the good fill was written
    bad = dataclasses.replace(good, block=7, log_index=1, shares=object())  # type: ignore[arg-type]
    with pytest.raises(sqlite3.Error):
        store.save_fills([good, bad], {L1: 7}, NOW)
    assert snapshot(db) == before  # neither the good fill, nor its holding, nor the cursor
    assert store.cursors()[L1] == 5


def _holdings_before(store: Store) -> dict[tuple[int, int], int | None]:
    return {(p.fill.block, p.fill.log_index): p.leader_holding_before for p in store.pending_fills(100)}


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        pytest.param(
            [
                [fill(1, shares=100 * U), fill(2, shares=50 * U), fill(3, side=Side.SELL, shares=30 * U)],
                [fill(4, side=Side.SELL, shares=500 * U), fill(5, shares=10 * U)],
            ],
            {(1, 0): None, (2, 0): 100 * U, (3, 0): 150 * U, (4, 0): 120 * U, (5, 0): 0},
            id="buy-adds-sell-subtracts-floor-zero",
        ),
        pytest.param(
            [[fill(1, side=Side.SELL, shares=30 * U)], [fill(2, side=Side.SELL, shares=10 * U)]],
            {(1, 0): None, (2, 0): None},
            id="sell-first-stays-unknown",
        ),
        pytest.param(
            [[fill(1, side=Side.SELL, shares=30 * U), fill(2, shares=10 * U), fill(3, side=Side.SELL, shares=4 * U)]],
            {(1, 0): None, (2, 0): None, (3, 0): 10 * U},
            id="unknown-then-buy-counts-from-the-buy",
        ),
        pytest.param(
            [[fill(2, side=Side.SELL, shares=40 * U), fill(1, shares=100 * U)]],
            {(1, 0): None, (2, 0): 100 * U},
            id="batch-applied-in-chain-order",
        ),
        pytest.param(
            [[fill(1, 1, shares=100 * U), fill(1, 0, shares=7 * U)]],
            {(1, 0): None, (1, 1): 7 * U},
            id="same-block-by-log-index",
        ),
        pytest.param(
            [[fill(1, shares=100 * U)], [fill(1, shares=100 * U), fill(2, side=Side.SELL, shares=1 * U)]],
            {(1, 0): None, (2, 0): 100 * U},
            id="duplicate-not-double-counted",
        ),
        pytest.param(
            [
                [
                    fill(1, shares=100 * U),
                    fill(2, shares=9 * U, leader=L2),
                    fill(3, shares=5 * U, token=OTHER_TOKEN),
                    fill(4, side=Side.SELL, shares=1 * U, leader=L2),
                    fill(5, side=Side.SELL, shares=1 * U),
                ]
            ],
            {(1, 0): None, (2, 0): None, (3, 0): None, (4, 0): 9 * U, (5, 0): 100 * U},
            id="per-leader-and-token",
        ),
    ],
)
def test_leader_holding_before(store: Store, batches: list[list[Fill]], expected: dict[Any, int | None]) -> None:
    for batch in batches:
        store.save_fills(batch, {}, NOW)
    assert _holdings_before(store) == expected


def test_pending_fills_order_and_keyset(store: Store) -> None:
    fills = [fill(5, 2), fill(5, 1), fill(3, 9), fill(7, 0), fill(5, 10)]
    store.save_fills(fills, {}, NOW)
    keys = [(p.fill.block, p.fill.log_index) for p in store.pending_fills(100)]
    assert keys == [(3, 9), (5, 1), (5, 2), (5, 10), (7, 0)]  # (block, log index) numerically, not as text
    assert [(p.fill.block, p.fill.log_index) for p in store.pending_fills(2)] == [(3, 9), (5, 1)]
    assert [(p.fill.block, p.fill.log_index) for p in store.pending_fills(2, after=(5, 1))] == [(5, 2), (5, 10)]
    assert [(p.fill.block, p.fill.log_index) for p in store.pending_fills(9, after=(5, 10))] == [(7, 0)]
    assert store.pending_fills(9, after=(7, 0)) == []
    # the stored fill comes back exactly, big token id included
    by_key = {f.key: f for f in fills}
    for p in store.pending_fills(100):
        assert p.fill == by_key[p.fill.key]
    assert len({p.fill_id for p in store.pending_fills(100)}) == 5


# ---- decisions, orders, positions, ledger ---------------------------------------------------


MARKET = MarketInfo(token_id=TOKEN, condition_id="0xc0nd", outcome="Up", question="Up or down?", slug="btc-up")


def _pending(store: Store, f: Fill) -> int:
    (p,) = [p for p in store.pending_fills(100) if p.fill.key == f.key]
    return p.fill_id


def _filled(f: Fill, intent: OrderIntent, result: OrderResult) -> CopyOutcome:
    return CopyOutcome(f, Decision.FILLED, Reason.COPIED, "copied", intent, result, MARKET, {"leader_price": "0.42"})


def _invariant(store: Store) -> None:
    open_cost = sum(p.cost for p in store.open_positions())
    assert store.cash() + open_cost == START + store.realized_pnl()


def test_buy_then_partial_sell_bookkeeping(store: Store, db: Path) -> None:
    store.init_paper("paper", START, NOW)
    buy = fill(10, shares=100 * U, collateral=42 * U)
    store.save_fills([buy], {L1: 10}, NOW)
    buy_id = _pending(store, buy)
    store.record_outcomes(
        [(buy_id, _filled(buy, OrderIntent(TOKEN, Side.BUY, 10 * U, Decimal("0.44")), OrderResult(20 * U, 10 * U)))],
        "paper",
        NOW,
    )
    assert store.our_shares(L1, TOKEN) == 20 * U
    assert store.our_shares(L2, TOKEN) == 0
    assert store.cash() == START - 10 * U
    _invariant(store)

    sell = fill(11, side=Side.SELL, shares=50 * U, collateral=30 * U)
    store.save_fills([sell], {L1: 11}, NOW + 1)
    (pending,) = store.pending_fills(10)
    assert pending.leader_holding_before == 100 * U
    # mirrored half, but the bids only took 8 of 10 shares, for 4.80
    outcome = _filled(sell, OrderIntent(TOKEN, Side.SELL, 10 * U, None), OrderResult(8 * U, 4_800_000))
    store.record_outcomes([(pending.fill_id, outcome)], "paper", NOW + 1)

    (pos,) = query(db, "SELECT shares, cost, realized, condition_id, outcome FROM positions")
    # 8 of 20 shares left at average cost 0.50: cost out 4.00, realized 4.80 - 4.00
    assert pos == (12 * U, 6 * U, 800_000, "0xc0nd", "Up")
    assert store.realized_pnl() == 800_000
    assert store.cash() == START - 10 * U + 4_800_000
    assert query(db, "SELECT kind, amount FROM ledger ORDER BY id") == [
        ("deposit", START),
        ("buy", -10 * U),
        ("sell", 4_800_000),
    ]
    _invariant(store)

    assert query(db, "SELECT side, amount, worst_price, status, mode, client_key FROM orders ORDER BY id") == [
        ("BUY", 10 * U, "0.44", "filled", "paper", f"{buy.tx_hash}:0"),
        ("SELL", 10 * U, None, "filled", "paper", f"{sell.tx_hash}:0"),
    ]
    assert query(db, "SELECT side, shares, usdc, price, token_id FROM trades ORDER BY id") == [
        ("BUY", 20 * U, 10 * U, "0.5", str(TOKEN)),
        ("SELL", 8 * U, 4_800_000, "0.6", str(TOKEN)),
    ]
    assert query(db, "SELECT decision, order_usdc, fill_shares, fill_usdc, fill_price FROM decisions ORDER BY id") == [
        ("filled", 10 * U, 20 * U, 10 * U, "0.5"),
        ("filled", 4_800_000, 8 * U, 4_800_000, "0.6"),
    ]
    assert query(db, "SELECT DISTINCT state FROM fills") == [("done",)]
    assert store.pending_fills(10) == []
    assert query(db, "SELECT token_id, condition_id, question FROM markets") == [(str(TOKEN), "0xc0nd", "Up or down?")]

    # recording the same fill again violates UNIQUE and the whole batch is rolled back
    late = fill(12, shares=10 * U, collateral=5 * U)
    store.save_fills([late], {L1: 12}, NOW + 2)
    late_id = _pending(store, late)
    before = snapshot(db)
    skipped = CopyOutcome(late, Decision.SKIPPED, Reason.STALE, "stale: too old")
    with pytest.raises(StoreError, match="UNIQUE"):
        store.record_outcomes([(late_id, skipped), (pending.fill_id, outcome)], "paper", NOW + 3)
    assert snapshot(db) == before
    assert [p.fill_id for p in store.pending_fills(10)] == [late_id]
    _invariant(store)
    assert store.cash() == query(db, "SELECT SUM(amount) FROM ledger")[0][0]  # the trigger-kept total
    assert [tuple(r)[3:6] for r in store.leader_rows()] == [(3, 2, 0), (0, 0, 0)]


def test_selling_everything_closes_the_position(store: Store, db: Path) -> None:
    store.init_paper("paper", START, NOW)
    buy, sell = fill(1), fill(2, side=Side.SELL)
    store.save_fills([buy, sell], {}, NOW)
    buy_id, sell_id = _pending(store, buy), _pending(store, sell)
    store.record_outcomes(
        [
            (buy_id, _filled(buy, OrderIntent(TOKEN, Side.BUY, 3 * U, Decimal("0.5")), OrderResult(7 * U, 3 * U))),
            (sell_id, _filled(sell, OrderIntent(TOKEN, Side.SELL, 7 * U, None), OrderResult(7 * U, 2 * U))),
        ],
        "paper",
        NOW,
    )
    assert query(db, "SELECT shares, cost, realized FROM positions") == [(0, 0, -1 * U)]
    assert store.open_positions() == []
    assert store.cash() == START - 1 * U
    _invariant(store)


@pytest.mark.parametrize(
    ("decision", "with_intent", "orders", "trades"),
    [
        (Decision.SKIPPED, False, 0, 0),
        (Decision.SKIPPED, True, 1, 0),  # e.g. the paper book walk said "slippage"
        (Decision.FAILED, True, 1, 0),
    ],
)
def test_unfilled_decisions_move_no_money(
    store: Store, db: Path, decision: Decision, with_intent: bool, orders: int, trades: int
) -> None:
    store.init_paper("paper", START, NOW)
    f = fill(1)
    store.save_fills([f], {}, NOW)
    intent = OrderIntent(TOKEN, Side.BUY, 10 * U, Decimal("0.44")) if with_intent else None
    store.record_outcomes(
        [(_pending(store, f), CopyOutcome(f, decision, Reason.SLIPPAGE, "slippage: x", intent))], "paper", NOW
    )
    assert (store.count("orders"), store.count("trades"), store.count("positions")) == (orders, trades, 0)
    assert store.cash() == START
    assert store.pending_fills(10) == []
    assert query(db, "SELECT decision, reason FROM decisions") == [(decision.value, "slippage: x")]
    if orders:
        assert query(db, "SELECT status FROM orders") == [(decision.value,)]


def test_sell_without_a_position_is_refused_and_rolled_back(store: Store, db: Path) -> None:
    store.init_paper("paper", START, NOW)
    f = fill(1, side=Side.SELL)
    store.save_fills([f], {}, NOW)
    before = snapshot(db)
    outcome = _filled(f, OrderIntent(TOKEN, Side.SELL, 1 * U, None), OrderResult(1 * U, 1))
    with pytest.raises(StoreError, match="without a position"):
        store.record_outcomes([(_pending(store, f), outcome)], "paper", NOW)
    assert snapshot(db) == before


def test_a_market_known_only_by_its_condition_id_never_blanks_what_gamma_said(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    full = MarketInfo(TOKEN, "0xc0", "Yes", "Will it rain?", "will-it-rain")
    with store.tx() as c:
        remember_market(c, full)
        remember_market(c, MarketInfo(TOKEN, "0xc0", ""))  # from a book alone: no question, no slug
        remember_market(c, MarketInfo(OTHER_TOKEN, "0xd1", ""))
        rows = c.execute("SELECT token_id, condition_id, outcome, question, slug FROM markets ORDER BY slug").fetchall()
    assert [tuple(r) for r in rows] == [
        (str(OTHER_TOKEN), "0xd1", "", "", ""),
        (str(TOKEN), "0xc0", "Yes", "Will it rain?", "will-it-rain"),
    ]
    store.close()


def _v4_database(path: Path, reasons: list[tuple[str, str]], paused: str) -> None:
    """A database as copybot v4 left it: decisions whose code was the first words of their reason."""
    with closing(sqlite3.connect(path)) as conn:
        for script in MIGRATIONS[:4]:
            for statement in statements(script):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 4")
        conn.execute("INSERT INTO leaders (address, label, added_at) VALUES (?, 'one', 0)", (L1,))
        for i, (decision, reason) in enumerate(reasons, 1):
            conn.execute(
                "INSERT INTO fills (id, tx_hash, log_index, leader, block, ts, exchange, token_id, side, shares, "
                "collateral, fee, as_taker, state, seen_at) VALUES (?, ?, 0, ?, 1, 1, 'x', '1', 'BUY', 1, 1, 0, 0, "
                "'done', 0)",
                (i, f"0x{i:02x}", L1),
            )
            conn.execute(
                "INSERT INTO decisions (fill_id, decision, reason, details, at) VALUES (?, ?, ?, '{}', 0)",
                (i, decision, reason),
            )
        conn.execute("UPDATE risk_state SET paused_reason = ?", (paused,))
        conn.commit()


LEGACY = [
    ("filled", "copied", Reason.COPIED),
    ("filled", "copied (reconciled after a lost answer)", Reason.COPIED),
    ("filled", "mirrored leader sell", Reason.MIRRORED),
    ("filled", "partial: sold 1 of 2 shares (bids ran out)", Reason.PARTIAL),
    ("skipped", "stale price: book is 40s old (max 30s)", Reason.STALE_PRICE),
    ("skipped", "stale: leader fill is 400s old (max 300s)", Reason.STALE),
    ("skipped", "market not allowed: x matches no allowed_markets entry", Reason.MARKET_NOT_ALLOWED),
    ("skipped", "insufficient bankroll: cash 0 < minimum order 1", Reason.INSUFFICIENT_BANKROLL),
    ("skipped", "reorged: log no longer on chain (blocks 1-2 re-read)", Reason.REORGED),
    ("skipped", "not filled: FOK order killed (x)", Reason.NOT_FILLED),
    ("failed", "rejected: clob: not enough balance / allowance", Reason.REJECTED),
    ("failed", "book unavailable: clob GET /book: HTTP 404", Reason.BOOK_UNAVAILABLE),
]


@pytest.mark.parametrize(
    ("paused", "kind"),
    [
        ("daily loss 51 reached daily_loss_limit_usdc 50", PauseKind.DAILY_LOSS),
        ("3 orders failed in a row (max_consecutive_failures 3)", PauseKind.FAILURES),
        ("", PauseKind.NONE),
    ],
)
def test_upgrade_from_v4_gives_every_decision_and_pause_its_code(tmp_path: Path, paused: str, kind: PauseKind) -> None:
    path = tmp_path / "v4.db"
    _v4_database(path, [(d, r) for d, r, _ in LEGACY], paused)
    s = Store.open(path)
    try:
        codes = [Reason(code) for (code,) in query(path, "SELECT code FROM decisions ORDER BY fill_id")]
        assert codes == [code for _, _, code in LEGACY]
        state = s.risk_state()
        assert (state.paused_reason, state.paused_kind) == (paused, kind)
    finally:
        s.close()


def test_a_decision_is_stored_with_its_code(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "c.db")
    try:
        store.init_paper("paper", START, NOW)
        f = fill(1)
        store.save_fills([f], {}, NOW)
        why = "min size: 1 buys at least 2 shares at 0.5, below the market minimum 5"
        store.record_outcomes(
            [(_pending(store, f), CopyOutcome(f, Decision.SKIPPED, Reason.MIN_SIZE, why))], "paper", NOW
        )
        assert query(tmp_path / "c.db", "SELECT decision, code, reason FROM decisions") == [
            ("skipped", "min_size", why)
        ]
    finally:
        store.close()


def test_a_reader_never_migrates_and_says_what_to_do_with_an_older_schema(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    _v4_database(path, [("filled", "copied")], "")
    before = path.read_bytes()
    with pytest.raises(StoreError) as refused:
        Store.open_read_only(path)
    assert str(refused.value) == (
        f"storage.path: {path} has schema v4, older than this copybot (v{len(MIGRATIONS)}): "
        "run `copybot watch` once to migrate it"
    )
    assert path.read_bytes() == before
    reader = Store.open_read_only(path, check_schema=False)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.set_meta("x", "y")
    finally:
        reader.close()


def test_a_position_remembers_when_it_was_last_bought(store: Store) -> None:
    from copybot.store.ledger import apply_trade

    leader = "0x" + "c3" * 20
    with store.tx() as c:
        apply_trade(c, leader, 5, Side.BUY, 10 * 10**6, 5 * 10**6, None, 100.0)
    assert store.last_buy_at(leader, 5) == 100.0
    with store.tx() as c:
        apply_trade(c, leader, 5, Side.SELL, 4 * 10**6, 2 * 10**6, None, 150.0)
        apply_trade(c, leader, 5, Side.BUY, 1 * 10**6, 10**6 // 2, None, 200.0)
    assert store.last_buy_at(leader, 5) == 200.0, "the last purchase, not the sale"
    assert store.last_buy_at(leader, 6) is None
