"""Throughput: decode -> dedupe -> risk -> paper fill -> store, on a real SQLite file.

The fills are real wire logs: V2 ``OrderFilled`` logs ABI-encoded and sealed into blocks by the
sandbox's own encoder (``copybot.sandbox.chain``), rendered as ``eth_getLogs`` records. Each poll
carries new blocks plus a re-read of the previous poll's last blocks (duplicates, as the
confirmations window produces), and the window it covers (reorg check).

- pure pipeline, batched: per poll ``decode_rows`` -> ``Store.save_poll`` -> ``Store.pending_fills``
  -> ``risk.decide`` -> ``brokers.paper.walk_book`` -> ``Store.record_outcomes`` (one transaction
  for the poll's fills, one for its decisions);
- naive: the same steps, one transaction per fill (the fill and its decision together);
- executor: ``Executor.run_pending`` itself (batches of ten, exposure and kill-switch reads,
  an order intent per copy) with an in-memory market (books without network);
- burst: 500 leader fills injected into one sandbox block, ``copybot watch`` (rpc source, 50 ms
  on every request) until all are decided, against the naive poller of the detection benchmark.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import Section, ratio, secs
from copybot.brokers.paper import PaperBroker, walk_book
from copybot.clock import SystemClock
from copybot.config.loading import parse_settings
from copybot.config.settings import RiskSettings, Settings
from copybot.errors import CopybotError
from copybot.models import (
    Book,
    CopyOutcome,
    Decision,
    DecisionContext,
    FeeRate,
    Fill,
    MarketInfo,
    OrderIntent,
    Reason,
    Side,
    Skip,
)
from copybot.protocol import UNIT
from copybot.rules.risk import decide
from copybot.sandbox import Sandbox
from copybot.sandbox.activity import random_address, random_hash
from copybot.sandbox.book import PRICE_SCALE, SIZE_STEP
from copybot.sandbox.chain import Tx, order_filled, seal
from copybot.sources.base import PollResult, Window, decode_rows
from copybot.store import PendingFill, Store
from copybot.store.fills import insert_fill
from copybot.store.ledger import apply_trade, record_copy
from copybot.trading.executor import Executor

MODE = "paper"
BANKROLL = 10**12 * UNIT  # never the limit: every copy is sized, walked and stored
HISTORY = 20_000  # stored fills of one leader: about 90 days (the retention) of an active trader
# the longest trade age allowed (30 days): the stream's fills are fresh anyway
RISK = {"sizing": "fixed", "fixed_usdc": 10, "max_slippage": "0.2", "max_trade_age_s": 30 * 86_400}


def bench_settings(db: Path, **extra: Any) -> Settings:
    data = {"risk": RISK, "paper": {"starting_bankroll_usdc": 10**12}, "storage": {"path": str(db)}, **extra}
    return parse_settings(data, "bench", environ={})


class FillStream:
    """Leader fills as ``eth_getLogs`` records, block after block; each leader trades its own tokens."""

    def __init__(
        self,
        leaders: int,
        tokens_per_leader: int,
        markets: int = 50,
        seed: int = 11,
        fills_per_block: int = 50,
        reread_blocks: int = 2,
    ) -> None:
        self.rng = random.Random(seed)
        box = Sandbox(seed=seed, leaders=0, markets=markets, trade_prob=0.0, noise_prob=0.0)
        self.books: dict[int, Book] = {}
        self.infos: dict[int, MarketInfo] = {}
        self.exchange: dict[int, str] = {}
        for m in box.markets:
            for i, t in enumerate(m.tokens):
                self.books[t] = box.book(t)
                self.infos[t] = MarketInfo(t, m.condition_id, m.outcomes[i], m.question, m.slug)
                self.exchange[t] = m.exchange
        tokens = sorted(self.books)
        self.leaders = [random_address(self.rng) for _ in range(leaders)]
        # each leader trades its own few tokens: its (leader, token) pairs are its positions
        self.tokens_of = {
            a: [tokens[(i * 7 + j) % len(tokens)] for j in range(tokens_per_leader)] for i, a in enumerate(self.leaders)
        }
        self.followed = frozenset(self.leaders)
        self.held: dict[tuple[str, int], int] = {}  # what each leader holds, so SELLs are real exits
        self.block = 95_000_000
        self.fills_per_block = fills_per_block
        self.reread_blocks = reread_blocks
        self._recent: list[list[dict[str, Any]]] = []  # the last blocks' records, re-read by the next poll

    def _fill(self) -> Any:
        rng = self.rng
        leader = rng.choice(self.leaders)
        token = rng.choice(self.tokens_of[leader])
        book = self.books[token]
        held = self.held.get((leader, token), 0)
        if held >= 10 * UNIT and rng.random() < 0.2:
            side, shares = Side.SELL, held // rng.choice((1, 2, 4))
            shares -= shares % SIZE_STEP
            price = int((book.best_bid or Decimal("0.5")) * PRICE_SCALE)
            self.held[(leader, token)] = held - shares
        else:
            side, shares = Side.BUY, rng.randint(10, 200) * UNIT
            price = int((book.best_ask or Decimal("0.5")) * PRICE_SCALE)
            self.held[(leader, token)] = held + shares
        exchange = self.exchange[token]
        collateral = shares * price // PRICE_SCALE
        log = order_filled(
            exchange=exchange,
            order_hash=rng.getrandbits(256),
            maker=leader,
            taker=exchange,
            side=side,
            token_id=token,
            shares=shares,
            collateral=collateral,
        )
        return Tx(random_hash(rng), 30 * 10**9, 145_000, (log,))

    def poll(self, blocks: int) -> tuple[list[dict[str, Any]], PollResult]:
        """The next ``blocks`` blocks as one poll's records (plus the re-read), and its window."""
        now = int(time.time())
        fresh = []
        for _ in range(blocks):
            self.block += 1
            txs = [self._fill() for _ in range(self.fills_per_block)]
            fresh.append([log.to_rpc() for log in seal(self.block, random_hash(self.rng), now, txs).logs])
        rows = [r for block in self._recent + fresh for r in block]
        lo = self.block - blocks + 1 - len(self._recent)
        self._recent = (self._recent + fresh)[-self.reread_blocks :] if self.reread_blocks else []
        result = PollResult(cursors=dict.fromkeys(self.leaders, self.block), latest_block=self.block)
        result.windows.append(Window(self.followed, lo, self.block))
        return rows, result

    def polls(self, fills: int, fills_per_poll: int) -> list[tuple[list[dict[str, Any]], PollResult]]:
        blocks = max(1, fills_per_poll // self.fills_per_block)
        return [self.poll(blocks) for _ in range(max(1, fills // (blocks * self.fills_per_block)))]


class Decider:
    """The executor's running view of our side, so each decision sees the copies before it."""

    def __init__(self, stream: FillStream, risk: RiskSettings, cash: int) -> None:
        self.stream = stream
        self.risk = risk
        self.cash = cash
        self.token_cost: dict[int, int] = {}
        self.market_cost: dict[str, int] = {}
        self.total_cost = 0
        self.ours: dict[tuple[str, int], int] = {}  # shares we hold per (leader, token)

    def outcome(self, p: PendingFill) -> CopyOutcome:
        f = p.fill
        book, info = self.stream.books[f.token_id], self.stream.infos[f.token_id]
        ctx = DecisionContext(
            now=time.time(),
            cash=self.cash,
            our_shares=self.ours.get((f.leader, f.token_id), 0),
            leader_holding=p.leader_holding_before,
            market=info,
            book=book,
            book_age_s=0.0,
            equity=self.cash + self.total_cost,
            total_cost=self.total_cost,
            token_cost=self.token_cost.get(f.token_id, 0),
            market_cost=self.market_cost.get(info.condition_id, 0),
            open_positions=len(self.token_cost),
            holds_token=self.token_cost.get(f.token_id, 0) > 0,
        )
        verdict = decide(f, ctx, self.risk)
        if isinstance(verdict, Skip):
            return CopyOutcome.skipped(f, verdict, info)
        result = walk_book(book, verdict)
        if isinstance(result, Skip):
            details = dict(verdict.details)
            return CopyOutcome(f, Decision.SKIPPED, result.code, result.reason, verdict, market=info, details=details)
        self._apply(f, info, verdict, result.shares, result.collateral)
        return CopyOutcome(
            f,
            Decision.FILLED,
            Reason.COPIED,
            "copied",
            verdict,
            result,
            info,
            dict(verdict.details),
            client_key=f"{f.tx_hash}:{f.log_index}:0",
            order_id=f"paper-{uuid.uuid4().hex}",
        )

    def _apply(self, f: Fill, info: MarketInfo, intent: OrderIntent, shares: int, usdc: int) -> None:
        key = (f.leader, f.token_id)
        if intent.side is Side.BUY:
            self.cash -= usdc
            self.token_cost[f.token_id] = self.token_cost.get(f.token_id, 0) + usdc
            self.market_cost[info.condition_id] = self.market_cost.get(info.condition_id, 0) + usdc
            self.total_cost += usdc
            self.ours[key] = self.ours.get(key, 0) + shares
        else:
            self.cash += usdc
            self.ours[key] = self.ours.get(key, 0) - shares


def batched(store: Store, decider: Decider, rows: list[dict[str, Any]], poll: PollResult) -> int:
    """One poll through the whole pipeline, a transaction per step. Returns the decisions stored."""
    poll.fills = sorted(decode_rows(rows, decider.stream.followed, poll), key=lambda f: (f.block, f.log_index))
    store.save_poll(poll, time.time())
    pending = store.pending_fills(100_000)
    store.record_outcomes([(p.fill_id, decider.outcome(p)) for p in pending], MODE, time.time())
    return len(pending)


def naive(store: Store, decider: Decider, rows: list[dict[str, Any]], poll: PollResult) -> int:
    """The same poll, one transaction per fill: insert it, decide, store the decision."""
    done = 0
    for row in rows:
        fills = decode_rows([row], decider.stream.followed, poll)
        if not fills:
            continue
        f = fills[0]
        with store.tx() as c:
            if insert_fill(c, f, {f.key}, (), time.time()) != "new":
                continue
            fill_id, before = c.execute(
                "SELECT id, leader_holding_before FROM fills WHERE tx_hash = ? AND log_index = ?", f.key
            ).fetchone()
            record_copy(c, fill_id, decider.outcome(PendingFill(fill_id, f, before)), MODE, time.time())
        done += 1
    return done


def open_store(path: Path) -> Store:
    store = Store.open(path)
    store.init_paper(MODE, BANKROLL, time.time())
    return store


def preload_positions(store: Store, stream: FillStream, count: int) -> int:
    """Open positions for the stream's (leader, token) pairs, up to ``count``, in one transaction."""
    pairs = [(a, t) for a in stream.leaders for t in stream.tokens_of[a]][:count]
    with store.tx() as c:
        for leader, token in pairs:
            apply_trade(c, leader, token, Side.BUY, 20 * UNIT, 10 * UNIT, stream.infos[token], time.time())
    return len(pairs)


def measure(
    step: Any, store: Store, decider: Decider, polls: Sequence[tuple[list[dict[str, Any]], PollResult]]
) -> tuple[int, float]:
    t0 = time.perf_counter()
    decided = sum(step(store, decider, rows, poll) for rows, poll in polls)
    return decided, time.perf_counter() - t0


class MemoryMarket:
    """``MarketData`` without the network: the executor gets the stream's books and metadata."""

    def __init__(self, stream: FillStream) -> None:
        self.stream = stream

    async def books(self, token_ids: Iterable[int]) -> dict[int, Book | CopybotError]:
        return {t: self.stream.books[t] for t in token_ids}

    async def market_info(self, token_ids: Iterable[int]) -> dict[int, MarketInfo]:
        return {t: self.stream.infos[t] for t in token_ids}

    async def fee_rates(self, condition_ids: Iterable[str]) -> dict[str, FeeRate | None]:
        return dict.fromkeys(condition_ids)  # fee-free markets (a cache hit in copybot's MarketData)


def executor_rate(tmp: Path, fills: int, positions: int) -> tuple[int, float, int]:
    """``Executor.run_pending`` over ``fills`` stored pending fills: (decided, seconds, open positions)."""
    stream = FillStream(1000, 10, seed=21)
    store = open_store(tmp / f"executor-{positions}.db")
    opened = preload_positions(store, stream, positions)
    decider = Decider(stream, bench_settings(tmp / "unused.db").risk, BANKROLL)
    for rows, poll in stream.polls(fills, 500):
        poll.fills = decode_rows(rows, decider.stream.followed, poll)
        store.save_poll(poll, time.time())
    settings = bench_settings(Path(store.path))
    executor = Executor(store, MemoryMarket(stream), PaperBroker(), settings, SystemClock())  # type: ignore[arg-type]
    t0 = time.perf_counter()
    decided = asyncio.run(executor.run_pending())
    elapsed = time.perf_counter() - t0
    store.close()
    return decided, elapsed, opened


def ingest_with_history(tmp: Path, history: int, new: int, analyze: bool) -> float:
    """Seconds per new fill for ``Store.save_poll`` when the leader already has ``history`` stored
    fills; ``analyze``: after ``ANALYZE`` (SQLite statistics), which copybot never runs."""
    stream = FillStream(1, 10, seed=41)
    leader = stream.leaders[0]
    path = tmp / f"history-{analyze}.db"
    store = open_store(path)
    rng = random.Random(5)
    with store.tx() as c:
        c.executemany(
            "INSERT INTO fills (tx_hash, log_index, leader, block, ts, exchange, token_id, side, shares, collateral, "
            "fee, as_taker, state, seen_at) VALUES (?, 0, ?, ?, 0, ?, ?, 'BUY', ?, ?, 0, 1, 'done', 0)",
            [
                (random_hash(rng), leader, 90_000_000 + i // 10, stream.exchange[t], str(t), UNIT, UNIT // 2)
                for i in range(history)
                for t in [stream.tokens_of[leader][i % 10]]
            ],
        )
    store.close()
    if analyze:
        conn = sqlite3.connect(path)
        conn.execute("ANALYZE")
        conn.close()
    store = Store.open(path)
    polls = stream.polls(new, 500)
    t0 = time.perf_counter()
    for rows, poll in polls:
        poll.fills = decode_rows(rows, stream.followed, poll)
        store.save_poll(poll, time.time())
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed / (len(polls) * 500)


def run(latency_ms: float, fills: int = 20_000, burst: int = 500) -> Section:
    from bench.burst import burst_rows  # the watch burst needs the sandbox served: kept apart

    t0 = time.perf_counter()
    section = Section(
        "pipeline",
        "Throughput: decode -> dedupe -> risk -> paper fill -> store",
        "Real V2 `OrderFilled` logs (the sandbox's encoder, as `eth_getLogs` records), 1,000 leaders x 10 tokens, "
        "polls of 500 new fills plus a re-read of the previous poll's last 2 blocks (100 duplicates), a real "
        "SQLite file (WAL, synchronous=NORMAL). Fills per second of wall time; the target is >= 5,000/s.",
        ["case", "fills", "naive s", "copybot s", "naive fills/s", "copybot fills/s", "speed-up", ">= 5,000/s"],
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        risk = bench_settings(tmp / "unused.db").risk
        results = {}
        for name, step in (("naive", naive), ("batched", batched)):
            stream = FillStream(1000, 10, seed=11)
            polls = stream.polls(fills, 500)
            store = open_store(tmp / f"{name}.db")
            results[name] = measure(step, store, Decider(stream, risk, BANKROLL), polls)
            store.close()
        (n_done, n_s), (b_done, b_s) = results["naive"], results["batched"]
        section.rows.append(
            [
                "pure pipeline, a poll of 500 per transaction (naive: one per fill)",
                f"{b_done:,}",
                secs(n_s),
                secs(b_s),
                f"{n_done / n_s:,.0f}",
                f"{b_done / b_s:,.0f}",
                ratio(n_s / max(1, n_done), b_s / max(1, b_done)),
                "yes" if b_done / b_s >= 5000 else "NO",
            ]
        )
        section.headline.append(
            [
                "pure pipeline fills/s (batched / one transaction per fill)",
                f"{b_done / b_s:,.0f} / {n_done / n_s:,.0f}",
                ">= 5,000/s",
                "yes" if b_done / b_s >= 5000 else "NO",
            ]
        )
        print("  " + " | ".join(section.rows[-1]), flush=True)
        for positions in (0, 10_000):
            done, elapsed, opened = executor_rate(tmp, fills // 4, positions)
            section.rows.append(
                [
                    f"`Executor.run_pending` (batches of 10), {opened:,} open positions before",
                    f"{done:,}",
                    "",
                    secs(elapsed),
                    "",
                    f"{done / elapsed:,.0f}",
                    "",
                    "yes" if done / elapsed >= 5000 else "NO",
                ]
            )
            section.headline.append(
                [f"`Executor.run_pending` fills/s, {opened:,} open positions", f"{done / elapsed:,.0f}", "", ""]
            )
            print("  " + " | ".join(section.rows[-1]), flush=True)
        slow, fast = (ingest_with_history(tmp, HISTORY, 500, analyze) for analyze in (False, True))
        section.notes.append(
            f"History: `Store.save_poll` of 500 new fills of one leader that already has {HISTORY:,} stored fills "
            f"takes {slow * 1000:.3f} ms per fill as shipped, {fast * 1000:.3f} ms once SQLite has statistics "
            "(`ANALYZE`): the reorg-twin lookup in `store.fills.insert_fill` reads one transaction's fills by the "
            "(tx hash, log index) index, whatever the leader's history (schema v3 had a `fills_leader` index that "
            "SQLite picked instead without statistics: 2.62 ms per fill at 20,000 stored fills)."
        )
        section.headline.append(
            [
                f"ingest of a new fill, leader with {HISTORY:,} stored fills (as shipped / with ANALYZE)",
                f"{slow * 1000:.3f} ms / {fast * 1000:.3f} ms",
                "",
                "",
            ]
        )
        print("  * " + section.notes[-1], flush=True)
    row, headline = burst_rows(latency_ms, burst)
    section.rows.append(row)
    section.headline.append(headline)
    print("  " + " | ".join(section.rows[-1]), flush=True)
    section.notes.append(
        "Burst: the sandbox mines all the fills in one block; copybot = `copybot watch` with the rpc source "
        "(poll every 2 s), naive = the detection benchmark's sequential poller (`GET /book` per fill); the time "
        f"runs from the block being mined until the last fill is decided, {latency_ms:.0f} ms on every request."
    )
    section.seconds = time.perf_counter() - t0
    return section
