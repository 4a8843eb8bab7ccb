"""Leader fills from the Etherscan V2 API (``module=logs&action=getLogs`` by topics).

One query per leader and poll: ``topic0`` = V2 OrderFilled AND ``topic2`` = the padded leader
address, from the leader's cursor + 1 to the latest block, paginated (plus one with the V1 topic
for a window that starts before the V2 exchanges existed). Answers for closed block
ranges (older than ``FINAL_DEPTH`` blocks) are cached. Cursors only move after the caller has
stored the fills up to them: :meth:`EtherscanSource.poll` returns new cursors, it stores nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from copybot.config.settings import SourceSettings
from copybot.errors import (
    InvalidApiKey,
    MalformedLog,
    MalformedResponse,
    PermanentUpstreamError,
    RateLimited,
    TransientError,
    UnsupportedChain,
    UpstreamUnavailable,
)
from copybot.protocol import ETHERSCAN_MAX_WINDOW, ORDER_FILLED_V1, ORDER_FILLED_V2, V2_FIRST_BLOCK, pad_address
from copybot.sources.base import FUTURE_TOLERANCE_S, PollResult, Window, decode_rows, read_from
from copybot.sources.decode import hex_int
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Upstream

log = logging.getLogger(__name__)

FINAL_DEPTH = 64  # blocks behind the tip after which a range's answer is treated as immutable


def check_envelope(body: Any) -> list[dict[str, Any]]:
    """Validate an Etherscan ``{status, message, result}`` answer; return the result list.

    Errors arrive with HTTP 200, so the body decides: rate limits are transient, a bad key or
    chain is permanent, "No records found" is an empty page.
    """
    if not isinstance(body, dict) or "status" not in body:
        raise MalformedResponse("etherscan: answer has no status field")
    status, message, result = str(body.get("status")), str(body.get("message", "")), body.get("result")
    if status == "1":
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise MalformedResponse("etherscan: result is not a list of logs")
        return result
    text = result if isinstance(result, str) else message
    lowered = f"{message} {text}".lower()
    if "no records found" in lowered:
        return []
    if "rate limit" in lowered:
        raise RateLimited(f"etherscan: {text}")
    if "invalid api key" in lowered or "missing api key" in lowered:
        raise InvalidApiKey(f"etherscan: {text}")
    if "chainid" in lowered:
        raise UnsupportedChain(f"etherscan: {text}")
    if "deprecated" in lowered:
        raise PermanentUpstreamError(f"etherscan: {text}")
    raise UpstreamUnavailable(f"etherscan: {text[:200]}")


def check_block_number(body: Any) -> int:
    if isinstance(body, dict) and "result" in body and "status" not in body:
        result = body["result"]
        if isinstance(result, str) and not result.lower().startswith("0x"):
            # the proxy module sometimes reports errors as a bare result string
            check_envelope({"status": "0", "message": "NOTOK", "result": result})
        try:
            number = hex_int(result)
        except MalformedLog as exc:
            raise MalformedResponse(f"etherscan eth_blockNumber: {exc}") from None
        if number <= 0:
            raise MalformedResponse("etherscan eth_blockNumber: block number is zero")
        return number
    check_envelope(body)  # raises the matching error
    raise MalformedResponse("etherscan eth_blockNumber: no result")


class EtherscanSource:
    """Per-leader ``getLogs`` under a shared call budget, leaders scheduled fairly.

    Each cycle may spend about ``calls_per_second x poll_interval`` calls: one for the chain head,
    the rest on the leaders polled longest ago (new leaders first). With N leaders and
    ``slots`` leaders per cycle, each leader is polled at least every ceil(N / slots) cycles.
    Each read re-reads the last ``confirmations_window`` blocks, so reorganised fills are seen again.
    """

    kind = "etherscan"

    def __init__(
        self,
        upstream: Upstream,
        settings: SourceSettings,
        api_key: str,
        range_cache: CountingCache[list[dict[str, Any]]],
        head_cache: CountingCache[int],
    ) -> None:
        self._up = upstream
        self._url = settings.etherscan.url  # used as is: base-URL joining would add a trailing slash
        self._settings = settings
        self._key = api_key
        self._ranges = range_cache
        self._head = head_cache
        self._last_polled: dict[str, float] = {}  # only followed leaders: pruned every poll
        self._leaders = 0
        self._day = ""
        self._calls_at_day_start = 0

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"chainid": self._settings.etherscan.chain_id, **extra, "apikey": self._key}

    async def latest_block(self) -> int:
        cached = self._head.get("latest")
        if cached is not None:
            return cached
        number: int = await self._up.get_json(
            self._url, params=self._params(module="proxy", action="eth_blockNumber"), check=check_block_number
        )
        self._head.put("latest", number)
        return number

    async def _page(
        self, leader: str, topic0: str, from_block: int, to_block: int, page: int, closed: bool
    ) -> list[dict[str, Any]]:
        key = (leader, topic0, from_block, to_block, page)
        if closed:
            hit = self._ranges.get(key)
            if hit is not None:
                return hit
        params = self._params(
            module="logs",
            action="getLogs",
            fromBlock=from_block,
            toBlock=to_block,
            topic0=topic0,
            topic2=pad_address(leader),
            topic0_2_opr="and",
            page=page,
            offset=self._settings.etherscan.page_size,
        )
        rows: list[dict[str, Any]] = await self._up.get_json(self._url, params=params, check=check_envelope)
        if closed:
            self._ranges.put(key, rows)
        return rows

    async def leader_logs(self, leader: str, from_block: int, to_block: int, latest: int) -> list[dict[str, Any]]:
        """Every OrderFilled log with ``leader`` as maker in [from_block, to_block], paginated.

        ``topic0`` takes one value per query: the V2 layout always, the V1 layout only for a window
        that starts before the V2 exchanges went live (history), so normal running costs one query.
        """
        out = await self._topic_logs(leader, ORDER_FILLED_V2, from_block, to_block, latest)
        if from_block < V2_FIRST_BLOCK:
            out += await self._topic_logs(leader, ORDER_FILLED_V1, from_block, to_block, latest)
        return out

    async def _topic_logs(
        self, leader: str, topic0: str, from_block: int, to_block: int, latest: int
    ) -> list[dict[str, Any]]:
        """One topic's logs, page after page. Etherscan serves at most page x offset = 10,000
        records per query window; past that the window restarts at the last block seen
        (duplicates are dropped by (tx hash, log index))."""
        size = self._settings.etherscan.page_size
        max_page = ETHERSCAN_MAX_WINDOW // size
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()  # this call's rows only
        start, page = from_block, 1
        while True:
            rows = await self._page(leader, topic0, start, to_block, page, to_block <= latest - FINAL_DEPTH)
            for row in rows:
                k = (str(row.get("transactionHash")), str(row.get("logIndex")))
                if k not in seen:
                    seen.add(k)
                    out.append(row)
            if len(rows) < size:
                return out
            if page < max_page:
                page += 1
                continue
            last_block = hex_int(rows[-1].get("blockNumber"))
            if last_block <= start:  # one block holds > 10,000 of this leader's logs: cannot page further
                log.warning("etherscan: block %s has more logs than one query window returns", start)
                return out
            start, page = last_block, 1

    # ---- budget and scheduling ------------------------------------------------------------
    @property
    def slots(self) -> int:
        """Leaders polled per cycle: the cycle's call budget minus the head call."""
        s = self._settings
        return max(1, math.floor(s.etherscan.calls_per_second * s.poll_interval_s) - 1)

    def effective_period_s(self, leaders: int) -> float:
        """How often each leader is polled at most, given the budget (status shows it)."""
        return math.ceil(max(1, leaders) / self.slots) * self._settings.poll_interval_s

    def calls_today(self) -> int:
        self._roll_day()
        return self._up.stats.calls - self._calls_at_day_start

    def _roll_day(self) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(self._up.clock.now()))
        if day != self._day:
            self._day, self._calls_at_day_start = day, self._up.stats.calls

    def due(self, cursors: Mapping[str, int | None], leaders: Sequence[str]) -> list[str]:
        """This cycle's leaders: never-read ones first, then the longest unpolled, up to ``slots``."""
        ranked = sorted(leaders, key=lambda a: (cursors.get(a) is not None, self._last_polled.get(a, -math.inf)))
        return ranked[: self.slots]

    def health(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "leaders": self._leaders,
            "leaders_per_cycle": self.slots,
            "effective_period_s": self.effective_period_s(self._leaders),
            "calls_today": self.calls_today(),
            "daily_budget": self._settings.etherscan.daily_budget,
        }

    async def aclose(self) -> None:
        """The HTTP client belongs to the app's upstreams; nothing of our own to close."""

    async def poll(
        self, cursors: Mapping[str, int | None], leaders: Sequence[str], floors: Mapping[str, int] | None = None
    ) -> PollResult:
        """Read the due leaders' new fills. Permanent errors propagate; transient ones (after
        retries) leave that leader's cursor where it was."""
        self._leaders = len(leaders)
        self._last_polled = {a: t for a, t in self._last_polled.items() if a in set(leaders)}
        result = PollResult()
        budget = self._settings.etherscan.daily_budget
        if self.calls_today() >= budget:
            msg = f"daily Etherscan budget of {budget} calls used up; polling resumes at 00:00 UTC"
            result.failed = dict.fromkeys(leaders, msg)
            return result
        latest = await self.latest_block()
        result.latest_block = latest
        followed = frozenset(leaders)
        not_after = int(self._up.clock.now()) + FUTURE_TOLERANCE_S
        for leader in self.due(cursors, leaders):
            lo = read_from(leader, cursors, floors, self._settings, latest, result)
            self._last_polled[leader] = self._up.clock.monotonic()
            if lo > latest:
                continue
            try:
                rows = await self.leader_logs(leader, lo, latest, latest)
            except TransientError as exc:
                result.failed[leader] = str(exc)
                continue
            result.fills += [f for f in decode_rows(rows, followed, result, not_after) if f.leader == leader]
            result.windows.append(Window(frozenset({leader}), lo, latest))
            result.cursors[leader] = latest
        result.fills.sort(key=lambda f: (f.block, f.log_index))
        return result
