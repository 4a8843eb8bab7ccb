"""CLOB and Gamma reads: books fetched once per token in batched requests; market metadata cached.

Parsing is pure (``parse_book``, ``parse_gamma_market``); the :class:`MarketData` methods do the
I/O: deduplicate token ids first, then ``gather`` under a semaphore, one result per token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from copybot.clock import Clock, SystemClock
from copybot.errors import CopybotError, MalformedResponse, RequestRejected
from copybot.models import Book, BookLevel, FeeRate, MarketInfo, Side, from_units
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Upstream

GAMMA_BATCH = 20  # clob_token_ids per Gamma request
BOOKS_BATCH = 50  # tokens per POST /books
PRICES_BATCH = 100  # tokens per POST /prices

FEE_TTL_S: Final = 600.0  # a market's fee data is read again after ten minutes, as the SDK does


def _dec(value: object, what: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise MalformedResponse(f"clob: {what} is not a number: {str(value)[:40]!r}") from None
    if not out.is_finite():
        raise MalformedResponse(f"clob: {what} is not finite")
    return out


def _levels(raw: object, what: str) -> list[BookLevel]:
    if not isinstance(raw, list):
        raise MalformedResponse(f"clob: book {what} is not a list")
    levels = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise MalformedResponse(f"clob: book {what} entry is not an object")
        price, size = _dec(entry.get("price"), "price"), _dec(entry.get("size"), "size")
        if 0 < price < 1 and size > 0:  # ignore nonsense levels rather than trade on them
            levels.append(BookLevel(price, size))
    return levels


def parse_book(body: Any, token_id: int) -> Book:
    """A CLOB book answer -> :class:`Book` with levels sorted best first.

    Production lists bids ascending and asks descending; never trust the order, sort.
    """
    if not isinstance(body, Mapping):
        raise MalformedResponse("clob: book is not an object")
    bids = sorted(_levels(body.get("bids", []), "bids"), key=lambda lv: lv.price, reverse=True)
    asks = sorted(_levels(body.get("asks", []), "asks"), key=lambda lv: lv.price)
    try:
        ts = int(str(body.get("timestamp") or 0))
    except ValueError:
        ts = 0
    return Book(
        token_id=token_id,
        market=str(body.get("market", "")),
        bids=tuple(bids),
        asks=tuple(asks),
        tick_size=_dec(body.get("tick_size", "0.01"), "tick_size"),
        min_order_size=_dec(body.get("min_order_size", "0"), "min_order_size"),
        neg_risk=bool(body.get("neg_risk", False)),
        timestamp_ms=ts,
    )


def _failure(exc: BaseException, where: str) -> CopybotError:
    """A book request's failure as a result: ours as it is, any other error as a malformed answer."""
    if isinstance(exc, CopybotError):
        return exc
    if isinstance(exc, Exception):
        return MalformedResponse(f"clob {where}: {type(exc).__name__}")
    raise exc  # cancellation, KeyboardInterrupt: not ours to swallow


def _book_entries(body: Any) -> dict[str, Mapping[str, Any]]:
    """A ``POST /books`` answer -> its books by ``asset_id``; anything else is a malformed answer."""
    if not isinstance(body, list):
        raise MalformedResponse("clob POST /books: answer is not a list")
    out: dict[str, Mapping[str, Any]] = {}
    for entry in body:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("asset_id"), str):
            raise MalformedResponse("clob POST /books: an entry is not a book with an asset_id")
        out.setdefault(entry["asset_id"], entry)
    return out


def after_fill(book: Book, side: Side, shares: int) -> Book:
    """The book as our own filled order left it: ``shares`` taken from the best levels of the side it
    crossed (asks for a BUY, bids for a SELL), so the next decision on the token sees what is left."""
    left = from_units(shares)
    kept: list[BookLevel] = []
    for level in book.asks if side is Side.BUY else book.bids:
        take = min(level.size, left)
        left -= take
        if level.size > take:
            kept.append(BookLevel(level.price, level.size - take))
    return replace(book, asks=tuple(kept)) if side is Side.BUY else replace(book, bids=tuple(kept))


