"""One HTTP status mapping for every transport: httpx upstreams, the RPC node (aiohttp under web3),
the CLOB SDK (live) and health all say the same thing about the same status."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from polymarket import RateLimitError, RequestRejectedError

from copybot.brokers.live_answers import classify
from copybot.clock import ManualClock
from copybot.config.settings import SourceSettings
from copybot.errors import (
    RateLimited,
    RequestRejected,
    TransientError,
    UpstreamRestarting,
    UpstreamUnavailable,
    error_for_status,
)
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Guard, Upstream, build_client

TABLE = [
    (400, RequestRejected),
    (404, RequestRejected),
    (425, UpstreamRestarting),
    (429, RateLimited),
    (500, UpstreamUnavailable),
    (503, UpstreamUnavailable),
]


@pytest.mark.parametrize(("status", "kind"), TABLE)
def test_error_for_status(status: int, kind: type) -> None:
    err = error_for_status(status, "clob POST /order", "why")
    assert type(err) is kind
    assert str(err).startswith(f"clob POST /order: HTTP {status}") and str(err).endswith("why")
    assert isinstance(err, TransientError) == (status in (425, 429) or status >= 500)
    if isinstance(err, RequestRejected):
        assert err.status == status


@pytest.mark.parametrize(("status", "kind"), TABLE)
def test_httpx_upstream_maps_statuses_the_same_way(status: int, kind: type) -> None:
    async def go() -> BaseException:
        transport = httpx.MockTransport(lambda request: httpx.Response(status, json={"error": "why"}))
        async with build_client("http://up", 1.0, transport=transport) as client:
            up = Upstream("clob", client, ManualClock(), attempts=1)
            try:
                await up.get_json("/x")
            except Exception as exc:
                return exc
        raise AssertionError("no error")

    assert type(asyncio.run(go())) is kind


@pytest.mark.parametrize(("status", "kind"), [(s, k) for s, k in TABLE if s >= 425])
def test_the_live_sdk_maps_statuses_the_same_way(status: int, kind: type) -> None:
    # a 4xx answer to an order is a refusal told apart by the CLOB's text (test_live_mode.py);
    # 425, 429 and 5xx by the status alone, as everywhere else
    # (the SDK raises RateLimitError for a 429, RequestRejectedError with the status otherwise)
    sdk_error = RateLimitError("why") if status == 429 else RequestRejectedError("why", status=status)
    assert type(classify(sdk_error, sent=False)) is kind


@pytest.fixture
def node_answering() -> Iterator[list[int]]:
    """A loopback HTTP server answering every request with the status at the head of the list."""
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'{"error": "why"}'
            self.send_response(statuses[0])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    statuses.append(server.server_address[1])  # the port, read by the test
    try:
        yield statuses
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "kind"), TABLE)
def test_the_rpc_node_maps_statuses_the_same_way(node_answering: list[int], status: int, kind: type) -> None:
    from copybot.sources.rpc import RpcSource

    port = node_answering.pop()
    node_answering.append(status)
    clock = ManualClock()
    settings = SourceSettings.model_validate({"kind": "rpc", "rpc": {"url": f"http://127.0.0.1:{port}"}})

    async def go() -> BaseException:
        caches = (CountingCache[Any](4, 60, clock) for _ in range(3))
        source = RpcSource(settings, Guard("rpc", clock, attempts=1), *caches)
        try:
            await source.latest_block()
        except Exception as exc:
            return exc
        finally:
            await source.aclose()
        raise AssertionError("no error")

    assert type(asyncio.run(go())) is kind
