"""Books through batched ``POST /books``: one request per 50 tokens, failures per token, never raised."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from copybot.clock import ManualClock
from copybot.errors import CopybotError, MalformedResponse, RequestRejected, UpstreamUnavailable
from copybot.models import Book, BookLevel, Side
from copybot.sandbox import Sandbox
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Upstream
from copybot.upstream.market import MarketData, after_fill
from tests.support.sandbox import CountingTransport


def market_data(transport: httpx.AsyncBaseTransport, clock: ManualClock, base: str = "http://sandbox") -> MarketData:
    clob = Upstream("clob", httpx.AsyncClient(transport=transport, base_url=f"{base}/clob"), clock, attempts=2)
    gamma = Upstream("gamma", httpx.AsyncClient(transport=transport, base_url=f"{base}/gamma"), clock, attempts=2)
    return MarketData(clob, gamma, CountingCache(100, 60, clock))


def fetch(md: MarketData, tokens: list[int]) -> dict[int, Book | CopybotError]:
    async def go() -> dict[int, Book | CopybotError]:
        try:
            return await md.books(tokens)
        finally:
            await md._clob.aclose()
            await md._gamma.aclose()

    return asyncio.run(go())


def test_books_come_in_batches_of_fifty_each_token_once(clock: ManualClock) -> None:
    box = Sandbox(seed=3, leaders=1, markets=60, clock=clock, trade_prob=0.0, noise_prob=0.0)
    tokens = [t for m in box.markets for t in m.tokens]  # 120 tokens
    transport = CountingTransport(box.app)
    books = fetch(market_data(transport, clock), tokens + tokens[:30])  # repeats are asked once
    assert transport.paths == ["/clob/books"] * 3
    asked = [int(item["token_id"]) for _, body in transport.bodies for item in json.loads(body)]
    assert sorted(asked) == sorted(tokens)
    assert set(books) == set(tokens)
    for token in tokens:
        book = books[token]
        assert isinstance(book, Book) and book.token_id == token
        assert book.best_bid == box.book(token).best_bid and book.best_ask == box.book(token).best_ask


def test_a_token_without_a_book_is_rejected_alone_even_when_it_fails_its_batch(clock: ManualClock) -> None:
    box = Sandbox(seed=3, leaders=1, markets=3, clock=clock, trade_prob=0.0, noise_prob=0.0)
    resolved, other = box.markets[0], box.markets[1]
    box.resolve(resolved.condition_id, resolved.tokens[0])  # a resolved market's tokens have no book
    transport = CountingTransport(box.app)
    books = fetch(market_data(transport, clock), [resolved.tokens[0], other.tokens[0], 12345])
    # the sandbox refuses the whole batch for the unknown token: each is asked on its own
    assert transport.paths == ["/clob/books"] + ["/clob/book"] * 3
    assert isinstance(books[other.tokens[0]], Book)
    for gone in (resolved.tokens[0], 12345):
        err = books[gone]
        assert isinstance(err, RequestRejected) and err.status == 404, err
        assert "No orderbook exists" in str(err)


def mock(handler: Callable[[list[dict[str, Any]]], Any]) -> httpx.MockTransport:
    def serve(request: httpx.Request) -> httpx.Response:
        answer = handler(json.loads(request.content))
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(serve)


def book_json(token: str, **override: Any) -> dict[str, Any]:
    return {
        "asset_id": token,
        "market": "0xc0",
        "bids": [{"price": "0.40", "size": "10"}],
        "asks": [{"price": "0.60", "size": "10"}],
        "tick_size": "0.01",
        **override,
    }


def test_one_unreadable_book_is_malformed_and_counted_the_others_are_kept(clock: ManualClock) -> None:
    md = market_data(mock(lambda items: [book_json("1"), book_json("2", tick_size="NaN")]), clock)
    books = fetch(md, [1, 2])
    assert isinstance(books[1], Book) and books[1].best_ask == Decimal("0.60")
    assert isinstance(books[2], MalformedResponse)
    assert md._clob.stats.errors["malformed"] == 1


def test_an_answer_that_is_not_a_list_of_books_fails_every_token_of_its_request(clock: ManualClock) -> None:
    for body in ({"1": book_json("1")}, [book_json("1"), "OK"], [{"bids": []}]):
        md = market_data(mock(lambda items, body=body: body), clock)  # type: ignore[misc]
        books = fetch(md, [1, 2])
        assert all(isinstance(b, MalformedResponse) for b in books.values()), (body, books)
        assert md._clob.stats.errors["malformed"] == 2  # tried twice (attempts=2): a transient failure


def test_a_token_left_out_of_a_good_answer_is_asked_on_its_own_and_only_a_404_says_no_book(clock: ManualClock) -> None:
    asked: list[tuple[str, str]] = []

    def serve(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":  # answers for token 1 only: 2 and 3 are left out
            asked.append(("POST", ",".join(item["token_id"] for item in json.loads(request.content))))
            return httpx.Response(200, json=[book_json("1")])
        token = request.url.params["token_id"]
        asked.append(("GET", token))
        if token == "2":  # it has a book after all (the batch answer was short)
            return httpx.Response(200, json=book_json("2", asks=[{"price": "0.70", "size": "5"}]))
        return httpx.Response(404, json={"error": "No orderbook exists for the requested token id"})

    books = fetch(market_data(httpx.MockTransport(serve), clock), [1, 2, 3])
    assert sorted(asked) == [("GET", "2"), ("GET", "3"), ("POST", "1,2,3")]
    assert isinstance(books[1], Book) and isinstance(books[2], Book) and books[2].best_ask == Decimal("0.70")
    err = books[3]
    assert isinstance(err, RequestRejected) and err.status == 404 and "No orderbook exists" in str(err)


def test_a_failed_request_fails_only_its_own_tokens(clock: ManualClock) -> None:
    def handler(items: list[dict[str, Any]]) -> Any:
        if any(item["token_id"] == "7" for item in items):
            return httpx.Response(503)
        return [book_json(item["token_id"]) for item in items]

    books = fetch(market_data(mock(handler), clock), list(range(100)))  # two requests: 0-49 and 50-99
    assert all(isinstance(books[t], UpstreamUnavailable) for t in range(50))
    assert all(isinstance(books[t], Book) for t in range(50, 100))


def test_after_fill_takes_our_shares_from_the_best_levels_of_the_side_crossed() -> None:
    U = 10**6
    book = Book(
        1,
        "0xc0",
        bids=(BookLevel(Decimal("0.5"), Decimal(10)), BookLevel(Decimal("0.4"), Decimal(5))),
        asks=(BookLevel(Decimal("0.6"), Decimal(4)), BookLevel(Decimal("0.7"), Decimal(10))),
    )
    bought = after_fill(book, Side.BUY, 6 * U)
    assert bought.asks == (BookLevel(Decimal("0.7"), Decimal(8)),) and bought.bids == book.bids
    sold = after_fill(book, Side.SELL, 10 * U + 500_000)
    assert sold.bids == (BookLevel(Decimal("0.4"), Decimal("4.5")),) and sold.asks == book.asks
    assert after_fill(book, Side.BUY, 100 * U).asks == ()
