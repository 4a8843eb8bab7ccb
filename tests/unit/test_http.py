"""Upstream error mapping and retries over httpx.MockTransport, on a ManualClock (no real sleeps)."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from copybot.clock import ManualClock
from copybot.errors import (
    CopybotError,
    InvalidApiKey,
    MalformedResponse,
    PermanentUpstreamError,
    RateLimited,
    RequestRejected,
    UnsupportedChain,
    UpstreamUnavailable,
)
from copybot.sources.etherscan import check_block_number, check_envelope
from copybot.upstream.http import RateLimiter, Upstream, build_client

BASE = "https://api.etherscan.io/v2/api"
SECRET = "SECRETKEY0123456789ABCDEFGHIJ"
ATTEMPTS = 3

Step = Callable[[httpx.Request], httpx.Response]


def status(code: int, body: Any = None, text: str | None = None) -> Step:
    def respond(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(code, text=text)
        return httpx.Response(code, json={"ok": True} if body is None else body)

    return respond


def fail(exc_type: type[httpx.TransportError]) -> Step:
    def respond(request: httpx.Request) -> httpx.Response:
        # a transport error whose text echoes the full URL, key included: it must not leak through
        raise exc_type(f"boom while calling {request.url}", request=request)

    return respond


class Script:
    """A MockTransport handler that plays the steps in order (the last one repeats)."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        return step(request)


def run(
    steps: Sequence[Step],
    *,
    check: Callable[[Any], Any] | None = None,
    path: str = "",
    clock: ManualClock | None = None,
    limiter_rate: float | None = None,
    calls: int = 1,
) -> tuple[Any, Upstream, Script, ManualClock]:
    """Make ``calls`` GETs; returns (last result or the raised error, upstream, script, clock)."""
    script = Script(steps)
    clk = clock or ManualClock()

    async def go() -> tuple[Any, Upstream]:
        async with build_client(BASE, 5.0, transport=httpx.MockTransport(script)) as client:
            limiter = RateLimiter(limiter_rate, clk) if limiter_rate else None
            up = Upstream("etherscan", client, clk, attempts=ATTEMPTS, max_wait_s=2.0, limiter=limiter)
            out: Any = None
            for _ in range(calls):
                try:
                    out = await up.get_json(path, params={"chainid": 137, "apikey": SECRET}, check=check)
                except CopybotError as exc:
                    out = exc
            return out, up

    out, up = asyncio.run(asyncio.wait_for(go(), timeout=5))  # a spinning limiter fails, never hangs
    return out, up, script, clk


# ---- status and transport mapping -------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "error", "calls", "kinds"),
    [
        pytest.param([status(500), status(200)], None, 2, {"unavailable": 1}, id="500-then-200"),
        pytest.param([status(503), status(425), status(200)], None, 3, {"unavailable": 2}, id="503-425-then-200"),
        pytest.param([status(429), status(200)], None, 2, {"rate_limited": 1}, id="429-then-200"),
        pytest.param([status(429)], RateLimited, ATTEMPTS, {"rate_limited": ATTEMPTS}, id="429-forever"),
        pytest.param([status(502)], UpstreamUnavailable, ATTEMPTS, {"unavailable": ATTEMPTS}, id="502-forever"),
        pytest.param([status(404, {"error": "nope"})], RequestRejected, 1, {"rejected": 1}, id="404-no-retry"),
        pytest.param([status(400, text="<html>bad</html>")], RequestRejected, 1, {"rejected": 1}, id="400-not-json"),
        pytest.param(
            [status(200, text="OK then")], MalformedResponse, ATTEMPTS, {"malformed": ATTEMPTS}, id="not-json"
        ),
        pytest.param([status(200, text="not json"), status(200)], None, 2, {"malformed": 1}, id="not-json-then-ok"),
        pytest.param([fail(httpx.ReadTimeout)], UpstreamUnavailable, ATTEMPTS, {"unavailable": ATTEMPTS}, id="timeout"),
        pytest.param([fail(httpx.ConnectError), status(200)], None, 2, {"unavailable": 1}, id="connect-then-ok"),
    ],
)
def test_status_mapping_and_retries(
    steps: list[Step], error: type[Exception] | None, calls: int, kinds: dict[str, int]
) -> None:
    out, up, script, clock = run(steps)
    if error is None:
        assert out == {"ok": True}
        assert up.stats.last_success_at == clock.now()
    else:
        assert type(out) is error, out
        assert up.stats.last_success_at is None
        assert up.stats.last_error == str(out)
    assert len(script.requests) == calls
    assert up.stats.calls == calls
    assert dict(up.stats.errors) == kinds
    # retries waited on the injected clock (jittered backoff, capped), never on the wall clock
    retries = calls - 1
    assert (clock.monotonic() > 0) == (retries > 0)
    assert clock.monotonic() <= retries * 2.0


