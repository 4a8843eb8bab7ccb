"""The sandbox misbehaving on purpose: injected faults with their exact wire answers, latency,
Etherscan's 3 calls/s, request counters, and chain reorganisations seen alike by both log APIs."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from copybot.protocol import ORDER_FILLED_V2, pad_address
from copybot.sandbox import Faults, Sandbox, mixed_faults, serve_in_thread
from tests.support.wire import ES, es_params, fixture, get_logs, hex_int, make, rpc, rpc_call, run

RATE_LIMIT_BODY = fixture("etherscan_error_rate_limit.json")


def one_request(sandbox: Sandbox, upstream: str, rpc_payload: Any = None) -> httpx.Response:
    """A typical request to one upstream, answered in-process."""

    async def body(client: httpx.AsyncClient) -> httpx.Response:
        if upstream == "etherscan":
            return await client.get(ES, params=es_params(module="proxy", action="eth_blockNumber"))
        if upstream == "rpc":
            payload = rpc_payload or {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []}
            return await client.post("/rpc", json=payload)
        if upstream == "clob":
            return await client.get("/clob/version")
        return await client.get("/gamma/markets", params={"clob_token_ids": str(sandbox.markets[0].tokens[0])})

    response: httpx.Response = run(sandbox, body)
    return response


def leader_logs_both_ways(sandbox: Sandbox, leader: str, first: int, last: int) -> tuple[list[Any], list[Any]]:
    """The leader's maker logs in ``[first, last]`` from Etherscan and from eth_getLogs."""
    topic = pad_address(leader)
    found = get_logs(sandbox, fromBlock=first, toBlock=last, topic0=ORDER_FILLED_V2, topic2=topic, topic0_2_opr="and")
    by_etherscan = found["result"] if found["status"] == "1" else []
    query = {"fromBlock": hex(first), "toBlock": hex(last), "topics": [ORDER_FILLED_V2, None, topic]}
    return by_etherscan, rpc_call(sandbox, "eth_getLogs", query)


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", ["etherscan", "rpc", "clob", "gamma"])
def test_each_fault_kind_gives_its_exact_answer(upstream: str) -> None:
    sandbox, _ = make()
    normal = one_request(sandbox, upstream)
    assert normal.status_code == 200

    def answer(**faults: float) -> httpx.Response:
        sandbox.set_faults(upstream, Faults(**faults))
        return one_request(sandbox, upstream)

    as_json = upstream in ("clob", "gamma")  # their errors are {"error": ...}; the others send text
    too_many = answer(http_429=1.0)
    assert too_many.status_code == 429 and too_many.headers["retry-after"] == "1"
    assert too_many.json() == {"error": "Too Many Requests"} if as_json else too_many.text == "Too Many Requests"
    phrases = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    for _ in range(4):
        failed = answer(http_5xx=1.0)
        phrase = phrases[failed.status_code]
        assert failed.json() == {"error": phrase} if as_json else failed.text == phrase
    started = time.perf_counter()
    timed_out = answer(timeout=1.0, hang_s=0.05)
    assert time.perf_counter() - started >= 0.05
    assert timed_out.status_code == 504
    broken = answer(malformed=1.0)
    assert broken.status_code == 200 and broken.headers["content-type"] == "application/json"
    assert normal.content.startswith(broken.content) and 0 < len(broken.content) < len(normal.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    if upstream == "etherscan":
        limited = answer(rate_limit_body=1.0)
        assert (limited.status_code, limited.json()) == (200, RATE_LIMIT_BODY)
    elif upstream == "rpc":
        limited = answer(rate_limit_body=1.0)
        error = {"code": -32005, "message": "rate limit exceeded"}
        assert (limited.status_code, limited.json()) == (200, {"jsonrpc": "2.0", "id": 7, "error": error})
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in (1, 2)]
        assert one_request(sandbox, "rpc", batch).json() == [
            {"jsonrpc": "2.0", "id": i, "error": error} for i in (1, 2)
        ]
    else:
        with pytest.raises(ValueError, match="no rate-limit body"):
            sandbox.set_faults(upstream, Faults(rate_limit_body=1.0))
    assert answer().content == normal.content  # back to normal
    counted = sandbox.stats()["faults"]
    assert counted[upstream, "http_429"] == 1 and counted[upstream, "http_5xx"] == 4
    assert counted[upstream, "timeout"] == counted[upstream, "malformed"] == 1
    assert sum(n for (where, _), n in counted.items() if where != upstream) == 0


