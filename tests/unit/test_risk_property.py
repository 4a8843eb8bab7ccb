"""Property: whatever the fill, book, portfolio and settings, no order exceeds a cap or its price bound."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from copybot.config.settings import RiskSettings
from copybot.models import Book, BookLevel, DecisionContext, Fill, OrderIntent, Side, Skip, to_units
from copybot.rules.limits import pause_reason
from copybot.rules.risk import DEFAULT_TICK, decide

U = 1_000_000
CENT = 10_000
NOW = 1_790_000_000.0
TOKEN = 77
TICKS = [Decimal("0.1"), Decimal("0.01"), Decimal("0.001"), Decimal("0.0001")]


def money(top: int, places: int = 2) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=0, max_value=top, places=places, allow_nan=False, allow_infinity=False)


def cap(top: int) -> st.SearchStrategy[Decimal]:
    """0 (off) half the time, else whole cents up to ``top``."""
    return st.one_of(st.just(Decimal(0)), st.integers(1, top * 100).map(lambda cents: Decimal(cents) / 100))


@st.composite
def fills(draw: st.DrawFn) -> Fill:
    shares = mostly(draw, st.integers(U, 10_000 * U), st.integers(1, U))
    basis_points = draw(st.integers(1, 9_999))
    return Fill(
        leader="0x" + "ab" * 20,
        tx_hash="0x" + "cd" * 32,
        log_index=0,
        block=1,
        timestamp=int(NOW - draw(st.floats(0, 330))),
        exchange="0x" + "ef" * 20,
        token_id=TOKEN,
        side=draw(st.sampled_from([Side.BUY, Side.BUY, Side.BUY, Side.SELL])),
        shares=shares,
        collateral=max(1, shares * basis_points // 10_000),
    )


def mostly(draw: st.DrawFn, usual: st.SearchStrategy[int], edge: st.SearchStrategy[int]) -> int:
    """A value from ``usual`` nine times in ten, else from ``edge`` (tiny amounts, zeros)."""
    return draw(usual if draw(st.integers(0, 9)) else edge)


@st.composite
def books(draw: st.DrawFn, near: Decimal = Decimal("0.5")) -> Book | None:
    """A book on a random tick; half the time its levels sit within 0.1 of ``near``."""
    if draw(st.integers(0, 9)) == 0:
        return None
    tick = draw(st.sampled_from(TICKS))
    steps = int(1 / tick)
    close = draw(st.booleans())
    low = max(1, int((near - Decimal("0.1")) / tick)) if close else 1
    high = min(steps - 1, int((near + Decimal("0.1")) / tick)) if close else steps - 1

    def side() -> tuple[BookLevel, ...]:
        prices = draw(
            st.lists(
                st.integers(low, max(low, high)), min_size=draw(st.sampled_from([0, 1, 1])), max_size=3, unique=True
            )
        )
        return tuple(BookLevel(p * tick, Decimal(draw(st.integers(1, 10_000)))) for p in prices)

    asks = tuple(sorted(side(), key=lambda level: level.price))
    bids = tuple(sorted(side(), key=lambda level: level.price, reverse=True))
    minimum = draw(st.sampled_from([Decimal(0), Decimal(1), Decimal(5), Decimal("15.5")]))
    return Book(TOKEN, "0xc0", bids, asks, tick_size=tick, min_order_size=minimum)


@st.composite
def contexts(draw: st.DrawFn, near: Decimal = Decimal("0.5")) -> DecisionContext:
    return DecisionContext(
        now=NOW,
        cash=mostly(draw, st.integers(5 * U, 5_000 * U), st.integers(0, 5 * U)),
        our_shares=mostly(draw, st.integers(U, 10_000 * U), st.integers(0, U)),
        leader_holding=draw(st.one_of(st.none(), st.integers(0, 20_000 * U))),
        book=draw(books(near)),
        book_age_s=draw(st.floats(0, 5) if draw(st.integers(0, 4)) else st.floats(0, 200)),
        equity=draw(st.integers(0, 100_000 * U)),
        total_cost=draw(st.integers(0, 3_000 * U)),
        token_cost=draw(st.integers(0, 1_000 * U)),
        market_cost=draw(st.integers(0, 1_500 * U)),
        open_positions=draw(st.integers(0, 10)),
        holds_token=draw(st.booleans()),
        daily_pnl=draw(st.integers(-100 * U, 500 * U)),
        consecutive_failures=draw(st.integers(0, 2)),
        paused_reason=draw(st.sampled_from([""] * 19 + ["manual"])),
    )


@st.composite
def risks(draw: st.DrawFn) -> RiskSettings:
    least = draw(money(5))
    values: dict[str, Any] = {
        "sizing": draw(st.sampled_from(["fixed", "proportional", "bankroll_pct", "risk"])),
        "fixed_usdc": draw(money(500)),
        "copy_ratio": draw(money(2)),
        "bankroll_pct": draw(money(1, 4)),
        "risk_per_trade": draw(money(1, 4)),
        "min_order_usdc": least,  # 0 now and then: a BUY is still at least a cent
        "max_order_usdc": least + draw(money(1_000)) + Decimal("0.000001"),
        "max_position_usdc": draw(cap(1_200)),
        "max_market_usdc": draw(cap(1_600)),
        "max_exposure_usdc": draw(cap(3_500)),
        "max_open_positions": draw(st.integers(0, 20)),  # 10 or more never binds
        "min_leader_usdc": draw(cap(20)),
        "max_slippage": draw(money(0, 4) | st.decimals(min_value=0, max_value="0.2", places=4)),
        "round_up_to_minimum": draw(st.booleans()),
        "price_staleness_s": draw(st.floats(1, 120)),
        "daily_loss_limit_usdc": draw(cap(400)),
        "max_consecutive_failures": draw(st.sampled_from([0, 0, 1, 3])),
    }
    return RiskSettings(**values)


Case = tuple[Fill, DecisionContext, RiskSettings]


@st.composite
def any_cases(draw: st.DrawFn) -> Case:
    fill = draw(fills())
    return fill, draw(contexts(fill.price)), draw(risks())


@st.composite
def calm_cases(draw: st.DrawFn) -> Case:
    """Fresh BUYs with nothing paused or stale, so most reach the sizing and the caps."""
    fill, ctx, risk = draw(any_cases())
    fill = replace(fill, side=Side.BUY, timestamp=int(NOW))
    ctx = replace(ctx, book_age_s=0.0, daily_pnl=0, consecutive_failures=0, paused_reason="")
    if ctx.book is not None:  # an ask at the leader's price (on the tick), so slippage rarely decides
        at = (fill.price / ctx.book.tick_size).to_integral_value(rounding=ROUND_FLOOR) * ctx.book.tick_size
        if at >= ctx.book.tick_size and at not in {level.price for level in ctx.book.asks}:
            asks = sorted((*ctx.book.asks, BookLevel(at, Decimal(100))), key=lambda level: level.price)
            ctx = replace(ctx, book=replace(ctx.book, asks=tuple(asks)))

    def near_cap(limit: Decimal) -> int:  # what is held, a little under the cap (or over it)
        room = draw(st.sampled_from([25 * U, 7_345_678, 2 * U, 80 * U, U // 2, 400 * U, 9_999, 0, -U]))
        return max(0, to_units(limit) - room)

    ctx = replace(
        ctx,
        token_cost=near_cap(risk.max_position_usdc) if risk.max_position_usdc else ctx.token_cost,
        market_cost=near_cap(risk.max_market_usdc) if risk.max_market_usdc else ctx.market_cost,
        total_cost=near_cap(risk.max_exposure_usdc) if risk.max_exposure_usdc else ctx.total_cost,
    )
    return fill, ctx, risk


cases = st.one_of(any_cases(), calm_cases())


def _check_buy(fill: Fill, ctx: DecisionContext, risk: RiskSettings, out: OrderIntent) -> None:
    spend = out.amount
    assert spend > 0 and spend % CENT == 0  # whole cents
    assert spend <= to_units(risk.max_order_usdc)
    assert spend <= ctx.cash
    for limit, used in (
        (risk.max_position_usdc, ctx.token_cost),
        (risk.max_market_usdc, ctx.market_cost),
        (risk.max_exposure_usdc, ctx.total_cost),
    ):
        if limit > 0:
            assert used + spend <= to_units(limit)
    assert spend >= to_units(risk.min_order_usdc)
    assert pause_reason(ctx, risk) == ""  # never a BUY while paused
    tick = ctx.book.tick_size if ctx.book is not None else DEFAULT_TICK
    bound = out.worst_price
    assert bound is not None
    assert bound <= fill.price + risk.max_slippage
    assert bound % tick == 0 and tick <= bound <= 1 - tick
    if ctx.book is not None:
        assert ctx.book_age_s <= risk.price_staleness_s
        assert ctx.book.best_ask is not None and ctx.book.best_ask <= bound
        assert Decimal(spend) / bound >= ctx.book.min_order_size * U  # meets the market minimum


def _check_sell(fill: Fill, ctx: DecisionContext, risk: RiskSettings, out: OrderIntent) -> None:
    assert 0 < out.amount <= ctx.our_shares
    assert out.amount % CENT == 0  # whole hundredths of a share
    tick = ctx.book.tick_size if ctx.book is not None else DEFAULT_TICK
    bound = out.worst_price
    assert bound is not None
    assert bound % tick == 0 and tick <= bound <= 1 - tick
    assert bound >= fill.price - risk.max_slippage or bound == 1 - tick  # the clip is the only exception
    if ctx.book is not None:
        assert out.amount >= ctx.book.min_order_size * U


@settings(max_examples=300, deadline=None)
@given(case=cases)
def test_no_order_exceeds_a_cap_or_its_price_bound(case: Case) -> None:
    fill, ctx, risk = case
    out = decide(fill, ctx, risk)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out.details.items())
    if isinstance(out, Skip):
        assert out.reason and "\n" not in out.reason
        return
    assert out.side is fill.side and out.token_id == fill.token_id
    if out.side is Side.BUY:
        _check_buy(fill, ctx, risk, out)
    else:
        _check_sell(fill, ctx, risk, out)


@settings(max_examples=300, deadline=None)
@given(case=cases)
def test_shrinking_the_room_never_grows_a_buy(case: Case) -> None:
    """Less cash never buys more: the caps only ever shrink (or skip) an order."""
    fill, ctx, risk = case
    first = decide(fill, ctx, risk)
    second = decide(fill, replace(ctx, cash=ctx.cash // 2), risk)
    if fill.side is Side.BUY and isinstance(second, OrderIntent) and risk.sizing not in ("bankroll_pct", "risk"):
        assert isinstance(first, OrderIntent)
        assert second.amount <= first.amount
