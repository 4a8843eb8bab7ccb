"""The sandbox speaks the real wire formats (checked against the captured payloads in tests/fixtures) and simulates
Polymarket faithfully enough to test copybot against: attribution, books, determinism.
Faults, Etherscan's rate limit and reorgs are in test_sandbox_faults.py."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from copybot.models import Side
from copybot.protocol import (
    CTF_EXCHANGE_V2,
    EXCHANGES,
    NEG_RISK_EXCHANGE_V2,
    ORDER_FILLED_V1,
    ORDER_FILLED_V2,
    UNIT,
    pad_address,
    topic_to_address,
)
from copybot.sandbox import serve, serve_in_thread
from copybot.sandbox.chain import encode_order_filled_v2, order_filled
from tests.support.wire import ES, es_params, fixture, get_logs, hex_int, make, rpc, rpc_call, run, words

# -- ABI encoding ----------------------------------------------------------------------------


def test_encoder_reproduces_the_real_negrisk_log_byte_for_byte() -> None:
    real = fixture("log_v2_negrisk_buy_taker.json")
    side, token, maker_amount, taker_amount, fee, builder, metadata = words(real["data"])
    assert (side, maker_amount, taker_amount, fee) == (0, 234_660_000, 261_000_000, 1_184_080)
    data = encode_order_filled_v2(
        side=Side.BUY,
        token_id=token,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        fee=fee,
        builder=builder,
        metadata=metadata,
    )
    assert data == real["data"]
    log = order_filled(
        exchange=NEG_RISK_EXCHANGE_V2,
        order_hash=int(real["topics"][1], 16),
        maker=topic_to_address(real["topics"][2]),
        taker=NEG_RISK_EXCHANGE_V2,
        side=Side.BUY,
        token_id=token,
        shares=261_000_000,
        collateral=234_660_000,
        fee=fee,
    )
    assert (log.address, list(log.topics), log.data) == (real["address"], real["topics"], real["data"])


# -- Etherscan -------------------------------------------------------------------------------


def test_getlogs_envelope_matches_the_real_one() -> None:
    sandbox, _ = make()
    sandbox.mine(5)
    answer = get_logs(sandbox)
    real = fixture("etherscan_getlogs_ok.json")
    assert {k: answer[k] for k in ("status", "message")} == {"status": "1", "message": "OK"}
    real_keys = set(real["result"][0])
    for log in answer["result"]:
        assert set(log) == real_keys | {"blockHash"}
        for key, value in log.items():
            values = value if key == "topics" else [value]
            assert all(isinstance(v, str) and v.startswith("0x") for v in values), key
        assert log["topics"][0] == ORDER_FILLED_V2 and len(log["topics"]) == 4
        assert len(words(log["data"])) == 7
    firsts = [log for log in answer["result"] if log["logIndex"] == "0x"]
    assert firsts and all(log["transactionIndex"] == "0x" for log in firsts)
    order = [(hex_int(log["blockNumber"]), hex_int(log["logIndex"])) for log in answer["result"]]
    assert order == sorted(order) and len(set(order)) == len(order)


def test_topic_and_filter_returns_only_the_leaders_maker_logs() -> None:
    sandbox, _ = make(trade_prob=0.9)
    sandbox.mine(15)
    leader = sandbox.leaders[0]
    mine = get_logs(sandbox, topic0=ORDER_FILLED_V2, topic2=pad_address(leader), topic0_2_opr="and")
    expected = [log for log in sandbox.logs(0, 10**12) if log.topics[2] == pad_address(leader)]
    assert mine["status"] == "1" and len(mine["result"]) == len(expected) > 0
    assert all(log["topics"][2] == pad_address(leader) for log in mine["result"])
    as_taker = [log for log in mine["result"] if topic_to_address(log["topics"][3]) in EXCHANGES]
    assert as_taker and all(log["address"] == topic_to_address(log["topics"][3]) for log in as_taker)
    as_maker = [log for log in mine["result"] if log not in as_taker]
    assert as_maker and all(log["address"] in EXCHANGES for log in as_maker)
    # counterparty views name the leader only in topic3: the same trades, seen from the other side
    views = get_logs(sandbox, topic3=pad_address(leader))["result"]
    assert views and all(log["topics"][2] != pad_address(leader) for log in views)
    either = get_logs(sandbox, topic2=pad_address(leader), topic3=pad_address(leader), topic2_3_opr="or")["result"]
    assert len(either) == len(mine["result"]) + len(views)
    by_address = get_logs(sandbox, address=CTF_EXCHANGE_V2.upper().replace("0X", "0x"))["result"]
    assert by_address and all(log["address"] == CTF_EXCHANGE_V2 for log in by_address)


def test_pagination_and_the_result_window() -> None:
    sandbox, _ = make()
    sandbox.mine(10)
    whole = get_logs(sandbox, page=1, offset=10)["result"]
    assert len(whole) == 10
    assert get_logs(sandbox, page=1, offset=4)["result"] + get_logs(sandbox, page=2, offset=4)["result"] == whole[:8]
    assert get_logs(sandbox, page=11, offset=1000)["result"].startswith("Result window is too large")
    assert get_logs(sandbox, page=10, offset=1000) == fixture("etherscan_no_records.json")
    assert get_logs(sandbox, page=101, offset=100)["message"] == "NOTOK"


def test_error_bodies_match_the_fixtures() -> None:
    sandbox, _ = make()
    latest = sandbox.latest_block()
    assert get_logs(sandbox, fromBlock=latest + 1, toBlock=latest + 5) == fixture("etherscan_no_records.json")
    assert get_logs(sandbox, topic2=pad_address("0x" + "ab" * 20)) == fixture("etherscan_no_records.json")
    assert get_logs(sandbox, fromBlock=0, toBlock=5) == fixture("etherscan_no_records.json")
    assert get_logs(sandbox, fromBlock=latest, toBlock=latest - 1) == fixture("etherscan_no_records.json")
    invalid_key = fixture("etherscan_error_invalid_key.json")
    assert get_logs(sandbox, apikey="wrong") == invalid_key
    assert get_logs(sandbox, apikey="") == invalid_key
    for chain in ("1", ""):
        bad_chain = get_logs(sandbox, chainid=chain)
        assert bad_chain["status"] == "0" and bad_chain["message"] == "NOTOK"
        assert bad_chain["result"].startswith("Missing or unsupported chainid parameter (required for v2 api)")
    assert get_logs(sandbox, module="nope")["result"] == "Error! Missing Or invalid Module name"
    assert get_logs(sandbox, action="nope")["result"] == "Error! Missing Or invalid Action name"


def test_block_number_follows_the_manual_clock() -> None:
    sandbox, clock = make(block_time_s=2.0)

    async def block_number(client: httpx.AsyncClient) -> int:
        params = es_params(module="proxy", action="eth_blockNumber")
        body = (await client.get(ES, params=params)).json()
        assert set(body) == {"jsonrpc", "id", "result"} and body["id"] == 83
        return int(body["result"], 16)

    first = run(sandbox, block_number)
    assert first == sandbox.start_block
    clock.advance(1.9)
    assert run(sandbox, block_number) == first
    clock.advance(2 * 2.0)
    assert run(sandbox, block_number) == first + 2
    assert sandbox.mine(3) == first + 5
    clock.advance(0.2)
    assert run(sandbox, block_number) == first + 6
    stamps = [sandbox.block(n).timestamp for n in range(first, first + 7)]
    assert stamps == sorted(stamps) and stamps[0] == sandbox.genesis_time


# -- JSON-RPC --------------------------------------------------------------------------------


def test_rpc_single_calls_and_batches() -> None:
    sandbox, _ = make()
    latest = sandbox.mine(3)
    assert rpc_call(sandbox, "eth_chainId") == "0x89"
    assert rpc_call(sandbox, "net_version") == "137"
    assert rpc_call(sandbox, "eth_blockNumber") == hex(latest)
    head = rpc_call(sandbox, "eth_getBlockByNumber", "latest", False)
    assert head == rpc_call(sandbox, "eth_getBlockByNumber", hex(latest), True)
    assert set(head) == {"number", "hash", "parentHash", "timestamp", "transactions"}
    block = sandbox.block(latest)
    assert head["number"] == hex(latest) and head["hash"] == block.block_hash and head["transactions"] == []
    assert head["timestamp"] == hex(block.timestamp)
    assert head["parentHash"] == sandbox.block(latest - 1).block_hash
    assert rpc_call(sandbox, "eth_getBlockByNumber", hex(latest + 1), False) is None
    assert rpc_call(sandbox, "eth_sendTransaction", {}) == {  # a node holds no keys
        "code": -32601,
        "message": "the method eth_sendTransaction does not exist/is not available",
    }
    assert rpc_call(sandbox, "eth_sendRawTransaction", "0x00") == {
        "code": -32000,
        "message": "invalid transaction: typed transaction has unknown type: 0",
    }
    batch = rpc(
        sandbox,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            {"jsonrpc": "2.0", "id": "two", "method": "eth_chainId"},
            {"jsonrpc": "2.0", "id": 3, "method": "nope", "params": []},
            {"jsonrpc": "2.0", "id": 4, "method": "eth_getLogs", "params": [{"fromBlock": "0x1", "toBlock": "0x0"}]},
        ],
    )
    assert [a["id"] for a in batch] == [1, "two", 3, 4]
    assert batch[0]["result"] == hex(latest) and batch[1]["result"] == "0x89"
    assert batch[2]["error"]["code"] == -32601
    assert batch[3]["error"] == {"code": -32602, "message": "invalid block range params"}
    assert rpc(sandbox, [])["error"]["code"] == -32600

    async def garbage(client: httpx.AsyncClient) -> Any:
        return (await client.post("/rpc", content=b"{not json")).json()

    assert run(sandbox, garbage) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}


def test_rpc_get_logs_or_filters_match_etherscan() -> None:
    sandbox, _ = make(trade_prob=0.9)
    sandbox.mine(20)
    first, second = sandbox.leaders[0], sandbox.leaders[1]
    wanted = {pad_address(first), pad_address(second)}
    query = {
        "fromBlock": hex(sandbox.start_block),
        "toBlock": "latest",
        "address": [CTF_EXCHANGE_V2.upper().replace("0X", "0x"), NEG_RISK_EXCHANGE_V2],
        "topics": [[ORDER_FILLED_V1, ORDER_FILLED_V2], None, [pad_address(first), pad_address(second)]],
    }
    logs = rpc_call(sandbox, "eth_getLogs", query)
    expected = [log for log in sandbox.logs(0, 10**12) if log.topics[2] in wanted]
    assert len(logs) == len(expected) > 10
    assert [(log["transactionHash"], int(log["logIndex"], 16)) for log in logs] == [
        (log.tx_hash, log.log_index) for log in expected
    ]
    assert {log["topics"][2] for log in logs} == wanted
    # Etherscan, one leader at a time, sees the same logs
    by_etherscan = [
        log
        for leader in (first, second)
        for log in get_logs(sandbox, topic0=ORDER_FILLED_V2, topic2=pad_address(leader), topic0_2_opr="and")["result"]
    ]
    by_etherscan.sort(key=lambda log: (hex_int(log["blockNumber"]), hex_int(log["logIndex"])))
    keys = ("transactionHash", "blockHash", "topics", "data", "address")
    assert [[log[k] for k in keys] + [hex_int(log["logIndex"])] for log in by_etherscan] == [
        [log[k] for k in keys] + [int(log["logIndex"], 16)] for log in logs
    ]
    # a single address, a plain topic, a null position, and a block hash instead of a range
    ctf = rpc_call(sandbox, "eth_getLogs", query | {"address": CTF_EXCHANGE_V2, "topics": [ORDER_FILLED_V2]})
    assert ctf and all(log["address"] == CTF_EXCHANGE_V2 for log in ctf)
    assert len(ctf) == len([log for log in sandbox.logs(0, 10**12) if log.address == CTF_EXCHANGE_V2])
    assert rpc_call(sandbox, "eth_getLogs", query | {"topics": [ORDER_FILLED_V1]}) == []
    block = sandbox.block(expected[0].block_number)
    by_hash = rpc_call(sandbox, "eth_getLogs", {"blockHash": block.block_hash})
    assert [log["logIndex"] for log in by_hash] == [hex(log.log_index) for log in block.logs]


def test_rpc_log_fields_match_a_real_node() -> None:
    sandbox, _ = make()
    sandbox.mine(5)
    real = fixture("log_v1_ctf_buy_maker.json")
    logs = rpc_call(sandbox, "eth_getLogs", {"fromBlock": hex(sandbox.start_block)})
    assert logs
    for log in logs:
        assert list(log) == list(real)  # same fields, same order
        assert log["removed"] is False
        for key, value in log.items():
            if key != "removed":
                values = value if key == "topics" else [value]
                assert all(isinstance(v, str) and v.startswith("0x") and v != "0x" for v in values), key
        block = sandbox.block(int(log["blockNumber"], 16))
        assert log["blockHash"] == block.block_hash and log["blockTimestamp"] == hex(block.timestamp)
    firsts = [log for log in logs if log["logIndex"] == "0x0"]
    assert firsts and all(log["transactionIndex"] == "0x0" for log in firsts)
    order = [(int(log["blockNumber"], 16), int(log["logIndex"], 16)) for log in logs]
    assert order == sorted(order) and len(set(order)) == len(order)


def test_rpc_block_range_and_result_limits() -> None:
    sandbox, _ = make(trade_prob=0.9)
    latest = sandbox.mine(30)
    start = sandbox.start_block
    too_wide = rpc_call(sandbox, "eth_getLogs", {"fromBlock": hex(latest - 1000), "toBlock": hex(latest)})
    assert too_wide == {"code": -32005, "message": "block range is too wide, maximum is 1000"}
    assert isinstance(rpc_call(sandbox, "eth_getLogs", {"fromBlock": hex(latest - 999)}), list)
    sandbox.rpc_max_range = 10
    assert rpc_call(sandbox, "eth_getLogs", {"fromBlock": hex(start), "toBlock": hex(start + 10)}) == {
        "code": -32005,
        "message": "block range is too wide, maximum is 10",
    }
    assert rpc_call(sandbox, "eth_getLogs", {"fromBlock": hex(start + 5), "toBlock": hex(start + 4)}) == {
        "code": -32602,
        "message": "invalid block range params",
    }
    window = {"fromBlock": hex(start), "toBlock": hex(start + 9)}
    everything = rpc_call(sandbox, "eth_getLogs", window)
    assert len(everything) > 12
    sandbox.rpc_max_results = 12
    error = rpc_call(sandbox, "eth_getLogs", window)
    assert error["code"] == -32005
    fits = everything[12]["blockNumber"]  # the block of the 13th log: the suggestion stops before it
    suggested = f"[{hex(start)}, {hex(max(start, int(fits, 16) - 1))}]"
    assert error["message"] == f"query returned more than 12 results. Try with this block range {suggested}."
    low, high = suggested.strip("[]").split(", ")
    assert len(rpc_call(sandbox, "eth_getLogs", {"fromBlock": low, "toBlock": high})) <= 12
    assert rpc_call(sandbox, "eth_getLogs", {"fromBlock": "12"})["code"] == -32602
    assert rpc_call(sandbox, "eth_getLogs", {"topics": [None] * 5})["code"] == -32602
    assert rpc_call(sandbox, "eth_getLogs", {"blockHash": "0x" + "1" * 64}) == {
        "code": -32000,
        "message": "unknown block",
    }


# -- CLOB ------------------------------------------------------------------------------------


def test_book_levels_are_ordered_like_production_and_complements_agree() -> None:
    sandbox, _ = make()
    sandbox.mine(3)
    real = fixture("clob_book.json")
    market = sandbox.markets[1]
    yes, no = market.tokens

    async def body(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        single = (await client.get("/clob/book", params={"token_id": str(yes)})).json()
        batch = (await client.post("/clob/books", json=[{"token_id": str(yes)}, {"token_id": str(no)}])).json()
        assert batch[0]["bids"] == single["bids"]
        return [single, batch[1]]

    books = run(sandbox, body)
    for book in books:
        assert set(real) <= set(book)
        assert isinstance(book["timestamp"], str) and book["timestamp"].isdigit()
        assert book["market"] == market.condition_id and book["neg_risk"] is market.neg_risk
        bids = [Decimal(level["price"]) for level in book["bids"]]
        asks = [Decimal(level["price"]) for level in book["asks"]]
        assert bids == sorted(bids) and asks == sorted(asks, reverse=True)  # best is last
        assert 5 <= len(bids) <= 12 and 5 <= len(asks) <= 12
        assert bids[-1] < asks[-1]
        assert all(set(level) == {"price", "size"} for level in book["bids"] + book["asks"])
        assert all(Decimal(level["size"]) * 100 % 1 == 0 for level in book["bids"])
    yes_book, no_book = books
    assert yes_book["asset_id"] == str(yes) and no_book["asset_id"] == str(no)
    assert Decimal(yes_book["bids"][-1]["price"]) + Decimal(no_book["asks"][-1]["price"]) == 1
    assert Decimal(yes_book["asks"][-1]["price"]) + Decimal(no_book["bids"][-1]["price"]) == 1


def test_a_taker_buy_consumes_the_asks_it_walked() -> None:
    sandbox, _ = make()
    token = sandbox.markets[0].tokens[0]
    before = sandbox.book(token)
    best = before.asks[0]
    shares = best.size + before.asks[1].size / 2
    shares -= shares % Decimal("0.01")
    fill = sandbox.inject_fill(sandbox.leaders[0], token_id=token, shares=shares, price=before.asks[1].price)
    after = sandbox.book(token)
    assert after.asks[0].price == before.asks[1].price
    assert after.asks[0].size == before.asks[1].size - (shares - best.size)
    assert fill.shares == int(shares * UNIT)
    assert fill.collateral == int(shares * before.asks[1].price * UNIT)


def test_price_and_midpoint_endpoints() -> None:
    sandbox, _ = make()
    token = sandbox.markets[2].tokens[1]
    book = sandbox.book(token)

    async def body(client: httpx.AsyncClient) -> None:
        t = str(token)
        buy = (await client.get("/clob/price", params={"token_id": t, "side": "BUY"})).json()
        sell = (await client.get("/clob/price", params={"token_id": t, "side": "SELL"})).json()
        assert set(buy) == set(fixture("clob_price.json"))
        assert Decimal(buy["price"]) == book.best_bid and Decimal(sell["price"]) == book.best_ask
        mid = (await client.get("/clob/midpoint", params={"token_id": t})).json()
        assert set(mid) == set(fixture("clob_midpoint.json"))
        assert book.best_bid is not None and book.best_ask is not None
        assert Decimal(mid["mid"]) == (book.best_bid + book.best_ask) / 2
        prices = await client.post(
            "/clob/prices", json=[{"token_id": t, "side": "BUY"}, {"token_id": t, "side": "SELL"}]
        )
        assert prices.json() == {t: {"BUY": buy["price"], "SELL": sell["price"]}}
        mids = await client.post("/clob/midpoints", json=[{"token_id": t}])
        assert mids.json() == {t: mid["mid"]}
        assert (await client.get("/clob/prices")).status_code == 400
        assert (await client.get("/clob/midpoints")).status_code == 400
        missing = await client.get("/clob/book", params={"token_id": "12345"})
        assert missing.status_code == 404
        assert missing.json() == {"error": "No orderbook exists for the requested token id"}
        assert (await client.get("/clob/price", params={"token_id": "1", "side": "BUY"})).status_code == 404
        assert (await client.get("/clob/price", params={"token_id": t, "side": "UP"})).status_code == 400

    run(sandbox, body)


def test_market_metadata_endpoints() -> None:
    sandbox, _ = make()
    market = sandbox.markets[2]  # the fine-tick, even-numbered (plain CTF) market
    token = market.tokens[0]

    async def body(client: httpx.AsyncClient) -> None:
        assert (await client.get("/clob/")).json() == "OK"
        assert (await client.get("/clob/version")).json() == {"version": 2}
        clob = (await client.get(f"/clob/markets/{market.condition_id}")).json()
        assert clob["condition_id"] == market.condition_id and clob["neg_risk"] is False
        assert [t["token_id"] for t in clob["tokens"]] == [str(t) for t in market.tokens]
        assert [t["outcome"] for t in clob["tokens"]] == ["Yes", "No"]
        assert clob["minimum_tick_size"] == 0.001 and clob["minimum_order_size"] == 5
        assert clob["accepting_orders"] is True and clob["end_date_iso"].endswith("Z")
        tick = (await client.get("/clob/tick-size", params={"token_id": str(token)})).json()
        assert tick == {"minimum_tick_size": 0.001}
        neg = (await client.get("/clob/neg-risk", params={"token_id": str(token)})).json()
        assert neg == {"neg_risk": False}
        gamma = (await client.get("/gamma/markets", params={"clob_token_ids": str(token)})).json()
        real = fixture("gamma_event.json")["markets"][0]
        assert len(gamma) == 1 and set(real) <= set(gamma[0])
        row = gamma[0]
        assert isinstance(row["clobTokenIds"], str) and isinstance(row["outcomes"], str)
        assert json.loads(row["clobTokenIds"]) == [str(t) for t in market.tokens]
        assert json.loads(row["outcomes"]) == ["Yes", "No"]
        assert sum(Decimal(p) for p in json.loads(row["outcomePrices"])) == 1
        assert row["conditionId"] == market.condition_id and row["negRisk"] is False
        other = sandbox.markets[3].tokens[1]
        both = (await client.get(f"/gamma/markets?clob_token_ids={token}&clob_token_ids={other}")).json()
        assert [m["conditionId"] for m in both] == [market.condition_id, sandbox.markets[3].condition_id]
        assert both[1]["negRisk"] is True

    run(sandbox, body)


# -- simulation ------------------------------------------------------------------------------


def test_same_seed_same_chain() -> None:
    first, _ = make(seed=7)
    second, _ = make(seed=7)
    first.mine(20)
    second.mine(20)
    assert first.leaders == second.leaders
    assert get_logs(first, offset=1000) == get_logs(second, offset=1000)
    other, _ = make(seed=8)
    other.mine(20)
    assert get_logs(other) != get_logs(first)


def test_every_taker_aggregate_adds_up_its_maker_fills() -> None:
    sandbox, _ = make(trade_prob=0.8)
    sandbox.mine(30)
    by_tx: dict[str, list[Any]] = {}
    for log in sandbox.logs(0, 10**12):
        by_tx.setdefault(log.tx_hash, []).append(log)
    leaders = {pad_address(w) for w in sandbox.leaders}
    assert len(by_tx) > 20
    for logs in by_tx.values():
        aggregate = logs[-1]
        assert topic_to_address(aggregate.topics[3]) == aggregate.address  # taker = the exchange
        makers = logs[:-1]
        agg = words(aggregate.data)
        assert all(log.topics[3] == aggregate.topics[2] for log in makers)  # same taker throughout
        assert all(words(log.data)[0] != agg[0] and words(log.data)[1] == agg[1] for log in makers)
        decoded = [words(log.data) for log in logs]
        shares = [w[3] if w[0] == 0 else w[2] for w in decoded]  # BUY: taker amount
        collateral = [w[2] if w[0] == 0 else w[3] for w in decoded]
        assert sum(shares[:-1]) == shares[-1] and sum(collateral[:-1]) == collateral[-1]
        assert all(s % 10_000 == 0 and s > 0 for s in shares)
        # counterparties are never leaders: at most one leader per match
        assert len({t for log in logs for t in log.topics[2:]} & leaders) <= 1


def test_injected_taker_fill_lands_in_the_next_block() -> None:
    sandbox, clock = make()
    leader = sandbox.leaders[1]
    token = sandbox.markets[1].tokens[0]
    fill = sandbox.inject_fill(leader, token_id=token, side="BUY", shares=Decimal(20), price=Decimal("0.5"))
    assert fill.block == sandbox.latest_block() + 1
    assert sandbox.holdings(leader)[token] >= 20 * UNIT
    assert (fill.shares, fill.collateral, fill.exchange) == (20 * UNIT, 10 * UNIT, NEG_RISK_EXCHANGE_V2)
    clock.advance(sandbox.block_time_s)
    logs = get_logs(sandbox, fromBlock=fill.block, toBlock=fill.block, topic2=pad_address(leader))["result"]
    own = [log for log in logs if log["transactionHash"] == fill.tx_hash]
    assert len(own) == 1
    log = own[0]
    assert hex_int(log["logIndex"]) == fill.log_index and log["address"] == fill.exchange
    assert log["topics"][3] == pad_address(NEG_RISK_EXCHANGE_V2)
    side, token_id, maker_amount, taker_amount, fee, _, _ = words(log["data"])
    assert (side, token_id, maker_amount, taker_amount, fee) == (0, token, 10 * UNIT, 20 * UNIT, fill.fee)


def test_injected_maker_sell_and_spoof() -> None:
    sandbox, _ = make(trade_prob=0.0, noise_prob=0.0)
    leader = sandbox.leaders[0]
    token = sandbox.markets[0].tokens[1]
    best_ask = sandbox.book(token).best_ask
    maker = sandbox.inject_fill(leader, token_id=token, side="SELL", shares=Decimal(7), as_taker=False)
    spoof = sandbox.inject_fill(leader, token_id=token, spoof=True)
    sandbox.mine()
    block = sandbox.block(maker.block).logs
    assert [log.tx_hash for log in block] == [maker.tx_hash] * 2 + [spoof.tx_hash] * 2
    own = block[maker.log_index]
    assert own.tx_hash == maker.tx_hash and own.topics[2] == pad_address(leader)
    assert own.topics[3] == block[maker.log_index + 1].topics[2]  # the counterparty took it
    assert words(own.data)[:4] == [1, token, 7 * UNIT, maker.collateral]
    assert maker.price == best_ask and maker.exchange == CTF_EXCHANGE_V2
    spoofed = block[spoof.log_index]
    assert spoofed.address == spoof.exchange == sandbox.spoofer and spoofed.address not in EXCHANGES
    assert spoofed.topics[2] == pad_address(leader) and spoof.spoof
    assert get_logs(sandbox, address=sandbox.spoofer)["result"][-1]["transactionHash"] == spoof.tx_hash
    with pytest.raises(ValueError, match="unknown token"):
        sandbox.inject_fill(leader, token_id=123)


# -- serving ---------------------------------------------------------------------------------


def test_served_over_loopback_with_injection_from_another_thread() -> None:
    sandbox, _ = make(block_time_s=3600)  # the ManualClock never moves: blocks come from /mine
    with serve_in_thread(sandbox) as running, httpx.Client(timeout=5) as client:
        assert running.base_url.startswith("http://127.0.0.1:")
        assert client.get(running.urls["clob"] + "/version").json() == {"version": 2}
        assert running.urls["rpc"] == running.base_url + "/rpc"
        chain_id = client.post(running.urls["rpc"], json={"jsonrpc": "2.0", "id": 5, "method": "eth_chainId"})
        assert chain_id.json() == {"jsonrpc": "2.0", "id": 5, "result": "0x89"}
        state = client.get(running.base_url + "/_sandbox/state").json()
        assert state["urls"] == running.urls
        assert state["leaders"] == sandbox.leaders and state["latest_block"] == sandbox.start_block
        assert state["markets"][0]["tokens"] == [str(t) for t in sandbox.markets[0].tokens]
        leader = sandbox.leaders[2]
        injected = client.post(running.base_url + "/_sandbox/inject", json={"leader": leader}).json()
        assert isinstance(injected["token_id"], str) and injected["block"] == sandbox.start_block + 1
        direct = sandbox.inject_fill(leader, shares=Decimal("12.5"))
        mined = client.post(running.base_url + "/_sandbox/mine", json={"n": 1}).json()
        assert mined == {"latest_block": sandbox.start_block + 1}
        params = es_params(module="logs", action="getLogs", fromBlock=mined["latest_block"], toBlock="latest")
        params |= {"topic0": ORDER_FILLED_V2, "topic2": pad_address(leader), "topic0_2_opr": "and"}
        logs = client.get(running.urls["etherscan"], params=params).json()["result"]
        hashes = [log["transactionHash"] for log in logs if topic_to_address(log["topics"][3]) in EXCHANGES]
        assert hashes[:2] == [injected["tx_hash"], direct.tx_hash]
        gamma = client.get(running.urls["gamma"] + "/markets", params={"clob_token_ids": injected["token_id"]})
        assert len(gamma.json()) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.base_url + "/clob/", timeout=1)


def test_serve_in_the_callers_loop_until_cancelled() -> None:
    sandbox, _ = make()

    async def main() -> Any:
        ready: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        task = asyncio.create_task(serve(sandbox, "127.0.0.1", 0, on_ready=ready.put_nowait))
        urls = await asyncio.wait_for(ready.get(), timeout=5)
        async with httpx.AsyncClient(timeout=5) as client:
            version = (await client.get(urls["clob"] + "/version")).json()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return version

    assert asyncio.run(main()) == {"version": 2}
