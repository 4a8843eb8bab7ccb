"""``make bench``: copybot's request patterns against a naive baseline, on the sandbox.

Every upstream request pays an injected latency (50 ms by default, like a real API far away), so
the numbers measure round trips, not this machine's CPU. Results are printed as a table and
written to ``bench/RESULTS.md`` with the machine they ran on; compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from copybot.cache import CountingCache
from copybot.clock import SystemClock
from copybot.http import Upstream, build_client
from copybot.market import MarketData, parse_book
from copybot.sandbox import Sandbox


class SlowTransport(httpx.AsyncBaseTransport):
    """The in-process sandbox behind a fixed network latency per request; counts requests."""

    def __init__(self, app: object, latency_s: float) -> None:
        self._inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self._latency = latency_s
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        await asyncio.sleep(self._latency)
        return await self._inner.handle_async_request(request)


@dataclass
class Row:
    case: str
    naive_s: float
    copybot_s: float
    naive_requests: int
    copybot_requests: int

    @property
    def speedup(self) -> float:
        return self.naive_s / self.copybot_s if self.copybot_s else float("inf")


def market_data(box: Sandbox, transport: SlowTransport) -> MarketData:
    clock = SystemClock()
    clob = Upstream("clob", build_client("http://sandbox/clob", 10, 16, transport), clock)
    gamma = Upstream("gamma", build_client("http://sandbox/gamma", 10, 8, transport), clock)
    return MarketData(clob, gamma, CountingCache(10_000, 3600, clock), max_concurrency=8)


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def bench_batch_books(box: Sandbox, latency: float) -> Row:
    """A batch of ten leader fills over six tokens: the books the executor needs."""
    tokens = [m.tokens[i % 2] for i, m in enumerate(box.markets[:6])]
    fills = [tokens[i % len(tokens)] for i in range(10)]
    naive_t, fast_t = SlowTransport(box.app, latency), SlowTransport(box.app, latency)
    naive_client = httpx.AsyncClient(transport=naive_t, base_url="http://sandbox/clob")

    async def naive() -> None:  # one GET /book per fill, one after the other
        for token in fills:
            parse_book((await naive_client.get("/book", params={"token_id": str(token)})).json(), token)

    md = market_data(box, fast_t)
    row = Row("batch of 10 fills, 6 tokens: books", await timed(naive), await timed(lambda: md.books(fills)),
              naive_t.requests, fast_t.requests)  # fmt: skip
    await naive_client.aclose()
    return row


async def bench_marks(box: Sandbox, latency: float, positions: int) -> Row:
    """Marking open positions: every position's best bid."""
    all_tokens = [t for m in box.markets for t in m.tokens]
    held = [all_tokens[i % len(all_tokens)] for i in range(positions)]
    naive_t, fast_t = SlowTransport(box.app, latency), SlowTransport(box.app, latency)
    naive_client = httpx.AsyncClient(transport=naive_t, base_url="http://sandbox/clob")

    async def naive() -> None:  # one GET /price per position, sequential
        for token in held:
            (await naive_client.get("/price", params={"token_id": str(token), "side": "BUY"})).json()

    md = market_data(box, fast_t)
    row = Row(f"mark {positions} positions, {len(box.markets)} markets", await timed(naive),
              await timed(lambda: md.best_bids(held)), naive_t.requests, fast_t.requests)  # fmt: skip
    await naive_client.aclose()
    return row


def table(rows: list[Row], latency: float) -> str:
    lines = [
        f"Injected latency per request: {latency * 1000:.0f} ms. Naive = one request per item, sequential.",
        "",
        "| case | naive s | copybot s | naive requests | copybot requests | speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.naive_s:.3f} | {r.copybot_s:.3f} | {r.naive_requests} | {r.copybot_requests} "
            f"| {r.speedup:.1f}x |"
        )
    return "\n".join(lines)


async def main(latency: float) -> list[Row]:
    box = Sandbox(seed=3, leaders=0, markets=50, trade_prob=0.0, noise_prob=0.0)
    return [
        await bench_batch_books(box, latency),
        await bench_marks(box, latency, 200),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    rows = asyncio.run(main(latency))
    text = table(rows, latency)
    print(text)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    args.out.write_text(
        f"# Benchmark results\n\nGenerated by `make bench` on {time.strftime('%Y-%m-%d')} ({machine}).\n\n{text}\n",
        encoding="utf-8",
    )
