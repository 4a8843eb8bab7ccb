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
from copybot.config.loading import parse_settings
from copybot.errors import CopybotError, OrderOutcomeUnknown, OrderRejected, UpstreamUnavailable
from copybot.models import Book, BookLevel, FeeRate, Fill, MarketInfo, OrderResult, Side, Skip
from copybot.store import Store
from copybot.trading.executor import Executor

U = 10**6
L1 = "0x" + "a1" * 20
T1, T2 = 1111, 2222
NOW = 1_790_000_000.0


def book(token: int, asks: Iterable[tuple[str, str]]) -> Book:
    levels = tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in asks)
    return Book(token, f"m{token}", bids=(BookLevel(Decimal("0.45"), Decimal(1000)),), asks=levels)


class Market:
    """``MarketData`` without HTTP: fixed books, and a record of what was asked when."""

    def __init__(self, books: dict[int, Book | CopybotError], fees: dict[str, FeeRate] | None = None) -> None:
        self._books = books
        self._fees = fees or {}
        self.asked: list[list[int]] = []

    async def books(self, token_ids: Iterable[int]) -> dict[int, Book | CopybotError]:
        asked = list(dict.fromkeys(token_ids))
        self.asked.append(asked)
        return {t: self._books[t] for t in asked}

    async def market_info(self, token_ids: Iterable[int]) -> dict[int, MarketInfo]:
        return {t: MarketInfo(t, f"m{t}", "Yes") for t in token_ids}

    async def fee_rates(self, condition_ids: Iterable[str]) -> dict[str, FeeRate | None]:
        return {c: self._fees.get(c) for c in condition_ids}


class SlowMarket(Market):
    """Each read takes ``seconds`` of the clock; ``then`` replaces the books from the second read on."""

    def __init__(
        self,
        books: dict[int, Book | CopybotError],
        clock: ManualClock,
        seconds: float,
        then: dict[int, Book | CopybotError] | None = None,
    ) -> None:
        super().__init__(books)
        self._clock, self._seconds, self._then = clock, seconds, then

    async def books(self, token_ids: Iterable[int]) -> dict[int, Book | CopybotError]:
        await self._clock.sleep(self._seconds)
        if self.asked and self._then is not None:
            self._books = self._then
        return await super().books(token_ids)


class NoGamma(Market):
    async def market_info(self, token_ids: Iterable[int]) -> dict[int, MarketInfo]:
        return {}


class SlowPaper(PaperBroker):
    """Paper fills that take ``seconds`` of the clock each, like a slow exchange."""

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        self._clock, self._seconds = clock, seconds

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        await self._clock.sleep(self._seconds)
        return await super().submit(order)


def leader_buy(
    i: int, token: int, shares: int = 100 * U, price: str = "0.50", side: Side = Side.BUY, ts: int = int(NOW)
) -> Fill:
    collateral = int(shares * Decimal(price))
    tx = "0x" + format(i, "064x")
    exchange = "0xe111180000d2663c0091e4f400237545b87b996b"
    return Fill(L1, tx, 0, 100 + i, ts, exchange, token, side, shares, collateral, fee=0, as_taker=True)


def executor_for(
    tmp_path: Path, market: Market, clock: ManualClock, broker: Any = None, batch_size: int = 10, **risk: Any
) -> tuple[Executor, Store]:
    db = tmp_path / "x.db"
    settings = parse_settings(
        {
            "risk": {"sizing": "fixed", "fixed_usdc": 10, "max_slippage": "0.05", **risk},
            "paper": {"starting_bankroll_usdc": 1000},
            "storage": {"path": str(db)},
            "executor": {"batch_size": batch_size},
        },
        "test",
        environ={},
    )
    store = Store.open(db)
    store.init_paper("paper", 1000 * U, clock.now())
    return Executor(store, market, broker or PaperBroker(), settings, clock), store  # type: ignore[arg-type]


def run(
    tmp_path: Path,
    fills: list[Fill],
    market: Market,
    clock: ManualClock,
    broker: Any = None,
    batch_size: int = 10,
    expect_pending: int = 0,
    **risk: Any,
) -> list[tuple[str, str, int | None]]:
    """The decisions (decision, reason, order usdc) in the order they were made."""
    executor, store = executor_for(tmp_path, market, clock, broker, batch_size, **risk)
    store.save_fills(fills, {}, clock.now())
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


