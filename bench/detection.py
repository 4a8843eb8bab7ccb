"""Detection latency: a leader's fill on the sandbox chain -> its copy decided, per source.

The sandbox mines a block every ``block_time_s`` on the wall clock; a fill's on-chain time is its
block's scheduled time. The latency of a copy is the time its decision was stored minus that.

- copybot: ``copybot watch`` in-process against the sandbox served on loopback (real HTTP, real
  SQLite), ``latency_ms`` injected on every upstream request, Etherscan's 3 calls/s enforced.
- naive: :class:`NaivePoller`, the per-wallet poller: every cycle, the chain head, then one
  ``getLogs`` per leader, one after the other, from its cursor; each new fill gets its book
  (``GET /book``), a paper fill and its own transaction. No cache, no batching, no scheduling
  (on Etherscan it spaces its calls to stay under 3/s, or it would only read rate-limit answers).

Fairness of the percentiles: only fills in blocks mined before the last ``tail`` seconds of a run
count, and a fill not decided by the end counts as "at least (end - its block time)". When such
a lower bound could reach a percentile, the percentile is shown as ``>= x``: the truth is higher.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.common import Section, ratio
from copybot.brokers.paper import walk_book
from copybot.config.loading import parse_settings
from copybot.daemon import watch
from copybot.errors import MalformedLog
from copybot.models import OrderIntent, Side, Skip, to_units
from copybot.protocol import EXCHANGES, ORDER_FILLED_V1, ORDER_FILLED_V2, checksum, pad_address, topic_to_address
from copybot.sandbox import Faults, Sandbox, serve_in_thread
from copybot.sources.decode import decode_log
from copybot.upstream.market import parse_book

FILLS_PER_BLOCK = 3.0  # leader fills per block, about, whatever the number of leaders
# Not a multiple of the poll interval: with 2 s blocks and a 2 s poll every fill would land at the
# same phase of the poll cycle (a constant latency); 1.3 s walks the whole cycle.
BLOCK_TIME_S = 1.3
ETHERSCAN_RATE = 3.0  # the free tier, enforced by the sandbox
UPSTREAMS = ("etherscan", "rpc", "clob", "gamma")


@dataclass
class Latencies:
    """Per fill of the measured window: seconds to its decision, or a lower bound if undecided."""

    decided: list[float]
    censored: list[float]  # undecided by the end: at least this long

    def at(self, q: float) -> tuple[float, bool]:
        """The q-quantile and whether it is exact (False: the truth may be higher)."""
        values = sorted([(v, False) for v in self.decided] + [(v, True) for v in self.censored])
        if not values:
            return math.nan, True
        rank = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
        value = values[rank][0]
        exact = all(c > value for c in self.censored)
        return value, exact

    def show(self, q: float) -> str:
        value, exact = self.at(q)
        if math.isnan(value):
            return "n/a"
        return f"{value:.2f}" if exact else f">= {value:.1f}"


@dataclass
class Detection:
    who: str  # copybot | naive
    source: str
    leaders: int
    seconds: float
    window_fills: int  # leader fills in the measured window
    latencies: Latencies
    requests_per_poll: float  # source requests (getLogs + head) per copybot cycle / naive sweep
    polls: int  # copybot cycles, or complete naive sweeps over all leaders
    rotation_s: float  # how long until every leader has been read once (Etherscan scheduling)


class _Run:
    """A sandbox for one run: fills at a constant rate, latency injected, served on loopback."""

    def __init__(self, leaders: int, latency_ms: float, block_time: float, seed: int) -> None:
        trade_prob = min(0.5, FILLS_PER_BLOCK / leaders)
        self.block_time = block_time
        self.wall0 = time.time()  # the sandbox's block 0 is mined at construction: slightly after this
        self.box = Sandbox(
            seed=seed,
            leaders=leaders,
            markets=20,
            block_time_s=block_time,
            trade_prob=trade_prob,
            noise_prob=0.5,
            etherscan_rate_limit=ETHERSCAN_RATE,
        )
        for upstream in UPSTREAMS:
            self.box.set_faults(upstream, Faults(latency_ms=latency_ms))

    def block_time_of(self, block: int) -> float:
        return self.wall0 + (block - self.box.start_block) * self.block_time

    def window(self, first: int, end: float, tail: float) -> dict[tuple[str, int], float]:
        """Leader fills (maker = leader, from an exchange) in blocks mined from ``first`` until
        ``end - tail``: key -> block time."""
        leaders = set(self.box.leaders)
        last = self.box.start_block + math.floor((end - tail - self.wall0) / self.block_time)
        out = {}
        for log in self.box.logs(first, last):
            if (
                log.address in EXCHANGES
                and log.topics[0] in (ORDER_FILLED_V1, ORDER_FILLED_V2)
                and topic_to_address(log.topics[2]) in leaders
            ):
                out[(log.tx_hash, log.log_index)] = self.block_time_of(log.block_number)
        return out


def _latencies(window: dict[tuple[str, int], float], decided: dict[tuple[str, int], float], end: float) -> Latencies:
    done = [decided[k] - t for k, t in window.items() if k in decided]
    missing = [end - t for k, t in window.items() if k not in decided]
    return Latencies(done, missing)


def _settings(urls: dict[str, str], leaders: list[str], db: Path, start: int, kind: str, poll: float) -> dict[str, Any]:
    return {
        "leaders": [{"address": a} for a in leaders],
        "source": {
            "kind": kind,
            "poll_interval_s": poll,
            "start_block": start,
            "etherscan": {"url": urls["etherscan"], "api_key_env": "BENCH_KEY", "calls_per_second": ETHERSCAN_RATE},
            "rpc": {"url": urls["rpc"]},
        },
        "clob": {"url": urls["clob"]},
        "gamma": {"url": urls["gamma"]},
        "risk": {"max_slippage": "0.2", "max_trade_age_s": 3600},
        "paper": {"starting_bankroll_usdc": 1_000_000},
        "storage": {"path": str(db)},
    }


def run_detection(
    kind: str,
    leaders: int,
    seconds: float,
    tail: float,
    latency_ms: float,
    poll: float = 2.0,
    block_time: float = BLOCK_TIME_S,
    seed: int = 99,
) -> Detection:
    """copybot watch for ``seconds`` on a fresh sandbox."""
    run = _Run(leaders, latency_ms, block_time, seed)
    box = run.box
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(box) as server:
        db = Path(tmp) / "bench.db"
        start = box.latest_block() + 1
        settings = parse_settings(_settings(server.urls, box.leaders, db, start, kind, poll), "bench", environ={})
        box.reset_stats()
        asyncio.run(watch(settings, box.api_key, duration=seconds))
        end = time.time()
        stats = box.stats()
        conn = sqlite3.connect(db)
        decided = {
            (tx, li): at
            for tx, li, at in conn.execute(
                "SELECT f.tx_hash, f.log_index, d.at FROM decisions d JOIN fills f ON f.id = d.fill_id"
            )
        }
        cycles, health = conn.execute("SELECT cycles, source_health FROM heartbeat").fetchone()
        conn.close()
        window = run.window(start, end, tail)
    calls = sum(n for (up, _), n in stats["requests"].items() if up == kind)
    rotation = float(json.loads(health or "{}").get("source", {}).get("effective_period_s", poll))
    return Detection(
        "copybot",
        kind,
        leaders,
        seconds,
        len(window),
        _latencies(window, decided, end),
        calls / max(1, cycles),
        cycles,
        rotation,
    )


# ---- the naive baseline ------------------------------------------------------------------------


class NaivePoller:
    """Per-wallet polling, sequential, no cache: what a first version would do."""

    def __init__(self, kind: str, urls: dict[str, str], api_key: str, leaders: list[str], start: int, db: Path):
        self.kind = kind
        self.urls = urls
        self.api_key = api_key
        self.leaders = leaders
        self.cursor = dict.fromkeys(leaders, start - 1)
        self.conn = sqlite3.connect(db, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE copies (tx TEXT, li INTEGER, at REAL, shares INTEGER, PRIMARY KEY (tx, li))")
        self.requests = 0
        self.sweep_s: list[float] = []  # duration of each complete sweep over all leaders
        self.copied = 0
        self.stop_after: int | None = None  # stop once this many fills are copied (the burst benchmark)
        self._last_call = 0.0

    async def _space(self) -> None:
        if self.kind == "etherscan":  # stay under the free tier's 3 calls/s, with a small margin
            wait = self._last_call + 1.05 / ETHERSCAN_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_call = time.monotonic()

    async def _rpc(self, client: httpx.AsyncClient, method: str, params: list[Any]) -> Any:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return (await client.post(self.urls["rpc"], json=payload)).json().get("result")

    async def _etherscan(self, client: httpx.AsyncClient, **params: str | int) -> Any:
        params.update(chainid=137, apikey=self.api_key)
        return (await client.get(self.urls["etherscan"], params=params)).json()

    async def head(self, client: httpx.AsyncClient) -> int:
        await self._space()
        self.requests += 1
        if self.kind == "rpc":
            return int(await self._rpc(client, "eth_blockNumber", []), 16)
        return int((await self._etherscan(client, module="proxy", action="eth_blockNumber"))["result"], 16)

    async def logs(self, client: httpx.AsyncClient, leader: str, lo: int, hi: int) -> list[dict[str, Any]]:
        """One leader's OrderFilled logs as maker, by topics, like copybot's Etherscan query."""
        await self._space()
        self.requests += 1
        if self.kind == "rpc":
            exchanges = sorted(checksum(a) for a in EXCHANGES)
            topics = [[ORDER_FILLED_V1, ORDER_FILLED_V2], None, pad_address(leader)]
            flt = {"fromBlock": hex(lo), "toBlock": hex(hi), "address": exchanges, "topics": topics}
            return list(await self._rpc(client, "eth_getLogs", [flt]) or [])
        body = await self._etherscan(
            client,
            module="logs",
            action="getLogs",
            fromBlock=lo,
            toBlock=hi,
            topic0=ORDER_FILLED_V2,
            topic2=pad_address(leader),
            topic0_2_opr="and",
            page=1,
            offset=1000,
        )
        return list(body["result"]) if body.get("status") == "1" else []

    async def copy(self, clob: httpx.AsyncClient, row: dict[str, Any], leader: str) -> None:
        try:
            fill = decode_log(row, {leader})
        except MalformedLog:
            return
        if fill is None:
            return
        book = parse_book((await clob.get("/book", params={"token_id": str(fill.token_id)})).json(), fill.token_id)
        if fill.side is Side.BUY:
            intent = OrderIntent(fill.token_id, Side.BUY, to_units(Decimal(10)), fill.price + Decimal("0.2"))
        else:
            intent = OrderIntent(fill.token_id, Side.SELL, fill.shares, None)
        result = walk_book(book, intent)
        shares = 0 if isinstance(result, Skip) else result.shares
        with self.conn:  # one transaction per fill
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO copies VALUES (?, ?, ?, ?)", (fill.tx_hash, fill.log_index, time.time(), shares)
            )
        self.copied += cur.rowcount

    def done(self) -> bool:
        return self.stop_after is not None and self.copied >= self.stop_after

    async def run(self, seconds: float, poll: float) -> None:
        deadline = time.monotonic() + seconds
        async with (
            httpx.AsyncClient(timeout=30) as client,
            httpx.AsyncClient(base_url=self.urls["clob"], timeout=30) as clob,
        ):
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                latest = await self.head(client)
                read = 0
                for leader in self.leaders:
                    if time.monotonic() >= deadline or self.done():
                        return
                    lo = self.cursor[leader] + 1
                    if lo > latest:
                        continue
                    for row in await self.logs(client, leader, lo, latest):
                        await self.copy(clob, row, leader)
                    self.cursor[leader] = latest
                    read += 1
                if read == len(self.leaders):  # not the empty first sweep before any new block
                    self.sweep_s.append(time.monotonic() - t0)
                wait = poll - (time.monotonic() - t0)
                if wait > 0:
                    await asyncio.sleep(min(wait, deadline - time.monotonic()))

    def decided(self) -> dict[tuple[str, int], float]:
        return {(tx, li): at for tx, li, at in self.conn.execute("SELECT tx, li, at FROM copies")}


def run_naive(
    kind: str,
    leaders: int,
    seconds: float,
    tail: float,
    latency_ms: float,
    poll: float = 2.0,
    block_time: float = BLOCK_TIME_S,
    seed: int = 99,
) -> Detection:
    run = _Run(leaders, latency_ms, block_time, seed)
    box = run.box
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(box) as server:
        start = box.latest_block() + 1
        poller = NaivePoller(kind, server.urls, box.api_key, box.leaders, start, Path(tmp) / "naive.db")
        asyncio.run(poller.run(seconds, poll))
        end = time.time()
        window = run.window(start, end, tail)
        decided = poller.decided()
        poller.conn.close()
    # a sweep that never completed took at least the whole run
    sweep = max(poll, statistics.mean(poller.sweep_s)) if poller.sweep_s else seconds
    # by construction one head call and one getLogs per leader per sweep
    return Detection(
        "naive",
        kind,
        leaders,
        seconds,
        len(window),
        _latencies(window, decided, end),
        1 + leaders,
        len(poller.sweep_s),
        sweep,
    )


# ---- the section -------------------------------------------------------------------------------

# (source, leaders, run seconds, tail seconds): a run is long enough for one full Etherscan rotation
# where that fits in a few minutes (100 leaders: 40 s); with 1000 leaders a rotation takes 400 s
# (5 leaders per 2 s cycle under 3 calls/s), longer than the run: those rows are lower bounds.
PLAN: list[tuple[str, int, float, float]] = [
    ("rpc", 10, 45, 10),
    ("rpc", 100, 45, 10),
    ("rpc", 1000, 60, 10),
    ("etherscan", 10, 45, 10),
    ("etherscan", 100, 100, 45),
    ("etherscan", 1000, 120, 60),
]
# --detection-full-rotation: Etherscan with 1000 leaders for a whole rotation (about 15 minutes more)
FULL_ROTATION = ("etherscan", 1000, 480.0, 420.0)


def run(
    latency_ms: float,
    plan: list[tuple[str, int, float, float]] | None = None,
    poll: float = 2.0,
    full_rotation: bool = False,
) -> Section:
    t0 = time.perf_counter()
    intro = (
        f"Sandbox on loopback, {latency_ms:.0f} ms injected on every upstream request, a block every "
        f"{BLOCK_TIME_S:g} s with about {FILLS_PER_BLOCK:.0f} leader fills, poll interval {poll:g} s, Etherscan "
        "limited to 3 calls/s. copybot = `copybot watch` in-process; naive = sequential per-wallet `getLogs` each "
        "cycle from a cursor, no cache, then `GET /book` + paper fill + one transaction per fill. Latency = decision "
        "stored - block time, over the fills of blocks mined before the run's last *tail* seconds; `>= x`: fills "
        "still undecided at the end reach that percentile, the truth is higher. Rotation = time until every leader "
        "has been read once."
    )
    headers = "source, leaders|run s (tail)|window fills|decided copybot / naive|copybot p50|copybot p99|naive p50|"
    headers += "naive p99|p99 ratio|requests/poll copybot|requests/sweep naive|rotation copybot / naive s|"
    headers += f"p99 <= {poll + 0.3:g} s"
    section = Section("detection", "Detection latency: leader fill on chain -> copy decided", intro, headers.split("|"))
    plan = plan or [FULL_ROTATION if full_rotation and p[:2] == FULL_ROTATION[:2] else p for p in PLAN]
    for kind, leaders, seconds, tail in plan:
        ours = run_detection(kind, leaders, seconds, tail, latency_ms, poll)
        naive = run_naive(kind, leaders, seconds, tail, latency_ms, poll)
        section.rows.append(_row(ours, naive, seconds, tail, poll))
        section.headline.append(_headline(ours, naive, poll))
        print("  " + " | ".join(section.rows[-1]), flush=True)
        if ours.rotation_s > seconds:
            section.notes.append(
                f"{kind}, {leaders} leaders: a full rotation takes {ours.rotation_s:.0f} s, longer than the "
                f"{seconds:.0f} s run (copybot decided {len(ours.latencies.decided)} of {ours.window_fills} window "
                f"fills): its percentiles are lower bounds, and its p99 is about one rotation plus a cycle. "
                "`python -m bench detection --detection-full-rotation` runs Etherscan/1000 for 480 s per side."
            )
    section.notes.append(
        "The naive poller reads each leader up to the head it read at the start of its sweep: a fill mined during "
        "a sweep waits for the next sweep, so its latency reaches two sweeps."
    )
    section.seconds = time.perf_counter() - t0
    return section


def _row(ours: Detection, naive: Detection, seconds: float, tail: float, poll: float) -> list[str]:
    p99, exact = ours.latencies.at(0.99)
    n99, naive_exact = naive.latencies.at(0.99)
    # a lower bound on the naive side makes the ratio a lower bound; one on ours makes it unknown
    speedup = "n/a" if not exact else ("" if naive_exact else ">= ") + ratio(n99, p99)
    target = ""
    if ours.source == "rpc":
        target = "yes" if exact and p99 <= poll + 0.3 else "NO"
    return [
        f"{ours.source}, {ours.leaders}",
        f"{seconds:.0f} ({tail:.0f})",
        str(ours.window_fills),
        f"{len(ours.latencies.decided)} / {len(naive.latencies.decided)}",
        ours.latencies.show(0.5),
        ours.latencies.show(0.99),
        naive.latencies.show(0.5),
        naive.latencies.show(0.99),
        speedup,
        f"{ours.requests_per_poll:.1f}",
        f"{naive.requests_per_poll:.1f}",
        f"{ours.rotation_s:.0f} / {'>= ' if not naive.polls else ''}{naive.rotation_s:.0f}",
        target,
    ]


def _headline(ours: Detection, naive: Detection, poll: float) -> list[str]:
    p99, exact = ours.latencies.at(0.99)
    what = f"detection p50 / p99, {ours.source}, {ours.leaders:,} leaders"
    result = (
        f"{ours.latencies.show(0.5)} / {ours.latencies.show(0.99)} s (naive {naive.latencies.show(0.5)} / "
        f"{naive.latencies.show(0.99)} s)"
    )
    if ours.source != "rpc":
        return [what, result + f", every leader read every {ours.rotation_s:.0f} s", "", ""]
    return [what, result, f"p99 <= {poll + 0.3:g} s", "yes" if exact and p99 <= poll + 0.3 else "NO"]
