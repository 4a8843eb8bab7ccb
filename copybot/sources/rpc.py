"""Leader fills from Polygon JSON-RPC, through web3's async HTTP provider.

One ``eth_getLogs`` per block window covers every followed leader on every exchange: the filter
lists the exchange addresses, both OrderFilled topic0s and all leaders' padded addresses as an
OR-list in topic2 (protocol.md §5). Requests per poll = 1 (head) + windows, independent of the
number of leaders. A "range too wide" or "too many results" answer splits the window and
remembers the smaller range. Logs come back raw (hex strings), into the shared decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, Sequence
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
from copybot.sources.base import FUTURE_TOLERANCE_S, PollResult, Window, decode_rows, read_from
from copybot.sources.decode import block_time, hex_int, is_relevant
from copybot.sources.etherscan import FINAL_DEPTH
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Guard, cap_recursion_limit, connect_failure

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


def _result(method: str, response: Any) -> Any:
    """A JSON-RPC answer's ``result``; its ``error`` (or a missing result) as the error tree."""
    if not isinstance(response, Mapping):
        raise MalformedResponse(f"rpc {method}: answer is not an object")
    if response.get("error") is not None:
        raise rpc_error(method, response["error"])
    if "result" not in response:
        raise MalformedResponse(f"rpc {method}: answer has no result")
    return response["result"]


class RpcSource:
    kind = "rpc"

    def __init__(
        self,
        settings: SourceSettings,
        guard: Guard,
        range_cache: CountingCache[list[dict[str, Any]]],
        head_cache: CountingCache[int],
        time_cache: CountingCache[int],
    ) -> None:
        self._settings = settings
        self._guard = guard
        self._ranges = range_cache
        self._head = head_cache
        self._times = time_cache  # block number -> block time, for nodes whose logs lack blockTimestamp
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
            response = await self._send(method, self._provider.make_request(RPCEndpoint(method), params))
            return _result(method, response)

        await self._ensure_session()
        return await self._guard.call(attempt)

    async def _batch(self, method: str, params: Sequence[list[Any]]) -> list[Any]:
        """One JSON-RPC batch of ``method`` calls (one HTTP request); the results in call order."""

        async def attempt() -> list[Any]:
            calls = [(RPCEndpoint(method), p) for p in params]
            answers = await self._send(method, self._provider.make_batch_request(calls))
            if not isinstance(answers, list):  # a whole-batch error comes back as one object
                return [_result(method, answers)]
            if len(answers) != len(params):
                raise MalformedResponse(f"rpc {method}: {len(answers)} answers to a batch of {len(params)}")
            return [_result(method, answer) for answer in answers]

        await self._ensure_session()
        return await self._guard.call(attempt)

    async def _send(self, method: str, request: Awaitable[Any]) -> Any:
        """One request to the node, its transport failures mapped to the error tree."""
        self.requests_last_poll += 1
        try:
            return await request
        except aiohttp.ClientResponseError as exc:
            raise error_for_status(exc.status, f"rpc {method}") from None
        except TimeoutError:
            raise UpstreamUnavailable(f"rpc {method}: timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"rpc {method}: {connect_failure(exc)}") from None
        except (ValueError, RecursionError, Web3Exception):  # RecursionError: nested too deeply
            raise MalformedResponse(f"rpc {method}: body is not JSON-RPC") from None

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

    async def poll(
        self, cursors: Mapping[str, int | None], leaders: Sequence[str], floors: Mapping[str, int] | None = None
    ) -> PollResult:
        """One sweep from the oldest cursor (minus the reorg window, never below where a leader was
        first followed) to the head, for all leaders."""
        self.requests_last_poll = 0
        self._leaders = len(leaders)
        result = PollResult()
        if not leaders:
            return result
        latest = await self.latest_block()
        result.latest_block = latest
        lo = min(read_from(leader, cursors, floors, self._settings, latest, result) for leader in leaders)
        if lo > latest:
            return result
        followed = frozenset(leaders)
        rows = await self.logs(lo, latest, leaders, latest)  # transient errors propagate: cursors stay
        rows = await self.with_block_times(rows, followed)
        not_after = int(self._guard.clock.now()) + FUTURE_TOLERANCE_S
        result.fills = sorted(decode_rows(rows, followed, result, not_after), key=lambda f: (f.block, f.log_index))
        result.windows.append(Window(followed, lo, latest))
        result.cursors.update(dict.fromkeys(leaders, latest))
        return result

    async def with_block_times(self, rows: list[dict[str, Any]], followed: frozenset[str]) -> list[dict[str, Any]]:
        """Followed leaders' logs that came without ``blockTimestamp`` (most nodes still send the
        classic log object) get their block's time from its header: one batch of
        ``eth_getBlockByNumber`` per poll for the blocks not cached yet, so the extra requests are
        bounded by blocks with fills, never by fills. Other logs are left as they came."""
        wanted: dict[int, list[int]] = {}  # block -> indexes of the rows that need its time
        for i, row in enumerate(rows):
            if block_time(row) is None and is_relevant(row, followed):
                try:
                    wanted.setdefault(hex_int(row.get("blockNumber")), []).append(i)
                except MalformedLog:
                    continue  # decoding counts it as malformed
        if not wanted:
            return rows
        times = {block: t for block in wanted if (t := self._times.get(block)) is not None}
        missing = sorted(set(wanted) - set(times))
        if missing:
            headers = await self._batch("eth_getBlockByNumber", [[hex(b), False] for b in missing])
            for block, header in zip(missing, headers, strict=True):
                if not isinstance(header, Mapping):  # not mined, or reorganised away: read the window again
                    raise UpstreamUnavailable(f"rpc eth_getBlockByNumber: block {block} is unknown to the node")
                try:
                    times[block] = hex_int(header.get("timestamp"))
                except MalformedLog:
                    raise MalformedResponse(f"rpc eth_getBlockByNumber: block {block} has no timestamp") from None
                self._times.put(block, times[block])
        out = list(rows)
        for block, indexes in wanted.items():
            for i in indexes:
                out[i] = {**rows[i], "blockTimestamp": hex(times[block])}
        return out
