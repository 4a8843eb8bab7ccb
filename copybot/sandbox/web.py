"""Request helpers shared by the sandbox's routes: parsing, and the CLOB's error shape."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class BadRequest(Exception):
    """Answered as HTTP 400 ``{"error": message}``."""


def parse_token(raw: object) -> int:
    text = str(raw).strip()
    if not text.isdigit():
        raise BadRequest("Invalid token id")
    return int(text)


async def json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body(), parse_float=Decimal)
    except ValueError as exc:
        raise BadRequest("Invalid payload") from exc


def body_list(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise BadRequest("Invalid payload")
    return body


def error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
