"""Detection against upstreams that behave like the real ones: nodes whose logs carry no block time,
a fresh start with history right below it, Polymarket's third exchange, history before the V2 cut-over."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from copybot.clock import ManualClock
from copybot.config.loading import parse_settings
from copybot.config.settings import Settings, SourceSettings
from copybot.daemon import watch
from copybot.models import Reason
from copybot.protocol import (
    CTF_EXCHANGE_V1,
    EXCHANGE_V3,
    NEG_RISK_EXCHANGE_V1,
    ORDER_FILLED_V1,
    ORDER_FILLED_V2,
    V2_FIRST_BLOCK,
)
from copybot.sandbox import Sandbox, serve_in_thread
from copybot.sources.rpc import RpcSource
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Guard
from tests.support.sandbox import URLS, status_json

QUIET = {"trade_prob": 0.0, "noise_prob": 0.0}  # only the fills a test injects


def settings_for(kind: str, urls: dict[str, str], box: Sandbox, db: Path, start: int | str, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "leaders": [{"address": a} for a in box.leaders],
        "source": {
            "kind": kind,
            "poll_interval_s": 2.0,
            "start_block": start,
            "etherscan": {"url": urls["etherscan"], "api_key_env": "UNUSED"},
            "rpc": {"url": urls["rpc"]},
        },
        "clob": {"url": urls["clob"]},
        "gamma": {"url": urls["gamma"]},
        "risk": {"sizing": "fixed", "fixed_usdc": 10, "max_slippage": "0.05", "max_trade_age_s": 600},
        "storage": {"path": str(db)},
        **extra,
    }
    return parse_settings(data, "s.yaml", environ={})


def run_once(settings: Settings, box: Sandbox, clock: ManualClock, transport: Any = None) -> None:
    transport = transport or httpx.ASGITransport(app=box.app)
    assert asyncio.run(watch(settings, box.api_key, once=True, clock=clock, transport=transport)) == 1


def decisions(db: Path, clock: ManualClock) -> dict[tuple[str, int], dict[str, Any]]:
    return {(c["tx_hash"], c["log_index"]): c for c in status_json(db, clock.now())["copies"]}


def rpc_calls(box: Sandbox, method: str) -> int:
    return box.stats()["requests"].get("rpc", {}).get(method, 0)


# ---- logs without blockTimestamp --------------------------------------------------------------


@pytest.mark.parametrize("log_times", [True, False], ids=["node-sends-blockTimestamp", "classic-log-object"])
def test_rpc_fills_carry_their_block_time_whatever_the_node_sends(clock: ManualClock, log_times: bool) -> None:
    box = Sandbox(seed=5, leaders=2, markets=3, block_time_s=2.0, clock=clock, rpc_block_timestamps=log_times, **QUIET)
    with serve_in_thread(box) as server:
        start = box.latest_block() + 1
        injected = [box.inject_fill(box.leaders[i % 2], shares=Decimal(20)) for i in range(3)]
        box.mine(1)  # three fills in one block
        injected.append(box.inject_fill(box.leaders[0], shares=Decimal(20)))
        box.mine(1)  # one more in the next
        settings = SourceSettings.model_validate(
            {"kind": "rpc", "start_block": start, "rpc": {"url": server.urls["rpc"]}}
        )
        times = CountingCache[int](100, 3600, clock)
        source = RpcSource(
            settings, Guard("rpc", clock), CountingCache(10, 60, clock), CountingCache(1, 0.001, clock), times
        )

        async def twice() -> list[Any]:
            try:
                first = await source.poll({}, box.leaders)
                box.reset_stats()
                second = await source.poll({a: start - 1 for a in box.leaders}, box.leaders)  # the same blocks again
                return [first, second]
            finally:
                await source.aclose()

        first, second = asyncio.run(twice())
    want = {(f.tx_hash, f.log_index): box.block(f.block).timestamp for f in injected}
    assert {f.key: f.timestamp for f in first.fills} == want
    assert first.malformed == 0
    headers = 0 if log_times else 2  # one per block with fills (two blocks), never one per fill (four)
    assert first.fills == second.fills
    assert rpc_calls(box, "eth_getBlockByNumber") == 0, "the second poll's block times came from the cache"
    assert (len(times), times.misses) == (headers, headers)


@pytest.mark.parametrize("log_times", [True, False], ids=["node-sends-blockTimestamp", "classic-log-object"])
def test_watch_over_rpc_copies_buys_whatever_the_node_sends(
    tmp_path: Path, clock: ManualClock, log_times: bool
) -> None:
    box = Sandbox(seed=6, leaders=2, markets=3, block_time_s=2.0, clock=clock, rpc_block_timestamps=log_times, **QUIET)
    with serve_in_thread(box) as server:
        db = tmp_path / "bot.db"
        settings = settings_for("rpc", server.urls, box, db, box.latest_block() + 1)
        fills = [box.inject_fill(a, shares=Decimal(30)) for a in box.leaders]
        box.mine(1)
        run_once(settings, box, clock)
    made = decisions(db, clock)
    for f in fills:
        copy = made[(f.tx_hash, f.log_index)]
        assert copy["decision"] == "filled", copy["reason"]  # never "stale: leader fill is 1790000000s old"


# ---- a fresh start ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["etherscan", "rpc"])
def test_a_fresh_start_never_copies_what_was_mined_before_it(tmp_path: Path, clock: ManualClock, kind: str) -> None:
    box = Sandbox(seed=7, leaders=2, markets=3, block_time_s=2.0, clock=clock, etherscan_rate_limit=None, **QUIET)
    with serve_in_thread(box) as server:
        urls = server.urls if kind == "rpc" else URLS
        db = tmp_path / "bot.db"
        before = box.inject_fill(box.leaders[0], shares=Decimal(30))
        box.mine(3)  # mined before copybot starts, within the re-read window of the head
        settings = settings_for(kind, urls, box, db, "latest")
        run_once(settings, box, clock)  # follows from the head on
        after = box.inject_fill(box.leaders[0], shares=Decimal(30))
        box.mine(1)
        clock.advance(2)
        run_once(settings, box, clock)  # re-reads the last blocks: never below where it started
        run_once(settings, box, clock)
    made = decisions(db, clock)
    assert (before.tx_hash, before.log_index) not in made
    assert made[(after.tx_hash, after.log_index)]["decision"] == "filled"
    cursors = [r["cursor_block"] for r in status_json(db, clock.now())["leaders"]]
    assert cursors and all(block >= after.block for block in cursors)


# ---- ExchangeV3 ---------------------------------------------------------------------------------


def test_exchange_v3_fills_are_seen_and_skipped_with_a_reason(tmp_path: Path, clock: ManualClock) -> None:
    box = Sandbox(seed=8, leaders=1, markets=3, clock=clock, etherscan_rate_limit=None, position_markets=1, **QUIET)
    position = box.markets[-1]
    assert position.exchange == EXCHANGE_V3
    db = tmp_path / "bot.db"
    settings = settings_for("etherscan", URLS, box, db, box.latest_block() + 1)
    v3 = box.inject_fill(box.leaders[0], token_id=position.tokens[0], shares=Decimal(30))
    v2 = box.inject_fill(box.leaders[0], token_id=box.markets[0].tokens[0], shares=Decimal(30))
    box.mine(1)
    asked: list[str] = []

    class Recording(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=box.app)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            asked.append(f"{request.url.path} {request.url.query.decode()} {request.content.decode(errors='ignore')}")
            return await self.inner.handle_async_request(request)

    run_once(settings, box, clock, Recording())
    made = decisions(db, clock)
    skipped = made[(v3.tx_hash, v3.log_index)]
    assert (skipped["decision"], skipped["code"]) == ("skipped", Reason.UNSUPPORTED_MARKET)
    assert "ExchangeV3" in skipped["reason"]
    assert made[(v2.tx_hash, v2.log_index)]["decision"] == "filled"
    assert not any(str(position.tokens[0]) in a for a in asked if "/clob/" in a), "no book asked for a position id"


# ---- history before the V2 cut-over -----------------------------------------------------------


def test_etherscan_asks_for_the_v1_topic_only_for_windows_before_the_cut_over(
    tmp_path: Path, clock: ManualClock
) -> None:
    box = Sandbox(
        seed=9,
        leaders=1,
        markets=3,
        block_time_s=2.0,
        clock=clock,
        etherscan_rate_limit=None,
        start_block=V2_FIRST_BLOCK - 20,
        **QUIET,
    )
    db = tmp_path / "bot.db"
    old = box.inject_fill(box.leaders[0], shares=Decimal(30))
    box.mine(1)  # sealed in the V1 layout, from a V1 exchange
    [log] = [lg for lg in box.logs(old.block, old.block) if lg.tx_hash == old.tx_hash and lg.log_index == old.log_index]
    assert log.topics[0] == ORDER_FILLED_V1 and log.address in (CTF_EXCHANGE_V1, NEG_RISK_EXCHANGE_V1)
    topics: list[str] = []

    class Recording(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=box.app)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.params.get("action") == "getLogs":
                topics.append(request.url.params["topic0"])
            return await self.inner.handle_async_request(request)

    settings = settings_for("etherscan", URLS, box, db, box.start_block, risk={"max_trade_age_s": 30 * 86_400})
    clock.advance(60)  # the chain passes the cut-over
    box.mine(1)
    run_once(settings, box, clock, Recording())
    assert set(topics) == {ORDER_FILLED_V1, ORDER_FILLED_V2}
    assert topics.count(ORDER_FILLED_V1) == 1, "one V1 query for the window that starts before the cut-over"
    copy = decisions(db, clock)[(old.tx_hash, old.log_index)]
    assert copy["decision"] == "filled", copy["reason"]
    topics.clear()
    clock.advance(2)
    run_once(settings, box, clock, Recording())  # now the window starts after the cut-over
    assert topics and ORDER_FILLED_V1 not in topics
