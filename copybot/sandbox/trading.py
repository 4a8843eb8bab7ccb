"""The sandbox CLOB's trading engine: accepting signed orders, matching them against the book,
moving balances, recording trades, and resolving markets. HTTP lives in :mod:`.trading_api`.

``POST /order`` answers like production::

    {"success": true, "orderID": "0x<EIP-712 order hash>", "status": "matched" | "live",
     "makingAmount": "…", "takingAmount": "…", "transactionsHashes": ["0x…"],
     "tradeIDs": ["<uuid>"], "errorMsg": ""}

**makingAmount / takingAmount** are what the order actually gave and got, as decimal strings in
pUSD / shares (not base units; real answers read like ``"4.599999"``): a BUY makes collateral
and takes shares, a SELL makes shares and takes collateral. So the fill price is making/taking
for a BUY and taking/making for a SELL. Both are ``""`` when nothing matched (a resting order).

Matching: a market BUY (FOK/FAK) spends up to its ``makerAmount`` of collateral; a limit BUY
(GTC/GTD) buys up to its ``takerAmount`` of shares; a SELL sells up to its ``makerAmount`` of
shares; all walk the book best level first, never past the order's price (maker/taker or
taker/maker, snapped to the tick), in whole 0.01 shares (what a BUY cannot spend on one more
0.01 share at its price stays with the buyer, like production's ``"0.999999"`` for $1). FOK
fills completely or answers the FOK error and changes nothing; FAK fills what it can, or
answers the FAK error when nothing matched; a GTC/GTD remainder rests as a LIVE order (listed,
cancellable, holding its balance back) that never fills: the sandbox book does not show it.
Taker fees are zero. A match settles in the next mined block as V2 ``OrderFilled`` logs: one per
resting order taken (maker = a background wallet, taker = our maker) and our aggregate (maker =
our maker, taker = the exchange, orderHash = the order id), as on Polymarket.

Checks, in this order, each with production's error text: payload and V1 layout
(``order_version_mismatch``), owner and signer against the API key, the EIP-712 V2 signature
against the token's exchange (CTFExchangeV2, or NegRiskCtfExchangeV2 for a neg-risk market; a V2
order signed under domain version "1" is ``order_version_mismatch`` too), maker against the
key's funds holder, the market still open, the tick (maker/taker within 1% of a tick), minimum
size (a market BUY at least $1 of collateral, any other order the market's ``min_order_size``
shares), expiration, duplicate (the same order hash twice), then balance / allowance against the
CLOB's cached view (:mod:`.ledger`) less what LIVE orders hold back. Account wallets (proxy, Safe,
deposit wallet) are derived from their owner as production derives them (:mod:`.wallets`); a
deposit wallet's signature is checked through its ERC-1271 rule. ``deposit_wallet_only`` refuses
signature types 0-2 as production does for accounts made since 2026-05-04.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from copybot.models import Side
from copybot.protocol import UNIT, topic_to_address

from .accounts import NOT_OWNER, check_accounts, holder_of
from .auth import ApiKey, ApiKeys
from .book import PRICE_SCALE, MarketBook, collateral_for, fmt_units
from .clob_reads import ClobReads
from .delayed import Delayed
from .ledger import COLLATERAL, Balances, Ledger, MakerFill, OrderRecord, Trade
from .orders import MARKET_ORDER_TYPES, OrderError, SignedOrder, check_signature, parse_order
from .wallets import KINDS, Wallets, derive

if TYPE_CHECKING:
    from .core import Sandbox

FOK_NOT_FILLED: Final = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NOT_FILLED: Final = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
NOT_ENOUGH: Final = "not enough balance / allowance"
NO_BOOK: Final = "No orderbook exists for the requested token id"
INVALID_EXPIRATION: Final = "invalid expiration"
CROSSES: Final = "invalid post-only order: order crosses book"
MIN_MARKET_BUY: Final = UNIT  # $1 of collateral
GTD_SAFETY_S: Final = 60
_ADDRESS: Final = re.compile(r"^0x[0-9a-f]{40}$")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Clob(ClobReads):
    """Accounts, balances, orders and trades of the sandbox CLOB. Shared state is only touched
    under the sandbox's lock; signatures are checked before taking it (they are the slow part)."""

    def __init__(self, sandbox: Sandbox, seed: int) -> None:
        self._sandbox = sandbox
        self._rng = random.Random(seed * 3_000_003 + 41)
        self.keys = ApiKeys(seed)
        self.ledger = Ledger()
        self.wallets = Wallets()  # account wallets the relayer deployed (signature types 1, 2, 3)
        self.deposit_wallet_only = False  # production's rule for new accounts: types 0-2 refused
        self.orders: dict[str, OrderRecord] = {}
        self.trades: list[Trade] = []
        self.page_size = 100  # records per /data/* page
        self.delayed = Delayed(self.orders, sandbox)  # production's "delayed" answers, on demand
        self.failing_trades = False  # trades matched while set FAIL on chain (reverted when mined)
        self.settlement_lag = False  # what a match brings arrives only when its block is mined
        self.async_settlement = False  # answers carry tradeIDs only, no transaction hashes
        self.refusals_in_body = False  # POST /order refusals as HTTP 200 {"success": false, ...}, not 400
        # (holder, "COLLATERAL" | "CONDITIONAL") whose approvals for the exchanges are missing:
        # allowances show 0 and orders needing them are refused for balance / allowance
        self.unapproved: set[tuple[str, str]] = set()
        self._arriving: list[tuple[int, str, int, int]] = []  # (block, holder, asset, units)
        self._reverting: list[Trade] = []

    @property
    def matching_delay_s(self) -> float:
        """> 0: market orders are answered ``delayed`` and matched this many seconds later."""
        return self.delayed.delay_s

    @matching_delay_s.setter
    def matching_delay_s(self, value: float) -> None:
        self.delayed.delay_s = value

    def sync(self) -> None:
        """What happens as blocks are mined (the sandbox's lock held): delayed orders due are
        matched, failed trades' balances move back."""
        self.delayed.match_due()
        self._revert_failed()
        latest = self._sandbox._latest
        arrived = [a for a in self._arriving if a[0] <= latest]
        self._arriving = [a for a in self._arriving if a[0] > latest]
        for _, holder, asset, units in arrived:
            self.ledger.deposit(holder, asset, units)

    def match_delayed(self) -> None:
        self.delayed.match_all()

    # -- accounts --------------------------------------------------------------------------

    def open_account(self, owner: str, kind: str) -> str:
        """Deploy ``owner``'s wallet of this kind (proxy | safe | deposit), as Polymarket's relayer
        does when an account is made: its lowercase address."""
        return self.wallets.deploy(_address(owner), kind).address

    def fund(self, address: str, usdc: Decimal, owner: str | None = None) -> None:
        """Deposit ``usdc`` pUSD to ``address`` (seen by the CLOB at once). With ``owner``, the
        address must be one of that EOA's wallets (proxy, Safe or deposit wallet, derived as
        production does); it is deployed if it is not yet."""
        address = _address(address)
        units = usdc * UNIT
        if units != units.to_integral_value() or units <= 0:
            raise ValueError(f"usdc {usdc} must be positive with at most 6 decimals")
        if owner is not None:
            kind = next((k for k in KINDS if derive(_address(owner), k) == address), None)
            if kind is None:
                raise ValueError(f"{address} is not a proxy, Safe or deposit wallet of {owner}")
            self.wallets.deploy(_address(owner), kind)
        with self._sandbox._lock:
            self.ledger.deposit(address, COLLATERAL, int(units))
            self.ledger.refresh(address, COLLATERAL, self._sandbox.clock.monotonic())

    def balances(self, address: str) -> Balances:
        with self._sandbox._lock:
            return self.ledger.balances(_address(address))

    def holder(self, key: ApiKey, signature_type: int) -> str | None:
        """Whose balance a request with this key and signature type is about (None: no such wallet)."""
        return holder_of(self.wallets, key.address, signature_type)

    def balance_allowance(self, holder: str | None, asset: int, *, update: bool) -> int:
        """The CLOB's view of a balance (refreshed from the chain first if ``update``)."""
        if holder is None:
            return 0
        with self._sandbox._lock:
            now = self._sandbox.clock.monotonic()
            if update:
                return self.ledger.refresh(holder, asset, now)
            return self.ledger.view(holder, asset, now)

    # -- orders ----------------------------------------------------------------------------

    def place(self, key: ApiKey, body: Any) -> dict[str, Any]:
        """Accept, match and record one order; :class:`OrderError` for every refusal."""
        order, owner, order_type = parse_order(body)
        if owner != key.api_key:
            raise OrderError(NOT_OWNER)
        check_accounts(self.wallets, key.address, order, deposit_wallet_only=self.deposit_wallet_only)
        try:
            book, index = self._sandbox._lookup(order.token_id)
        except KeyError:
            raise OrderError(NO_BOOK) from None
        market = book.market
        check_signature(order, market.exchange, owner=key.address)
        order_id = order.order_hash(market.exchange)
        post_only = bool(isinstance(body, dict) and body.get("postOnly"))
        with self._sandbox._lock:
            self._sandbox._sync()
            if book.winner is not None:
                raise OrderError(NO_BOOK)
            price = self._validate(order, order_id, order_type, book)
            if self.matching_delay_s > 0 and order_type in MARKET_ORDER_TYPES:
                match = partial(self._execute, key, order, order_id, order_type, book, index, price, False)
                return self.delayed.accept(key, order, order_id, order_type, book.market, price, match)
            return self._execute(key, order, order_id, order_type, book, index, price, post_only)

    def _validate(self, order: SignedOrder, order_id: str, order_type: str, book: MarketBook) -> int:
        """The price the order may match at, in millionths, after the tick, size, expiration,
        duplicate and balance checks: its tick price, or tighter if the signed amounts say so
        (a BUY never pays more than maker/taker, a SELL never gets less than taker/maker)."""
        market = book.market
        exact = order.limit * PRICE_SCALE
        price = round(exact / market.tick) * market.tick
        if abs(exact - price) * 100 > market.tick or not market.tick <= price <= PRICE_SCALE - market.tick:
            shown, tick = f"{float(order.limit)!r}", market.tick_size
            raise OrderError(f"order {order_id} is invalid. Price ({shown}) breaks minimum tick size rule: {tick}")
        shares = order.taker_amount if order.side is Side.BUY else order.maker_amount
        if order.side is Side.BUY and order_type in MARKET_ORDER_TYPES:
            if order.maker_amount < MIN_MARKET_BUY:
                amount = fmt_units(order.maker_amount)
                raise OrderError(f"invalid amount for a marketable BUY order (${amount}), min size: $1")
        elif shares < market.min_order_size * UNIT:
            size, minimum = fmt_units(shares), f"{market.min_order_size.normalize():f}"
            raise OrderError(f"order {order_id} is invalid. Size ({size}) lower than the minimum: {minimum}")
        now = int(self._sandbox.clock.now())
        if order.expiration and order.expiration <= now + (GTD_SAFETY_S if order_type == "GTD" else 0):
            raise OrderError(INVALID_EXPIRATION)
        if order_type == "GTD" and not order.expiration:
            raise OrderError(INVALID_EXPIRATION)
        if order_id in self.orders:
            raise OrderError(f"order {order_id} is invalid. Duplicated.")
        asset = COLLATERAL if order.side is Side.BUY else order.token_id
        if (order.maker, "COLLATERAL" if order.side is Side.BUY else "CONDITIONAL") in self.unapproved:
            raise OrderError(NOT_ENOUGH)
        available = self.ledger.view(order.maker, asset, self._sandbox.clock.monotonic()) - self._reserved(
            order.maker, asset
        )
        if available < order.maker_amount:
            raise OrderError(NOT_ENOUGH)
        return min(price, math.floor(exact)) if order.side is Side.BUY else max(price, math.ceil(exact))

    def _reserved(self, maker: str, asset: int) -> int:
        live = (o for o in self.orders.values() if o.status == "LIVE")
        return sum(o.reserved for o in live if o.maker_address == maker and o.asset == asset)

    def _execute(
        self,
        key: ApiKey,
        order: SignedOrder,
        order_id: str,
        order_type: str,
        book: MarketBook,
        index: int,
        price: int,
        post_only: bool,
    ) -> dict[str, Any]:
        by_collateral = order.side is Side.BUY and order_type in MARKET_ORDER_TYPES
        fills, complete = book.plan(
            index,
            order.side,
            limit=price,
            collateral=order.maker_amount if by_collateral else None,
            shares=None if by_collateral else order.maker_amount if order.side is Side.SELL else order.taker_amount,
        )
        if order_type == "FOK" and not complete:
            raise OrderError(FOK_NOT_FILLED)
        if order_type == "FAK" and not fills:
            raise OrderError(FAK_NOT_FILLED)
        if post_only and fills:
            raise OrderError(CROSSES)
        shares = sum(s for _, s in fills)
        collateral = sum(collateral_for(s, p) for p, s in fills)
        making, taking = (collateral, shares) if order.side is Side.BUY else (shares, collateral)
        original = order.taker_amount if order.side is Side.BUY else order.maker_amount
        resting = order_type in ("GTC", "GTD") and not complete
        record = OrderRecord(
            order_id=order_id,
            owner=key.api_key,
            signer=key.address,
            maker_address=order.maker,
            market=book.market,
            token_id=order.token_id,
            side=order.side,
            order_type=order_type,
            price=price,
            original_size=original,
            size_matched=shares,
            status="LIVE" if resting else "MATCHED",
            created_at=int(self._sandbox.clock.now()),
            expiration=order.expiration,
            reserved=order.maker_amount - making if resting else 0,
        )
        self.orders[order_id] = record
        answer: dict[str, Any] = {
            "success": True,
            "orderID": order_id,
            "status": "live" if resting and not fills else "matched",
            "makingAmount": fmt_units(making) if fills else "",
            "takingAmount": fmt_units(taking) if fills else "",
            "transactionsHashes": [],
            "tradeIDs": [],
            "errorMsg": "",
        }
        if fills:
            trade = self._settle(key, order, order_id, book, index, fills)
            record.trades.append(trade.trade_id)
            # since asynchronous settlement (2026-07-24) a FOK/FAK match names its trades only
            answer["transactionsHashes"] = [] if self.async_settlement else [trade.tx_hash]
            answer["tradeIDs"] = [trade.trade_id]
        return answer

    def _settle(
        self, key: ApiKey, order: SignedOrder, order_id: str, book: MarketBook, index: int, fills: list[tuple[int, int]]
    ) -> Trade:
        """Take the liquidity, move the balances, queue the logs for the next block, record the trade."""
        market, maker = book.market, order.maker
        book.take(index, order.side, fills)
        shares = sum(s for _, s in fills)
        collateral = sum(collateral_for(s, p) for p, s in fills)
        token = order.token_id
        now = self._sandbox.clock.monotonic()
        fee = market.taker_fee(shares, collateral)  # on top of a BUY, out of a SELL's proceeds
        paid, got = (COLLATERAL, token) if order.side is Side.BUY else (token, COLLATERAL)
        paid_units, got_units = (collateral + fee, shares) if order.side is Side.BUY else (shares, collateral - fee)
        self.ledger.spend(maker, paid, paid_units)
        if self.failing_trades:
            pass  # it reverts on chain: nothing arrives, and what was paid comes back (Clob.sync)
        elif self.settlement_lag:  # what it bought arrives when its block is mined (Clob.sync)
            self._arriving.append((self._sandbox._latest + 1, maker, got, got_units))
        else:
            self.ledger.receive(maker, got, got_units, now)
        rng = self._rng
        tx = self._sandbox._traders.taker_tx(
            rng, market, index, order.side, maker, fills, order_hash=int(order_id, 16), fee_bps=0
        )
        makers = tuple(  # the resting orders taken, as the logs name them (the last log is ours)
            MakerFill(log.topics[1], _uuid(rng), topic_to_address(log.topics[2]), p, s)
            for log, (p, s) in zip(tx.logs, fills, strict=False)
        )
        failing = self.failing_trades
        # a trade that fails on chain: its transaction reverts (no logs); the balances move back
        # when its block is mined (Clob.sync)
        block = self._sandbox._latest + 1 if failing else self._sandbox._queue(tx)
        trade = Trade(
            trade_id=_uuid(rng),
            order_id=order_id,
            owner=key.api_key,
            signer=key.address,
            maker_address=maker,
            market=market,
            token_id=token,
            side=order.side,
            shares=shares,
            collateral=collateral,
            makers=makers,
            match_time=int(self._sandbox.clock.now()),
            tx_hash=tx.tx_hash,
            block=block,
            failed=failing,
            fee=fee,
        )
        self.trades.append(trade)
        if failing:
            self._reverting.append(trade)
        return trade

    def _revert_failed(self) -> None:
        """Move back what the failed trades of mined blocks had moved (the sandbox's lock held)."""
        latest = self._sandbox._latest
        due = [t for t in self._reverting if t.block <= latest]
        if not due:
            return
        self._reverting = [t for t in self._reverting if t.block > latest]
        for t in due:  # what it paid comes back, fee included (what it would have got never arrived)
            paid, units = (COLLATERAL, t.collateral + t.fee) if t.side is Side.BUY else (t.token_id, t.shares)
            self.ledger.deposit(t.maker_address, paid, units)

    def cancel(self, key: ApiKey, order_ids: list[str] | None) -> dict[str, Any]:
        """Cancel LIVE orders of this key's address (all of them for None)."""
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        with self._sandbox._lock:
            wanted = order_ids if order_ids is not None else [o.order_id for o in self._own(key) if o.status == "LIVE"]
            for order_id in wanted:
                record = self.orders.get(order_id)
                if record is None or record.signer != key.address:
                    not_canceled[order_id] = "order not found"
                elif record.status != "LIVE":
                    not_canceled[order_id] = "order can't be canceled, already matched or canceled"
                else:
                    record.status, record.reserved = "CANCELED", 0
                    canceled.append(order_id)
        return {"canceled": canceled, "not_canceled": not_canceled}


def _address(raw: str) -> str:
    address = raw.lower()
    if not _ADDRESS.match(address):
        raise ValueError(f"not an address: {raw!r}")
    return address
