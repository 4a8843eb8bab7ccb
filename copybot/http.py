"""One long-lived, pooled HTTP client per upstream, with retries declared once.

:class:`Upstream` turns transport and status failures into the error tree (``copybot.errors``),
retries :class:`TransientError` with jittered exponential backoff on the injected clock, spaces
calls with an optional token bucket, and counts calls and errors by kind for ``status``.
Error messages name the upstream and the path, never the query string (it may hold an API key).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from copybot.clock import Clock
from copybot.errors import (
    CopybotError,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    TransientError,
    UpstreamUnavailable,
)

BodyCheck = Callable[[Any], Any]


@dataclass
class UpstreamStats:
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_success_at: float | None = None
    last_error: str = ""

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": dict(self.errors),
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
        }


class RateLimiter:
    """Token bucket: at most ``rate`` calls per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, clock: Clock, burst: float = 1.0) -> None:
        self._rate = rate
        self._burst = max(1.0, burst)
        self._clock = clock
        self._tokens = self._burst
        self._at = clock.monotonic()

    async def acquire(self) -> None:
        while True:
            now = self._clock.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            # Tolerance: refills are float products, so after sleeping exactly the computed wait the
            # bucket can hold 0.999...98 tokens; on a clock that cannot advance by less than one ulp
            # (ManualClock) a strict ">= 1.0" would then wait forever.
            if self._tokens >= 1.0 - 1e-9:
                self._tokens -= 1.0
                return
            await self._clock.sleep((1.0 - self._tokens) / self._rate)


def build_client(
    base_url: str, timeout_s: float, max_connections: int = 16, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": "copybot"},
    )


class Upstream:
    """A named upstream: ``await up.get_json("/book", params={...})``."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        clock: Clock,
        *,
        attempts: int = 4,
        max_wait_s: float = 8.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self.client = client
        self.clock = clock
        self.stats = UpstreamStats()
        self._limiter = limiter
        self._retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=wait_exponential_jitter(multiplier=0.25, max=max_wait_s, jitter=0.25),
            stop=stop_after_attempt(attempts),
            sleep=clock.sleep,
            reraise=True,
        )

    async def get_json(self, path: str, params: Any = None, check: BodyCheck | None = None) -> Any:
        return await self._with_retries("GET", path, params=params, body=None, check=check)

    async def post_json(self, path: str, body: Any, check: BodyCheck | None = None) -> Any:
        return await self._with_retries("POST", path, params=None, body=body, check=check)

    async def _with_retries(self, method: str, path: str, *, params: Any, body: Any, check: BodyCheck | None) -> Any:
        async for attempt in self._retrying.copy():
            with attempt:
                return await self._once(method, path, params=params, body=body, check=check)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(self, method: str, path: str, *, params: Any, body: Any, check: BodyCheck | None) -> Any:
        if self._limiter is not None:
            await self._limiter.acquire()
        self.stats.calls += 1
        where = f"{self.name} {method} {_no_query(path)}"
        try:
            try:
                response = await self.client.request(method, path, params=params, json=body)
            except httpx.TimeoutException:
                raise UpstreamUnavailable(f"{where}: timed out") from None
            except httpx.TransportError as exc:
                raise UpstreamUnavailable(f"{where}: connection failed ({type(exc).__name__})") from None
            data = _decode(response, where)
            result = check(data) if check is not None else data
        except CopybotError as exc:
            self.stats.errors[_kind(exc)] += 1
            self.stats.last_error = str(exc)
            raise
        self.stats.last_success_at = self.clock.now()
        return result


def _no_query(path: str) -> str:
    """A URL or path without its query string (which may carry an API key)."""
    return path.split("?", 1)[0]


def _decode(response: httpx.Response, where: str) -> Any:
    status = response.status_code
    if status == 429:
        raise RateLimited(f"{where}: HTTP 429 rate limited")
    if status >= 500 or status == 425:
        raise UpstreamUnavailable(f"{where}: HTTP {status}")
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        if status >= 400:
            raise RequestRejected(f"{where}: HTTP {status}", status) from None
        raise MalformedResponse(f"{where}: body is not JSON") from None
    if status >= 400:
        detail = data.get("error", "") if isinstance(data, Mapping) else ""
        raise RequestRejected(f"{where}: HTTP {status} {str(detail)[:200]}".rstrip(), status)
    return data


def _kind(exc: CopybotError) -> str:
    names = {
        RateLimited: "rate_limited",
        UpstreamUnavailable: "unavailable",
        MalformedResponse: "malformed",
        RequestRejected: "rejected",
    }
    for cls, name in names.items():
        if isinstance(exc, cls):
            return name
    return type(exc).__name__
