"""The simulated Polymarket: markets, leaders, and a chain mined lazily by the clock.

Determinism: one ``random.Random(seed)`` draws the markets, the wallets and then, block after
block, the activity; injections draw from a second generator, so the same seed and the same
injections give the same chain whatever the wall clock did. Blocks are mined when somebody
looks: every read first mines up to ``start_block + floor(elapsed / block_time_s)`` (plus any
forced blocks), with elapsed measured on the injected clock.

Who trades and how a match becomes ``OrderFilled`` logs (protocol.md §3 attribution) lives in
:mod:`copybot.sandbox.activity`; books in :mod:`~copybot.sandbox.book`; wire encoding in
:mod:`~copybot.sandbox.chain`.

Reorganisations (:meth:`Sandbox.reorg`, or every ``reorg_every`` blocks) reseal the last blocks'
transactions in a new order under new hashes, from a third generator, so they never change the
activity that follows. Faults, Etherscan's rate limit and the request counters live in the
:class:`~copybot.sandbox.faults.Monitor` (``sandbox.monitor``).

Every public method takes the lock: tests inject from one thread while uvicorn serves in another.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

from copybot.clock import Clock, SystemClock
from copybot.models import Book, Side
from copybot.protocol import UNIT

from .activity import Traders, random_address, random_hash
from .book import PRICE_SCALE, Market, MarketBook, collateral_for, new_market, price_units
from .chain import ZERO_WORD, Block, Log, Tx, reorganise, seal
from .faults import Faults, Monitor
from .injected import InjectedFill
from .ledger import Balances
from .market_events import resolve
from .relayer import Relayer
from .trading import Clob
from .transactions import Transactions

_ADDRESS: Final = re.compile(r"^0x[0-9a-f]{40}$")


class UnknownToken(KeyError):
    """No sandbox market has this token id (the CLOB answers 404)."""


class Sandbox:
    def __init__(
        self,
        *,
        seed: int = 1,
        leaders: int = 3,
        markets: int = 8,
        block_time_s: float = 2.0,
        clock: Clock | None = None,
        api_key: str = "sandbox-key",
        start_block: int = 95_000_000,
        trade_prob: float = 0.25,
        noise_prob: float = 0.5,
        faults: Mapping[str, Faults] | None = None,
        etherscan_rate_limit: float | None = 3.0,
        rpc_max_range: int = 1000,
        rpc_max_results: int = 10_000,
        rpc_block_timestamps: bool = True,
        position_markets: int = 0,
        reorg_every: int = 0,
    ) -> None:
        if block_time_s <= 0 or markets < 1 or leaders < 0 or reorg_every < 0:
            raise ValueError("need block_time_s > 0, markets >= 1, leaders >= 0 and reorg_every >= 0")
        self._lock = threading.RLock()
        self.clock: Clock = clock or SystemClock()
        self.api_key = api_key
        self.block_time_s = block_time_s
        self.start_block = start_block
        self.trade_prob = trade_prob
        self.noise_prob = noise_prob
        self._rng = random.Random(seed)
        self._inject_rng = random.Random(seed * 1_000_003 + 17)
        self._reorg_rng = random.Random(seed * 2_000_003 + 29)
        self.rpc_max_range = rpc_max_range  # blocks per eth_getLogs call; settable at runtime
        self.rpc_max_results = rpc_max_results  # logs per eth_getLogs answer
        # False: eth_getLogs answers the classic log object, without blockTimestamp, as most nodes do
        self.rpc_block_timestamps = rpc_block_timestamps
        self.reorg_every = reorg_every  # 0 = never
        self.monitor = Monitor(seed, self.clock, faults, etherscan_rate_limit)
        self._mono0 = self.clock.monotonic()
        self.genesis_time = int(self.clock.now())

        self._books = [new_market(self._rng, i, self.genesis_time) for i in range(markets)]
        for book in self._books[markets - min(position_markets, markets) :]:
            # the last ``position_markets`` trade on ExchangeV3 ("Protocol V2" markets, position ids)
            book.market = replace(book.market, protocol_v2=True)
        self.markets: list[Market] = [b.market for b in self._books]
        self._by_condition = {b.market.condition_id: b.market for b in self._books}
        self._traders = Traders(self._rng, self._books, leaders)
        self._by_token = self._traders.by_token
        self.leaders: list[str] = list(self._traders.leaders)
        self.spoofer = random_address(self._rng)  # a look-alike contract, not a Polymarket exchange

        self._blocks: list[Block] = []
        self._pending: list[Tx] = []
        self._scheduled = 0  # blocks mined on the clock's schedule, genesis included
        self._mine_block(scheduled=True)
        self.clob = Clob(self, seed)  # API accounts, balances, orders, trades (sandbox/trading.py)
        self.transactions = Transactions(self)  # what wallets send through the node (redeems)
        self.relayer = Relayer(self)  # Polymarket's relayer: gasless transactions of deposit wallets

        from .app import build_app  # the app needs a Sandbox; imported here to avoid a cycle

        self.app = build_app(self)

    # -- reads -----------------------------------------------------------------------------

    def latest_block(self) -> int:
        with self._lock:
            self._sync()
            return self._latest

    @property
    def _latest(self) -> int:
        return self.start_block + len(self._blocks) - 1

    def logs(self, from_block: int, to_block: int) -> list[Log]:
        """Every log of the mined blocks in ``[from_block, to_block]``, in chain order."""
        with self._lock:
            self._sync()
            lo = max(from_block, self.start_block) - self.start_block
            hi = min(to_block, self._latest) - self.start_block
            if hi < lo:
                return []
            return [log for block in self._blocks[lo : hi + 1] for log in block.logs]

    def block(self, number: int) -> Block:
        with self._lock:
            self._sync()
            if not self.start_block <= number <= self._latest:
                raise KeyError(number)
            return self._blocks[number - self.start_block]

    def block_by_hash(self, block_hash: str) -> Block | None:
        """The block of the current chain with this hash (None if unknown or reorganised away)."""
        wanted = block_hash.lower()
        with self._lock:
            self._sync()
            return next((b for b in reversed(self._blocks) if b.block_hash == wanted), None)

    def market_for_token(self, token_id: int) -> Market:
        """The market a token belongs to; ``KeyError`` for an unknown token."""
        return self._lookup(token_id)[0].market

    def _lookup(self, token_id: int) -> tuple[MarketBook, int]:
        try:
            return self._by_token[token_id]
        except KeyError:
            raise UnknownToken(token_id) from None

    def _open(self, token_id: int) -> tuple[MarketBook, int]:
        """Like :meth:`_lookup`, but a resolved market's tokens have no book any more."""
        found = self._lookup(token_id)
        if found[0].winner is not None:
            raise UnknownToken(token_id)
        return found

    def market(self, condition_id: str) -> Market:
        return self._by_condition[condition_id.lower()]

    def book(self, token_id: int) -> Book:
        """The token's current book, best levels first (``KeyError`` if unknown)."""
        with self._lock:
            self._sync()
            book, index = self._open(token_id)
            return book.snapshot(index, timestamp_ms=int(self.clock.now() * 1000))

    def midpoint(self, token_id: int) -> Decimal:
        with self._lock:
            self._sync()
            book, index = self._open(token_id)
            return Decimal(book.midpoint(index)) / PRICE_SCALE

    def last_trade_price(self, token_id: int) -> Decimal:
        with self._lock:
            self._sync()
            book, index = self._open(token_id)
            return Decimal(book.last_trade_price(index)) / PRICE_SCALE

    def holdings(self, wallet: str) -> dict[int, int]:
        """Shares (base units) per token a wallet holds from sandbox fills, leaders only."""
        with self._lock:
            self._sync()
            return {t: s for t, s in self._traders.holdings.get(wallet.lower(), {}).items() if s > 0}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "leaders": list(self.leaders),
                "latest_block": self.latest_block(),
                "markets": [
                    {
                        "condition_id": m.condition_id,
                        "tokens": [str(t) for t in m.tokens],
                        "question": m.question,
                        "neg_risk": m.neg_risk,
                    }
                    for m in self.markets
                ],
            }

    # -- faults and counters ---------------------------------------------------------------

    def set_faults(self, upstream: str, faults: Faults) -> None:
        """How ``upstream`` (etherscan, rpc, clob or gamma) misbehaves from now on."""
        self.monitor.set_faults(upstream, faults)

    @property
    def etherscan_rate_limit(self) -> float | None:
        """Etherscan calls per second per API key (None: unlimited)."""
        return self.monitor.etherscan_rate_limit

    @etherscan_rate_limit.setter
    def etherscan_rate_limit(self, value: float | None) -> None:
        self.monitor.etherscan_rate_limit = value

    def stats(self) -> dict[str, Any]:
        """``requests`` and ``faults``: Counters keyed by (upstream, label); ``rate_limited``:
        Etherscan calls refused over the limit; ``reorgs``. See :meth:`Monitor.stats`."""
        return self.monitor.stats()

    def reset_stats(self) -> None:
        self.monitor.reset_stats()

    # -- writes ----------------------------------------------------------------------------

    def fund(self, address: str, usdc: Decimal, *, owner: str | None = None) -> None:
        """Deposit pUSD to ``address`` for the CLOB API; ``owner``: the EOA whose proxy / safe it is."""
        self.clob.fund(address, usdc, owner)

    def balances(self, address: str) -> Balances:
        """What ``address`` holds on the sandbox CLOB (base units), as the chain has it."""
        return self.clob.balances(address)

    def resolve(self, condition_id: str, winning_token_id: int) -> None:
        """Resolve a market; leaders stop trading it (:mod:`.market_events`: ticks and fees change there)."""
        resolve(self, condition_id, winning_token_id)

    def _queue(self, tx: Tx) -> int:
        """Settle ``tx`` in the next mined block (whose number is returned). Lock held."""
        self._pending.append(tx)
        return self._latest + 1

    def reorg(self, depth: int = 1, drop: Iterable[str] = ()) -> list[int]:
        """Replace the last ``depth`` blocks with new ones (same numbers, new hashes) holding the
        same transactions in a shuffled order, minus the transaction hashes in ``drop`` (which must
        be in those blocks). Books and holdings are not rewound, and an :class:`InjectedFill`'s
        ``block`` and ``log_index`` may be stale afterwards. Returns the replaced block numbers."""
        dropped = frozenset(h.lower() for h in drop)
        with self._lock:
            self._sync()
            if not 1 <= depth <= len(self._blocks):
                raise ValueError(f"depth must be from 1 to {len(self._blocks)}")
            replaced = self._blocks[-depth:]
            missing = dropped - {tx.tx_hash for block in replaced for tx in block.txs}
            if missing:
                raise ValueError(f"not in the last {depth} blocks: {', '.join(sorted(missing))}")
            return self._reorg(depth, dropped)

    def _reorg(self, depth: int, drop: frozenset[str]) -> list[int]:
        self._blocks[-depth:] = reorganise(self._blocks[-depth:], drop, self._reorg_rng)
        self.monitor.count_reorg()
        return [b.number for b in self._blocks[-depth:]]

    def mine(self, n: int = 1) -> int:
        """Mine ``n`` blocks now, ahead of the clock's schedule; returns the latest block."""
        with self._lock:
            self._sync()
            for _ in range(n):
                self._mine_block(scheduled=False)
            self.clob.sync()
            return self._latest

    def inject_fill(
        self,
        leader: str,
        *,
        token_id: int | None = None,
        side: str = "BUY",
        shares: Decimal = Decimal(10),
        price: Decimal | None = None,
        as_taker: bool = True,
        spoof: bool = False,
    ) -> InjectedFill:
        """Queue a fill by ``leader`` into the next mined block and say where it will be.

        Like the real CLOB, the match happens now (the book moves at once) and settles on chain
        in the next block. ``price`` None means, for a taker, the best ask for a BUY and the best bid
        for a SELL; for a maker, the top of its own side (best bid for a BUY, best ask for a SELL).
        The whole size fills at that one price against a single counterparty. Collateral is
        ``shares * price`` rounded down to a base unit. ``spoof`` emits the same logs from a
        contract that is not a Polymarket exchange and leaves the book alone.
        """
        leader = leader.lower()
        if not _ADDRESS.match(leader):
            raise ValueError(f"not an address: {leader!r}")
        the_side = Side(side.upper())
        share_units = shares * UNIT
        if share_units != share_units.to_integral_value() or share_units <= 0:
            raise ValueError(f"shares {shares} must be positive with at most 6 decimals")
        with self._lock:
            self._sync()
            rng = self._inject_rng
            if token_id is None:
                books = [b for b in self._books if b.winner is None] or self._books
                token_id = rng.choice(books).market.tokens[rng.randrange(2)]
            if token_id not in self._by_token:
                raise ValueError(f"unknown token id {token_id}")
            if self._by_token[token_id][0].winner is not None:
                raise ValueError(f"token {token_id}'s market is resolved")
            book, index = self._lookup(token_id)
            market = book.market
            if price is None:
                # a taker pays the other side's best; a maker's order rested at the top of its own side
                takes_asks = (the_side is Side.BUY) == as_taker
                best = book.best(index, "asks" if takes_asks else "bids")
                assert best is not None  # refill never leaves a side empty
                price_u = best
            else:
                price_u = price_units(price)
            fill_shares = int(share_units)
            collateral = collateral_for(fill_shares, price_u)
            exchange = self.spoofer if spoof else market.exchange
            if not spoof:
                if as_taker:  # the taker order took this much resting liquidity
                    book.walk(index, the_side, shares=fill_shares, limit=price_u)
                book.record_trade(index, price_u)
                self._traders.hold(leader, token_id, fill_shares if the_side is Side.BUY else -fill_shares)
            if as_taker:
                tx = self._traders.taker_tx(rng, market, index, the_side, leader, [(price_u, fill_shares)])
                own = len(tx.logs) - 1
            else:
                tx = self._traders.maker_tx(rng, market, index, the_side, leader, price_u, fill_shares)
                own = 0
            if spoof:
                tx = replace(tx, logs=tuple(replace(d, address=exchange) for d in tx.logs))
            log_index = sum(len(t.logs) for t in self._pending) + own
            self._pending.append(tx)
            fee = collateral * market.fee_bps // 10_000 if as_taker else 0
            return InjectedFill(
                tx_hash=tx.tx_hash,
                log_index=log_index,
                block=self._latest + 1,
                token_id=token_id,
                side=the_side,
                shares=fill_shares,
                collateral=collateral,
                exchange=exchange,
                leader=leader,
                as_taker=as_taker,
                spoof=spoof,
                fee=fee,
            )

    # -- mining ----------------------------------------------------------------------------

    def _sync(self) -> None:
        elapsed = self.clock.monotonic() - self._mono0
        # the epsilon keeps 0.6 / 0.2 from flooring to 2
        due = math.floor(elapsed / self.block_time_s + 1e-9) + 1
        while self._scheduled < due:
            self._mine_block(scheduled=True)
        clob = getattr(self, "clob", None)  # absent while the sandbox is being built
        if clob is not None:
            clob.sync()

    def _mine_block(self, *, scheduled: bool) -> None:
        if scheduled:
            ts = self.genesis_time + int(self._scheduled * self.block_time_s)
            self._scheduled += 1
        else:
            ts = self.genesis_time + int(self.clock.monotonic() - self._mono0)
        if self._blocks:
            ts = max(ts, self._blocks[-1].timestamp)
        mined = len(self._blocks) - 1  # since genesis
        if self.reorg_every and mined > 0 and mined % self.reorg_every == 0:
            # reorganise what clients may have seen, then build on the new tip
            self._reorg(min(self._reorg_rng.randint(1, 3), mined), frozenset())
        number = self.start_block + len(self._blocks)
        parent = self._blocks[-1].block_hash if self._blocks else ZERO_WORD
        block_hash = random_hash(self._rng)
        txs, self._pending = self._pending, []
        if self._blocks:
            for book in self._books:
                book.step(self._rng)
        txs.extend(self._traders.block(self._rng, self.trade_prob, self.noise_prob))
        self._blocks.append(seal(number, block_hash, ts, txs, parent))