def test_a_sale_is_not_counted_twice_in_equity_by_a_buy_after_it_in_the_same_batch(tmp_path: Path) -> None:
    """bankroll_pct 10% of $1,000: buy $100 of T1 (200 shares at 0.50), mirror the leader's full
    exit (200 x 0.45 = $90 back), then buy T2: 10% of $990, not of $1,090 (cash plus a position
    that was just sold)."""
    clock = ManualClock(NOW)
    deep = [("0.50", "100000")]
    market = Market({T1: book(T1, deep), T2: book(T2, deep)})
    fills = [leader_buy(1, T1), leader_buy(2, T1, side=Side.SELL, price="0.45"), leader_buy(3, T2)]
    decisions = run(tmp_path, fills, market, clock, sizing="bankroll_pct", bankroll_pct="0.1", max_order_usdc=500)
    assert [d for d, _, _ in decisions] == ["filled"] * 3, decisions
    assert decisions[0][2] == 100 * U and decisions[1][2] == 90 * U
    assert decisions[2][2] == 99 * U


def test_a_book_is_as_old_as_the_request_that_read_it(tmp_path: Path) -> None:
    """A CLOB that takes 40 s to answer, price_staleness_s 30: every book is stale on arrival, so
    the BUY is skipped instead of copied on a 40 s old price. At 5 s an answer it is copied."""
    clock = ManualClock(NOW)
    slow = SlowMarket({T1: book(T1, [("0.50", "100000")])}, clock, 40.0)
    decisions = run(tmp_path, [leader_buy(1, T1)], slow, clock, price_staleness_s=30, max_trade_age_s=3600)
    assert decisions[0][0] == "skipped" and decisions[0][1].startswith("stale price:"), decisions
    quick = SlowMarket({T1: book(T1, [("0.50", "100000")])}, clock, 5.0)
    decisions = run(tmp_path / "quick", [leader_buy(1, T1, ts=int(clock.now()))], quick, clock, price_staleness_s=30)
    assert decisions[0][:2] == ("filled", "copied") and quick.asked == [[T1]]


def test_a_failed_refresh_keeps_the_book_still_young_enough(tmp_path: Path) -> None:
    """Fifteen fills, 2 s per order: the second batch's refresh fails (503), but the book read 20 s
    earlier is still within price_staleness_s (30 s), so its fills are copied, not left pending."""
    clock = ManualClock(NOW)
    deep = [("0.50", "100000")]
    market = SlowMarket({T1: book(T1, deep)}, clock, 0.0, then={T1: UpstreamUnavailable("clob: HTTP 503")})
    fills = [leader_buy(i, T1) for i in range(15)]
    decisions = run(tmp_path, fills, market, clock, SlowPaper(clock, 2.0), price_staleness_s=30)
    assert market.asked == [[T1], [T1]]
    assert [d for d, _, _ in decisions] == ["filled"] * 15


def test_a_failed_refresh_of_a_book_too_old_leaves_its_fills_pending(tmp_path: Path) -> None:
    """Reads take 6 s, orders 2.5 s: the first batch is copied on a book at most 28.5 s old; the
    second starts 31 s after it was asked for, past price_staleness_s (30 s), and the CLOB is down:
    its five fills wait for the next cycle instead of being skipped for a stale price (or copied on
    the old book), and the book is asked once more, not once per fill."""
    clock = ManualClock(NOW)
    market = SlowMarket({T1: book(T1, [("0.50", "100000")])}, clock, 6.0, then={T1: UpstreamUnavailable("clob: 503")})
    fills = [leader_buy(i, T1) for i in range(15)]
    decisions = run(
        tmp_path,
        fills,
        market,
        clock,
        SlowPaper(clock, 2.5),
        expect_pending=5,
        price_staleness_s=30,
        max_trade_age_s=3600,
    )
    assert [d for d, _, _ in decisions] == ["filled"] * 10
    assert market.asked == [[T1], [T1], [T1]]  # the run's read, the batch's refresh, one retry


