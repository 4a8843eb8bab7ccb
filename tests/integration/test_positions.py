"""Position management through the in-process sandbox (paper, ASGI transport, manual clock, real SQLite).

Exits (stop-loss, take-profit, max hold, resolution) run at the start of each cycle, before new
BUYs; the kill switches pause BUYs but never exits; 1,000 positions are priced in one round of
batched, concurrent requests.

The sandbox mines only when a test says so (a block time of an hour): the books move only at
``box.mine``, so every number here is a function of the seed.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from copybot.app import App, build_app
from copybot.clock import ManualClock
from copybot.config.loading import load_settings, parse_settings
from copybot.config.settings import Settings
from copybot.daemon import watch
from copybot.models import MarketInfo, Side, to_units
from copybot.sandbox import Faults, Sandbox
from copybot.store.ledger import apply_trade
from tests.support.cli import run_cli
from tests.support.sandbox import URLS, CountingTransport, settings_dict, status_json, write_settings

START = to_units(Decimal(1000))  # the paper bankroll


@pytest.fixture
def box(clock: ManualClock) -> Sandbox:
    # leaders trade only when a test injects a fill; blocks are mined only by box.mine()
    return Sandbox(seed=5, leaders=2, markets=4, clock=clock, trade_prob=0.0, noise_prob=0.0, block_time_s=3600)


def settings_data(box: Sandbox, db: Path, exits: dict[str, Any] | None = None, **risk: Any) -> dict[str, Any]:
    data = settings_dict(URLS, box.leaders, db, box.latest_block() + 1, **risk)
    data["exits"] = exits or {}
    return data


def make_settings(box: Sandbox, db: Path, exits: dict[str, Any] | None = None, **risk: Any) -> Settings:
    return parse_settings(settings_data(box, db, exits, **risk), "test-settings.yaml", environ={})


def run_once(
    settings: Settings, box: Sandbox, clock: ManualClock, transport: httpx.AsyncBaseTransport | None = None
) -> None:
    transport = transport or httpx.ASGITransport(app=box.app)
    assert asyncio.run(watch(settings, box.api_key, once=True, clock=clock, transport=transport)) == 1


def rows(db: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def decision_of(db: Path, tx_hash: str, log_index: int) -> sqlite3.Row:
    [row] = rows(
        db,
        "SELECT d.* FROM decisions d JOIN fills f ON f.id = d.fill_id WHERE f.tx_hash = ? AND f.log_index = ?",
        tx_hash,
        log_index,
    )
    return row


def position(db: Path, leader: str, token: int) -> sqlite3.Row:
    [row] = rows(db, "SELECT * FROM positions WHERE leader = ? AND token_id = ?", leader, str(token))
    return row


def exit_orders(db: Path) -> list[sqlite3.Row]:
    return rows(db, "SELECT * FROM orders WHERE purpose LIKE 'exit:%' ORDER BY id")


def assert_ledger_balances(db: Path) -> None:
    """Every unit is accounted for: cash + cost of what is held == bankroll + realized P&L."""
    [(cash,)] = rows(db, "SELECT SUM(amount) FROM ledger")
    [(held,)] = rows(db, "SELECT COALESCE(SUM(cost), 0) FROM positions WHERE shares > 0")
    [(realized,)] = rows(db, "SELECT SUM(realized) FROM positions")
    assert cash + held == START + realized


def copy_a_buy(
    box: Sandbox, clock: ManualClock, settings: Settings, db: Path, token: int, leader: str | None = None
) -> sqlite3.Row:
    """Inject a leader BUY of ``token``, run one cycle, return our open position."""
    leader = leader or box.leaders[0]
    buy = box.inject_fill(leader, token_id=token, side="BUY", shares=Decimal(100))
    box.mine(1)
    run_once(settings, box, clock)
    decision = decision_of(db, buy.tx_hash, buy.log_index)
    assert decision["decision"] == "filled", decision["reason"]
    pos = position(db, leader, token)
    assert pos["shares"] > 0 and pos["mark_price"] is not None
    return pos


# ---- exits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("min_hold_s", [0, 3600])
def test_stop_loss_closes_a_copy_in_the_next_cycle_unless_held_too_briefly(
    tmp_path: Path, box: Sandbox, clock: ManualClock, min_hold_s: int
) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db, exits={"stop_loss": "0.01"}, min_hold_s=min_hold_s)
    token = box.markets[0].tokens[0]
    leader = box.leaders[0]
    pos = copy_a_buy(box, clock, settings, db, token)
    # we paid the ask; the bid is two ticks lower: more than 1% under water at once
    assert pos["shares"] * Decimal(pos["mark_price"]) <= pos["cost"] * Decimal("0.99")
    assert exit_orders(db) == [], "a position opened this cycle is judged from the next one"

    clock.advance(5)
    run_once(settings, box, clock)
    if min_hold_s:
        assert exit_orders(db) == []
        assert position(db, leader, token)["shares"] == pos["shares"]
        return
    [order] = exit_orders(db)
    assert order["purpose"] == "exit:stop_loss" and order["status"] == "filled"
    assert order["side"] == "SELL" and order["amount"] == pos["shares"] - pos["shares"] % 10_000
    closed = position(db, leader, token)
    assert closed["shares"] == 0 and closed["cost"] == 0
    [trade] = rows(db, "SELECT * FROM trades WHERE order_id = ?", order["id"])
    assert closed["realized"] == trade["usdc"] - pos["cost"] < 0
    [sell] = rows(db, "SELECT * FROM ledger WHERE kind = 'sell'")
    assert sell["amount"] == trade["usdc"] and sell["ref"] == order["client_key"]
    assert_ledger_balances(db)


def test_take_profit_closes_once_the_bid_has_risen(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    tp = Decimal("0.01")
    settings = make_settings(box, db, exits={"take_profit": str(tp)})
    token = box.markets[0].tokens[1]
    pos = copy_a_buy(box, clock, settings, db, token)
    shares, cost = pos["shares"], pos["cost"]

    clock.advance(5)
    run_once(settings, box, clock)
    assert exit_orders(db) == [], "bought at the ask: no profit yet"

    # let the market drift (one block at a time) until the bid pays the target
    for _ in range(5000):
        box.mine(1)
        bid = box.book(token).best_bid
        assert bid is not None
        if shares * bid >= cost * (1 + tp):
            break
    else:
        pytest.fail("the bid never rose far enough")
    run_once(settings, box, clock)
    [order] = exit_orders(db)
    assert order["purpose"] == "exit:take_profit" and order["status"] == "filled"
    closed = position(db, box.leaders[0], token)
    assert closed["shares"] == 0 and closed["realized"] > 0
    assert_ledger_balances(db)


def test_max_hold_closes_after_the_holding_time(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db, exits={"max_hold_s": 60})
    token = box.markets[3].tokens[0]
    pos = copy_a_buy(box, clock, settings, db, token)

    clock.advance(30)
    run_once(settings, box, clock)
    assert exit_orders(db) == []

    clock.advance(90)  # 120 s since the BUY
    run_once(settings, box, clock)
    [order] = exit_orders(db)
    assert order["purpose"] == "exit:max_hold" and order["status"] == "filled"
    assert position(db, box.leaders[0], token)["shares"] == 0
    [trade] = rows(db, "SELECT * FROM trades WHERE order_id = ?", order["id"])
    assert trade["shares"] == pos["shares"] - pos["shares"] % 10_000
    assert_ledger_balances(db)


@pytest.mark.parametrize("we_win", [True, False])
def test_resolution_settles_a_paper_position_at_its_payout(
    tmp_path: Path, box: Sandbox, clock: ManualClock, we_win: bool
) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db)  # no exit rule at all: resolution needs none
    market = box.markets[1]
    token, other = market.tokens
    pos = copy_a_buy(box, clock, settings, db, token)
    shares, cost = pos["shares"], pos["cost"]
    assert pos["condition_id"] == market.condition_id

    box.resolve(market.condition_id, token if we_win else other)
    transport = CountingTransport(box.app)
    clock.advance(5)
    run_once(settings, box, clock, transport)

    payout = shares if we_win else 0
    closed = position(db, box.leaders[0], token)
    assert closed["shares"] == 0 and closed["cost"] == 0
    assert closed["realized"] == payout - cost  # exact, in base units
    [redeem] = rows(db, "SELECT * FROM ledger WHERE kind = 'redeem'")
    assert redeem["amount"] == payout
    assert exit_orders(db) == [], "a settlement is not an order"
    # the unpriced token's market was asked once; no book was needed to settle
    assert transport.paths.count(f"/clob/markets/{market.condition_id}") == 1
    assert "/clob/book" not in transport.paths and "/clob/books" not in transport.paths
    assert_ledger_balances(db)


def test_exits_are_sent_before_new_buys(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db, exits={"max_hold_s": 60})
    held = box.markets[0].tokens[0]
    copy_a_buy(box, clock, settings, db, held)

    clock.advance(120)  # the position is due to exit, and a new leader BUY waits in the same cycle
    buy = box.inject_fill(box.leaders[1], token_id=box.markets[2].tokens[0], side="BUY", shares=Decimal(50))
    box.mine(1)
    run_once(settings, box, clock)

    [exit_order] = exit_orders(db)
    assert exit_order["status"] == "filled"
    [copy] = rows(db, "SELECT o.* FROM orders o JOIN fills f ON f.id = o.fill_id WHERE f.tx_hash = ?", buy.tx_hash)
    assert copy["status"] == "filled" and copy["purpose"] == "copy"
    assert exit_order["id"] < copy["id"]
    assert exit_order["created_at"] <= copy["created_at"]


# ---- kill switches --------------------------------------------------------------------------


def test_daily_loss_pauses_buys_but_not_exits_until_resume(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    data = settings_data(box, db, daily_loss_limit_usdc="0.01")
    config = write_settings(tmp_path / "settings.yaml", data)
    settings = load_settings(config, environ={})
    leader = box.leaders[0]
    held = box.markets[0].tokens[0]
    pos = copy_a_buy(box, clock, settings, db, held)  # equity drops by the spread: more than 0.01

    sell = box.inject_fill(leader, token_id=held, side="SELL", shares=Decimal(50))
    paused_buy = box.inject_fill(leader, token_id=box.markets[2].tokens[1], side="BUY", shares=Decimal(50))
    box.mine(1)
    clock.advance(5)
    run_once(settings, box, clock)

    skipped = decision_of(db, paused_buy.tx_hash, paused_buy.log_index)
    assert skipped["decision"] == "skipped" and skipped["reason"].startswith("paused: daily loss"), skipped["reason"]
    mirrored = decision_of(db, sell.tx_hash, sell.log_index)
    assert mirrored["decision"] == "filled", "an exit is never paused"
    assert position(db, leader, held)["shares"] < pos["shares"]
    [state] = rows(db, "SELECT * FROM risk_state")
    assert state["paused_reason"].startswith("daily loss")
    status = status_json(db, clock.now())
    assert status["bankroll"]["paused_reason"].startswith("daily loss"), "status says why BUYs are paused"

    done = run_cli("resume", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "resumed (was paused: daily loss" in done.stdout
    [state] = rows(db, "SELECT * FROM risk_state")
    assert state["paused_reason"] == ""
    assert status_json(db, clock.now())["bankroll"]["paused_reason"] == ""

    # the loss so far is accepted: BUYs are copied again (the limit counts from the resume)
    fresh = box.inject_fill(leader, token_id=box.markets[3].tokens[0], side="BUY", shares=Decimal(50))
    box.mine(1)
    clock.advance(5)
    run_once(settings, box, clock)
    copied = decision_of(db, fresh.tx_hash, fresh.log_index)
    assert copied["decision"] == "filled", copied["reason"]
    assert_ledger_balances(db)


def test_failures_in_a_row_pause_buys(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db, max_consecutive_failures=2)
    leader = box.leaders[1]
    gone = box.markets[1]
    doomed = [box.inject_fill(leader, token_id=gone.tokens[0], side="BUY", shares=Decimal(20)) for _ in range(2)]
    box.mine(1)
    # the market resolves before we act: its book is gone (404, permanent) and Gamma, which would
    # say "closed", is down, so the BUYs cannot be skipped as closed: they fail
    box.resolve(gone.condition_id, gone.tokens[0])
    box.set_faults("gamma", Faults(http_5xx=1.0))
    run_once(settings, box, clock)
    for fill in doomed:
        failed = decision_of(db, fill.tx_hash, fill.log_index)
        assert failed["decision"] == "failed" and failed["reason"].startswith("book unavailable"), failed["reason"]
    [state] = rows(db, "SELECT * FROM risk_state")
    assert state["consecutive_failures"] == 2

    box.set_faults("gamma", Faults())
    buy = box.inject_fill(leader, token_id=box.markets[0].tokens[0], side="BUY", shares=Decimal(20))
    box.mine(1)
    run_once(settings, box, clock)
    skipped = decision_of(db, buy.tx_hash, buy.log_index)
    assert skipped["decision"] == "skipped"
    assert skipped["reason"].startswith("paused: 2 orders failed in a row"), skipped["reason"]


# ---- scale ----------------------------------------------------------------------------------
def open_every_market(app: App, box: Sandbox, clock: ManualClock) -> None:
    """20 shares at 0.50 for each leader in each market, leader i on outcome i % 2, in one transaction."""
    with app.store.tx() as c:
        for i, leader in enumerate(box.leaders):
            for m in box.markets:
                token, info = m.tokens[i % 2], MarketInfo(m.tokens[i % 2], m.condition_id, m.outcomes[i % 2])
                apply_trade(c, leader, token, Side.BUY, to_units(Decimal(20)), to_units(Decimal(10)), info, clock.now())


def test_a_thousand_positions_are_priced_in_one_round_of_batched_requests(tmp_path: Path, clock: ManualClock) -> None:
    box = Sandbox(seed=9, leaders=5, markets=200, clock=clock, trade_prob=0.0, noise_prob=0.0, block_time_s=3600)
    settings = make_settings(box, tmp_path / "bot.db")
    transport = CountingTransport(box.app)

    async def scenario() -> int:
        app = build_app(settings, box.api_key, clock=clock, transport=transport)
        try:
            open_every_market(app, box, clock)  # 5 leaders x 200 markets, both outcomes in use: 400 tokens
            exits = await app.positions.manage()
            assert exits == []
            return len(app.store.open_positions())
        finally:
            await app.aclose()

    assert asyncio.run(scenario()) == 1000
    tokens = {m.tokens[i % 2] for i in range(5) for m in box.markets}
    assert len(tokens) == 400
    # one round: ceil(400 / 100) batched price requests, all in flight together, nothing per position
    assert transport.paths == ["/clob/prices"] * math.ceil(len(tokens) / 100)
    assert transport.max_in_flight == math.ceil(len(tokens) / 100)
    marks = rows(tmp_path / "bot.db", "SELECT token_id, mark_price FROM positions")
    assert len(marks) == 1000
    for r in marks:
        assert Decimal(r["mark_price"]) == box.book(int(r["token_id"])).best_bid


def test_a_thousand_positions_close_concurrently_with_one_book_per_token(tmp_path: Path, clock: ManualClock) -> None:
    box = Sandbox(seed=9, leaders=5, markets=200, clock=clock, trade_prob=0.0, noise_prob=0.0, block_time_s=3600)
    db = tmp_path / "bot.db"
    settings = make_settings(box, db, exits={"stop_loss": "0.01"})  # every position cost 0.50 a share
    transport = CountingTransport(box.app)

    async def scenario() -> int:
        app = build_app(settings, box.api_key, clock=clock, transport=transport)
        try:
            open_every_market(app, box, clock)
            return len(await app.positions.manage())
        finally:
            await app.aclose()

    closed = asyncio.run(scenario())
    held = [m.tokens[i % 2] for i in range(5) for m in box.markets]  # one entry per position
    losing = {t for t in held if box.book(t).best_bid * 20 <= Decimal("9.9")}  # 1% under the cost of 10
    assert closed == sum(1 for t in held if t in losing) > 100
    # one batched round of prices, then each exiting token's book once (not per position), in batched
    # POST /books requests of 50 sent together
    assert transport.paths.count("/clob/prices") == 4
    assert transport.paths.count("/clob/books") == math.ceil(len(losing) / 50) == len(transport.paths) - 4
    asked = [
        int(item["token_id"]) for path, body in transport.bodies if path == "/clob/books" for item in json.loads(body)
    ]
    assert sorted(asked) == sorted(losing)
    assert transport.max_in_flight >= 4
    orders = exit_orders(db)
    assert len(orders) == closed and {o["status"] for o in orders} == {"filled"}
    assert {o["purpose"] for o in orders} == {"exit:stop_loss"}
    [(open_losing,)] = rows(
        db,
        f"SELECT COUNT(*) FROM positions WHERE shares > 0 AND token_id IN ({','.join('?' * len(losing))})",
        *[str(t) for t in losing],
    )
    assert open_losing == 0
    assert len(rows(db, "SELECT * FROM ledger WHERE kind = 'sell'")) == closed


def test_every_exit_is_logged_and_listed_with_its_realized_pnl(
    tmp_path: Path, box: Sandbox, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A stop-loss round closing several positions, and a mirrored leader SELL: each is one log line
    and one entry of status's exits, with the P&L it realized."""
    db = tmp_path / "bot.db"
    plain, stop_loss = make_settings(box, db), make_settings(box, db, exits={"stop_loss": "0.01"})
    mirrored = box.markets[3].tokens[1]
    box.inject_fill(box.leaders[1], token_id=mirrored, side="BUY", shares=Decimal(100))
    box.mine(1)
    run_once(plain, box, clock)
    box.inject_fill(box.leaders[1], token_id=mirrored, side="SELL", shares=Decimal(100))
    box.mine(1)
    run_once(plain, box, clock)  # the leader's exit, mirrored
    tokens = [box.markets[i].tokens[0] for i in range(3)]
    for token in tokens:
        box.inject_fill(box.leaders[0], token_id=token, side="BUY", shares=Decimal(100))
    box.mine(1)
    run_once(stop_loss, box, clock)  # three copies
    clock.advance(5)
    with caplog.at_level("INFO", logger="copybot.trading.positions"):
        run_once(stop_loss, box, clock)  # three stop losses
    exits = status_json(db, clock.now())["exits"]
    own = [e for e in exits if e["rule"] == "stop_loss"]
    assert sorted(int(e["token_id"]) for e in own) == sorted(tokens)
    [leaders] = [e for e in exits if e["rule"] == "leader_exit"]
    assert leaders["token_id"] == str(mirrored) and leaders["status"] == "filled"
    for e in [*own, leaders]:
        assert e["status"] == "filled" and Decimal(e["realized_pnl_usdc"]) < 0, e  # sold at the bid
        [pos] = rows(db, "SELECT realized FROM positions WHERE token_id = ?", e["token_id"])
        assert to_units(Decimal(e["realized_pnl_usdc"])) == pos["realized"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("exit=")]
    assert len(lines) == 3 and all("exit=stop_loss status=filled" in line and "realized=-" in line for line in lines)
