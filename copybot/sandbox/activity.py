"""Who trades in the sandbox and how their fills become transactions.

Leaders buy (or sell part of what they hold), as taker or as maker; noise wallets take
liquidity at random. A taker order emits one ``OrderFilled`` per resting order it filled
(maker = that order's owner, taker = the taker) and then its own aggregate (maker = the taker,
taker = the exchange contract), as on Polymarket (protocol.md §3). Counterparties are always
noise wallets, never leaders, so a leader's fills are exactly the logs with the leader as maker.
"""

from __future__ import annotations

import random
from typing import Final

from copybot.models import Side

from .book import PRICE_SCALE, SIZE_STEP, Market, MarketBook, collateral_for
from .chain import LogDraft, Tx, order_filled

NOISE_WALLETS: Final = 40
NOISE_SLOTS: Final = 2  # chances per block for a noise wallet to trade


def opposite(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


def random_address(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(160):040x}"


def random_hash(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(256):064x}"


class Traders:
    """The wallets (leaders and noise), what leaders hold, and the transactions they make."""

    def __init__(self, rng: random.Random, books: list[MarketBook], leaders: int) -> None:
        self.books = books
        self.by_token = {t: (b, i) for b in books for i, t in enumerate(b.market.tokens)}
        self.leaders = [random_address(rng) for _ in range(leaders)]
        self.noise = [random_address(rng) for _ in range(NOISE_WALLETS)]
        self.holdings: dict[str, dict[int, int]] = {}

    def block(self, rng: random.Random, trade_prob: float, noise_prob: float) -> list[Tx]:
        """This block's background activity: each leader, then a few noise wallets, maybe trade."""
        txs: list[Tx] = []
        for leader in self.leaders:
            if rng.random() < trade_prob:
                txs.extend(self.leader_trade(rng, leader))
        for _ in range(NOISE_SLOTS):
            if rng.random() < noise_prob:
                txs.extend(self.noise_trade(rng))
        return txs

    def leader_trade(self, rng: random.Random, leader: str) -> list[Tx]:
        # a resolved market no longer trades: its books (and what is held in it) are left alone
        open_books = [b for b in self.books if b.winner is None]
        if not open_books:
            return []
        holdings = self.holdings.get(leader, {}).items()
        held = {t: s for t, s in holdings if s >= SIZE_STEP and self.by_token[t][0].winner is None}
        as_taker = rng.random() < 0.7
        collateral: int | None = None
        shares: int | None = None
        if held and rng.random() < 0.3:
            token = rng.choice(sorted(held))
            book, index = self.by_token[token]
            side = Side.SELL
            shares = held[token] // rng.choice((1, 2, 4))  # all, half or a quarter
            shares -= shares % SIZE_STEP
        else:
            book = rng.choice(open_books)
            index = rng.randrange(2)
            side = Side.BUY
            collateral = rng.randint(500, 20_000) * 10_000  # $5.00 to $200.00
        token = book.market.tokens[index]
        if as_taker:
            fills = book.walk(index, side, shares=shares, collateral=collateral)
            if not fills:
                return []
            filled = sum(s for _, s in fills)
            tx = self.taker_tx(rng, book.market, index, side, leader, fills)
        else:
            # the leader's resting order sat at the top of its side and a noise taker hit it
            price = book.best(index, "bids" if side is Side.BUY else "asks")
            if price is None:
                return []
            filled = shares if shares is not None else (collateral or 0) * PRICE_SCALE // price
            filled -= filled % SIZE_STEP
            if filled <= 0:
                return []
            book.walk(index, opposite(side), shares=filled, max_levels=1)
            book.record_trade(index, price)
            tx = self.maker_tx(rng, book.market, index, side, leader, price, filled)
        self.hold(leader, token, filled if side is Side.BUY else -filled)
        return [tx]

    def noise_trade(self, rng: random.Random) -> list[Tx]:
        open_books = [b for b in self.books if b.winner is None]
        if not open_books:
            return []
        wallet = rng.choice(self.noise)
        book = rng.choice(open_books)
        index = rng.randrange(2)
        if rng.random() < 0.5:
            fills = book.walk(index, Side.BUY, collateral=rng.randint(500, 10_000) * 10_000)
            side = Side.BUY
        else:
            fills = book.walk(index, Side.SELL, shares=rng.randint(500, 20_000) * SIZE_STEP)
            side = Side.SELL
        if not fills:
            return []
        return [self.taker_tx(rng, book.market, index, side, wallet, fills)]

    # -- transactions ----------------------------------------------------------------------

    def counterparty(self, rng: random.Random, not_this: str) -> str:
        while True:
            wallet = rng.choice(self.noise)
            if wallet != not_this:
                return wallet

    def taker_tx(
        self,
        rng: random.Random,
        market: Market,
        index: int,
        side: Side,
        taker: str,
        fills: list[tuple[int, int]],
        *,
        order_hash: int | None = None,
        fee_bps: int | None = None,
    ) -> Tx:
        """One maker log per resting order filled, then the taker's aggregate (taker = exchange),
        with the taker order's hash and fee rate when given (a random hash, the market's fee)."""
        token = market.tokens[index]
        logs = [
            order_filled(
                exchange=market.exchange,
                order_hash=rng.getrandbits(256),
                maker=self.counterparty(rng, taker),
                taker=taker,
                side=opposite(side),
                token_id=token,
                shares=shares,
                collateral=collateral_for(shares, price),
            )
            for price, shares in fills
        ]
        total = sum(collateral_for(s, p) for p, s in fills)
        logs.append(
            order_filled(
                exchange=market.exchange,
                order_hash=rng.getrandbits(256) if order_hash is None else order_hash,
                maker=taker,
                taker=market.exchange,
                side=side,
                token_id=token,
                shares=sum(s for _, s in fills),
                collateral=total,
                fee=total * (market.fee_bps if fee_bps is None else fee_bps) // 10_000,
            )
        )
        return self.tx(rng, logs)

    def maker_tx(
        self, rng: random.Random, market: Market, index: int, side: Side, maker: str, price: int, shares: int
    ) -> Tx:
        """The maker's log (taker = a counterparty), then that counterparty's taker aggregate."""
        token = market.tokens[index]
        counterparty = self.counterparty(rng, maker)
        collateral = collateral_for(shares, price)
        own = order_filled(
            exchange=market.exchange,
            order_hash=rng.getrandbits(256),
            maker=maker,
            taker=counterparty,
            side=side,
            token_id=token,
            shares=shares,
            collateral=collateral,
        )
        theirs = order_filled(
            exchange=market.exchange,
            order_hash=rng.getrandbits(256),
            maker=counterparty,
            taker=market.exchange,
            side=opposite(side),
            token_id=token,
            shares=shares,
            collateral=collateral,
            fee=collateral * market.fee_bps // 10_000,
        )
        return self.tx(rng, [own, theirs])

    def tx(self, rng: random.Random, logs: list[LogDraft]) -> Tx:
        gas_price = rng.randint(30, 300) * 10**9
        gas_used = 90_000 + 55_000 * len(logs)
        return Tx(tx_hash=random_hash(rng), gas_price=gas_price, gas_used=gas_used, logs=tuple(logs))

    def hold(self, wallet: str, token_id: int, delta: int) -> None:
        held = self.holdings.setdefault(wallet, {})
        held[token_id] = max(0, held.get(token_id, 0) + delta)
