"""Hostile upstream bodies: huge, deeply nested, wrongly typed, zero or negative amounts, prices
>= 1, logs from a contract that is not an exchange, malformed hex. Each is ignored or skipped with
a reason; the loop survives every cycle and never sends an order.

`watch` runs in-process on a manual clock (retry waits cost nothing) against a hostile server on
loopback, once per source: Etherscan (httpx) and JSON-RPC (web3 + aiohttp).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from copybot.clock import ManualClock
from copybot.config.loading import parse_settings
from copybot.daemon import watch
from copybot.errors import UpstreamUnavailable
from copybot.models import Side
from copybot.protocol import ORDER_FILLED_V2, pad_address
from tests.reliability.hostile import HEAD, LEADER, NOW, TAKER, Scenario, fill_log, good_book, serve

CYCLES = 4  # seconds of manual time: about that many cycles
KINDS = ["etherscan", "rpc"]


def run(tmp_path: Path, scenario: Scenario, kind: str, timeout_s: float = 5, once: bool = False) -> dict[str, Any]:
    """Run `watch` for CYCLES cycles (or once) against the scenario; return what the database holds."""
    db = tmp_path / f"{kind}.db"
    with serve(scenario) as base:
        data = {
            "leaders": [{"address": LEADER, "label": "L"}],
            "source": {
                "kind": kind,
                "poll_interval_s": 1,
                "start_block": HEAD - 10,
                "etherscan": {"url": base + "/etherscan", "api_key_env": "UNUSED", "timeout_s": timeout_s},
                "rpc": {"url": base + "/rpc", "timeout_s": timeout_s},
            },
            "clob": {"url": base + "/clob", "timeout_s": 5},
            "gamma": {"url": base + "/gamma", "timeout_s": 5},
            "risk": {"sizing": "fixed", "fixed_usdc": 10, "max_slippage": "0.05"},
            "storage": {"path": str(db)},
        }
        settings = parse_settings(data, "hostile.yaml", environ={})
        t0 = time.monotonic()
        duration = None if once else CYCLES
        refused = ""
        try:
            cycles = asyncio.run(watch(settings, "hostile-key", duration=duration, once=once, clock=ManualClock(NOW)))
        except UpstreamUnavailable as exc:  # a bounded run whose every poll failed says so (exit 1)
            cycles, refused = -1, str(exc)
        elapsed = time.monotonic() - t0
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        heartbeat = dict(conn.execute("SELECT * FROM heartbeat").fetchone())
        out = {
            "cycles": heartbeat["cycles"] if cycles < 0 else cycles,
            "refused": refused,
            "heartbeat": heartbeat,
            "fills": [
                dict(r)
                for r in conn.execute(
                    "SELECT f.*, d.decision, d.reason FROM fills f LEFT JOIN decisions d ON d.fill_id = f.id"
                )
            ],
            "orders": conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0],
            "trades": conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0],
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
            "requests": dict(scenario.requests),
            "elapsed": elapsed,
        }
    finally:
        conn.close()
    return out


def assert_survived_without_orders(out: dict[str, Any]) -> None:
    # watch returned normally after several cycles, each one recorded (retry waits on the manual
    # clock use up some of the duration, so the count varies)
    assert out["cycles"] >= 2, "the loop must keep cycling"
    assert out["heartbeat"]["cycles"] == out["cycles"]
    assert out["integrity"] == "ok"
    assert out["orders"] == 0 and out["trades"] == 0, "a hostile body must never lead to an order"
    for f in out["fills"]:
        assert f["decision"] in (None, "skipped", "failed"), f
        if f["decision"] is not None:
            assert f["reason"], f


def envelope(kind: str, result: Any) -> dict[str, Any]:
    """A successful getLogs answer of this source carrying ``result`` as it is."""
    if kind == "etherscan":
        return {"status": "1", "message": "OK", "result": result}
    return {"jsonrpc": "2.0", "id": 0, "result": result}


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


FOREIGN = "0x" + "de" * 20  # emits OrderFilled-shaped logs but is not a Polymarket exchange
BAD_WORD = "zz" * 32

# name -> logs the source answers, and the reason prefix the stored fill must be skipped with
# (None: nothing may be stored, the logs are ignored or counted as malformed)
LOG_CASES: dict[str, tuple[list[Any], str | None]] = {
    "unknown_exchange": ([fill_log(exchange=FOREIGN)], None),
    "zero_shares": ([fill_log(taker_amount=0)], "invalid:"),
    "zero_collateral": ([fill_log(maker_amount=0)], "invalid:"),
    "zero_both_sell": ([fill_log(side=Side.SELL, maker_amount=0, taker_amount=0)], "invalid:"),
    "negative_shares": ([fill_log(taker_amount=-10_000_000)], None),
    "negative_collateral": ([fill_log(maker_amount=-5_000_000)], None),
    "negative_fee": ([{**fill_log(), "data": fill_log()["data"][: 2 + 64 * 4] + "f" * 64 + "0" * 128}], None),
    "price_above_one": ([fill_log(maker_amount=15_000_000, taker_amount=10_000_000)], "invalid:"),
    "price_exactly_one": ([fill_log(maker_amount=10_000_000, taker_amount=10_000_000)], "invalid:"),
    "malformed_hex_data": ([{**fill_log(), "data": "0x" + BAD_WORD * 7}], None),
    "short_data": ([{**fill_log(), "data": "0x1234"}], None),
    "bad_side_word": ([{**fill_log(), "data": "0x" + "0" * 63 + "7" + fill_log()["data"][66:]}], None),
    "malformed_tx_hash": ([{**fill_log(), "transactionHash": "0x123"}], None),
    "malformed_block_hex": ([{**fill_log(), "blockNumber": "0xZZ"}], None),
    "huge_block_number": ([{**fill_log(), "blockNumber": "0x" + "f" * 64}], None),
    "huge_log_index": ([{**fill_log(), "logIndex": "0x" + "f" * 40}], None),
    "negative_block": ([{**fill_log(), "blockNumber": "-0x5"}], None),
    "negative_log_index": ([{**fill_log(), "logIndex": "-0x1"}], None),
    "wrong_types": (
        [
            {**fill_log(), "blockNumber": {"n": 1}},
            {**fill_log(log_index=4), "logIndex": [4]},
            {**fill_log(log_index=5), "topics": "0xd543adfd"},
            {**fill_log(log_index=6), "data": 12345},
            {**fill_log(log_index=7), "transactionHash": None},
            {**fill_log(log_index=8), "timeStamp": "soon"},
            {**fill_log(log_index=9), "address": 5},
            {**fill_log(log_index=10), "topics": [ORDER_FILLED_V2, None, {"a": 1}, 7]},
            {**fill_log(log_index=11), "blockNumber": True},
            {**fill_log(log_index=12), "blockNumber": 1.5e300},
        ],
        None,
    ),
    "topic_not_an_address": (
        [{**fill_log(), "topics": [ORDER_FILLED_V2, "0x", "0xnot-hex-at-all", pad_address(TAKER)]}],
        None,
    ),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(LOG_CASES))
def test_hostile_logs_are_ignored_or_skipped(tmp_path: Path, kind: str, case: str) -> None:
    logs, skip_prefix = LOG_CASES[case]
    out = run(tmp_path, Scenario(logs=logs), kind)
    assert_survived_without_orders(out)
    if skip_prefix is None:
        assert out["fills"] == [], f"{case}: nothing should be stored: {out['fills']}"
    else:
        [fill] = out["fills"]
        assert fill["decision"] == "skipped" and fill["reason"].startswith(skip_prefix), fill


def _huge_rows() -> list[dict[str, Any]]:
    # ~20 MB: 400 rows of 50 KB each, from a contract that is not an exchange (fewer than one
    # Etherscan page, so it is fetched once per poll)
    return [{**fill_log(exchange=FOREIGN, log_index=i), "data": "0x" + "ab" * 25_000} for i in range(400)]


IGNORED_BODIES = {"huge_list", "number_overflowing_float"}  # valid answers whose logs are ignored
BODY_CASES: dict[str, Any] = {
    "huge_list": lambda kind: envelope(kind, _huge_rows()),
    "huge_string": lambda kind: envelope(kind, "x" * 20_000_000),
    "deeply_nested_result": lambda kind: envelope(kind, nested(500)),
    "nested_beyond_the_parser": lambda kind: b"[" * 100_000 + b"]" * 100_000,
    "nested_object_beyond_the_parser": lambda kind: b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "number_with_5000_digits": lambda kind: (
        b'{"status":"1","jsonrpc":"2.0","id":0,"result":[{"logIndex":' + b"7" * 5000 + b"}]}"
    ),
    "number_overflowing_float": lambda kind: (
        json.dumps(envelope(kind, [fill_log()])).replace(f'"{hex(HEAD - 2)}"', "1e999").encode()
    ),  # the log's blockNumber decodes as inf: a malformed log, ignored
    "result_is_an_object": lambda kind: envelope(kind, {"logs": []}),
    "result_of_numbers": lambda kind: envelope(kind, [1, 2, 3]),
    "body_is_a_number": lambda kind: 5,
    "body_is_null": lambda kind: b"null",
    "body_is_a_string": lambda kind: "OK",
    "html": lambda kind: b"<html><body>502 Bad Gateway</body></html>",
    "invalid_utf8": lambda kind: b'{"status":"1","result":["\xff\xfe\xfd"]}',
    "status_wrong_type": lambda kind: {"status": ["1"], "message": 7, "result": "x", "jsonrpc": 2},
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(BODY_CASES))
def test_hostile_log_bodies_never_crash_the_loop(tmp_path: Path, kind: str, case: str) -> None:
    out = run(tmp_path, Scenario(logs_body=BODY_CASES[case](kind)), kind)
    assert_survived_without_orders(out)
    assert out["fills"] == []
    if case not in IGNORED_BODIES:
        assert out["heartbeat"]["last_error"], "the failed poll should be recorded"
        assert out["refused"].startswith(f"no poll succeeded in {out['cycles']} cycle(s): "), out["refused"]
    else:
        assert out["refused"] == ""


# books that must never be traded on: the valid leader BUY is skipped, naming why
BOOK_CASES: dict[str, tuple[Any, str]] = {
    "asks_at_or_above_one": (
        good_book(
            asks=[{"price": "1", "size": "100"}, {"price": "1.5", "size": "100"}, {"price": "100", "size": "1"}],
            bids=[{"price": "2", "size": "100"}],
        ),
        "no liquidity:",
    ),
    "negative_and_zero_levels": (
        good_book(
            asks=[
                {"price": "-0.5", "size": "100"},
                {"price": "0.5", "size": "-100"},
                {"price": "0", "size": "100"},
                {"price": "0.5", "size": "0"},
            ]
        ),
        "no liquidity:",
    ),
    "tick_zero": (good_book(tick_size="0"), "invalid:"),
    "tick_negative": (good_book(tick_size="-0.01"), "invalid:"),
    "tick_above_one": (good_book(tick_size="5"), "invalid:"),
    "huge_min_size": (good_book(min_order_size="1e30"), "min size:"),
    "huge_book_of_bad_prices": (
        good_book(asks=[{"price": "1.5", "size": "1", "pad": "x" * 100}] * 50_000),
        "no liquidity:",
    ),
}


@pytest.mark.parametrize("case", list(BOOK_CASES))
def test_books_with_impossible_prices_are_skipped_with_a_reason(tmp_path: Path, case: str) -> None:
    book, prefix = BOOK_CASES[case]
    out = run(tmp_path, Scenario(logs=[fill_log()], book=book), "etherscan")
    assert_survived_without_orders(out)
    [fill] = out["fills"]
    assert fill["decision"] == "skipped" and fill["reason"].startswith(prefix), fill


# books that cannot be read at all: a transient failure, so the fill waits (never an order)
UNREADABLE_BOOKS: dict[str, Any] = {
    "tick_nan": good_book(tick_size="NaN"),
    "tick_not_a_number": good_book(tick_size="fine"),
    "levels_not_a_list": good_book(bids="lots", asks="plenty"),
    "levels_of_numbers": good_book(asks=[1, 2, 3]),
    "price_not_a_number": good_book(asks=[{"price": "cheap", "size": "1"}]),
    "book_is_a_list": [good_book()],
    "book_is_a_string": "OK",
    "nested_beyond_the_parser": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", list(UNREADABLE_BOOKS))
def test_unreadable_books_defer_the_fill_without_an_order(tmp_path: Path, case: str) -> None:
    out = run(tmp_path, Scenario(logs=[fill_log()], book=UNREADABLE_BOOKS[case]), "etherscan")
    assert_survived_without_orders(out)
    [fill] = out["fills"]
    assert fill["decision"] is None and fill["state"] == "pending", "an unreadable book defers the copy"
    errors = json.loads(out["heartbeat"]["source_health"])["upstreams"]["clob"]["errors"]
    assert errors.get("malformed", 0) >= 1, f"the unreadable books should be counted as malformed: {errors}"


def test_control_a_well_formed_fill_is_copied(tmp_path: Path) -> None:
    """The harness itself can lead to an order: the cases above stay empty because of the body."""
    for kind in KINDS:
        out = run(tmp_path, Scenario(logs=[fill_log()]), kind)
        assert out["cycles"] >= 2 and out["orders"] == 1 and out["trades"] == 1
        [fill] = out["fills"]
        assert fill["decision"] == "filled", fill


def test_garbage_metadata_and_marks_are_ignored(tmp_path: Path) -> None:
    """Gamma metadata and /prices marks are optional: garbage there never stops the copy or the loop."""
    gamma = [
        {"conditionId": ["x"], "clobTokenIds": 5, "outcomes": "{", "question": {"q": 1}, "closed": "yes"},
        {"clobTokenIds": '["not-a-number", null]', "outcomes": [None]},
        "not a market",
        7,
    ]
    prices = {"1": "x", str(0): {"BUY": "abc"}, "BUY": [1], "nested": nested(300)}
    out = run(tmp_path, Scenario(logs=[fill_log()], gamma=gamma, prices=prices), "etherscan")
    assert out["cycles"] >= 2 and out["integrity"] == "ok"
    [fill] = out["fills"]
    assert fill["decision"] == "filled" and out["orders"] == 1, fill


@pytest.mark.parametrize("kind", KINDS)
def test_a_hung_node_costs_the_configured_timeout_not_thirty_seconds(tmp_path: Path, kind: str) -> None:
    """A node that accepts the request and never answers in time: each try is cut at the source's
    timeout_s (web3 used to override it with its own 30 s, stalling a cycle for minutes)."""
    out = run(tmp_path, Scenario(logs=[fill_log()], hang_s=3), kind, timeout_s=0.3, once=True)
    assert out["cycles"] == 1
    assert out["elapsed"] < 2.5, f"one cycle took {out['elapsed']:.1f}s with a 0.3 s timeout"
    assert "timed out" in out["heartbeat"]["last_error"], out["heartbeat"]["last_error"]
    assert out["fills"] == [] and out["orders"] == 0


@pytest.mark.parametrize("module", ["copybot.brokers.live", "copybot.sources.rpc"])
def test_deep_json_is_malformed_not_a_segfault_once_web3_or_the_sdk_is_loaded(module: str) -> None:
    """py_ecc (under web3 and eth_account) raises the recursion limit to 100,000 when imported; a
    deeply nested body then overflowed the C stack in json.loads and the daemon died of SIGSEGV.
    In a fresh process (nothing else imported first), with the live broker or the RPC source
    loaded, such a body from any upstream is just malformed."""
    script = f"""
import asyncio, sys, httpx
import {module}
from copybot.clock import ManualClock
from copybot.errors import MalformedResponse
from copybot.upstream.http import Upstream, build_client
body = b"[" * 200_000 + b"]" * 200_000
transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
up = Upstream("clob", build_client("http://clob", 1.0, 1, transport), ManualClock())
try:
    asyncio.run(up.get_json("/book"))
except MalformedResponse as exc:
    print("malformed:", exc, "limit", sys.getrecursionlimit())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.startswith("malformed: clob GET /book"), result.stdout