def _json_list(value: object) -> list[Any]:
    """Gamma encodes some list fields as JSON strings inside the JSON: decode them again."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value:
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return []
        return decoded if isinstance(decoded, list) else []
    return []


def parse_gamma_market(body: Mapping[str, Any]) -> list[MarketInfo]:
    """One Gamma market -> a :class:`MarketInfo` per outcome token."""
    token_ids = _json_list(body.get("clobTokenIds"))
    outcomes = _json_list(body.get("outcomes"))
    infos = []
    for i, raw in enumerate(token_ids):
        try:
            token_id = int(str(raw))
        except ValueError:
            continue
        infos.append(
            MarketInfo(
                token_id=token_id,
                condition_id=str(body.get("conditionId", "")),
                outcome=str(outcomes[i]) if i < len(outcomes) else "",
                question=str(body.get("question", "")),
                slug=str(body.get("slug", "")),
                closed=bool(body.get("closed", False)),
                accepting_orders=bool(body.get("acceptingOrders", True)),
                neg_risk=bool(body.get("negRisk", False)),
            )
        )
    return infos


class MarketData:
    def __init__(
        self,
        clob: Upstream,
        gamma: Upstream,
        info_cache: CountingCache[MarketInfo],
        max_concurrency: int = 8,
        fee_cache: CountingCache[tuple[FeeRate | None]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clob = clob
        self._gamma = gamma
        self._info = info_cache
        # (rate,) per condition id: a tuple, so a market without fees is a hit too
        self._fees = fee_cache or CountingCache[tuple[FeeRate | None]](10_000, FEE_TTL_S, clock or SystemClock())
        self._sem = asyncio.Semaphore(max_concurrency)

    async def books(self, token_ids: Iterable[int]) -> dict[int, Book | CopybotError]:
        """Each distinct token's book, fetched once: batched ``POST /books`` requests, concurrently.

        A failure is returned per token, never raised: a request that failed fails its tokens; a
        book that does not parse is malformed (counted, so status and metrics show it) and is
        asked again next time.
        A request refused outright (one unknown token 404s the whole batch), and a token a good
        answer left out, are asked again one ``GET /book`` per token: only the CLOB's own 404 for
        that token says it has no book, and one bad token never takes 49 good ones down with it.
        """
        unique = list(dict.fromkeys(token_ids))
        chunks = [unique[i : i + BOOKS_BATCH] for i in range(0, len(unique), BOOKS_BATCH)]
        answers = await asyncio.gather(*(self._books_chunk(c) for c in chunks), return_exceptions=True)
        out: dict[int, Book | CopybotError] = {}
        singles: list[int] = []
        for chunk, answer in zip(chunks, answers, strict=True):
            if isinstance(answer, RequestRejected) and len(chunk) > 1:
                singles += chunk
            elif isinstance(answer, BaseException):
                out.update(dict.fromkeys(chunk, _failure(answer, "POST /books")))
            else:
                out.update(answer)
                singles += [t for t in chunk if t not in answer]  # left out: maybe no book, maybe not
        if singles:
            books = await asyncio.gather(*(self._book(t) for t in singles), return_exceptions=True)
            for token_id, book in zip(singles, books, strict=True):
                out[token_id] = _failure(book, "GET /book") if isinstance(book, BaseException) else book
        return out

    async def _book(self, token_id: int) -> Book:
        async with self._sem:
            book: Book = await self._clob.get_json(
                "/book", params={"token_id": str(token_id)}, check=lambda body: parse_book(body, token_id)
            )
        return book

    async def _books_chunk(self, token_ids: list[int]) -> dict[int, Book | CopybotError]:
        body = [{"token_id": str(t)} for t in token_ids]
        async with self._sem:
            entries: dict[str, Mapping[str, Any]] = await self._clob.post_json("/books", body, check=_book_entries)
        out: dict[int, Book | CopybotError] = {}
        for token_id in token_ids:
            entry = entries.get(str(token_id))
            if entry is None:
                continue  # the caller asks GET /book for it
            try:
                out[token_id] = parse_book(entry, token_id)
            except MalformedResponse as exc:
                self._clob.count_error(exc)
                out[token_id] = exc
        return out

    async def market_info(self, token_ids: Iterable[int]) -> dict[int, MarketInfo]:
        """Gamma metadata per token (cached for long); tokens Gamma does not know are left out."""
        unique = list(dict.fromkeys(token_ids))
        out: dict[int, MarketInfo] = {}
        missing = []
        for token_id in unique:
            hit = self._info.get(token_id)
            if hit is None:
                missing.append(token_id)
            else:
                out[token_id] = hit
        chunks = [missing[i : i + GAMMA_BATCH] for i in range(0, len(missing), GAMMA_BATCH)]
        answers = await asyncio.gather(*(self._gamma_chunk(c) for c in chunks), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                if not isinstance(answer, CopybotError):
                    raise answer
                continue  # metadata is optional for a decision; retried next time it is needed
            for info in answer:
                self._info.put(info.token_id, info)
                if info.token_id in missing:
                    out[info.token_id] = info
        return out

    async def _gamma_chunk(self, token_ids: list[int]) -> list[MarketInfo]:
        params = [("clob_token_ids", str(t)) for t in token_ids]
        async with self._sem:
            body = await self._gamma.get_json("/markets", params=params)
        if not isinstance(body, list):
            raise MalformedResponse("gamma /markets: answer is not a list")
        return [info for market in body if isinstance(market, Mapping) for info in parse_gamma_market(market)]

    async def best_bids(self, token_ids: Iterable[int]) -> dict[int, Decimal]:
        """Best bid per token (what a position could be sold at), via batched ``POST /prices``."""
        unique = list(dict.fromkeys(token_ids))
        chunks = [unique[i : i + PRICES_BATCH] for i in range(0, len(unique), PRICES_BATCH)]
        answers = await asyncio.gather(*(self._prices_chunk(c) for c in chunks), return_exceptions=True)
        out: dict[int, Decimal] = {}
        for answer in answers:
            if isinstance(answer, BaseException):
                if not isinstance(answer, CopybotError):
                    raise answer
                continue
            out.update(answer)
        return out

    async def _prices_chunk(self, token_ids: list[int]) -> dict[int, Decimal]:
        body = [{"token_id": str(t), "side": "BUY"} for t in token_ids]
        async with self._sem:
            answer = await self._clob.post_json("/prices", body)
        if not isinstance(answer, Mapping):
            raise MalformedResponse("clob /prices: answer is not an object")
        out: dict[int, Decimal] = {}
        for token_id in token_ids:
            entry = answer.get(str(token_id))
            if isinstance(entry, Mapping) and "BUY" in entry:
                price = _dec(entry["BUY"], "price")
                if 0 <= price <= 1:
                    out[token_id] = price
        return out

    async def fee_rates(self, condition_ids: Iterable[str]) -> dict[str, FeeRate | None]:
        """Each market's taker fee (``GET /clob-markets/{condition_id}``, its ``fd``), cached as long
        as market metadata; None for a market that charges none. Markets that could not be read this
        time are left out (their copies are sized without a fee estimate; the fill is still booked
        with the fee the answer implies)."""
        out: dict[str, FeeRate | None] = {}
        missing = []
        for cid in dict.fromkeys(condition_ids):
            if not cid:
                continue
            hit = self._fees.get(cid)
            if hit is None:
                missing.append(cid)
            else:
                out[cid] = hit[0]

        async def one(cid: str) -> FeeRate | None:
            async with self._sem:
                return parse_fee_data(await self._clob.get_json(f"/clob-markets/{cid}"))

        answers = await asyncio.gather(*(one(c) for c in missing), return_exceptions=True)
        for cid, answer in zip(missing, answers, strict=True):
            if isinstance(answer, CopybotError):
                continue
            if isinstance(answer, BaseException):
                raise answer
            self._fees.put(cid, (answer,))
            out[cid] = answer
        return out

    async def resolutions(self, condition_ids: Iterable[str]) -> dict[str, int | None]:
        """Each distinct market's winning token (None = not resolved), fetched concurrently.
        Markets that could not be read this time are left out (asked again next cycle)."""
        unique = [c for c in dict.fromkeys(condition_ids) if c]

        async def one(cid: str) -> int | None:
            async with self._sem:
                return parse_resolution(await self._clob.get_json(f"/markets/{cid}"))

        answers = await asyncio.gather(*(one(c) for c in unique), return_exceptions=True)
        out: dict[str, int | None] = {}
        for cid, answer in zip(unique, answers, strict=True):
            if isinstance(answer, CopybotError):
                continue
            if isinstance(answer, BaseException):
                raise answer
            out[cid] = answer
        return out


def parse_resolution(body: Any) -> int | None:
    """CLOB ``/markets/{condition_id}`` -> the winning token id once the market resolved, else None."""
    if not isinstance(body, Mapping) or not body.get("closed"):
        return None
    for token in body.get("tokens") or []:
        if isinstance(token, Mapping) and token.get("winner") is True:
            try:
                return int(str(token.get("token_id")))
            except ValueError:
                return None
    return None


def parse_fee_data(body: Any) -> FeeRate | None:
    """CLOB ``/clob-markets/{condition_id}`` -> the market's taker fee from ``fd`` (``r`` rate,
    ``e`` exponent); None when it has none or charges nothing."""
    if not isinstance(body, Mapping):
        raise MalformedResponse("clob /clob-markets: answer is not an object")
    fd = body.get("fd")
    if not isinstance(fd, Mapping):
        return None
    rate = _dec(fd.get("r", 0), "fee rate")
    exponent = _dec(fd.get("e", 1), "fee exponent")
    if rate < 0 or rate >= 1 or exponent < 0:
        raise MalformedResponse(f"clob /clob-markets: fee data out of range (r {rate}, e {exponent})")
    return FeeRate(rate, exponent) if rate > 0 else None