def test_rejected_carries_status_and_detail() -> None:
    out, *_ = run([status(404, {"error": "market not found"})], path="/book")
    assert isinstance(out, RequestRejected)
    assert out.status == 404
    assert str(out) == "etherscan GET /book: HTTP 404: market not found"


def test_params_are_sent() -> None:
    _, _, script, _ = run([status(200)])
    (request,) = script.requests
    assert request.url.params["apikey"] == SECRET
    assert request.url.params["chainid"] == "137"


# ---- the API key never appears in errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "check", "path"),
    [
        pytest.param([status(500)], None, "", id="5xx"),
        pytest.param([status(429)], None, "", id="429"),
        pytest.param([status(403, {"error": "forbidden"})], None, "", id="4xx-json"),
        pytest.param([status(401, text="denied")], None, "", id="4xx-text"),
        pytest.param([status(200, text="<html>")], None, "", id="not-json"),
        pytest.param([fail(httpx.ReadTimeout)], None, "", id="timeout"),
        pytest.param([fail(httpx.ConnectError)], None, "", id="connect"),
        pytest.param([status(500)], None, f"?module=logs&apikey={SECRET}", id="key-in-path"),
        pytest.param([status(200, text="x")], None, f"/x?apikey={SECRET}", id="key-in-path-malformed"),
        pytest.param(
            [status(200, {"status": "0", "message": "NOTOK", "result": "Invalid API Key"})],
            check_envelope,
            "",
            id="invalid-key",
        ),
        pytest.param(
            [status(200, {"status": "0", "message": "NOTOK", "result": "Max rate limit reached"})],
            check_envelope,
            "",
            id="rate-limit-body",
        ),
    ],
)
def test_api_key_never_in_error_messages(steps: list[Step], check: Any, path: str) -> None:
    out, up, script, _ = run(steps, check=check, path=path)
    assert isinstance(out, CopybotError)
    assert SECRET in str(script.requests[0].url)  # the key really was on the wire
    rendered = "".join(traceback.format_exception(out))  # what a logged traceback would show
    for text in (str(out), repr(out), rendered, up.stats.last_error, str(up.stats.snapshot())):
        assert SECRET not in text


# ---- Etherscan envelopes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("etherscan_getlogs_ok.json", list),
        ("etherscan_no_records.json", []),
        ("etherscan_error_rate_limit.json", RateLimited),
        ("etherscan_error_invalid_key.json", InvalidApiKey),
        ("etherscan_error_v1_deprecated.json", PermanentUpstreamError),
    ],
)
def test_check_envelope_fixtures(fixture_json: Callable[[str], Any], name: str, expected: Any) -> None:
    body = fixture_json(name)
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected) as info:
            check_envelope(body)
        assert type(info.value) is expected
        assert str(info.value).startswith("etherscan: ")
    elif expected is list:
        rows = check_envelope(body)
        assert len(rows) == 1
        assert rows[0]["logIndex"] == "0x1" and rows[0]["timeStamp"] == "0x627ac6dc"
    else:
        assert check_envelope(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "0", "message": "NOTOK", "result": "Max calls per sec rate limit reached (3/sec)"}, RateLimited),
        ({"status": "0", "message": "NOTOK", "result": "Missing/Invalid API Key"}, InvalidApiKey),
        ({"status": "0", "message": "NOTOK", "result": "Missing or unsupported chainid parameter"}, UnsupportedChain),
        (
            {
                "status": "0",
                "message": "NOTOK",
                "result": "Query Timeout occured. Please select a smaller result dataset",
            },
            UpstreamUnavailable,
        ),
        ({"status": "0", "message": "No records found", "result": None}, list),
        ({"status": 1, "message": "OK", "result": []}, list),  # a number instead of a string
        ({"status": "1", "message": "OK", "result": "0x10"}, MalformedResponse),
        ({"status": "1", "message": "OK", "result": [1, 2]}, MalformedResponse),
        ({"message": "OK", "result": []}, MalformedResponse),
        ([], MalformedResponse),
        ("OK", MalformedResponse),
        (None, MalformedResponse),
    ],
)
def test_check_envelope_synthetic(body: Any, expected: Any) -> None:
    if expected is list:
        assert check_envelope(body) == []
        return
    with pytest.raises(expected) as info:
        check_envelope(body)
    assert type(info.value) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"jsonrpc": "2.0", "id": 83, "result": "0x5a99f42"}, 95_002_434),
        ({"jsonrpc": "2.0", "id": 83, "result": "0x4d93911"}, 81_344_785),
        ({"jsonrpc": "2.0", "id": 83, "result": "0xnothex"}, MalformedResponse),
        ({"jsonrpc": "2.0", "id": 83, "result": None}, MalformedResponse),
        ({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "execution aborted"}}, MalformedResponse),
        ({"status": "0", "message": "NOTOK", "result": "Max rate limit reached"}, RateLimited),
        ({"status": "0", "message": "NOTOK", "result": "Invalid API Key"}, InvalidApiKey),
        ({"status": "1", "message": "OK", "result": []}, MalformedResponse),
        ([], MalformedResponse),
    ],
)
def test_check_block_number(body: Any, expected: Any) -> None:
    if isinstance(expected, int):
        assert check_block_number(body) == expected
        return
    with pytest.raises(expected) as info:
        check_block_number(body)
    assert type(info.value) is expected


