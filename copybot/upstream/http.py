"""One long-lived, pooled HTTP client per upstream, with retries declared once.

:class:`Upstream` turns transport and status failures into the error tree (``copybot.errors``),
retries :class:`TransientError` with jittered exponential backoff on the injected clock, spaces
calls with an optional token bucket, and counts calls and errors by kind for ``status``.
Error messages name the upstream and the path, never the query string (it may hold an API key).
"""

from __future__ import annotations

import math
import socket
import ssl
import sys
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
    error_for_status,
)

BodyCheck = Callable[[Any], Any]
T = TypeVar("T")
RECURSION_LIMIT = 1000  # Python's default


def cap_recursion_limit() -> None:
    """Undo py_ecc's import-time ``sys.setrecursionlimit(100_000)`` (web3 and eth_account import it).

    Under that limit a deeply nested JSON body from any upstream overflows the C stack while it
    is decoded: the daemon dies of a segfault before Python can raise RecursionError. Under the
    default one the decoder raises, and the body is just malformed. Called by the modules that
    import those libraries; copybot itself never recurses deeply.
    """
    if sys.getrecursionlimit() > RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


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
    """At most ``rate`` calls per second over any sliding window, as Etherscan counts them.

    A token bucket would allow a burst plus a refill inside one second (4 calls in a second at
    3/s); this keeps the times of the last ``n`` calls and waits until the oldest left the window,
    with a small margin for network jitter.
    """

    MARGIN = 1.05

    def __init__(self, rate: float, clock: Clock) -> None:
        self._n = max(1, math.floor(rate))
        self._window = self._n / rate * self.MARGIN
        self._clock = clock
        self._times: deque[float] = deque(maxlen=self._n)

    async def acquire(self) -> None:
        while len(self._times) == self._n:
            wait = self._times[0] + self._window - self._clock.monotonic()
            if wait <= 1e-9:
                break
            await self._clock.sleep(wait)
        self._times.append(self._clock.monotonic())


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


class Guard:
    """Retries, rate limit and counters around one upstream's calls, whatever the transport.

    ``await guard.call(attempt)`` runs ``attempt()`` (one try, raising the error tree) until it
    succeeds, a non-transient error is raised, or the attempts run out.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        attempts: int = 4,
        max_wait_s: float = 8.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
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

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        async for retry_state in self._retrying.copy():
            with retry_state:
                return await self._once(attempt)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(self, attempt: Callable[[], Awaitable[T]]) -> T:
        if self._limiter is not None:
            await self._limiter.acquire()
        self.stats.calls += 1
        try:
            result = await attempt()
        except CopybotError as exc:
            self.count_error(exc)
            raise
        self.stats.last_success_at = self.clock.now()
        return result

    def count_error(self, exc: CopybotError) -> None:
        """Count an error by kind (also one found inside an answer that arrived, e.g. one bad book of many)."""
        self.stats.errors[_kind(exc)] += 1
        self.stats.last_error = str(exc)

    async def aclose(self) -> None:
        """Release the transport, if this guard owns one."""


class Upstream(Guard):
    """A named HTTP upstream: ``await up.get_json("/book", params={...})``."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        clock: Clock,
        *,
        attempts: int = 4,
        max_wait_s: float = 8.0,
        limiter: RateLimiter | None = None,
        show_path: bool = True,
    ) -> None:
        super().__init__(name, clock, attempts=attempts, max_wait_s=max_wait_s, limiter=limiter)
        self.client = client
        self._show_path = show_path  # off for a URL that may carry a key in its path (an RPC node's)

    async def get_json(self, path: str, params: Any = None, check: BodyCheck | None = None) -> Any:
        return await self.call(lambda: self._request("GET", path, params=params, body=None, check=check))

    async def post_json(self, path: str, body: Any, check: BodyCheck | None = None) -> Any:
        return await self.call(lambda: self._request("POST", path, params=None, body=body, check=check))

    async def _request(self, method: str, path: str, *, params: Any, body: Any, check: BodyCheck | None) -> Any:
        where = f"{self.name} {method} {_no_query(path)}" if self._show_path else f"{self.name} {method}"
        try:
            response = await self.client.request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise UpstreamUnavailable(f"{where}: timed out") from None
        except httpx.TransportError as exc:
            host = exc.request.url.host if self._show_path else ""
            raise UpstreamUnavailable(f"{where}: {connect_failure(exc, host)}") from None
        data = _decode(response, where)
        return check(data) if check is not None else data

    async def aclose(self) -> None:
        await self.client.aclose()


def connect_failure(exc: BaseException, host: str = "") -> str:
    """Why a connection failed, in words: the cause under the client's own exception (a name that
    does not resolve, a refusal, TLS), never the URL (it may carry a key); the host only if given."""
    at = f" {host}" if host else ""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return f"could not resolve host{at} ({seen.strerror or seen})"
        if isinstance(seen, ConnectionRefusedError):
            return f"connection refused by{at or ' the host'}"
        if isinstance(seen, ssl.SSLError):
            return f"TLS failed with{at or ' the host'} ({seen.reason or type(seen).__name__})"
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
    return f"connection failed ({type(exc).__name__})"


def _no_query(path: str) -> str:
    """A URL or path without its query string (which may carry an API key)."""
    return path.split("?", 1)[0]


def _decode(response: httpx.Response, where: str) -> Any:
    status = response.status_code
    if status == 429 or status == 425 or status >= 500:  # the body says nothing more useful
        raise error_for_status(status, where)
    try:
        data = response.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, too deeply nested, a 5000-digit number
        if status >= 400:
            raise error_for_status(status, where) from None
        raise MalformedResponse(f"{where}: body is not JSON") from None
    if status >= 400:
        detail = data.get("error", "") if isinstance(data, Mapping) else ""
        raise error_for_status(status, where, str(detail))
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
