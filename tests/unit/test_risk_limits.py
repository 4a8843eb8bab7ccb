"""Caps, market filters, minimum sizes, kill switches and staleness (rules.limits, through rules.risk.decide)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from copybot.config.settings import RiskSettings
from copybot.models import DecisionContext, OrderIntent, Side, Skip, TradingState
from copybot.rules.limits import pause_reason
from copybot.rules.risk import decide
from tests.support.risk import U, book, full_ctx, make_fill, market

SELL = make_fill(Side.SELL, shares=25 * U, collateral=10 * U)  # leader sells 25 shares at 0.40


def buy(context: DecisionContext, **settings: Any) -> OrderIntent | Skip:
    return decide(make_fill(), context, RiskSettings(**settings))


# ---- caps: a BUY shrinks to the tightest room, or is skipped naming the cap ----------------------


@pytest.mark.parametrize(
    ("settings", "context", "amount", "capped_by"),
    [
        pytest.param({"max_position_usdc": "50"}, full_ctx(token_cost=45 * U), 5 * U, "max_position_usdc", id="pos"),
        pytest.param({"max_position_usdc": "50"}, full_ctx(token_cost=40 * U), 10 * U, None, id="pos-exact-fit"),
        pytest.param(
            {"max_position_usdc": "50"}, full_ctx(token_cost=44_999_999), 5 * U, "max_position_usdc", id="pos-room-down"
        ),
        pytest.param(
            {"max_market_usdc": "30"}, full_ctx(market_cost=22_500_000), 7_500_000, "max_market_usdc", id="mkt"
        ),
        pytest.param(
            {"max_exposure_usdc": "500"}, full_ctx(total_cost=492 * U), 8 * U, "max_exposure_usdc", id="exposure"
        ),
        pytest.param(
            {"max_position_usdc": "50", "max_market_usdc": "60", "max_exposure_usdc": "500"},
            full_ctx(token_cost=42 * U, market_cost=53 * U, total_cost=494 * U),
            6 * U,  # rooms 8, 7, 6: the tightest wins
            "max_exposure_usdc",
            id="tightest-of-three",
        ),
        pytest.param({}, full_ctx(cash=4_567_891), 4_560_000, "cash", id="cash-down-to-cent"),
        pytest.param({"max_position_usdc": "0"}, full_ctx(token_cost=10**6 * U), 10 * U, None, id="zero-is-off"),
        pytest.param({}, full_ctx(total_cost=10**6 * U, open_positions=10**4), 10 * U, None, id="no-caps-by-default"),
    ],
)
def test_caps_shrink_a_buy(
    settings: dict[str, Any], context: DecisionContext, amount: int, capped_by: str | None
) -> None:
    out = buy(context, **settings)
    assert isinstance(out, OrderIntent), out
    assert out.amount == amount
    assert out.details.get("capped_by") == capped_by
    for key in ("max_position_usdc", "max_market_usdc", "max_exposure_usdc"):
        assert (f"room_{key}" in out.details) == (key in settings and settings[key] != "0")


@pytest.mark.parametrize(
    ("settings", "context", "reason"),
    [
        pytest.param(
            {"max_position_usdc": "50"},
            full_ctx(token_cost=49_500_000),
            "limit: max_position_usdc leaves room for 0.5, below the minimum order 1; 49.5 of 50 used",
            id="pos-room-below-min",
        ),
        pytest.param(
            {"max_position_usdc": "50"},
            full_ctx(token_cost=60 * U),
            "limit: max_position_usdc leaves room for 0, below the minimum order 1; 60 of 50 used",
            id="pos-over-cap",
        ),
        pytest.param(
            {"max_market_usdc": "30"},
            full_ctx(market_cost=30 * U),
            "limit: max_market_usdc leaves room for 0, below the minimum order 1; 30 of 30 used",
            id="mkt-full",
        ),
        pytest.param(
            {"max_exposure_usdc": "100", "min_order_usdc": "5"},
            full_ctx(total_cost=96 * U),
            "limit: max_exposure_usdc leaves room for 4, below the minimum order 5; 96 of 100 used",
            id="exposure-below-custom-min",
        ),
        pytest.param(
            {"max_exposure_usdc": "100", "min_order_usdc": "0"},
            full_ctx(total_cost=99_995_000),
            "limit: max_exposure_usdc leaves room for 0, below the minimum order 0.01; 99.995 of 100 used",
            id="min-zero-still-a-cent",
        ),
        pytest.param({}, full_ctx(cash=999_999), "insufficient bankroll: cash 0.999999 < minimum order 1", id="cash"),
    ],
)
def test_caps_skip_when_the_room_is_below_the_minimum(
    settings: dict[str, Any], context: DecisionContext, reason: str
) -> None:
    out = buy(context, **settings)
    assert isinstance(out, Skip), out
    assert out.reason == reason


def test_caps_never_block_a_sell() -> None:
    context = full_ctx(our_shares=40 * U, leader_holding=100 * U, cash=0, token_cost=10**6 * U, total_cost=10**6 * U)
    out = decide(SELL, context, RiskSettings(max_position_usdc=Decimal(1), max_exposure_usdc=Decimal(1)))
    assert isinstance(out, OrderIntent) and out.amount == 10 * U, out


# ---- open positions, leader size, market filters ------------------------------------------------


@pytest.mark.parametrize(
    ("open_positions", "holds", "limit", "ok"),
    [(3, False, 3, False), (3, True, 3, True), (2, False, 3, True), (50, False, 0, True), (4, False, 3, False)],
)
def test_max_open_positions(open_positions: int, holds: bool, limit: int, ok: bool) -> None:
    out = buy(full_ctx(open_positions=open_positions, holds_token=holds), max_open_positions=limit)
    if ok:
        assert isinstance(out, OrderIntent), out
    else:
        assert isinstance(out, Skip)
        assert out.reason == f"limit: max_open_positions {limit} reached ({open_positions} open)"


@pytest.mark.parametrize(("minimum", "ok"), [("0", True), ("42", True), ("42.000001", False), ("100", False)])
def test_min_leader_usdc(minimum: str, ok: bool) -> None:
    out = buy(full_ctx(), min_leader_usdc=minimum)  # the leader spent 42
    if ok:
        assert isinstance(out, OrderIntent), out
    else:
        assert isinstance(out, Skip)
        assert out.reason == f"too small: leader spent 42, below min_leader_usdc {minimum}"


CID = "0xC0FFEE"


@pytest.mark.parametrize(
    ("allowed", "blocked", "info", "prefix"),
    [
        pytest.param([], [], None, "", id="no-lists"),
        pytest.param(["0xc0ffee"], [], market(condition=CID), "", id="allowed-by-id-any-case"),
        pytest.param([CID], [], market(condition=CID), "", id="allowed-entry-upper"),
        pytest.param(["nba-"], [], market(slug="nba-lakers-vs-celtics"), "", id="allowed-by-slug-fragment"),
        pytest.param(["nba-"], [], market(slug="nfl-final"), "market not allowed: nfl-final", id="not-allowed"),
        pytest.param(["0xc0ff"], [], market(condition=CID), "market not allowed:", id="id-is-exact-not-prefix"),
        pytest.param([], ["election"], market(slug="us-ELECTION-2028"), "market blocked:", id="blocked-slug"),
        pytest.param([], [CID], market(condition=CID), "market blocked:", id="blocked-id"),
        pytest.param(["nba-"], ["lakers"], market(slug="nba-lakers"), "market blocked:", id="blocked-wins"),
        pytest.param([], ["x"], None, "market filter: the market is unknown", id="unknown-market-refused"),
    ],
)
def test_market_filters(allowed: list[str], blocked: list[str], info: Any, prefix: str) -> None:
    context = full_ctx(market=info, book=None)
    out = buy(context, allowed_markets=allowed, blocked_markets=blocked)
    if not prefix:
        assert isinstance(out, OrderIntent), out
    else:
        assert isinstance(out, Skip) and out.reason.startswith(prefix), out


def test_market_filter_falls_back_to_the_books_condition_id() -> None:
    out = buy(full_ctx(book=book(condition=CID)), blocked_markets=[CID.lower()])
    assert isinstance(out, Skip) and out.reason == "market blocked: 0xc0ffee matches blocked_markets entry '0xc0ffee'"


def test_filters_never_block_a_sell() -> None:
    context = full_ctx(our_shares=40 * U, market=market(condition=CID))
    assert isinstance(decide(SELL, context, RiskSettings(blocked_markets=(CID,))), OrderIntent)


# ---- the market's minimum order size -----------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "context", "amount", "prefix"),
    [
        pytest.param({"fixed_usdc": "1"}, full_ctx(book=book(min_size="5")), None, "min size:", id="below-skip"),
        pytest.param(
            {"fixed_usdc": "1", "round_up_to_minimum": True},
            full_ctx(book=book(min_size="5")),
            2_200_000,  # 5 shares x 0.44, UP to the cent
            "",
            id="below-round-up",
        ),
        pytest.param({"fixed_usdc": "2.2"}, full_ctx(book=book(min_size="5")), 2_200_000, "", id="exactly-minimum"),
        pytest.param(
            {"fixed_usdc": "1", "round_up_to_minimum": True, "max_order_usdc": "2"},
            full_ctx(book=book(min_size="5")),
            None,
            "min size: 1 buys at least 2.27 shares at 0.44, below the market minimum 5; rounding up to 2.2 exceeds "
            "max_order_usdc",
            id="round-up-over-max-order",
        ),
        pytest.param(
            {"fixed_usdc": "1", "round_up_to_minimum": True},
            full_ctx(book=book(min_size="5"), cash=2 * U),
            None,
            "min size:",
            id="round-up-over-cash",
        ),
        pytest.param(
            {"round_up_to_minimum": True, "max_position_usdc": "12"},
            full_ctx(book=book(min_size="25"), token_cost=3 * U),
            None,
            "min size: 9 buys at least 20.45 shares",  # capped to 9 first, then 11 would exceed the cap
            id="round-up-over-position-cap",
        ),
        pytest.param(
            {"round_up_to_minimum": True, "max_position_usdc": "20"},
            full_ctx(book=book(min_size="25"), token_cost=3 * U),
            11 * U,
            "",
            id="round-up-within-position-cap",
        ),
        pytest.param({}, full_ctx(book=book(min_size="5")), 10 * U, "", id="above-minimum"),
    ],
)
def test_buy_minimum_size(settings: dict[str, Any], context: DecisionContext, amount: int | None, prefix: str) -> None:
    out = buy(context, **settings)
    if amount is None:
        assert isinstance(out, Skip), out
        assert out.reason.startswith(prefix), out.reason
    else:
        assert isinstance(out, OrderIntent), out
        assert out.amount == amount
        assert out.worst_price is not None
        assert Decimal(out.amount) / out.worst_price >= context.book.min_order_size * U  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("ours", "holding", "amount", "prefix"),
    [
        pytest.param(40 * U, 100 * U, 10 * U, "", id="above-minimum"),
        pytest.param(16 * U, 100 * U, 16 * U, "", id="quarter-below-minimum-sells-all"),
        pytest.param(4 * U, 100 * U, None, "min size: we hold 4 shares, below the market minimum 5", id="all-below"),
        pytest.param(5_009_999, 100 * U, 5 * U, "", id="all-rounded-down-still-enough"),
    ],
)
def test_sell_minimum_size(ours: int, holding: int, amount: int | None, prefix: str) -> None:
    out = decide(SELL, full_ctx(our_shares=ours, leader_holding=holding, book=book(min_size="5")), RiskSettings())
    if amount is None:
        assert isinstance(out, Skip) and out.reason == prefix, out
    else:
        assert isinstance(out, OrderIntent), out
        assert out.amount == amount and out.amount <= ours


# ---- kill switches -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "settings", "expected"),
    [
        pytest.param(TradingState(), {}, "", id="nothing"),
        pytest.param(TradingState(paused_reason="manual: by alice"), {}, "manual: by alice", id="manual"),
        pytest.param(
            TradingState(daily_pnl=-50 * U),
            {"daily_loss_limit_usdc": "50"},
            "daily loss 50 reached daily_loss_limit_usdc 50",
            id="loss-at-limit",
        ),
        pytest.param(TradingState(daily_pnl=-49_999_999), {"daily_loss_limit_usdc": "50"}, "", id="loss-below"),
        pytest.param(TradingState(daily_pnl=80 * U), {"daily_loss_limit_usdc": "50"}, "", id="profit"),
        pytest.param(TradingState(daily_pnl=-(10**9) * U), {}, "", id="loss-limit-off"),
        pytest.param(
            TradingState(consecutive_failures=3),
            {"max_consecutive_failures": 3},
            "3 orders failed in a row (max_consecutive_failures 3)",
            id="failures-at-limit",
        ),
        pytest.param(TradingState(consecutive_failures=2), {"max_consecutive_failures": 3}, "", id="failures-below"),
        pytest.param(TradingState(consecutive_failures=10**6), {}, "", id="failures-off"),
        pytest.param(
            TradingState(daily_pnl=-60 * U, consecutive_failures=9, paused_reason="manual"),
            {"daily_loss_limit_usdc": "50", "max_consecutive_failures": 3},
            "manual",
            id="existing-pause-first",
        ),
        pytest.param(
            TradingState(daily_pnl=-60 * U, consecutive_failures=9),
            {"daily_loss_limit_usdc": "50", "max_consecutive_failures": 3},
            "daily loss 60 reached daily_loss_limit_usdc 50",
            id="loss-before-failures",
        ),
    ],
)
def test_pause_reason(state: TradingState, settings: dict[str, Any], expected: str) -> None:
    risk = RiskSettings(**settings)
    assert pause_reason(state, risk) == expected
    context = full_ctx(
        daily_pnl=state.daily_pnl, consecutive_failures=state.consecutive_failures, paused_reason=state.paused_reason
    )
    assert pause_reason(context, risk) == expected  # a DecisionContext is read the same way


@pytest.mark.parametrize(
    "context",
    [
        pytest.param(full_ctx(paused_reason="manual"), id="manual"),
        pytest.param(full_ctx(daily_pnl=-50 * U), id="daily-loss"),
        pytest.param(full_ctx(consecutive_failures=5), id="failures"),
    ],
)
def test_paused_skips_buys_but_exits_still_run(context: DecisionContext) -> None:
    risk = RiskSettings(daily_loss_limit_usdc=Decimal(50), max_consecutive_failures=5)
    out = decide(make_fill(), context, risk)
    assert isinstance(out, Skip) and out.reason.startswith("paused: "), out
    sell = decide(SELL, DecisionContext(**{**_fields(context), "our_shares": 40 * U}), risk)
    assert isinstance(sell, OrderIntent) and sell.side is Side.SELL


def _fields(context: DecisionContext) -> dict[str, Any]:
    return {name: getattr(context, name) for name in DecisionContext.__dataclass_fields__}


# ---- staleness, liquidity, slippage against the book -------------------------------------------


@pytest.mark.parametrize(
    ("age", "limit", "stale"),
    [(0.0, 30.0, False), (30.0, 30.0, False), (30.5, 30.0, True), (6.0, 5.0, True), (600.0, 900.0, False)],
)
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_stale_book(age: float, limit: float, stale: bool, side: Side) -> None:
    fill = make_fill() if side is Side.BUY else SELL
    out = decide(fill, full_ctx(book_age_s=age, our_shares=40 * U), RiskSettings(price_staleness_s=limit))
    if stale:
        assert isinstance(out, Skip), out
        assert out.reason == f"stale price: book is {age:.0f}s old (max {limit:g}s)"
    else:
        assert isinstance(out, OrderIntent), out


def test_stale_price_only_once_the_book_matters() -> None:
    # the BUY is refused for a reason that needs no book: no refetch is asked for
    out = decide(make_fill(age_s=999), full_ctx(book_age_s=999), RiskSettings())
    assert isinstance(out, Skip) and out.reason.startswith("stale: leader fill"), out
    out = decide(make_fill(), full_ctx(book_age_s=999, paused_reason="manual"), RiskSettings())
    assert isinstance(out, Skip) and out.reason == "paused: manual"


def test_no_book_means_no_staleness_check() -> None:
    out = decide(make_fill(), full_ctx(book=None, book_age_s=10**6), RiskSettings())
    assert isinstance(out, OrderIntent), out


@pytest.mark.parametrize(
    ("ask", "reason"),
    [
        (None, "no liquidity: the book has no asks"),
        ("0.45", "slippage: best ask 0.45 above worst acceptable 0.44"),
        ("0.44", ""),
    ],
)
def test_buy_against_the_book(ask: str | None, reason: str) -> None:
    out = decide(make_fill(), full_ctx(book=book(ask=ask)), RiskSettings())
    if reason:
        assert isinstance(out, Skip) and out.reason == reason
    else:
        assert isinstance(out, OrderIntent) and out.details["best_ask"] == ask


def test_buy_details_record_the_caps_and_the_bound() -> None:
    context = full_ctx(book=book(min_size="5"), token_cost=45 * U, total_cost=45 * U, book_age_s=2.5)
    out = decide(make_fill(), context, RiskSettings(max_position_usdc=Decimal(50), max_exposure_usdc=Decimal(900)))
    assert isinstance(out, OrderIntent)
    assert out.details == {
        "leader_price": "0.42",
        "leader_shares": "100",
        "leader_usdc": "42",
        "age_s": "10",
        "book_age_s": "2.5",
        "tick": "0.01",
        "min_order_size": "5",
        "worst_price": "0.44",
        "best_ask": "0.43",
        "sizing": "fixed",
        "raw_usdc": "10",
        "sized_usdc": "10",
        "cash_usdc": "1000",
        "room_max_position_usdc": "5",
        "room_max_exposure_usdc": "855",
        "capped_by": "max_position_usdc",
        "spend_usdc": "5",
    }
