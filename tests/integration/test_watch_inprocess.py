"""copybot's whole loop against the in-process sandbox (ASGI transport, manual clock, real SQLite).

Deterministic: the clock only moves when something sleeps or the test advances it.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from copybot.clock import ManualClock
from copybot.config.loading import parse_settings
from copybot.config.settings import Settings
from copybot.daemon import watch
from copybot.sandbox import Sandbox
from copybot.store import Store
from tests.support.sandbox import URLS, CountingTransport, settings_dict, status_json


@pytest.fixture
def box(clock: ManualClock) -> Sandbox:
    # Leaders do not trade on their own: every leader fill in these tests is injected.
    return Sandbox(seed=5, leaders=2, markets=4, clock=clock, trade_prob=0.0, noise_prob=0.5)


def make_settings(box: Sandbox, db: Path, **risk: object) -> Settings:
    data = settings_dict(URLS, box.leaders, db, box.latest_block() + 1, **risk)
    return parse_settings(data, "test-settings.yaml", environ={})


def run_once(settings: Settings, box: Sandbox, clock: ManualClock) -> None:
    cycles = asyncio.run(
        watch(settings, box.api_key, once=True, clock=clock, transport=httpx.ASGITransport(app=box.app))
    )
    assert cycles == 1


def copy_for(status: dict, tx_hash: str, log_index: int) -> list[dict]:
    return [c for c in status["copies"] if c["tx_hash"] == tx_hash and c["log_index"] == log_index]


def test_buy_is_copied_and_sell_is_mirrored_as_a_fraction(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db)
    leader = box.leaders[0]
    token = box.markets[0].tokens[0]
    buy = box.inject_fill(leader, token_id=token, side="BUY", shares=Decimal(100))
    box.mine(1)
    run_once(settings, box, clock)

    st = status_json(db, clock.now())
    [copy] = copy_for(st, buy.tx_hash, buy.log_index)
    assert copy["decision"] == "filled", copy["reason"]
    assert copy["side"] == "BUY" and copy["order_usdc"] == "10"
    assert Decimal(copy["leader_price"]) == buy.price
    [pos] = [p for p in st["positions"] if p["token_id"] == str(token)]
    held = Decimal(pos["shares"])
    assert held > 0 and Decimal(pos["cost_usdc"]) <= 10
    assert Decimal(st["bankroll"]["cash_usdc"]) == 1000 - Decimal(pos["cost_usdc"])

    sell = box.inject_fill(leader, token_id=token, side="SELL", shares=Decimal(50))
    box.mine(1)
    run_once(settings, box, clock)
    st = status_json(db, clock.now())
    [copy] = copy_for(st, sell.tx_hash, sell.log_index)
    assert copy["decision"] == "filled", copy["reason"]
    # half of what we hold, rounded down to the CLOB's 0.01-share lot
    assert Decimal(copy["fill_shares"]) == (held * 10**6 * 50 // 100) // 10_000 * 10_000 / Decimal(10**6)
    [pos] = [p for p in st["positions"] if p["token_id"] == str(token)]
    assert Decimal(pos["shares"]) == held - Decimal(copy["fill_shares"])
    b = st["bankroll"]
    assert Decimal(b["cash_usdc"]) + Decimal(b["exposure_usdc"]) == 1000 + Decimal(b["realized_pnl_usdc"])


def test_skips_are_recorded_with_reasons(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db)
    l0, l1 = box.leaders
    token = box.markets[1].tokens[0]
    never_held = box.inject_fill(l1, token_id=token, side="SELL", shares=Decimal(20))
    spoof = box.inject_fill(l0, token_id=token, side="BUY", shares=Decimal(20), spoof=True)
    maker = box.inject_fill(l1, token_id=box.markets[2].tokens[1], side="BUY", shares=Decimal(30), as_taker=False)
    box.mine(1)
    run_once(settings, box, clock)
    st = status_json(db, clock.now())
    [c] = copy_for(st, never_held.tx_hash, never_held.log_index)
    assert c["decision"] == "skipped" and c["reason"].startswith("not held")
    assert copy_for(st, spoof.tx_hash, spoof.log_index) == []
    [c] = copy_for(st, maker.tx_hash, maker.log_index)
    assert c["decision"] == "filled", c["reason"]
    # counterparties' views of the leaders' fills were not counted as leader fills
    assert {c["leader"].lower() for c in st["copies"]} <= {l0, l1}
    assert sum(row["fills_seen"] for row in st["leaders"]) == len(st["copies"]) == 2


def test_old_buys_are_skipped_as_stale(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db, max_trade_age_s=60)
    buy = box.inject_fill(box.leaders[0], token_id=box.markets[0].tokens[1], side="BUY", shares=Decimal(40))
    box.mine(1)
    clock.advance(120)
    run_once(settings, box, clock)
    [c] = copy_for(status_json(db, clock.now()), buy.tx_hash, buy.log_index)
    assert c["decision"] == "skipped" and c["reason"].startswith("stale")


def test_restart_continues_without_duplicates_or_losses(tmp_path: Path, box: Sandbox, clock: ManualClock) -> None:
    db = tmp_path / "bot.db"
    settings = make_settings(box, db)
    injected = []
    for round_ in range(3):
        for i, leader in enumerate(box.leaders):
            market = box.markets[(round_ + i) % len(box.markets)]
            injected.append(box.inject_fill(leader, token_id=market.tokens[0], side="BUY", shares=Decimal(25)))
        box.mine(2)
        run_once(settings, box, clock)  # a fresh App each time: a restart
    st = status_json(db, clock.now())
    keys = [(c["tx_hash"], c["log_index"]) for c in st["copies"]]
    assert len(keys) == len(set(keys)), "a fill was decided twice"
    assert {(f.tx_hash, f.log_index) for f in injected} == set(keys)
    assert st["stats"]["cycles"] == 3
    store = Store.open(db, create=False)
    try:
        assert (
            store.count("orders") == store.count("trades") == sum(1 for c in st["copies"] if c["decision"] == "filled")
        )
        assert store.pending_fills(10) == []
    finally:
        store.close()


def test_a_batch_fetches_each_book_once_and_pages_through_getlogs(
    tmp_path: Path, box: Sandbox, clock: ManualClock
) -> None:
    db = tmp_path / "bot.db"
    data = settings_dict(URLS, box.leaders, db, box.latest_block() + 1)
    data["source"]["etherscan"]["page_size"] = 2  # seven fills of one leader need four pages
    settings = parse_settings(data, "test-settings.yaml", environ={})
    tokens = [box.markets[0].tokens[0], box.markets[1].tokens[0], box.markets[2].tokens[1]]
    injected = [
        box.inject_fill(box.leaders[0], token_id=tokens[i % 3], side="BUY", shares=Decimal(10)) for i in range(7)
    ]
    injected += [
        box.inject_fill(box.leaders[1], token_id=tokens[i % 3], side="BUY", shares=Decimal(10)) for i in range(3)
    ]
    box.mine(1)
    transport = CountingTransport(box.app)
    asyncio.run(watch(settings, box.api_key, once=True, clock=clock, transport=transport))

    st = status_json(db, clock.now())
    assert {(c["tx_hash"], c["log_index"]) for c in st["copies"]} == {(f.tx_hash, f.log_index) for f in injected}
    # ten fills over three tokens: one batch, one batched book request naming each distinct token once
    assert transport.paths.count("/clob/books") == 1 and "/clob/book" not in transport.paths
    [books] = [json.loads(body) for path, body in transport.bodies if path == "/clob/books"]
    assert sorted(int(b["token_id"]) for b in books) == sorted({f.token_id for f in injected}) and len(books) == 3
    # one Gamma request for the batch's metadata, one batched price request to mark positions
    assert transport.paths.count("/gamma/markets") == 1
    assert transport.paths.count("/clob/prices") == 1
    # head + 4 pages for leader 0 (2+2+2+1) + 2 pages for leader 1 (2+1)
    assert transport.paths.count("/etherscan/v2/api") == 1 + 4 + 2