def test_without_gamma_metadata_the_market_cap_holds_across_batches(tmp_path: Path) -> None:
    """Gamma knows nothing of T1: its book names the market, the position keeps that condition id,
    so max_market_usdc (25) still counts earlier batches' copies: 10, 10, 5, then nothing."""
    clock = ManualClock(NOW)
    market = NoGamma({T1: book(T1, [("0.50", "100000")])})
    fills = [leader_buy(i, T1) for i in range(4)]
    decisions = run(tmp_path, fills, market, clock, batch_size=1, max_market_usdc=25, max_position_usdc=100)
    assert [(d, usdc) for d, _, usdc in decisions[:3]] == [("filled", 10 * U), ("filled", 10 * U), ("filled", 5 * U)]
    assert decisions[3][0] == "skipped" and "max_market_usdc" in decisions[3][1], decisions[3]
    store = Store.open(tmp_path / "x.db", create=False)
    try:
        assert [p.condition_id for p in store.position_costs()] == [f"m{T1}"]
    finally:
        store.close()


class LostFirstAnswer(PaperBroker):
    """A live-like broker whose ``lose``-th order's answer is lost (it may have executed)."""

    can_lose_answers = True

    def __init__(self, lose: int = 1) -> None:
        self.sent, self.lose = 0, lose

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        self.sent += 1
        if self.sent == self.lose:
            raise OrderOutcomeUnknown("clob POST /order: timed out")
        return await super().submit(order)


def test_a_buy_whose_answer_was_lost_counts_as_spent_for_the_rest_of_the_run(tmp_path: Path) -> None:
    """max_market_usdc 15 with $10 copies: the first order's answer is lost, so it may have filled;
    the next BUY gets the $5 left, not another $10. The lost one stays pending until looked up."""
    clock = ManualClock(NOW)
    market = Market({T1: book(T1, [("0.50", "100000")])})
    fills = [leader_buy(1, T1), leader_buy(2, T1)]
    decisions = run(tmp_path, fills, market, clock, LostFirstAnswer(), expect_pending=1, max_market_usdc=15)
    assert decisions == [("filled", "copied", 5 * U)]


class WalletDown(PaperBroker):
    """A live-like broker whose balance cannot be read: the CLOB is down."""

    async def balance(self) -> int | None:
        raise UpstreamUnavailable("clob /balance-allowance: HTTP 503")


def test_with_the_clob_down_a_stale_buy_is_skipped_even_when_the_wallet_cannot_be_read(tmp_path: Path) -> None:
    """No balance: nothing is sized on a guess, even where a book could be read (T2); only the BUY
    already too old to copy is decided."""
    clock = ManualClock(NOW)
    market = Market({T1: UpstreamUnavailable("clob POST /books: HTTP 503"), T2: book(T2, [("0.50", "100000")])})
    old, fresh, readable = leader_buy(1, T1, ts=int(NOW) - 600), leader_buy(2, T1), leader_buy(3, T2)
    decisions = run(
        tmp_path, [old, fresh, readable], market, clock, WalletDown(), expect_pending=2, max_trade_age_s=300
    )
    assert len(decisions) == 1 and decisions[0][0] == "skipped" and decisions[0][1].startswith("stale:"), decisions


def test_shares_of_a_sell_whose_answer_was_lost_are_not_sold_again_in_the_same_run(tmp_path: Path) -> None:
    """We hold 20 shares; the leader sells half (our 10-share order's answer is lost), then the rest:
    we sell the 10 that are surely still ours, not all 20."""
    clock = ManualClock(NOW)
    market = Market({T1: book(T1, [("0.50", "100000")])})
    fills = [
        leader_buy(1, T1),
        leader_buy(2, T1, 50 * U, "0.45", Side.SELL),
        leader_buy(3, T1, 50 * U, "0.45", Side.SELL),
    ]
    decisions = run(tmp_path, fills, market, clock, LostFirstAnswer(lose=2), expect_pending=1)
    assert decisions == [("filled", "copied", 10 * U), ("filled", "mirrored leader sell", 4_500_000)]  # 10 x 0.45


