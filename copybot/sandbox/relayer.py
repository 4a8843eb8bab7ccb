"""Polymarket's relayer, as far as copybot's SDK asks it: ``GET /deployed?address=&type=`` →
``{"deployed": bool}`` (``type`` is ``WALLET`` for a deposit wallet, ``PROXY``, or ``SAFE``), which
``polymarket-client`` asks before trading from a proxy, Safe or deposit wallet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .web import BadRequest

if TYPE_CHECKING:
    from .core import Sandbox

KIND_BY_TYPE: Final = {"WALLET": "deposit", "PROXY": "proxy", "SAFE": "safe"}


def relayer_routes(sandbox: Sandbox) -> list[Route]:
    wallets = sandbox.clob.wallets

    async def deployed(request: Request) -> JSONResponse:
        address = request.query_params.get("address", "")
        kind = KIND_BY_TYPE.get(request.query_params.get("type", ""))
        if kind is None or len(address) != 42 or not address.startswith("0x"):
            raise BadRequest("invalid address or type")
        wallet = wallets.get(address)
        return JSONResponse({"deployed": wallet is not None and wallet.kind == kind})

    return [Route("/deployed", deployed)]
