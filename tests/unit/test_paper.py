"""Paper fills by walking the book (copybot.brokers.paper), and the parsers that build books.

Books here are written best first, as ``parse_book`` returns them; the wire order is tested below
with the real ``clob_book.json``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from copybot.brokers.paper import PaperBroker, walk_book
from copybot.errors import MalformedResponse
from copybot.models import Book, BookLevel, OrderIntent, OrderResult, Side, Skip
from copybot.upstream.market import parse_book, parse_gamma_market

U = 1_000_000
TOKEN = 7


def book(asks: Sequence[tuple[str, str]] = (), bids: Sequence[tuple[str, str]] = ()) -> Book:
    def levels(raw: Sequence[tuple[str, str]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in raw)

    return Book(token_id=TOKEN, market="0xc0", bids=levels(bids), asks=levels(asks))


def buy(spend: int, worst: str | None) -> OrderIntent:
    return OrderIntent(TOKEN, Side.BUY, spend, None if worst is None else Decimal(worst))


def sell(shares: int, worst: str | None = None) -> OrderIntent:
    return OrderIntent(TOKEN, Side.SELL, shares, None if worst is None else Decimal(worst))


DEEP = [("0.50", "10"), ("0.52", "10"), ("0.60", "100")]
SHALLOW = [("0.50", "10"), ("0.52", "10")]
BIDS = [("0.48", "10"), ("0.47", "5")]


# ---- BUY: fill-or-kill within the worst-price bound ---------------------------------------------


@pytest.mark.parametrize(
    ("asks", "intent", "shares", "paid"),
    [
        # 10 shares at 0.50 (5.00), then 3.00 / 0.52 = 5.769230 shares costing 2.9999996 -> 3.000000
        pytest.param(DEEP, buy(8 * U, "0.55"), 15_769_230, 8 * U, id="two-levels-money-runs-out-inside"),
        pytest.param(DEEP, buy(5 * U, "0.55"), 10 * U, 5 * U, id="exactly-the-first-level"),
        pytest.param(DEEP, buy(4 * U, "0.50"), 8 * U, 4 * U, id="bound-equal-to-best-ask"),
        # 5.00 + 5.20 + 9.80 / 0.60 = 16.333333 shares costing 9.7999998 -> 9.800000
        pytest.param(DEEP, buy(20 * U, None), 36_333_333, 20 * U, id="no-bound-walks-everything"),
        pytest.param(DEEP, buy(20 * U, "0.60"), 36_333_333, 20 * U, id="bound-equal-to-third-level"),
        pytest.param([("0.3", "1000")], buy(1, "0.5"), 3, 1, id="one-base-unit"),
    ],
)
def test_buy_walks_asks(asks: list[tuple[str, str]], intent: OrderIntent, shares: int, paid: int) -> None:
    out = walk_book(book(asks=asks), intent)
    assert isinstance(out, OrderResult), out
    assert (out.shares, out.collateral) == (shares, paid)
    assert out.collateral <= intent.amount  # never spends more than asked


def test_buy_average_price_is_the_walked_price_not_top_of_book() -> None:
    out = walk_book(book(asks=DEEP), buy(8 * U, "0.55"))
    assert isinstance(out, OrderResult)
    assert out.avg_price == Decimal(8 * U) / Decimal(15_769_230)
    assert Decimal("0.50") < out.avg_price < Decimal("0.52")


@pytest.mark.parametrize(
    ("asks", "intent", "reason"),
    [
        pytest.param(
            DEEP, buy(20 * U, "0.55"), "slippage: only 10.2 of 20 fillable at or below 0.55 (FOK)", id="fok-bound"
        ),
        pytest.param(DEEP, buy(8 * U, "0.45"), "slippage: best ask 0.5 above worst acceptable 0.45", id="best-above"),
        pytest.param(
            SHALLOW, buy(20 * U, "0.55"), "no liquidity: only 10.2 of 20 on the asks (FOK)", id="fok-depth-in-bound"
        ),
        pytest.param(SHALLOW, buy(20 * U, None), "no liquidity: only 10.2 of 20 on the asks (FOK)", id="fok-unbound"),
        pytest.param([], buy(8 * U, "0.55"), "no liquidity: the book has no asks", id="empty-book"),
        pytest.param([], buy(8 * U, None), "no liquidity: the book has no asks", id="empty-book-no-bound"),
    ],
)
def test_buy_is_fill_or_kill(asks: list[tuple[str, str]], intent: OrderIntent, reason: str) -> None:
    out = walk_book(book(asks=asks, bids=BIDS), intent)
    assert isinstance(out, Skip), out
    assert out.reason == reason


def test_buy_ignores_bids() -> None:
    out = walk_book(book(bids=[("0.9", "1000")]), buy(1 * U, None))
    assert isinstance(out, Skip) and out.reason.startswith("no liquidity")


# ---- SELL: takes what the bids give -------------------------------------------------------------


@pytest.mark.parametrize(
    ("bids", "intent", "sold", "received"),
    [
        pytest.param(BIDS, sell(12 * U), 12 * U, 4_800_000 + 940_000, id="two-levels"),
        pytest.param(BIDS, sell(10 * U), 10 * U, 4_800_000, id="exactly-the-best-level"),
        pytest.param(BIDS, sell(20 * U), 15 * U, 4_800_000 + 2_350_000, id="partial-when-bids-run-out"),
        pytest.param(BIDS, sell(12 * U, "0.475"), 10 * U, 4_800_000, id="stops-at-bound"),
        pytest.param([("0.47", "5")], sell(3), 3, 1, id="received-rounds-down"),  # 3 x 0.47 = 1.41 -> 1
    ],
)
def test_sell_walks_bids(bids: list[tuple[str, str]], intent: OrderIntent, sold: int, received: int) -> None:
    out = walk_book(book(asks=DEEP, bids=bids), intent)
    assert isinstance(out, OrderResult), out
    assert (out.shares, out.collateral) == (sold, received)


@pytest.mark.parametrize(
    ("bids", "intent"),
    [
        pytest.param([], sell(5 * U), id="no-bids"),
        pytest.param(BIDS, sell(5 * U, "0.49"), id="all-bids-below-bound"),
        pytest.param(BIDS, sell(0), id="nothing-to-sell"),
    ],
)
def test_sell_without_bids_is_skipped(bids: list[tuple[str, str]], intent: OrderIntent) -> None:
    out = walk_book(book(asks=DEEP, bids=bids), intent)
    assert isinstance(out, Skip), out
    assert out.reason.startswith("no liquidity")


def test_paper_broker_places_through_the_walk() -> None:
    broker = PaperBroker()
    out = asyncio.run(broker.place(buy(8 * U, "0.55"), book(asks=DEEP)))
    assert out == OrderResult(15_769_230, 8 * U)
    assert broker.mode == "paper"


# ---- parse_book ------------------------------------------------------------------------------


def test_parse_book_sorts_the_real_wire_order(fixture_json: Callable[[str], Any]) -> None:
    raw = fixture_json("clob_book.json")
    # the wire lists bids ascending: the first entry is the WORST bid
    assert [b["price"] for b in raw["bids"]] == ["0.01", "0.02"]
    parsed = parse_book(raw, 123)
    assert parsed.best_bid == Decimal("0.02")
    assert parsed.best_ask == Decimal("0.51")
    assert parsed.bids == (
        BookLevel(Decimal("0.02"), Decimal("17928")),
        BookLevel(Decimal("0.01"), Decimal("94104.93")),
    )
    assert parsed.asks == (BookLevel(Decimal("0.51"), Decimal("80")),)
    assert parsed.token_id == 123
    assert parsed.market == "0x3b6b6807f535e0971af85f8e5c63399bc548d359cc02e347aaf01fe200a8a265"
    assert parsed.timestamp_ms == 1_786_844_232_261


def test_parse_book_sorts_asks_ascending_and_drops_nonsense() -> None:
    raw = {
        "bids": [{"price": "0.1", "size": "1"}, {"price": "0.3", "size": "2"}, {"price": "0.2", "size": "0"}],
        "asks": [
            {"price": "0.9", "size": "1"},
            {"price": "0.6", "size": "1"},
            {"price": "0.7", "size": "3"},
            {"price": "1", "size": "5"},
            {"price": "0", "size": "5"},
        ],
        "tick_size": "0.001",
        "min_order_size": "5",
        "neg_risk": True,
    }
    parsed = parse_book(raw, 1)
    assert [lv.price for lv in parsed.asks] == [Decimal("0.6"), Decimal("0.7"), Decimal("0.9")]
    assert [lv.price for lv in parsed.bids] == [Decimal("0.3"), Decimal("0.1")]
    assert (parsed.tick_size, parsed.min_order_size, parsed.neg_risk) == (Decimal("0.001"), Decimal(5), True)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param([], id="not-an-object"),
        pytest.param("OK", id="a-string"),
        pytest.param({"bids": "nope", "asks": []}, id="bids-not-a-list"),
        pytest.param({"bids": [], "asks": ["0.5"]}, id="level-not-an-object"),
        pytest.param({"bids": [{"price": "abc", "size": "1"}], "asks": []}, id="price-not-a-number"),
        pytest.param({"bids": [], "asks": [{"price": "0.5"}]}, id="size-missing"),
        pytest.param({"bids": [], "asks": [{"price": "NaN", "size": "1"}]}, id="nan-price"),
        pytest.param({"bids": [], "asks": [{"price": "0.5", "size": "Infinity"}]}, id="infinite-size"),
    ],
)
def test_parse_book_rejects_malformed(raw: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_book(raw, 1)


# ---- parse_gamma_market ----------------------------------------------------------------------

UP = 93555969663711891451625685586929143462823436918129307927023356936446352666723
DOWN = 94849117489514498694289722598425502085219999537404711666470172403883007236688


def test_parse_gamma_market_decodes_json_strings_twice(fixture_json: Callable[[str], Any]) -> None:
    market = fixture_json("gamma_event.json")["markets"][0]
    assert isinstance(market["clobTokenIds"], str)  # the trap: a JSON string inside the JSON
    infos = parse_gamma_market(market)
    assert [(i.token_id, i.outcome) for i in infos] == [(UP, "Up"), (DOWN, "Down")]
    for info in infos:
        assert info.condition_id == "0x3b6b6807f535e0971af85f8e5c63399bc548d359cc02e347aaf01fe200a8a265"
        assert info.question == "Bitcoin Up or Down?"
        assert info.slug == "btc-updown-5m-1786844100"
        assert (info.closed, info.accepting_orders, info.neg_risk) == (False, True, False)


@pytest.mark.parametrize(
    ("market", "expected"),
    [
        pytest.param({"clobTokenIds": ["1", "2"], "outcomes": ["Yes", "No"]}, [(1, "Yes"), (2, "No")], id="lists"),
        pytest.param({"clobTokenIds": json.dumps(["1", "2"]), "outcomes": "[]"}, [(1, ""), (2, "")], id="no-outcome"),
        pytest.param({"clobTokenIds": "not json", "outcomes": '["Yes"]'}, [], id="bad-json"),
        pytest.param({"clobTokenIds": '{"a": 1}'}, [], id="json-not-a-list"),
        pytest.param({"clobTokenIds": '["x", "5"]', "outcomes": '["A", "B"]'}, [(5, "B")], id="bad-token-skipped"),
        pytest.param({}, [], id="empty"),
    ],
)
def test_parse_gamma_market_edge_cases(market: dict[str, Any], expected: list[tuple[int, str]]) -> None:
    assert [(i.token_id, i.outcome) for i in parse_gamma_market(market)] == expected


def test_parse_gamma_market_closed_flags() -> None:
    (info,) = parse_gamma_market(
        {"clobTokenIds": '["9"]', "outcomes": '["Yes"]', "closed": True, "acceptingOrders": False, "negRisk": True}
    )
    assert (info.closed, info.accepting_orders, info.neg_risk) == (True, False, True)
