"""Live trading on the Polymarket CLOB through ``polymarket-client`` (the maintained SDK), the
only module with a network conversation in its hands; imported only in live mode.

The SDK's async client runs on copybot's event loop (no thread hop). Orders are market orders
(FOK by default, FAK configurable) bounded by the worst acceptable price. They are *created*
(signed, no network beyond market metadata) and then *posted*; the SDK's ``place_*`` helpers are
never used, because they send on-chain approvals on their own. :meth:`LiveBroker.prepare` signs
an order and computes its exchange id (``order_id.order_hash``), which the caller stores as the
order's intent before :meth:`LiveBroker.submit` sends it; after a crash or a ``delayed`` answer,
:meth:`LiveBroker.lookup` asks the CLOB what became of that id before anything is resent.

The wallet: the settings name the funder and its kind (``live.signature_type``); :meth:`start`
refuses a funder that is not that kind of wallet for the key (the SDK would silently treat an
unknown address as a session key's deposit wallet). The private key lives only inside the SDK's
signer and the closure that creates the client; it is never logged, stored or put in a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

from eth_account import Account
from polymarket import (
    ApiKeyCreds,
    AsyncSecureClient,
    PolymarketError,
    RelayerApiKey,
    RequestRejectedError,
    UserInputError,
)

from copybot.brokers.base import PreparedOrder
from copybot.brokers.live_answers import classify, from_answer
from copybot.brokers.order_id import order_hash, signed_for
from copybot.brokers.sdk_private import WALLET_KINDS, Endpoints, environment, refresh_balance, wallet_kind
from copybot.clock import Clock, SystemClock
from copybot.config.settings import LiveSettings
from copybot.errors import (
    CheckFailed,
    ConfigError,
    CopybotError,
    OrderNotFilled,
    OrderPending,
    OrderRejected,
    RateLimited,
)
from copybot.models import (
    Book,
    OrderIntent,
    OrderResult,
    Reason,
    Side,
    Skip,
    TradeState,
    from_units,
    to_units,
    value_at,
)
from copybot.protocol import CENT, CTF_EXCHANGE_V2, LOT, NEG_RISK_EXCHANGE_V2
from copybot.upstream.http import RateLimiter

log = logging.getLogger(__name__)
KIND_NAMES = {
    "EOA": "an EOA",
    "POLY_PROXY": "a proxy wallet",
    "GNOSIS_SAFE": "a Safe",
    "DEPOSIT_WALLET": "a deposit wallet",
}
PENDING_ORDER_STATUSES = frozenset({"LIVE", "DELAYED", "ORDER_STATUS_LIVE", "ORDER_STATUS_DELAYED"})
FAILED_TRADE = "FAILED"
DEFAULT_RETRY_AFTER_S = 1.0
REDEEM_RETRY_S = 600.0  # a market's redeem is sent again at most every ten minutes
REDEEM_WAIT_S = 15.0  # how long a cycle waits for its redeem transaction (then: booked on a later check)


def check_wallet_kind(address: str, wallet: str, kind: str) -> None:
    """``wallet`` must be the ``kind`` of wallet of the key whose address is ``address`` (checked
    offline, as the SDK classifies it); :class:`ConfigError` naming the setting otherwise."""
    detected = wallet_kind(address, wallet)
    if detected == kind:
        return
    want = f"{KIND_NAMES[kind]} (live.signature_type {WALLET_KINDS.index(kind)})"
    if detected is None:
        raise ConfigError(f"live.funder: {wallet} is not a wallet of this key's address {address}; expected {want}")
    raise ConfigError(f"live.funder: {wallet} is {KIND_NAMES[detected]} of this key, not {want}")


def wallet_of(live: LiveSettings, private_key: str) -> tuple[str, str, str]:
    """(key address, funds holder, wallet kind) of the live settings."""
    address = Account.from_key(private_key).address
    return address, live.funder or address, WALLET_KINDS[live.signature_type]


class LiveBroker:
    mode = "live"
    can_lose_answers = True
    trades_positions = False  # the sandbox has no ExchangeV3 position markets to prove it on yet

    def __init__(
        self,
        endpoints: Endpoints,
        private_key: str,
        *,
        signature_type: int = 0,
        funder: str | None = None,
        credentials: ApiKeyCreds | None = None,
        relayer_key: RelayerApiKey | None = None,
        order_type: str = "FOK",
        max_concurrency: int = 4,
        auto_redeem: bool = False,
        orders_per_second: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.address = Account.from_key(private_key).address
        self.wallet = funder or self.address
        self.kind = WALLET_KINDS[signature_type]
        self._endpoints = endpoints
        self._order_type: Literal["FAK", "FOK"] = "FAK" if order_type == "FAK" else "FOK"
        self._sem = asyncio.Semaphore(max_concurrency)
        self._clock = clock or SystemClock()
        self._not_before = 0.0  # monotonic time before which no order is posted (a 429's Retry-After)
        self._orders = RateLimiter(orders_per_second, self._clock)  # POST /order, over any sliding second
        self._auto_redeem = auto_redeem
        self._relays = relayer_key is not None
        self._redeemed: dict[str, float] = {}  # condition id -> when copybot last sent its redeem

        async def new_client() -> AsyncSecureClient:
            return await AsyncSecureClient.create(
                private_key=private_key,
                wallet=self.wallet,
                environment=environment(endpoints),
                credentials=credentials,
                api_key=relayer_key,
            )

        self._new_client = new_client  # the key stays inside the SDK's signer and this closure only
        self._client: AsyncSecureClient | None = None

    def check_kind(self) -> None:
        check_wallet_kind(self.address, self.wallet, self.kind)

    async def start(self) -> None:
        """Check the wallet kind, then open the SDK client: it validates or derives the CLOB API
        credentials and, for a proxy/Safe/deposit wallet, asks the relayer that it is deployed."""
        self.check_kind()
        if self._client is not None:
            return
        try:
            client = await self._new_client()
        except UserInputError as exc:
            raise ConfigError(f"live.funder: {str(exc)[:200]}") from None
        except PolymarketError as exc:
            raise classify(exc, sent=False) from None
        if client.wallet_type != self.kind:
            await client.close()
            raise ConfigError(f"live.funder: the SDK took {self.wallet} for {KIND_NAMES[client.wallet_type]}")
        self._client = client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _sdk(self) -> AsyncSecureClient:
        if self._client is None:
            await self.start()
        assert self._client is not None
        return self._client

    def _throttle(self) -> None:
        wait = self._not_before - self._clock.monotonic()
        if wait > 0:
            raise RateLimited(f"clob: rate limited, orders wait {wait:.1f} s more (Retry-After)", wait)

    def _rate_limited(self, exc: RateLimited) -> RateLimited:
        self._not_before = self._clock.monotonic() + (exc.retry_after or DEFAULT_RETRY_AFTER_S)
        return exc

    async def prepare(self, intent: OrderIntent, book: Book) -> PreparedOrder | Skip:
        if intent.worst_price is None:
            return Skip(Reason.INVALID, "invalid: a live order needs a worst acceptable price")
        self._throttle()
        client = await self._sdk()
        tick = book.tick_size
        token = str(intent.token_id)
        try:
            async with self._sem:
                if intent.side is Side.SELL:  # right after a BUY the CLOB's cached view may lack the shares
                    await refresh_balance(client, "CONDITIONAL", token)
                if intent.side is Side.BUY:
                    bound = min(intent.worst_price, 1 - tick).quantize(tick, ROUND_FLOOR)
                    amount = from_units(intent.amount - intent.amount % CENT)  # whole cents, rounded down
                    signed = await client.create_market_order(
                        token_id=token, side="BUY", amount=amount, max_price=bound, order_type=self._order_type
                    )
                else:
                    bound = max(intent.worst_price, tick).quantize(tick, ROUND_CEILING)
                    shares = from_units(intent.amount - intent.amount % LOT)
                    signed = await client.create_market_order(
                        token_id=token, side="SELL", shares=shares, min_price=bound, order_type=self._order_type
                    )
        except PolymarketError as exc:
            raise self._error(exc, sent=False) from None
        fields = asdict(signed)
        return PreparedOrder(self._order_id(fields, book.neg_risk), intent, signed)

    def _order_id(self, fields: dict[str, Any], neg_risk: bool) -> str:
        """The hash under the exchange the SDK signed for: the book's neg-risk flag says which,
        the signature confirms it (the SDK reads the flag from its own market metadata)."""
        first, second = (NEG_RISK_EXCHANGE_V2, CTF_EXCHANGE_V2) if neg_risk else (CTF_EXCHANGE_V2, NEG_RISK_EXCHANGE_V2)
        for exchange in (first, second):
            digest = order_hash(fields, exchange)
            if signed_for(fields, digest):
                return digest
        raise OrderRejected("clob: the signed order matches neither exchange; not sent")

    def _error(self, exc: Exception, *, sent: bool) -> Exception:
        error = classify(exc, sent=sent)
        if isinstance(error, RateLimited):
            return self._rate_limited(error)
        return error

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        self._throttle()
        client = await self._sdk()
        await self._orders.acquire()
        self._throttle()  # a 429 may have come while this order waited its turn
        try:
            async with self._sem:
                answer = await client.post_order(order.payload)
        except PolymarketError as exc:
            error = self._error(exc, sent=True)
            if isinstance(error, OrderNotFilled):  # a FOK killed as an HTTP 400: nothing matched
                return Skip(Reason.NOT_FILLED, str(error))
            raise error from None
        return from_answer(order.intent, answer)

    async def place(self, intent: OrderIntent, book: Book) -> OrderResult | Skip:
        prepared = await self.prepare(intent, book)
        if isinstance(prepared, Skip):
            return prepared
        return await self.submit(prepared)

    async def lookup(self, order_id: str) -> OrderResult | None:
        """What became of an order we may have sent: its fill (its trades that did not fail), None
        if the CLOB never saw it (so it may be decided again), :class:`OrderPending` while the CLOB
        has not decided it (``delayed`` or resting)."""
        client = await self._sdk()
        try:
            async with self._sem:
                order = await client.get_order(order_id=order_id)
        except RequestRejectedError as exc:
            if exc.status == 404:
                return None  # "order not found": never accepted
            raise classify(exc, sent=False) from None
        except PolymarketError as exc:
            raise classify(exc, sent=False) from None
        status = order.status.upper()
        if status in PENDING_ORDER_STATUSES:
            raise OrderPending(f"clob: order {order_id} is still {order.status.lower()}")
        states = await self.trade_states(list(order.associate_trades or ()))
        kept = {i: s for i, s in states.items() if s.status != FAILED_TRADE}
        shares = sum(s.shares for s in kept.values())
        collateral = sum(s.collateral for s in kept.values())
        return OrderResult(shares, collateral, tuple(i for i, s in kept.items() if not s.final))

    async def trade_states(self, trade_ids: Sequence[str]) -> dict[str, TradeState]:
        client = await self._sdk()

        async def one(trade_id: str) -> TradeState | None:
            try:
                async with self._sem:
                    page = await client.list_account_trades(id=trade_id).first_page()
            except PolymarketError as exc:
                raise classify(exc, sent=False) from None
            for trade in page.items:
                if trade.id == trade_id:
                    return TradeState(trade.status, to_units(trade.size), to_units(trade.size * trade.price))
            return None

        ids = list(dict.fromkeys(trade_ids))
        found = await asyncio.gather(*(one(i) for i in ids))
        return {i: s for i, s in zip(ids, found, strict=True) if s is not None}

    async def balance(self) -> int | None:
        return await self.collateral_balance()

    async def redeem(self, token_id: int, shares: int, payout: Decimal, condition_id: str = "") -> OrderResult | None:
        """A resolved position: a losing one is worth nothing (closed at 0); a winning one is booked
        at its payout once the wallet no longer holds its tokens, and waits (None) while it does.
        With ``live.auto_redeem`` copybot redeems the market itself first (an EOA sends the
        transaction, a proxy, Safe or deposit wallet has Polymarket's relayer send it; once per market every
        :data:`REDEEM_RETRY_S`)."""
        if payout <= 0:
            return OrderResult(shares, 0)
        held = await self._holds(token_id)
        if held and self._auto_redeem and condition_id and self._redeem_due(condition_id):
            try:
                log.info("redeemed %s: %s", condition_id, await self.redeem_market(condition_id, wait_s=REDEEM_WAIT_S))
                held = await self._holds(token_id)  # what the redeem left
            except CopybotError as exc:
                log.warning("redeem of %s not done, tried again later: %s", condition_id, exc)
        return None if held else OrderResult(shares, value_at(shares, payout))

    def _redeem_due(self, condition_id: str) -> bool:
        """Send this market's redeem now? At most once every :data:`REDEEM_RETRY_S` per market."""
        last = self._redeemed.get(condition_id)
        if last is not None and self._clock.monotonic() - last < REDEEM_RETRY_S:
            return False
        self._redeemed[condition_id] = self._clock.monotonic()
        return True

    async def _holds(self, token_id: int) -> bool:
        """Does the wallet still hold this outcome token (read fresh from the chain)?"""
        client = await self._sdk()
        try:
            async with self._sem:
                await refresh_balance(client, "CONDITIONAL", str(token_id))
                held = await client.get_balance_allowance(asset_type="CONDITIONAL", token_id=str(token_id))
        except PolymarketError as exc:
            raise classify(exc, sent=False) from None
        return held.balance > 0

    async def redeem_market(self, condition_id: str, wait_s: float = 120.0) -> str:
        """Redeem the wallet's tokens of a resolved market through the SDK (CTF markets through the
        collateral adapters, Protocol V2 ones through the router) and wait up to ``wait_s`` for the
        transaction: its hash. An EOA sends it itself (it pays the gas in POL); a proxy, Safe or
        deposit wallet's is relayed (gasless, with the relayer API key)."""
        if self.kind != "EOA" and not self._relays:
            raise CheckFailed(
                f"{KIND_NAMES[self.kind]} redeems through Polymarket's relayer, which needs its API key: set the "
                "variables live.relayer_api_key_env names"
            )
        client = await self._sdk()
        try:
            handle = await client.redeem_positions(condition_id=condition_id)
            outcome = await asyncio.wait_for(handle.wait(), wait_s)
        except TimeoutError:
            return f"sent, not mined within {wait_s:g} s: booked once the wallet no longer holds the tokens"
        except PolymarketError as exc:
            raise classify(exc, sent=False) from None
        return f"transaction {outcome.transaction_hash}"

    async def check_wallet(self, token_id: int | None = None) -> str:
        """The wallet's kind, its pUSD balance and the exchanges' allowances: money to trade and
        leave to move it; with ``token_id`` (a token it holds), leave to move outcome tokens too,
        which SELLs and exits need (an EOA grants it itself; Polymarket's wallets at set-up)."""
        self.check_kind()
        client = await self._sdk()
        try:
            answer = await client.get_balance_allowance(asset_type="COLLATERAL")
            tokens = None
            if token_id is not None:
                tokens = await client.get_balance_allowance(asset_type="CONDITIONAL", token_id=str(token_id))
        except PolymarketError as exc:
            raise classify(exc, sent=False) from None
        cash = from_units(answer.balance).quantize(from_units(CENT))
        kind = KIND_NAMES[self.kind]
        if answer.balance <= 0:
            raise CheckFailed(f"{kind} {self.wallet} holds no pUSD: fund it before trading")
        values = list(answer.allowances.values())
        if not values or min(values) <= 0:
            raise CheckFailed(f"{kind} holds {cash} pUSD but an exchange allowance is 0: approve it first")
        if tokens is not None:
            granted = list(tokens.allowances.values())
            if not granted or min(granted) <= 0:
                raise CheckFailed(
                    f"{kind} holds {cash} pUSD, but the exchanges may not move its outcome tokens: SELLs and "
                    "exits would be refused (approve the conditional tokens for the exchanges: setApprovalForAll)"
                )
        sells = "outcome tokens approved" if tokens is not None else "outcome tokens not checked (none held)"
        return f"{kind} {self.wallet}: balance {cash} pUSD, allowances set, {sells}"

    async def collateral_balance(self) -> int:
        client = await self._sdk()
        try:
            async with self._sem:
                # the cached view shows a SELL's proceeds only after a refresh: cash would look short
                await refresh_balance(client, "COLLATERAL")
                answer = await client.get_balance_allowance(asset_type="COLLATERAL")
        except PolymarketError as exc:
            raise classify(exc, sent=False) from None
        return int(answer.balance)