def test_faults_are_validated_and_never_touch_the_controls() -> None:
    with pytest.raises(ValueError, match="more than 1"):
        Faults(http_429=0.6, timeout=0.5)
    with pytest.raises(ValueError):
        Faults(malformed=-0.1)
    with pytest.raises(ValueError, match="unknown upstream"):
        Sandbox(faults={"polygonscan": Faults()})
    sandbox, _ = make(faults={u: Faults(http_5xx=1.0) for u in ("etherscan", "rpc", "clob", "gamma")})
    assert one_request(sandbox, "clob").status_code in (500, 502, 503)

    async def controls(client: httpx.AsyncClient) -> None:
        assert (await client.get("/_sandbox/state")).status_code == 200
        set_rpc = await client.post("/_sandbox/faults", json={"upstream": "rpc", "http_429": 1, "latency_ms": 0.5})
        assert set_rpc.status_code == 200
        assert set_rpc.json()["rpc"] == Faults(http_429=1.0, latency_ms=0.5).to_json()
        assert (await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})).status_code == 429
        bad = await client.post("/_sandbox/faults", json={"upstream": "rpc", "http_439": 1})
        assert bad.status_code == 400 and "http_439" in bad.json()["error"]
        assert (
            await client.post("/_sandbox/faults", json={"upstream": "clob", "rate_limit_body": 1})
        ).status_code == 400
        assert (await client.post("/_sandbox/faults", json={"http_429": 1})).status_code == 400
        await client.post("/_sandbox/faults", json={"upstream": "rpc"})  # no fields: behave again
        assert (await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})).status_code == 200
        stats = (await client.get("/_sandbox/stats")).json()
        assert stats["faults"] == {"clob": {"http_5xx": 1}, "rpc": {"http_429": 1}}
        assert stats["requests"]["rpc"] == {"eth_chainId": 2}

    run(sandbox, controls)


def test_latency_delays_every_request_of_its_upstream_on_the_sandbox_clock() -> None:
    sandbox, clock = make(seed=3, faults={"rpc": Faults(latency_ms=30)})
    for upstream, delay in (("rpc", 0.03), ("clob", 0.0)):
        started = clock.monotonic()
        for _ in range(3):
            assert one_request(sandbox, upstream).status_code == 200
        assert clock.monotonic() - started == pytest.approx(3 * delay)


def test_a_seeded_fault_mix_is_reproducible() -> None:
    mix = Faults(http_429=0.15, http_5xx=0.2, rate_limit_body=0.15, malformed=0.15)

    def answers(seed: int) -> tuple[list[tuple[int, bytes]], dict[str, Any]]:
        sandbox, _ = make(seed=seed, faults={"etherscan": mix, "rpc": mix})
        seen = [(r.status_code, r.content) for r in (one_request(sandbox, u) for u in ["rpc", "etherscan", "rpc"] * 12)]
        return seen, sandbox.stats()

    first, first_stats = answers(11)
    again, again_stats = answers(11)
    assert first == again and first_stats == again_stats
    assert len({status for status, _ in first}) >= 3  # a real mix: several kinds of answer
    assert 0 < sum(first_stats["faults"].values()) < 36
    other, _ = answers(12)
    assert other != first
    split = mixed_faults(0.5, latency_ms=5)
    assert split["etherscan"] == Faults(
        latency_ms=5, http_5xx=0.2, http_429=0.1, rate_limit_body=0.1, timeout=0.05, malformed=0.05
    )
    assert split["rpc"].http_5xx == pytest.approx(0.3) and split["rpc"].rate_limit_body == 0


def test_a_hanging_request_does_not_hold_up_shutdown() -> None:
    sandbox, _ = make(faults={"clob": Faults(timeout=1.0)})  # hangs 30 s unless released
    with serve_in_thread(sandbox) as running:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(running.urls["clob"] + "/version", timeout=0.2)  # a client that gives up
        answers: list[int] = []
        patient = threading.Thread(
            target=lambda: answers.append(httpx.get(running.urls["clob"] + "/version", timeout=20).status_code)
        )
        patient.start()
        time.sleep(0.2)
        started = time.perf_counter()
    patient.join(timeout=5)
    assert time.perf_counter() - started < 3
    assert answers == [504]


