"""The CLOB's authenticated routes (and the public ones ``polymarket-client`` needs to build an
order), on top of :class:`~copybot.sandbox.trading.Clob`.

L1 (wallet signature): ``POST /auth/api-key`` (400 ``Could not create api key`` if it exists),
``GET /auth/derive-api-key`` → ``{"apiKey", "secret", "passphrase"}``. ``GET /auth/api-keys`` (L2)
lists the caller's keys, ``{"apiKeys": [key, …]}``: ``polymarket-client`` asks it to check the
credentials it was given before trading with them.

L2 (API key HMAC; 401 ``Unauthorized/Invalid api key``): ``POST /order``, ``POST /orders``
(a list; one answer per order, failures as ``{"success": false, "errorMsg": …}`` with HTTP 200),
``DELETE /order`` ``{"orderID"}``, ``DELETE /orders`` ``[ids]``, ``DELETE /cancel-all`` →
``{"canceled": [...], "not_canceled": {id: reason}}``; ``GET /data/order/{id}``;
``GET /data/orders`` and ``GET /data/trades`` (filters ``id``, ``market``, ``asset_id``, and for
trades ``maker_address``, ``before``, ``after``) → ``{"data", "next_cursor", "limit", "count"}``
with base64 offset cursors (``"MA=="`` first, ``"LTE="`` after the last page);
``GET /balance-allowance`` and ``GET /balance-allowance/update`` (``asset_type``
COLLATERAL|CONDITIONAL, ``token_id``, ``signature_type``) → ``{"balance": "<base units>",
"allowances": {exchange: max}}``; update refreshes the cached view first.

Public: ``GET /clob-markets/{condition_id}`` (``{"c", "t": [{"t", "o"}], "mts", "mos", "nr",
"fd", "mbf", "tbf", "ao"}``, what the client caches tick size and neg-risk from),
``GET /markets-by-token/{token_id}``, ``GET /fee-rate``, ``GET /time``, ``GET /ok``.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from copybot.protocol import CTF_EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, checksum

from .auth import ApiKey, recover_l1
from .gate import route_path
from .ledger import COLLATERAL, MAX_ALLOWANCE
from .market_events import winner
from .orders import OrderError
from .trading import FAK_NOT_FILLED, FOK_NOT_FILLED
from .web import BadRequest, json_body, parse_token

if TYPE_CHECKING:
    from .core import Sandbox

NEG_RISK_ADAPTER: Final = "0xd91e80cf2e7be2e162c6513ced06f1da0da35296"
SPENDERS: Final = (CTF_EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, NEG_RISK_ADAPTER)
END_CURSOR: Final = "LTE="
MAX_BATCH: Final = 15


def _cursor(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        offset = int(base64.b64decode(raw, validate=True).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("Invalid next_cursor") from exc
    if offset < 0:
        raise BadRequest("Invalid next_cursor")
    return offset


def page(items: list[dict[str, Any]], raw_cursor: str | None, size: int) -> dict[str, Any]:
    """One page of ``items`` in production's envelope."""
    start = _cursor(raw_cursor)
    chunk = items[start : start + size]
    end = start + len(chunk)
    following = base64.b64encode(str(end).encode()).decode() if end < len(items) else END_CURSOR
    return {"data": chunk, "next_cursor": following, "limit": size, "count": len(chunk)}


