"""One executor run on a real SQLite file: books fetched once for the run, moved by our own fills,
fetched again only when they age; exposure carried from batch to batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from copybot.brokers.base import PreparedOrder
from copybot.brokers.paper import PaperBroker
from copybot.clock import ManualClock
from copybot.config import parse_settings
from copybot.errors import CopybotError, UpstreamUnavailable
from copybot.executor import Executor
from copybot.models import Book, BookLevel, Fill, MarketInfo, OrderResult, Side, Skip
from copybot.store import Store

U = 10**6
L1 = "0x" + "a1" * 20
T1, T2 = 1111, 2222
NOW = 1_790_000_000.0


def book(token: int, asks: Iterable[tuple[str, str]]) -> Book:
    levels = tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in asks)
    return Book(token, f"m{token}", bids=(BookLevel(Decimal("0.45"), Decimal(1000)),), asks=levels)


class Market:
    """``MarketData`` without HTTP: fixed books, and a record of what was asked when."""

    def __init__(self, books: dict[int, Book | CopybotError]) -> None:
        self._books = books
        self.asked: list[list[int]] = []

    async def books(self, token_ids: Iterable[int]) -> dict[int, Book | CopybotError]:
        asked = list(dict.fromkeys(token_ids))
        self.asked.append(asked)
        return {t: self._books[t] for t in asked}

    async def market_info(self, token_ids: Iterable[int]) -> dict[int, MarketInfo]:
        return {t: MarketInfo(t, f"m{t}", "Yes") for t in token_ids}


class SlowPaper(PaperBroker):
    """Paper fills that take ``seconds`` of the clock each, like a slow exchange."""

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        self._clock, self._seconds = clock, seconds

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        await self._clock.sleep(self._seconds)
        return await super().submit(order)


def leader_buy(i: int, token: int, shares: int = 100 * U, price: str = "0.50", side: Side = Side.BUY,
               ts: int = int(NOW)) -> Fill:  # fmt: skip
    collateral = int(shares * Decimal(price))
    return Fill(L1, "0x" + format(i, "064x"), 0, 100 + i, ts, "0xe111180000d2663c0091e4f400237545b87b996b",
                token, side, shares, collateral, 0, True)  # fmt: skip


def run(tmp_path: Path, fills: list[Fill], market: Market, clock: ManualClock, broker: Any = None,
        batch_size: int = 10, expect_pending: int = 0, **risk: Any) -> list[tuple[str, str, int | None]]:  # fmt: skip
    db = tmp_path / "x.db"
    settings = parse_settings(
        {"risk": {"sizing": "fixed", "fixed_usdc": 10, "max_slippage": "0.05", **risk},
         "paper": {"starting_bankroll_usdc": 1000}, "storage": {"path": str(db)},
         "executor": {"batch_size": batch_size}},
        "test", environ={},
    )  # fmt: skip
    store = Store.open(db)
    store.init_paper("paper", 1000 * U, clock.now())
    store.save_fills(fills, {}, clock.now())
    executor = Executor(store, market, broker or PaperBroker(), settings, clock)  # type: ignore[arg-type]
    assert asyncio.run(executor.run_pending()) == len(fills) - expect_pending
    out = [(str(r["decision"]), str(r["reason"]), r["order_usdc"]) for r in store.copy_rows(0)][::-1]
    store.close()
    return out


def test_a_later_copy_sees_the_depth_our_earlier_copy_took(tmp_path: Path) -> None:
    """25 shares at 0.50, then 0.60 (past the 0.55 bound): the first $10 copy takes 20 of them, so
    the second cannot fill $10 within its bound; it is skipped instead of being sent on a stale view."""
    clock = ManualClock(NOW)
    market = Market({T1: book(T1, [("0.50", "25"), ("0.60", "1000")])})
    decisions = run(tmp_path, [leader_buy(1, T1), leader_buy(2, T1), leader_buy(3, T1)], market, clock)
    assert decisions[0] == ("filled", "copied", 10 * U)
    assert [d for d, _, _ in decisions[1:]] == ["skipped", "skipped"]
    assert all(r.startswith("slippage:") for _, r, _ in decisions[1:]), decisions
    assert market.asked == [[T1]]  # one fetch for the whole run


def test_books_are_fetched_once_per_run_and_again_only_when_aged(tmp_path: Path) -> None:
    """Fifteen fills, batches of ten, 2 s per order: the second batch starts 20 s after the books
    were read, past half of price_staleness_s (30 s), so it reads its own tokens' books again."""
    clock = ManualClock(NOW)
    deep = [("0.50", "100000")]
    market = Market({T1: book(T1, deep), T2: book(T2, deep)})
    fills = [leader_buy(i, T1 if i < 12 else T2) for i in range(15)]
    decisions = run(tmp_path, fills, market, clock, SlowPaper(clock, 2.0), price_staleness_s=30)
    assert [d for d, _, _ in decisions] == ["filled"] * 15
    assert market.asked == [[T1, T2], [T1, T2]]
    # fast orders: nothing ages, one fetch
    market.asked.clear()
    decisions = run(tmp_path / "fast", fills, market, clock, SlowPaper(clock, 0.1), price_staleness_s=30)
    assert [d for d, _, _ in decisions] == ["filled"] * 15 and market.asked == [[T1, T2]]


def test_caps_see_the_copies_of_earlier_batches(tmp_path: Path) -> None:
    """max_position_usdc 25 with $10 copies, one fill per batch: 10, 10, the 5 left, then nothing."""
    clock = ManualClock(NOW)
    market = Market({T1: book(T1, [("0.50", "100000")])})
    fills = [leader_buy(i, T1) for i in range(4)]
    decisions = run(tmp_path, fills, market, clock, batch_size=1, max_position_usdc=25)
    assert [(d, usdc) for d, _, usdc in decisions[:3]] == [("filled", 10 * U), ("filled", 10 * U), ("filled", 5 * U)]
    assert decisions[3][0] == "skipped" and decisions[3][1].startswith("limit:"), decisions[3]
    assert "max_position_usdc" in decisions[3][1]


def test_while_the_clob_is_down_a_buy_too_old_to_copy_is_skipped_the_rest_wait(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    market = Market({T1: UpstreamUnavailable("clob POST /books: HTTP 503")})
    old, fresh = leader_buy(1, T1, ts=int(NOW) - 600), leader_buy(2, T1)
    exit_ = leader_buy(3, T1, side=Side.SELL, ts=int(NOW) - 600)  # an exit never ages out: it waits
    decisions = run(tmp_path, [old, fresh, exit_], market, clock, expect_pending=2, max_trade_age_s=300)
    assert len(decisions) == 1 and decisions[0][0] == "skipped" and decisions[0][1].startswith("stale:"), decisions