def test_a_run_counts_what_it_decided_and_what_waits(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    deep = book(T1, [("0.50", "100000")])
    market = Market({T1: deep, T2: UpstreamUnavailable("clob POST /books: HTTP 503")})
    executor, store = executor_for(tmp_path, market, clock)
    try:
        store.save_fills([leader_buy(i, T1 if i < 3 else T2) for i in range(5)], {}, clock.now())
        assert asyncio.run(executor.run_pending()) == 3
        assert executor.deferred == 2, "the two fills without a book wait for the next cycle"
        market._books[T2] = book(T2, [("0.50", "100000")])
        assert (asyncio.run(executor.run_pending()), executor.deferred) == (2, 0)
        assert (asyncio.run(executor.run_pending()), executor.deferred) == (0, 0)  # nothing left to decide
    finally:
        store.close()


class FailsFirst(PaperBroker):
    """The exchange refuses the first ``n`` orders, then fills them on the paper book."""

    def __init__(self, n: int) -> None:
        self.left = n

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        if self.left > 0:
            self.left -= 1
            raise OrderRejected("clob: HTTP 400: order rejected")
        return await super().submit(order)


def test_the_failure_streak_counts_failed_orders_and_a_fill_resets_it(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    market = Market({T1: book(T1, [("0.50", "100000")])})
    executor, store = executor_for(tmp_path, market, clock, FailsFirst(2), batch_size=1)
    try:
        store.save_fills([leader_buy(i, T1) for i in range(2)], {}, clock.now())
        asyncio.run(executor.run_pending())
        assert store.risk_state().consecutive_failures == 2
        store.save_fills([leader_buy(i, T1) for i in range(2, 4)], {}, clock.now())
        asyncio.run(executor.run_pending())  # both fill: the streak is over
        assert store.risk_state().consecutive_failures == 0
        decisions = [str(r["decision"]) for r in store.copy_rows(0)][::-1]
        assert decisions == ["failed", "failed", "filled", "filled"]
    finally:
        store.close()


def test_fees_are_paid_on_top_and_sized_into_the_caps_and_booked_into_cost_and_pnl(tmp_path: Path) -> None:
    """A 2% x p(1-p) taker fee: the $10 BUY is shrunk so that spend + fee fits max_order_usdc 10;
    cash pays both, the position's cost includes the fee, and a sale's fee leaves its proceeds."""
    clock = ManualClock(NOW)
    fee = FeeRate(Decimal("0.02"))
    market = Market({T1: book(T1, [("0.50", "1000")])}, fees={f"m{T1}": fee})
    executor, store = executor_for(tmp_path, market, clock, max_order_usdc=10)
    store.save_fills([leader_buy(1, T1)], {}, clock.now())
    asyncio.run(executor.run_pending())
    [(decision, reason, spend)] = [(r["decision"], r["reason"], r["order_usdc"]) for r in store.copy_rows(0)]
    assert (decision, reason) == ("filled", "copied")
    # worst case per pUSD spent: r(1-p) at the best ask 0.50 = 1%: $10 / 1.01 -> $9.90 (whole cents)
    assert spend == 9_900_000
    shares = spend * 2  # all of it at 0.50: 19.8 shares
    paid_fee = 99_000  # 19.8 shares x 0.02 x 0.50 x 0.50
    assert spend + paid_fee <= 10 * U < (spend + 10_000) * 101 // 100, "$9.91 and its fee would not fit"
    [position] = store.open_positions()
    assert (position.shares, position.cost) == (shares, spend + paid_fee)
    assert store.cash() == 1000 * U - spend - paid_fee
    [trade] = store._conn.execute("SELECT usdc, fee FROM trades").fetchall()
    assert (trade["usdc"], trade["fee"]) == (spend, paid_fee)

    # the leader sells everything at 0.45: we sell our 19.8 shares into the 0.45 bid
    store.save_fills([leader_buy(2, T1, price="0.45", side=Side.SELL)], {}, clock.now())
    asyncio.run(executor.run_pending())
    proceeds, sale_fee = 8_910_000, 98_010  # 19.8 x 0.45; 19.8 x 0.02 x 0.45 x 0.55
    [closed] = store._conn.execute("SELECT shares, cost, realized FROM positions").fetchall()
    assert (closed["shares"], closed["cost"]) == (0, 0)
    assert closed["realized"] == proceeds - sale_fee - (spend + paid_fee), "both fees are in the P&L"
    assert store.cash() == 1000 * U - spend - paid_fee + proceeds - sale_fee
    store.close()