# -- Etherscan's rate limit and the counters ------------------------------------------------


def test_etherscan_allows_three_calls_per_second_per_key() -> None:
    sandbox, clock = make(etherscan_rate_limit=3.0)

    def block_number(key: str = "sandbox-key") -> Any:
        params = es_params(module="proxy", action="eth_blockNumber", apikey=key)

        async def body(client: httpx.AsyncClient) -> Any:
            response = await client.get(ES, params=params)
            assert response.status_code == 200
            return response.json()

        return run(sandbox, body)

    assert all("result" in block_number() for _ in range(3))
    assert block_number() == RATE_LIMIT_BODY
    assert block_number("another-key")["result"] == "Invalid API Key"  # its own allowance
    clock.advance(0.6)
    assert block_number() == RATE_LIMIT_BODY  # the window slides: the first calls are 0.6 s old
    clock.advance(0.4)
    assert all(block_number()["jsonrpc"] == "2.0" for _ in range(3))
    assert block_number() == RATE_LIMIT_BODY
    stats = sandbox.stats()
    assert stats["rate_limited"] == 3
    assert stats["requests"]["etherscan", "proxy.eth_blockNumber"] == 10
    sandbox.etherscan_rate_limit = None
    clock.advance(0.5)
    assert all("result" in block_number() for _ in range(5))
    assert sandbox.stats()["rate_limited"] == 3


