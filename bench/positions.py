"""Position management: one cycle of ``PositionManager.manage()`` against a naive sequential loop.

The sandbox is served on loopback (real HTTP, uvicorn in a thread) with ``latency_ms`` injected
on every CLOB and Gamma request. Both sides start from a real SQLite file holding the same open
positions, created directly with ``store.ledger.apply_trade`` (one transaction).

- copybot: ``manage()`` then ``mark_unpriced()``, through the app ``build_app`` composes: one
  batched ``POST /prices`` per 100 tokens, books once per token for the exits, closes concurrent.
- naive: the original design's loop: per position, ``GET /price``, mark it, and if an exit rule
  fires, ``GET /book`` and close it, one position after the other.

"exits" cases set ``exits.stop_loss`` and open every position at 0.99, so every position is
closed in the measured cycle (each side on its own copy of the positions).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import httpx

from bench.common import Section, median, ratio, secs
from copybot.app import App, build_app
from copybot.brokers.paper import walk_book
from copybot.config.loading import parse_settings
from copybot.config.settings import ExitSettings, Settings
from copybot.models import MarketInfo, OrderIntent, Side, Skip
from copybot.protocol import LOT, UNIT
from copybot.rules.exits import exit_reason
from copybot.rules.sizing import sell_bound
from copybot.sandbox import Faults, Sandbox, serve_in_thread
from copybot.store import Store
from copybot.store.ledger import ExitOutcome, apply_trade
from copybot.upstream.market import parse_book

STOP_LOSS = Decimal("0.01")  # with positions bought at 0.99, every position is below its stop
TARGET_S = 0.2
REFERENCE = "original design, 200 positions / 50 markets: sequential 12 s, optimized 3.5 s; target < 0.2 s"


def _settings(urls: dict[str, str], db: Path, exits: bool) -> Settings:
    data = {
        "clob": {"url": urls["clob"]},
        "gamma": {"url": urls["gamma"]},
        "source": {"etherscan": {"url": urls["etherscan"]}},
        "exits": {"stop_loss": str(STOP_LOSS)} if exits else {},
        "paper": {"starting_bankroll_usdc": 1_000_000},
        "storage": {"path": str(db)},
    }
    return parse_settings(data, "bench", environ={})


def open_positions(store: Store, box: Sandbox, count: int, exits: bool) -> None:
    """``count`` positions spread over every token of the sandbox (several leaders per token)."""
    tokens = [(t, m, i) for m in box.markets for i, t in enumerate(m.tokens)]
    now = time.time()
    shares = 100 * UNIT
    cost = shares * 99 // 100 if exits else shares // 2  # paid 0.99 (stop loss fires) or 0.50
    with store.tx() as c:
        for n in range(count):
            token, market, index = tokens[n % len(tokens)]
            leader = f"0x{n // len(tokens) + 1:040x}"
            info = MarketInfo(token, market.condition_id, market.outcomes[index])
            apply_trade(c, leader, token, Side.BUY, shares, cost, info, now)


def _clob_requests(box: Sandbox) -> int:
    return sum(n for (upstream, _), n in box.stats()["requests"].items() if upstream in ("clob", "gamma"))


async def copybot_cycle(app: App, box: Sandbox) -> tuple[float, int, int]:
    """One position-management cycle as the daemon runs it: (seconds, requests, positions closed)."""
    box.reset_stats()
    t0 = time.perf_counter()
    closed = await app.positions.manage()
    await app.positions.mark_unpriced()
    return time.perf_counter() - t0, _clob_requests(box), sum(1 for e in closed if e.status == "filled")


async def naive_cycle(store: Store, client: httpx.AsyncClient, exits: ExitSettings) -> tuple[float, int, int]:
    """The sequential design: one price request per position, and each close right after it."""
    t0 = time.perf_counter()
    requests = closed = 0
    for held in store.open_positions():
        token = held.token_id
        answer = await client.get("/price", params={"token_id": str(token), "side": "BUY"})
        requests += 1
        bid = Decimal(answer.json()["price"])
        now = time.time()
        store.update_marks({token: bid}, now)
        position = replace(held, high_water=None)  # the naive design keeps no high-water bid
        signal = exit_reason(position, bid, now, exits)
        if signal is None:
            continue
        book = parse_book((await client.get("/book", params={"token_id": str(token)})).json(), token)
        requests += 1
        shares = position.shares - position.shares % LOT
        intent = OrderIntent(token, Side.SELL, shares, sell_bound(bid, Decimal("0.02"), book.tick_size))
        result = walk_book(book, intent)
        if isinstance(result, Skip):
            continue
        key = f"exit:{held.leader}:{token}:{int(now * 1000)}"
        store.record_exit(ExitOutcome(held.leader, token, signal.rule, key, intent, result), "paper", now)
        closed += 1
    return time.perf_counter() - t0, requests, closed


def run_case(positions: int, markets: int, exits: bool, latency_ms: float, repeats: int) -> Case:
    box = Sandbox(seed=5, leaders=0, markets=markets, trade_prob=0.0, noise_prob=0.0, etherscan_rate_limit=None)
    for upstream in ("clob", "gamma"):
        box.set_faults(upstream, Faults(latency_ms=latency_ms))
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(box) as server:
        settings = _settings(server.urls, Path(tmp) / "copybot.db", exits)

        async def ours() -> tuple[float, int, int]:
            app = build_app(settings, "bench-key")
            try:
                open_positions(app.store, box, positions, exits)
                runs = [await copybot_cycle(app, box) for _ in range(1 if exits else repeats)]
            finally:
                await app.aclose()
            return median([r[0] for r in runs]), runs[0][1], runs[0][2]

        async def naive() -> tuple[float, int, int]:
            store = Store.open(Path(tmp) / "naive.db")
            store.init_paper("paper", 1_000_000 * UNIT, time.time())
            open_positions(store, box, positions, exits)
            try:
                async with httpx.AsyncClient(base_url=server.urls["clob"], timeout=30) as client:
                    return await naive_cycle(store, client, settings.exits)
            finally:
                store.close()

        fast_s, fast_req, fast_closed = asyncio.run(ours())
        slow_s, slow_req, slow_closed = asyncio.run(naive())
    return Case(positions, markets, exits, slow_s, fast_s, slow_req, fast_req, slow_closed, fast_closed)


@dataclass
class Case:
    positions: int
    markets: int
    exits: bool
    naive_s: float
    copybot_s: float
    naive_requests: int
    copybot_requests: int
    naive_closed: int
    copybot_closed: int

    @property
    def name(self) -> str:
        return f"{self.positions} positions / {self.markets} markets" + (", all exit (stop loss)" if self.exits else "")

    def row(self) -> list[str]:
        target = "" if self.exits else ("yes" if self.copybot_s < TARGET_S else "NO")
        return [
            self.name,
            secs(self.naive_s),
            secs(self.copybot_s),
            str(self.naive_requests),
            str(self.copybot_requests),
            f"{self.naive_closed} / {self.copybot_closed}",
            ratio(self.naive_s, self.copybot_s),
            target,
        ]

    def headline(self) -> list[str]:
        requests = f"{self.copybot_requests} request" + ("" if self.copybot_requests == 1 else "s")
        result = (
            f"{secs(self.copybot_s)} s, {requests} (naive {secs(self.naive_s)} s, "
            f"{ratio(self.naive_s, self.copybot_s)})"
        )
        if self.exits:
            return [f"cycle closing all {self.name.split(',')[0]}", result, "", ""]
        return [f"cycle, {self.name}", result, f"< {TARGET_S:g} s", "yes" if self.copybot_s < TARGET_S else "NO"]


def run(latency_ms: float, cases: list[tuple[int, int, bool]] | None = None, repeats: int = 5) -> Section:
    t0 = time.perf_counter()
    plan = cases or [(200, 50, False), (1000, 200, False), (200, 50, True), (1000, 200, True)]
    section = Section(
        "positions",
        "Position management: one cycle",
        f"Sandbox over loopback HTTP with {latency_ms:.0f} ms injected on every CLOB/Gamma request. copybot = "
        "`PositionManager.manage()` + `mark_unpriced()` (median of "
        f"{repeats} cycles without exits, 1 with); naive = per position `GET /price`, and `GET /book` + close "
        "right after it when an exit fires, sequentially.",
        [
            "case",
            "naive s",
            "copybot s",
            "naive requests",
            "copybot requests",
            "closed naive / copybot",
            "speed-up",
            "< 0.2 s",
        ],
    )
    for positions, markets, exits in plan:
        case = run_case(positions, markets, exits, latency_ms, repeats)
        section.rows.append(case.row())
        section.headline.append(case.headline())
        print("  " + " | ".join(section.rows[-1]), flush=True)
    section.notes.append(f"Reference: {REFERENCE}.")
    section.seconds = time.perf_counter() - t0
    return section