def _num(value: Decimal) -> int | float:
    """A JSON number, as production sends tick and minimum sizes (exact: at most 6 decimals)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _failure(message: str) -> dict[str, Any]:
    return {
        "success": False,
        "orderID": "",
        "status": "",
        "makingAmount": "",
        "takingAmount": "",
        "transactionsHashes": [],
        "tradeIDs": [],
        "errorMsg": message,
    }


def trading_routes(sandbox: Sandbox) -> list[Route]:
    clob = sandbox.clob

    async def l2(request: Request) -> ApiKey:
        body = await request.body()
        return clob.keys.check_l2(request.headers, request.method, route_path(request.scope), body)

    def filters(request: Request, *names: str) -> dict[str, str]:
        return {n: request.query_params[n] for n in names if request.query_params.get(n)}

    async def create_key(request: Request) -> JSONResponse:
        address, nonce = recover_l1(request.headers)
        return JSONResponse(clob.keys.create(address, nonce).to_json())

    async def derive_key(request: Request) -> JSONResponse:
        address, nonce = recover_l1(request.headers)
        return JSONResponse(clob.keys.derive(address, nonce).to_json())

    async def list_keys(request: Request) -> JSONResponse:
        key = await l2(request)
        return JSONResponse({"apiKeys": clob.keys.of(key.address)})

    async def order(request: Request) -> JSONResponse:
        key = await l2(request)
        body = await json_body(request)
        if request.method == "DELETE":
            order_id = body.get("orderID") if isinstance(body, dict) else None
            if not isinstance(order_id, str):
                raise BadRequest("Invalid order payload")
            return JSONResponse(clob.cancel(key, [order_id.lower()]))
        try:
            return JSONResponse(clob.place(key, body))
        except OrderError as exc:
            if not clob.refusals_in_body:
                raise
            # answered 200 with the refusal in the body (``success: false``); a kill says "unmatched"
            killed = str(exc) in (FOK_NOT_FILLED, FAK_NOT_FILLED)
            return JSONResponse(_failure(str(exc)) | ({"status": "unmatched"} if killed else {}))

    async def orders(request: Request) -> JSONResponse:
        key = await l2(request)
        body = await json_body(request)
        if not isinstance(body, list):
            raise BadRequest("Invalid order payload")
        if request.method == "DELETE":
            if not all(isinstance(i, str) for i in body):
                raise BadRequest("Invalid order payload")
            return JSONResponse(clob.cancel(key, [i.lower() for i in body]))
        if len(body) > MAX_BATCH:
            raise BadRequest(f"Too many orders in payload: {len(body)}, max allowed: {MAX_BATCH}")
        answers: list[dict[str, Any]] = []
        for item in body:
            try:
                answers.append(clob.place(key, item))
            except OrderError as exc:
                answers.append(_failure(str(exc)))
        return JSONResponse(answers)

    async def cancel_all(request: Request) -> JSONResponse:
        return JSONResponse(clob.cancel(await l2(request), None))

    async def get_order(request: Request) -> JSONResponse:
        key = await l2(request)
        found = clob.order(key, request.path_params["order_id"])
        if found is None:
            return JSONResponse({"error": "order not found"}, status_code=404)
        return JSONResponse(found)

    async def open_orders(request: Request) -> JSONResponse:
        key = await l2(request)
        found = clob.open_orders(key, filters(request, "id", "market", "asset_id"))
        return JSONResponse(page(found, request.query_params.get("next_cursor"), clob.page_size))

    async def trades(request: Request) -> JSONResponse:
        key = await l2(request)
        names = ("id", "market", "asset_id", "maker_address", "before", "after")
        found = clob.trade_list(key, filters(request, *names))
        return JSONResponse(page(found, request.query_params.get("next_cursor"), clob.page_size))

    async def balance_allowance(request: Request) -> JSONResponse:
        key = await l2(request)
        params = request.query_params
        kind = params.get("asset_type", "")
        if kind == "COLLATERAL":
            asset = COLLATERAL
        elif kind == "CONDITIONAL":
            asset = parse_token(params.get("token_id", ""))
            sandbox.market_for_token(asset)  # 404 for an unknown token
        else:
            raise BadRequest("Invalid asset type")
        signature_type = params.get("signature_type", "0")
        if signature_type not in ("0", "1", "2", "3"):
            raise BadRequest("Invalid signature_type")
        holder = clob.holder(key, int(signature_type))
        update = request.url.path.endswith("/update")
        balance = clob.balance_allowance(holder, asset, update=update)
        allowance = 0 if (holder, kind) in clob.unapproved else MAX_ALLOWANCE
        return JSONResponse({"balance": str(balance), "allowances": {checksum(s): allowance for s in SPENDERS}})

    async def clob_market(request: Request) -> JSONResponse:
        try:
            market = sandbox.market(request.path_params["condition_id"])
        except KeyError:
            return JSONResponse({"error": "market not found"}, status_code=404)
        open_ = winner(sandbox, market) is None
        return JSONResponse(
            {
                "c": market.condition_id,
                "t": [{"t": str(t), "o": o} for t, o in zip(market.tokens, market.outcomes, strict=True)],
                "mts": _num(market.tick_size),
                "mos": _num(market.min_order_size),
                "nr": market.neg_risk,
                "mbf": 0,
                "tbf": 0,
                "ao": open_,
            }
            # "fd" is optional: a market without fees has none
            | (
                {"fd": {"r": _num(market.fee_rate), "e": _num(market.fee_exponent), "to": True}}
                if market.fee_rate
                else {}
            )
        )

    async def market_by_token(request: Request) -> JSONResponse:
        market = sandbox.market_for_token(parse_token(request.path_params["token_id"]))
        return JSONResponse({"condition_id": market.condition_id, "primary_token_id": str(market.tokens[0])})

    async def fee_rate(request: Request) -> JSONResponse:
        sandbox.market_for_token(parse_token(request.query_params.get("token_id", "")))
        return JSONResponse({"base_fee": 0})

    async def server_time(request: Request) -> JSONResponse:
        return JSONResponse(int(sandbox.clock.now()))

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse("OK")

    return [
        Route("/auth/api-key", create_key, methods=["POST"]),
        Route("/auth/derive-api-key", derive_key),
        Route("/auth/api-keys", list_keys),
        Route("/order", order, methods=["POST", "DELETE"]),
        Route("/orders", orders, methods=["POST", "DELETE"]),
        Route("/cancel-all", cancel_all, methods=["DELETE"]),
        Route("/data/order/{order_id}", get_order),
        Route("/data/orders", open_orders),
        Route("/data/trades", trades),
        Route("/balance-allowance", balance_allowance),
        Route("/balance-allowance/update", balance_allowance),
        Route("/clob-markets/{condition_id}", clob_market),
        Route("/markets-by-token/{token_id}", market_by_token),
        Route("/fee-rate", fee_rate),
        Route("/time", server_time),
        Route("/ok", ok),
    ]
