"""Leader fills from Polygon JSON-RPC, through web3's async HTTP provider.

One ``eth_getLogs`` per block window covers every followed leader on every exchange: the filter
lists the exchange addresses, both OrderFilled topic0s and all leaders' padded addresses as an
OR-list in topic2 (protocol.md §5). Requests per poll = 1 (head) + windows, independent of the
number of leaders. A "range too wide" or "too many results" answer splits the window and
remembers the smaller range. Logs come back raw (hex strings), into the shared decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from web3.exceptions import Web3Exception
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import RPCEndpoint

from copybot.config.settings import SourceSettings
from copybot.errors import (
    CopybotError,
    MalformedLog,
    MalformedResponse,
    RangeTooLarge,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
    error_for_status,
)
from copybot.protocol import EXCHANGES, ORDER_FILLED_V1, ORDER_FILLED_V2, checksum, pad_address
from copybot.sources.base import PollResult, Window, decode_rows, start_cursor
from copybot.sources.decode import hex_int
from copybot.sources.etherscan import FINAL_DEPTH
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Guard, cap_recursion_limit

log = logging.getLogger(__name__)
cap_recursion_limit()  # web3 imports py_ecc, which raised it to 100,000 (see copybot.upstream.http)

EXCHANGE_LIST = sorted(checksum(a) for a in EXCHANGES)
TOO_WIDE = ("range", "too wide", "too large", "more than", "limit exceeded", "results")


def rpc_error(method: str, error: Any) -> CopybotError:
    """A JSON-RPC ``error`` object -> the error tree."""
    code = error.get("code") if isinstance(error, Mapping) else None
    message = str(error.get("message", error) if isinstance(error, Mapping) else error)[:200]
    lowered = message.lower()
    if "rate limit" in lowered or code == 429:
        return RateLimited(f"rpc {method}: {message}")
    if method == "eth_getLogs" and any(word in lowered for word in TOO_WIDE):
        return RangeTooLarge(f"rpc {method}: {message}")
    if code in (-32601, -32602, -32600):
        return RequestRejected(f"rpc {method}: {message}", 400)
    return UpstreamUnavailable(f"rpc {method}: {message}")


class RpcSource:
    kind = "rpc"

    def __init__(
        self,
        settings: SourceSettings,
        guard: Guard,
        range_cache: CountingCache[list[dict[str, Any]]],
        head_cache: CountingCache[int],
    ) -> None:
        self._settings = settings
        self._guard = guard
        self._ranges = range_cache
        self._head = head_cache
        # web3 passes its own 30 s timeout with every request unless given one, and a per-request
        # timeout overrides the session's: without this a hung node stalls a cycle for 30 s a try
        timeout = aiohttp.ClientTimeout(total=settings.rpc.timeout_s)
        self._provider = AsyncHTTPProvider(
            settings.rpc.url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
        self._session: aiohttp.ClientSession | None = None
        self.max_range = settings.rpc.max_block_range  # shrinks when the node says it is too wide
        self.requests_last_poll = 0
        self._leaders = 0

    async def _ensure_session(self) -> None:
        # One pooled keep-alive session (web3's default closes the connection after every call).
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=8),
                timeout=aiohttp.ClientTimeout(total=self._settings.rpc.timeout_s),
                raise_for_status=True,
            )
            await self._provider.cache_async_session(self._session)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, params: list[Any]) -> Any:
        async def attempt() -> Any:
            self.requests_last_poll += 1
            try:
                response = await self._provider.make_request(RPCEndpoint(method), params)
            except aiohttp.ClientResponseError as exc:
                raise error_for_status(exc.status, f"rpc {method}") from None
            except TimeoutError:
                raise UpstreamUnavailable(f"rpc {method}: timed out") from None
            except aiohttp.ClientError as exc:
                raise UpstreamUnavailable(f"rpc {method}: connection failed ({type(exc).__name__})") from None
            except (ValueError, RecursionError, Web3Exception):  # RecursionError: nested too deeply
                raise MalformedResponse(f"rpc {method}: body is not JSON-RPC") from None
            if not isinstance(response, Mapping):
                raise MalformedResponse(f"rpc {method}: answer is not an object")
            if response.get("error") is not None:
                raise rpc_error(method, response["error"])
            if "result" not in response:
                raise MalformedResponse(f"rpc {method}: answer has no result")
            return response["result"]

        await self._ensure_session()
        return await self._guard.call(attempt)

    async def latest_block(self) -> int:
        cached = self._head.get("latest")
        if cached is not None:
            return cached
        try:
            number = hex_int(await self._call("eth_blockNumber", []))
        except MalformedLog:
            raise MalformedResponse("rpc eth_blockNumber: not a hex number") from None
        self._head.put("latest", number)
        return number

    async def logs(self, lo: int, hi: int, leaders: Sequence[str], latest: int) -> list[dict[str, Any]]:
        """All OrderFilled logs of these leaders as makers in [lo, hi], window by window."""
        out: list[dict[str, Any]] = []
        start = lo
        while start <= hi:
            end = min(hi, start + self.max_range - 1)
            out += await self._window(start, end, leaders, latest)
            start = end + 1
        return out

    async def _window(self, lo: int, hi: int, leaders: Sequence[str], latest: int) -> list[dict[str, Any]]:
        closed = hi <= latest - FINAL_DEPTH
        key = (lo, hi, tuple(leaders))
        if closed:
            hit = self._ranges.get(key)
            if hit is not None:
                return hit
        flt = {
            "fromBlock": hex(lo),
            "toBlock": hex(hi),
            "address": EXCHANGE_LIST,
            "topics": [[ORDER_FILLED_V1, ORDER_FILLED_V2], None, [pad_address(a) for a in leaders]],
        }
        try:
            rows = await self._call("eth_getLogs", [flt])
        except RangeTooLarge:
            if lo >= hi:
                raise
            mid = (lo + hi) // 2
            self.max_range = max(1, min(self.max_range, mid - lo + 1))
            log.info("rpc: node refused %d blocks; using windows of %d", hi - lo + 1, self.max_range)
            return await self._window(lo, mid, leaders, latest) + await self._window(mid + 1, hi, leaders, latest)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise MalformedResponse("rpc eth_getLogs: result is not a list of logs")
        if closed:
            self._ranges.put(key, rows)
        return rows

    def health(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "leaders": self._leaders,
            "max_block_range": self.max_range,
            "requests_last_poll": self.requests_last_poll,
            "effective_period_s": self._settings.poll_interval_s,
        }

    async def poll(self, cursors: Mapping[str, int | None], leaders: Sequence[str]) -> PollResult:
        """One sweep from the oldest cursor (minus the reorg window) to the head, for all leaders."""
        self.requests_last_poll = 0
        self._leaders = len(leaders)
        result = PollResult()
        if not leaders:
            return result
        latest = await self.latest_block()
        result.latest_block = latest
        effective: dict[str, int] = {}
        for leader in leaders:
            cursor = cursors.get(leader)
            if cursor is None:
                cursor = start_cursor(self._settings.start_block, latest)
                result.cursors[leader] = cursor
            effective[leader] = cursor
        window = self._settings.confirmations_window
        lo = max(0, min(c + 1 - (window if cursors.get(a) is not None else 0) for a, c in effective.items()))
        if lo > latest:
            return result
        rows = await self.logs(lo, latest, leaders, latest)  # transient errors propagate: cursors stay
        result.fills = sorted(decode_rows(rows, frozenset(leaders), result), key=lambda f: (f.block, f.log_index))
        result.windows.append(Window(frozenset(leaders), lo, latest))
        result.cursors.update(dict.fromkeys(leaders, latest))
        return result
