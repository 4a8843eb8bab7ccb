"""Talking to the sandbox in process (httpx's ASGI transport): Etherscan, JSON-RPC and the CLOB as
the wire-format tests see them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from copybot.clock import ManualClock
from copybot.sandbox import Sandbox
from tests.support.fixtures import load_fixture

KEY = "sandbox-key"
ES = "/etherscan/v2/api"


def fixture(name: str) -> Any:
    return load_fixture(name)


def words(data: str) -> list[int]:
    body = data.removeprefix("0x")
    return [int(body[i : i + 64], 16) for i in range(0, len(body), 64)]


def hex_int(value: str) -> int:
    return 0 if value == "0x" else int(value, 16)


def make(seed: int = 1, **kwargs: Any) -> tuple[Sandbox, ManualClock]:
    """A sandbox on a manual clock; Etherscan's 3 calls/s is off unless asked for (the clock
    does not move between a test's calls)."""
    clock = ManualClock()
    kwargs.setdefault("etherscan_rate_limit", None)
    return Sandbox(seed=seed, clock=clock, **kwargs), clock


def run(sandbox: Sandbox, body: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """Drive the app in-process through httpx's ASGI transport."""

    async def main() -> Any:
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return await body(client)

    return asyncio.run(main())


def es_params(**params: Any) -> dict[str, Any]:
    return {"chainid": "137", "apikey": KEY, **params}


def get_logs(sandbox: Sandbox, **params: Any) -> dict[str, Any]:
    query = es_params(module="logs", action="getLogs", fromBlock=sandbox.start_block, toBlock="latest")
    query.update(params)

    async def body(client: httpx.AsyncClient) -> dict[str, Any]:
        response = await client.get(ES, params=query)
        assert response.status_code == 200
        return dict(response.json())

    return dict(run(sandbox, body))


def rpc(sandbox: Sandbox, payload: Any) -> Any:
    """POST a JSON-RPC payload (a call or a batch) to ``/rpc``; the parsed answer."""

    async def body(client: httpx.AsyncClient) -> Any:
        response = await client.post("/rpc", json=payload)
        assert response.status_code == 200
        return response.json()

    return run(sandbox, body)


def rpc_call(sandbox: Sandbox, method: str, *params: Any) -> Any:
    """One call's ``result``, or its whole ``error`` object."""
    answer = rpc(sandbox, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
    return answer["error"] if "error" in answer else answer["result"]
