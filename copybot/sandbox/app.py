"""The sandbox's ASGI app: one port, four upstreams, each under its own prefix.

``/etherscan/v2/api`` (Etherscan API V2), ``/rpc`` (Polygon JSON-RPC), ``/clob`` (CLOB REST),
``/gamma`` (Gamma markets), ``/relayer`` (Polymarket's relayer, :mod:`.relayer`) and ``/_sandbox``
(controls, :mod:`~copybot.sandbox.control`).
Shapes follow the real payloads in tests/fixtures, quirks included: CLOB bids come ascending
and asks descending, Gamma nests JSON strings, token ids are decimal strings. Numbers that
production sends as JSON numbers (tick size, minimum size, token price) are sent as numbers;
everything else about money stays a string. Each upstream sits behind a :class:`FaultGate`.
The CLOB's authenticated trading routes live in :mod:`~copybot.sandbox.trading_api`. A resolved
market's tokens have no book (404), are left out of ``POST /books``, ``/prices`` and
``/midpoints`` answers, and its market shows ``closed`` with the winner priced 1.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, request_response

from . import etherscan, rpc
from .auth import AuthError, CreateError
from .book import Market
from .control import control_routes
from .core import Sandbox, UnknownToken
from .gate import FaultGate
from .market_events import winner as winner_of
from .orders import OrderError
from .relayer import relayer_routes
from .trading_api import trading_routes
from .web import BadRequest, body_list, error, json_body, parse_token

NO_BOOK: Final = "No orderbook exists for the requested token id"


def fmt(value: Decimal) -> str:
    """A Decimal as the CLOB writes it: plain notation, no trailing zeros ("0.45", "17928")."""
    return f"{value.normalize():f}"


def num(value: Decimal) -> int | float:
    """A JSON number where production sends one. These values have at most 6 decimals, so the
    shortest float repr is exactly their decimal text: nothing is lost on the wire."""
    return int(value) if value == value.to_integral_value() else float(value)


# -- shapes --------------------------------------------------------------------------------


def book_json(sandbox: Sandbox, token_id: int) -> dict[str, Any]:
    book = sandbox.book(token_id)
    # production lists bids ascending and asks descending: the best level is last
    bids = [{"price": fmt(lvl.price), "size": fmt(lvl.size)} for lvl in reversed(book.bids)]
    asks = [{"price": fmt(lvl.price), "size": fmt(lvl.size)} for lvl in reversed(book.asks)]
    content = json.dumps([book.market, str(token_id), bids, asks]).encode()
    return {
        "market": book.market,
        "asset_id": str(token_id),
        "timestamp": str(book.timestamp_ms),
        "hash": hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        "bids": bids,
        "asks": asks,
        "min_order_size": fmt(book.min_order_size),
        "tick_size": fmt(book.tick_size),
        "neg_risk": book.neg_risk,
        "last_trade_price": fmt(sandbox.last_trade_price(token_id)),
    }


def best_price(sandbox: Sandbox, token_id: int, side: str) -> str:
    """``BUY`` answers the best bid, ``SELL`` the best ask (what production does)."""
    book = sandbox.book(token_id)
    if side == "BUY":
        best = book.best_bid
    elif side == "SELL":
        best = book.best_ask
    else:
        raise BadRequest("Invalid side")
    if best is None:  # the sandbox never empties a side; production would have no price either
        raise UnknownToken(token_id)
    return fmt(best)


def token_prices(sandbox: Sandbox, market: Market) -> tuple[int | None, list[Decimal]]:
    """The winning token (None while the market trades) and each token's price: its midpoint,
    or 1 for the winner and 0 for the other once resolved."""
    winner = winner_of(sandbox, market)
    if winner is None:
        return None, [sandbox.midpoint(t) for t in market.tokens]
    return winner, [Decimal(int(t == winner)) for t in market.tokens]


def clob_market_json(sandbox: Sandbox, market: Market) -> dict[str, Any]:
    winner, prices = token_prices(sandbox, market)
    return {
        "condition_id": market.condition_id,
        "question_id": "0x" + hashlib.sha256(market.question.encode()).hexdigest(),
        "question": market.question,
        "market_slug": market.slug,
        "tokens": [
            {"token_id": str(t), "outcome": o, "price": num(p), "winner": t == winner}
            for t, o, p in zip(market.tokens, market.outcomes, prices, strict=True)
        ],
        "minimum_tick_size": num(market.tick_size),
        "minimum_order_size": num(market.min_order_size),
        "neg_risk": market.neg_risk,
        "accepting_orders": winner is None,
        "active": True,
        "closed": winner is not None,
        "archived": False,
        "end_date_iso": market.end_date_iso,
    }


def gamma_market_json(sandbox: Sandbox, market: Market) -> dict[str, Any]:
    winner, values = token_prices(sandbox, market)
    prices = [fmt(p) for p in values]
    return {
        "id": market.gamma_id,
        "question": market.question,
        "slug": market.slug,
        "conditionId": market.condition_id,
        # JSON strings inside the JSON, as Gamma sends them (json.dumps' ", " separator too)
        "outcomes": json.dumps(list(market.outcomes)),
        "outcomePrices": json.dumps(prices),
        "clobTokenIds": json.dumps([str(t) for t in market.tokens]),
        "closed": winner is not None,
        "active": True,
        "acceptingOrders": winner is None,
        "negRisk": market.neg_risk,
        "endDate": market.end_date_iso,
        "orderPriceMinTickSize": num(market.tick_size),
        "orderMinSize": num(market.min_order_size),
        "version": "v2" if market.protocol_v2 else "v1",  # Protocol V2 (ExchangeV3) or CTF
    }


# -- routes --------------------------------------------------------------------------------


def clob_routes(sandbox: Sandbox) -> list[Route]:
    def token_param(request: Request) -> int:
        return parse_token(request.query_params.get("token_id", ""))

    async def root(request: Request) -> JSONResponse:
        return JSONResponse("OK")

    async def version(request: Request) -> JSONResponse:
        return JSONResponse({"version": 2})

    async def book(request: Request) -> JSONResponse:
        return JSONResponse(book_json(sandbox, token_param(request)))

    def tradable(items: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        """The batch's tokens with a book: a resolved market's tokens are left out of the answer."""
        tokens = [(parse_token(item.get("token_id")), item) for item in items]
        return [(t, item) for t, item in tokens if winner_of(sandbox, sandbox.market_for_token(t)) is None]

    async def books(request: Request) -> JSONResponse:
        items = body_list(await json_body(request))
        return JSONResponse([book_json(sandbox, token) for token, _ in tradable(items)])

    async def price(request: Request) -> JSONResponse:
        side = request.query_params.get("side", "").upper()
        return JSONResponse({"price": best_price(sandbox, token_param(request), side)})

    async def prices(request: Request) -> JSONResponse:
        if request.method == "GET":
            raise BadRequest("Invalid payload")
        answer: dict[str, dict[str, str]] = {}
        for token, item in tradable(body_list(await json_body(request))):
            side = str(item.get("side", "")).upper()
            answer.setdefault(str(token), {})[side] = best_price(sandbox, token, side)
        return JSONResponse(answer)

    async def midpoint(request: Request) -> JSONResponse:
        return JSONResponse({"mid": fmt(sandbox.midpoint(token_param(request)))})

    async def midpoints(request: Request) -> JSONResponse:
        if request.method == "GET":
            raise BadRequest("Invalid payload")
        tokens = [token for token, _ in tradable(body_list(await json_body(request)))]
        return JSONResponse({str(t): fmt(sandbox.midpoint(t)) for t in tokens})

    async def market(request: Request) -> JSONResponse:
        try:
            found = sandbox.market(request.path_params["condition_id"])
        except KeyError:
            return error("market not found", 404)
        return JSONResponse(clob_market_json(sandbox, found))

    async def tick_size(request: Request) -> JSONResponse:
        found = sandbox.market_for_token(token_param(request))
        return JSONResponse({"minimum_tick_size": num(found.tick_size)})

    async def neg_risk(request: Request) -> JSONResponse:
        return JSONResponse({"neg_risk": sandbox.market_for_token(token_param(request)).neg_risk})

    return [
        Route("/", root),
        Route("/version", version),
        Route("/book", book),
        Route("/books", books, methods=["POST"]),
        Route("/price", price),
        Route("/prices", prices, methods=["GET", "POST"]),
        Route("/midpoint", midpoint),
        Route("/midpoints", midpoints, methods=["GET", "POST"]),
        Route("/markets/{condition_id}", market),
        Route("/tick-size", tick_size),
        Route("/neg-risk", neg_risk),
    ]


def gamma_routes(sandbox: Sandbox) -> list[Route]:
    async def markets(request: Request) -> JSONResponse:
        tokens = {t for t in request.query_params.getlist("clob_token_ids") if t.isdigit()}
        conditions = {c.lower() for c in request.query_params.getlist("condition_ids")}
        chosen = [
            m
            for m in sandbox.markets
            if (not tokens and not conditions) or tokens & {str(t) for t in m.tokens} or m.condition_id in conditions
        ]
        return JSONResponse([gamma_market_json(sandbox, m) for m in chosen])

    async def markets_keyset(request: Request) -> JSONResponse:
        """``/markets/keyset`` (what polymarket-client lists markets with): ``condition_ids`` and
        ``closed`` filters, ``{"markets": [...], "next_cursor": null}`` (one page: the sandbox is small)."""
        conditions = {c.lower() for c in request.query_params.getlist("condition_ids")}
        closed = request.query_params.get("closed")
        chosen = []
        for m in sandbox.markets:
            if conditions and m.condition_id not in conditions:
                continue
            shut = winner_of(sandbox, m) is not None
            if closed is not None and shut != (closed.lower() == "true"):
                continue
            chosen.append(gamma_market_json(sandbox, m))
        return JSONResponse({"markets": chosen, "next_cursor": None})

    return [Route("/markets", markets), Route("/markets/keyset", markets_keyset)]


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    return error(str(exc), 400)


async def _unknown_token(request: Request, exc: Exception) -> JSONResponse:
    return error(NO_BOOK, 404)


async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    return error(str(exc), 401)


def build_app(sandbox: Sandbox) -> Starlette:
    """The whole sandbox: each upstream a Starlette app of its own behind a :class:`FaultGate`
    (so a fault answer replaces even its error answers), and ``/_sandbox`` ungated."""
    handlers: dict[Any, Any] = {
        BadRequest: _bad_request,
        OrderError: _bad_request,
        CreateError: _bad_request,
        AuthError: _unauthorized,
        UnknownToken: _unknown_token,
    }

    def gated(upstream: str, routes: list[Route]) -> FaultGate:
        return FaultGate(Starlette(routes=routes, exception_handlers=handlers), upstream, sandbox.monitor)

    async def rpc_endpoint(request: Request) -> JSONResponse:
        return await rpc.endpoint(sandbox, request)

    return Starlette(
        routes=[
            Mount("/etherscan/v2", app=gated("etherscan", etherscan.routes(sandbox))),
            Route("/rpc", FaultGate(request_response(rpc_endpoint), "rpc", sandbox.monitor), methods=["POST"]),
            Mount("/clob", app=gated("clob", clob_routes(sandbox) + trading_routes(sandbox))),
            Mount("/gamma", app=gated("gamma", gamma_routes(sandbox))),
            Mount("/relayer", app=gated("relayer", relayer_routes(sandbox))),
            Mount("/_sandbox", routes=control_routes(sandbox)),
        ],
        exception_handlers=handlers,
    )