def test_requests_are_counted_per_upstream_and_label() -> None:
    sandbox, _ = make()
    token = str(sandbox.markets[0].tokens[0])

    async def traffic(client: httpx.AsyncClient) -> None:
        await client.get(ES, params=es_params(module="logs", action="getLogs", fromBlock=1))
        await client.get(ES, params=es_params(module="proxy", action="eth_blockNumber"))
        await client.post("/rpc", json=[{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(3)])
        await client.post("/rpc", json={"jsonrpc": "2.0", "id": 9, "method": "eth_getLogs", "params": [{}]})
        await client.get("/clob/book", params={"token_id": token})
        await client.get("/clob/book", params={"token_id": token})
        await client.get("/gamma/markets")
        await client.get("/_sandbox/state")

    run(sandbox, traffic)
    assert sandbox.stats() == {
        "requests": {
            ("etherscan", "logs.getLogs"): 1,
            ("etherscan", "proxy.eth_blockNumber"): 1,
            ("rpc", "eth_blockNumber"): 3,
            ("rpc", "eth_getLogs"): 1,
            ("clob", "/book"): 2,
            ("gamma", "/markets"): 1,
        },
        "rate_limited": 0,
        "faults": {},
        "reorgs": 0,
    }
    sandbox.reset_stats()
    assert sandbox.stats() == {"requests": {}, "rate_limited": 0, "faults": {}, "reorgs": 0}


# -- reorgs ----------------------------------------------------------------------------------


def test_a_reorg_reshuffles_the_last_blocks_and_drops_what_it_is_told() -> None:
    sandbox, _ = make(trade_prob=0.9)
    sandbox.mine(4)
    leader = sandbox.leaders[0]
    kept = sandbox.inject_fill(leader, shares=Decimal(11))
    dropped = sandbox.inject_fill(leader, shares=Decimal(12), as_taker=False)
    sandbox.mine(1)
    latest = sandbox.mine(1)
    first = latest - 1
    assert kept.block == dropped.block == first
    before = {n: sandbox.block(n) for n in range(first - 1, latest + 1)}
    for mine in leader_logs_both_ways(sandbox, leader, first, latest):
        assert {log["transactionHash"] for log in mine} >= {kept.tx_hash, dropped.tx_hash}

    assert sandbox.reorg(depth=2, drop=[dropped.tx_hash.upper().replace("0X", "0x")]) == [first, latest]
    assert sandbox.latest_block() == latest
    after = {n: sandbox.block(n) for n in range(first - 1, latest + 1)}
    assert after[first - 1] == before[first - 1]
    for n in (first, latest):
        assert after[n].block_hash != before[n].block_hash and after[n].timestamp == before[n].timestamp
        assert after[n].parent_hash == after[n - 1].block_hash
        assert [log.log_index for log in after[n].logs] == list(range(len(after[n].logs)))
    txs_before = {tx for n in (first, latest) for tx in before[n].txs}
    txs_after = {tx for n in (first, latest) for tx in after[n].txs}
    assert txs_after == {tx for tx in txs_before if tx.tx_hash != dropped.tx_hash}
    assert sandbox.stats()["reorgs"] == 1

    by_etherscan, by_rpc = leader_logs_both_ways(sandbox, leader, first, latest)
    for mine in (by_etherscan, by_rpc):
        hashes = [log["transactionHash"] for log in mine]
        assert dropped.tx_hash not in hashes and hashes.count(kept.tx_hash) == 1
    [via_etherscan] = [log for log in by_etherscan if log["transactionHash"] == kept.tx_hash]
    [via_rpc] = [log for log in by_rpc if log["transactionHash"] == kept.tx_hash]
    assert (
        via_etherscan["blockHash"] == via_rpc["blockHash"] == sandbox.block(int(via_rpc["blockNumber"], 16)).block_hash
    )
    assert hex_int(via_etherscan["logIndex"]) == int(via_rpc["logIndex"], 16)
    # the old blocks are gone for every reader
    assert rpc_call(sandbox, "eth_getLogs", {"blockHash": before[first].block_hash})["code"] == -32000
    assert rpc_call(sandbox, "eth_getBlockByNumber", hex(first), False)["hash"] == after[first].block_hash
    with pytest.raises(ValueError, match="depth"):
        sandbox.reorg(depth=0)
    with pytest.raises(ValueError, match="not in the last 1 blocks"):
        sandbox.reorg(depth=1, drop=["0x" + "ab" * 32])


def test_reorgs_are_deterministic_and_drivable_over_http() -> None:
    def chain(seed: int) -> list[Any]:
        sandbox, _ = make(seed=seed, trade_prob=0.8)
        sandbox.mine(6)
        drop = sandbox.block(sandbox.latest_block()).txs[0].tx_hash

        async def control(client: httpx.AsyncClient) -> Any:
            answer = await client.post("/_sandbox/reorg", json={"depth": 3, "drop": [drop]})
            assert (await client.post("/_sandbox/reorg", json={"depth": 99})).status_code == 400
            return answer.json()

        latest = sandbox.latest_block()
        assert run(sandbox, control) == {"replaced": [latest - 2, latest - 1, latest], "latest_block": latest}
        sandbox.reorg(2)
        logs: list[Any] = rpc_call(sandbox, "eth_getLogs", {"fromBlock": hex(sandbox.start_block)})
        return logs

    assert chain(4) == chain(4)
    assert chain(4) != chain(5)


def test_automatic_reorgs_keep_the_activity_and_the_hash_chain() -> None:
    plain, _ = make(seed=9, trade_prob=0.8)
    shaky, _ = make(seed=9, trade_prob=0.8, reorg_every=3)
    for sandbox in (plain, shaky):
        sandbox.mine(12)
    assert shaky.stats()["reorgs"] == 3  # before blocks 4, 7 and 10 were mined
    blocks = [shaky.block(n) for n in range(shaky.start_block, shaky.latest_block() + 1)]
    assert all(b.parent_hash == a.block_hash for a, b in zip(blocks, blocks[1:], strict=False))
    plain_blocks = [plain.block(b.number) for b in blocks]
    assert [b.block_hash for b in blocks] != [b.block_hash for b in plain_blocks]
    # the reorgs only moved transactions around: the same ones, in the same number of blocks
    assert sorted(tx.tx_hash for b in blocks for tx in b.txs) == sorted(
        tx.tx_hash for b in plain_blocks for tx in b.txs
    )
    assert rpc(shaky, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"})["result"] == hex(plain.latest_block())
    again, _ = make(seed=9, trade_prob=0.8, reorg_every=3)
    again.mine(12)
    assert [again.block(b.number) for b in blocks] == blocks
