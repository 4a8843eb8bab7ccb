"""A hostile upstream: Etherscan, JSON-RPC, CLOB and Gamma on one loopback port, answering
whatever the test puts in its :class:`Scenario` (huge, deeply nested, wrongly typed bodies).

Served by uvicorn in a daemon thread, so both sources meet it over real HTTP (the RPC source
goes through web3's aiohttp session, which an httpx transport cannot reach).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from copybot.models import Side
from copybot.protocol import CTF_EXCHANGE_V2, ORDER_FILLED_V2, pad_address

LEADER = "0x2f633efb75256a2f2445110c8978684ab8936643"
TAKER = "0x5a3c1e2b9f6d4a8e7c0b1d2f3e4a5b6c7d8e9f00"
TOKEN = 71321045679252212594626385532706912750332728571942532289631379312455583992563
CONDITION = "0x" + "c0" * 32
HEAD = 95_000_100
NOW = 1_790_000_000.0  # the ManualClock's start: logs are stamped at it, so they are fresh


def word(value: int) -> str:
    return f"{value % 2**256:064x}"  # negative numbers as the chain would carry them: two's complement


def fill_log(
    *,
    block: int = HEAD - 2,
    log_index: int = 3,
    side: Side = Side.BUY,
    maker_amount: int = 5_000_000,  # BUY: pUSD paid; SELL: shares sold
    taker_amount: int = 10_000_000,  # BUY: shares received; SELL: pUSD received
    exchange: str = CTF_EXCHANGE_V2,
    maker: str = LEADER,
    tx: str = "0x" + "ab" * 32,
) -> dict[str, Any]:
    """A well-formed V2 OrderFilled of LEADER in the Etherscan shape (the RPC shape decodes too)."""
    data = "0x" + "".join(word(w) for w in (0 if side is Side.BUY else 1, TOKEN, maker_amount, taker_amount, 0, 0, 0))
    return {
        "address": exchange,
        "topics": [ORDER_FILLED_V2, "0x" + "11" * 32, pad_address(maker), pad_address(TAKER)],
        "data": data,
        "blockNumber": hex(block),
        "blockHash": "0x" + "bb" * 32,
        "timeStamp": hex(int(NOW)),
        "gasPrice": "0x1",
        "gasUsed": "0x1",
        "logIndex": hex(log_index),
        "transactionHash": tx,
        "transactionIndex": "0x1",
    }


def good_book(**override: Any) -> dict[str, Any]:
    return {
        "market": CONDITION,
        "asset_id": str(TOKEN),
        "bids": [{"price": "0.49", "size": "1000"}],
        "asks": [{"price": "0.51", "size": "1000"}],
        "tick_size": "0.01",
        "min_order_size": "5",
        "neg_risk": False,
        "timestamp": str(int(NOW * 1000)),
        **override,
    }


@dataclass
class Scenario:
    """What each endpoint answers: a JSON value, or ``bytes`` sent as they are."""

    head: int = HEAD
    logs: list[Any] = field(default_factory=list)
    logs_body: Any = None  # replaces the whole getLogs / eth_getLogs answer
    book: Any = field(default_factory=good_book)
    prices: Any = field(default_factory=dict)
    gamma: Any = field(default_factory=list)
    hang_s: float = 0.0  # getLogs / eth_getLogs answer only after this long (a node that hangs)
    requests: Counter[str] = field(default_factory=Counter)


def _answer(value: Any) -> Response:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Response(body, media_type="application/json")


def build_app(scenario: Scenario) -> Starlette:
    async def etherscan(request: Request) -> Response:
        action = request.query_params.get("action", "")
        scenario.requests[f"etherscan:{action}"] += 1
        if action == "eth_blockNumber":
            return _answer({"jsonrpc": "2.0", "id": 83, "result": hex(scenario.head)})
        await asyncio.sleep(scenario.hang_s)
        if scenario.logs_body is not None:
            return _answer(scenario.logs_body)
        if not scenario.logs:
            return _answer({"status": "0", "message": "No records found", "result": []})
        return _answer({"status": "1", "message": "OK", "result": scenario.logs})

    async def rpc(request: Request) -> Response:
        call = json.loads(await request.body())
        method, rid = call.get("method"), call.get("id")
        scenario.requests[f"rpc:{method}"] += 1
        if method == "eth_blockNumber":
            return _answer({"jsonrpc": "2.0", "id": rid, "result": hex(scenario.head)})
        if method == "eth_getLogs":
            await asyncio.sleep(scenario.hang_s)
            body = scenario.logs_body
            if isinstance(body, dict) and "jsonrpc" in body:
                body = {**body, "id": rid}
            if body is not None:
                return _answer(body)
            return _answer({"jsonrpc": "2.0", "id": rid, "result": scenario.logs})
        if method == "eth_chainId":
            return _answer({"jsonrpc": "2.0", "id": rid, "result": "0x89"})
        return _answer({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "method not found"}})

    async def book(request: Request) -> Response:
        scenario.requests["clob:book"] += 1
        return _answer(scenario.book)

    async def books(request: Request) -> Response:
        scenario.requests["clob:books"] += 1  # the scenario's book for the token asked (there is one token)
        return _answer(scenario.book if isinstance(scenario.book, bytes) else [scenario.book])

    async def prices(request: Request) -> Response:
        scenario.requests["clob:prices"] += 1
        return _answer(scenario.prices)

    async def market(request: Request) -> Response:
        return _answer({"condition_id": request.path_params["cid"], "closed": False, "tokens": []})

    async def gamma(request: Request) -> Response:
        scenario.requests["gamma:markets"] += 1
        return _answer(scenario.gamma)

    return Starlette(
        routes=[
            Route("/etherscan", etherscan),
            Route("/rpc", rpc, methods=["POST"]),
            Route("/clob/book", book),
            Route("/clob/books", books, methods=["POST"]),
            Route("/clob/prices", prices, methods=["POST"]),
            Route("/clob/markets/{cid}", market),
            Route("/gamma/markets", gamma),
        ]
    )


@contextmanager
def serve(scenario: Scenario) -> Iterator[str]:
    """Serve the hostile app on 127.0.0.1 (a free port) in a daemon thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        build_app(scenario), log_level="critical", access_log=False, lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hostile upstream did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