@pytest.mark.parametrize(
    ("steps", "error", "calls"),
    [
        pytest.param(
            [status(200, {"status": "0", "message": "NOTOK", "result": "Invalid API Key"})],
            InvalidApiKey,
            1,
            id="permanent-not-retried",
        ),
        pytest.param(
            [status(200, {"status": "0", "message": "NOTOK", "result": "Max rate limit reached"})],
            RateLimited,
            ATTEMPTS,
            id="rate-limit-body-retried",
        ),
        pytest.param(
            [
                status(200, {"status": "0", "message": "NOTOK", "result": "Max rate limit reached"}),
                status(200, {"status": "1", "message": "OK", "result": []}),
            ],
            None,
            2,
            id="then-ok",
        ),
    ],
)
def test_body_check_errors_drive_retries(steps: list[Step], error: type[Exception] | None, calls: int) -> None:
    out, up, script, _ = run(steps, check=check_envelope)
    assert len(script.requests) == calls
    if error is None:
        assert out == []
        assert dict(up.stats.errors) == {"rate_limited": 1}
    else:
        assert type(out) is error


# ---- RateLimiter ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "n", "calls"),
    [(3.0, 3, 10), (3.0, 3, 3), (10.0, 10, 25), (2.5, 2, 7), (0.5, 1, 3)],
)
def test_rate_limiter_never_exceeds_the_rate_in_any_window(rate: float, n: int, calls: int) -> None:
    """Etherscan counts calls in a sliding second: no window of n / rate seconds may hold more than n."""
    clock = ManualClock()
    limiter = RateLimiter(rate, clock)
    times: list[float] = []

    async def go() -> None:
        for _ in range(calls):
            await limiter.acquire()
            times.append(clock.monotonic())

    asyncio.run(asyncio.wait_for(go(), timeout=5))
    window = n / rate
    assert all(times[i + n] - times[i] >= window for i in range(len(times) - n))
    # and no needless waiting: the first n go at once, then each waits only for the window (+5% margin)
    assert times[: min(n, calls)] == [0.0] * min(n, calls)
    assert clock.monotonic() == pytest.approx(((calls - 1) // n) * window * RateLimiter.MARGIN)


def test_rate_limiter_is_free_again_after_idle() -> None:
    clock = ManualClock()
    limiter = RateLimiter(3.0, clock)

    async def go() -> None:
        for _ in range(3):
            await limiter.acquire()
        clock.advance(10.0)
        start = clock.monotonic()
        for _ in range(3):
            await limiter.acquire()
        assert clock.monotonic() == start  # three more at once: the window is empty again
        await limiter.acquire()
        assert clock.monotonic() - start == pytest.approx(1.05)

    asyncio.run(asyncio.wait_for(go(), timeout=5))


def test_upstream_uses_its_limiter() -> None:
    out, up, script, clock = run([status(200)], limiter_rate=3.0, calls=10)
    assert out == {"ok": True}
    assert len(script.requests) == 10 == up.stats.calls
    assert clock.monotonic() >= 3 * 1.0 - 1e-9  # calls 4, 7 and 10 each waited for a full window
