"""The ASGI middleware in front of each simulated upstream: counts, latency, faults, rate limit.

For every request: count it (under its label), wait the upstream's latency, draw one fault
(:meth:`Monitor.draw`) and answer it, or, for Etherscan, refuse a call over the per-key rate
limit with the real rate-limit body; otherwise serve it (cut in half for a ``malformed`` fault).
``/_sandbox/*`` is never wrapped.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .etherscan import RATE_LIMITED
from .faults import Monitor

RPC_RATE_LIMITED: Final = {"code": -32005, "message": "rate limit exceeded"}
SERVER_ERRORS: Final = (500, 502, 503)


def route_path(scope: Scope) -> str:
    """The request path below the mount point."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return (path[len(root) :] or "/") if root and path.startswith(root) else path


def rpc_labels(body: bytes) -> tuple[Any, list[str]]:
    """The parsed JSON-RPC payload (None if unparseable) and its method names (one per call)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, ["invalid"]
    calls = payload if isinstance(payload, list) else [payload]
    labels = [c["method"] if isinstance(c, dict) and isinstance(c.get("method"), str) else "invalid" for c in calls]
    return payload, labels or ["invalid"]


def rpc_rate_limited(payload: Any) -> Any:
    """The JSON-RPC rate-limit error for each call of the payload (HTTP 200)."""

    def one(call: Any) -> dict[str, Any]:
        call_id = call.get("id") if isinstance(call, dict) else None
        return {"jsonrpc": "2.0", "id": call_id, "error": dict(RPC_RATE_LIMITED)}

    if isinstance(payload, list) and payload:
        return [one(call) for call in payload]
    return one(payload)


def truncate(body: bytes) -> bytes:
    """The first half of a JSON body: never valid JSON (a complete object ends with its brace)."""
    cut = body[: max(1, len(body) // 2)]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return b'{"'  # a bare number or whitespace-padded body survived the cut: make sure it breaks


class FaultGate:
    """Wraps one upstream's ASGI app (``upstream`` is one of :data:`~.faults.UPSTREAMS`)."""

    def __init__(self, app: ASGIApp, upstream: str, monitor: Monitor) -> None:
        self.app = app
        self.upstream = upstream
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        payload: Any = None
        if self.upstream == "rpc":
            body = await _read_body(receive)
            receive = _replay(body, receive)
            payload, labels = rpc_labels(body)
        elif self.upstream == "etherscan":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            labels = [f"{query.get('module', [''])[0]}.{query.get('action', [''])[0]}"]
        else:
            labels = [route_path(scope)]
        monitor = self.monitor
        monitor.count_requests(self.upstream, labels)
        faults = monitor.faults(self.upstream)
        if faults.latency_ms > 0:  # on the sandbox's clock: real time, or a test's manual one
            await monitor.clock.sleep(faults.latency_ms / 1000)
        drawn = monitor.draw(self.upstream)
        kind = drawn[0] if drawn else None
        if drawn is not None and kind != "malformed":
            response = await self._fault(drawn[0], drawn[1], faults.hang_s, payload)
            await response(scope, receive, send)
            return
        if self.upstream == "etherscan":
            key = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("apikey", [""])[0]
            if not monitor.admit_etherscan(key):
                await JSONResponse(RATE_LIMITED)(scope, receive, send)
                return
        if kind == "malformed":
            await self._malformed(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _status(self, status: int) -> Response:
        reason = HTTPStatus(status).phrase
        headers = {"Retry-After": "1"} if status == 429 else None
        if self.upstream in ("clob", "gamma"):  # their errors are {"error": "..."}
            return JSONResponse({"error": reason}, status_code=status, headers=headers)
        return PlainTextResponse(reason, status_code=status, headers=headers)

    async def _fault(self, kind: str, where: float, hang_s: float, payload: Any) -> Response:
        if kind == "http_429":
            return self._status(429)
        if kind == "http_425":  # the CLOB's matching engine is restarting
            return self._status(425)
        if kind == "http_5xx":
            return self._status(SERVER_ERRORS[min(len(SERVER_ERRORS) - 1, int(where * len(SERVER_ERRORS)))])
        if kind == "rate_limit_body":
            return JSONResponse(RATE_LIMITED if self.upstream == "etherscan" else rpc_rate_limited(payload))
        # timeout: hang on the real clock (the client's own timeout is real), then a gateway's 504
        await self.monitor.hang(hang_s)
        return self._status(504)

    async def _malformed(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        response = Response(truncate(b"".join(chunks)), media_type="application/json")
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body over once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
