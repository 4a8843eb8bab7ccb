"""``/_sandbox``: the controls tests, the demo and a human drive the sandbox with. Never gated.

``GET state``, ``POST inject``, ``POST mine``, ``POST reorg`` (``{"depth": 2, "drop": [tx…]}``),
``GET/POST faults`` (``{"upstream": "rpc", "latency_ms": 50, …}``), ``GET stats``,
``POST stats/reset``, ``POST fund`` (``{"address": "0x…", "usdc": "100", "owner": "0x…"?}``),
``GET balances?address=0x…``, ``POST resolve`` (``{"condition_id": "0x…", "winning_token_id": "…"}``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .faults import Faults, stats_json
from .web import BadRequest, json_body, parse_token

if TYPE_CHECKING:
    from .core import Sandbox


def urls_for(base_url: str) -> dict[str, str]:
    """Where each simulated upstream lives on one sandbox port."""
    return {
        "etherscan": base_url + "/etherscan/v2/api",
        "clob": base_url + "/clob",
        "gamma": base_url + "/gamma",
        "rpc": base_url + "/rpc",
        "relayer": base_url + "/relayer",
        "data": base_url + "/data",
    }


async def _object(request: Request) -> dict[str, Any]:
    body = await json_body(request) if await request.body() else {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def control_routes(sandbox: Sandbox) -> list[Route]:
    async def state(request: Request) -> JSONResponse:
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(sandbox.state() | {"urls": urls_for(base)})

    async def inject(request: Request) -> JSONResponse:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("leader"), str):
            raise BadRequest("body must be an object with a leader address")
        token = body.get("token_id")
        price = body.get("price")
        try:
            fill = sandbox.inject_fill(
                body["leader"],
                token_id=None if token is None else parse_token(token),
                side=str(body.get("side", "BUY")),
                shares=Decimal(str(body.get("shares", 10))),
                price=None if price is None else Decimal(str(price)),
                as_taker=bool(body.get("as_taker", True)),
                spoof=bool(body.get("spoof", False)),
            )
        except (ValueError, InvalidOperation) as exc:
            raise BadRequest(str(exc)) from exc
        return JSONResponse(fill.to_json())

    async def mine(request: Request) -> JSONResponse:
        n = (await _object(request)).get("n", 1)
        if not isinstance(n, int) or not 0 <= n <= 10_000:
            raise BadRequest("n must be an integer from 0 to 10000")
        return JSONResponse({"latest_block": sandbox.mine(n)})

    async def reorg(request: Request) -> JSONResponse:
        body = await _object(request)
        depth, drop = body.get("depth", 1), body.get("drop", [])
        if not isinstance(depth, int) or not isinstance(drop, list) or not all(isinstance(h, str) for h in drop):
            raise BadRequest("depth must be an integer and drop a list of transaction hashes")
        try:
            replaced = sandbox.reorg(depth, drop)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        return JSONResponse({"replaced": replaced, "latest_block": sandbox.latest_block()})

    async def faults(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await _object(request)
            upstream = body.pop("upstream", None)
            if not isinstance(upstream, str):
                raise BadRequest("body must name an upstream")
            values = {k: float(v) if isinstance(v, Decimal) else v for k, v in body.items()}
            try:
                sandbox.set_faults(upstream, Faults.from_json(values))
            except (ValueError, TypeError) as exc:
                raise BadRequest(str(exc)) from exc
        return JSONResponse({u: f.to_json() for u, f in sandbox.monitor.all_faults().items()})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(stats_json(sandbox.stats()))

    async def reset_stats(request: Request) -> JSONResponse:
        sandbox.reset_stats()
        return JSONResponse(stats_json(sandbox.stats()))

    async def fund(request: Request) -> JSONResponse:
        body = await _object(request)
        address, owner = body.get("address"), body.get("owner")
        if not isinstance(address, str) or not (owner is None or isinstance(owner, str)):
            raise BadRequest("body must name an address (and optionally its owner)")
        try:
            sandbox.fund(address, Decimal(str(body.get("usdc"))), owner=owner)
        except (ValueError, InvalidOperation) as exc:
            raise BadRequest(str(exc)) from exc
        return JSONResponse(sandbox.balances(address).to_json())

    async def balances(request: Request) -> JSONResponse:
        try:
            return JSONResponse(sandbox.balances(request.query_params.get("address", "")).to_json())
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc

    async def resolve(request: Request) -> JSONResponse:
        body = await _object(request)
        condition_id = body.get("condition_id")
        if not isinstance(condition_id, str):
            raise BadRequest("body must name a condition_id and a winning_token_id")
        try:
            sandbox.resolve(condition_id, parse_token(body.get("winning_token_id")))
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        return JSONResponse({"condition_id": condition_id.lower(), "winning_token_id": str(body["winning_token_id"])})

    return [
        Route("/state", state),
        Route("/fund", fund, methods=["POST"]),
        Route("/balances", balances),
        Route("/resolve", resolve, methods=["POST"]),
        Route("/inject", inject, methods=["POST"]),
        Route("/mine", mine, methods=["POST"]),
        Route("/reorg", reorg, methods=["POST"]),
        Route("/faults", faults, methods=["GET", "POST"]),
        Route("/stats", stats),
        Route("/stats/reset", reset_stats, methods=["POST"]),
    ]
