"""Live trading on the Polymarket CLOB V2 — the only module that imports ``py_clob_client_v2``.

The SDK is synchronous (a module-level httpx client), so every call runs in a worker thread via
``asyncio.to_thread``, bounded by a semaphore. SDK answers and exceptions are translated here:
dicts become :class:`OrderResult`, errors become the error tree (``copybot.errors``) or a
:class:`Skip`. The private key lives only inside the SDK's signer; it is never logged, stored,
or put into an exception message.

Orders are market orders (FOK by default, FAK configurable) whose ``price`` is the worst
acceptable price. Before an order is sent, :meth:`LiveBroker.prepare` signs it and computes its
exchange order id (the EIP-712 order hash), which the caller stores as the order intent; after a
crash, :meth:`LiveBroker.lookup` asks the CLOB what became of that id before anything is resent.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    MarketOrderArgsV2,
    OrderType,
    PartialCreateOrderOptions,
    TradeParams,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.exceptions import PolyException
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2

from copybot.brokers.base import PreparedOrder
from copybot.errors import (
    CheckFailed,
    CopybotError,
    InsufficientFunds,
    OrderNotFilled,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderVersionChanged,
    OrderVersionMismatch,
    RateLimited,
    SkipError,
    UpstreamRestarting,
    UpstreamUnavailable,
    error_for_status,
)
from copybot.models import Book, OrderIntent, OrderResult, Reason, Side, Skip, from_units, to_units
from copybot.protocol import CENT, CHAIN_ID
from copybot.upstream.http import cap_recursion_limit

log = logging.getLogger(__name__)
cap_recursion_limit()  # eth_account imports py_ecc, which raised it to 100,000 (see copybot.upstream.http)


def _message(exc: PolyException) -> str:
    """The CLOB's error text, without anything from our request (no headers, no key)."""
    msg = getattr(exc, "error_msg", None)
    if isinstance(msg, dict):
        msg = msg.get("error") or msg.get("errorMsg") or ""
    return str(msg or type(exc).__name__)[:200]


def classify(exc: PolyException) -> CopybotError:
    """An SDK error -> the error tree. The status decides first (``errors.error_for_status``); a 4xx
    is then told apart by the CLOB's own error text (production bodies, protocol.md §6)."""
    status = getattr(exc, "status_code", None)
    text = _message(exc)
    lowered = text.lower()
    if status is None:
        return UpstreamUnavailable(f"clob: no answer: {text}")
    if status == 429 or status == 425 or status >= 500:
        return error_for_status(status, "clob", text)
    if "fully filled or killed" in lowered or "couldn't be fully filled" in lowered:
        return OrderNotFilled(f"not filled: FOK order killed ({text})")
    if "balance" in lowered or "allowance" in lowered:
        return InsufficientFunds(f"clob: {text}")
    if "version" in lowered:
        return OrderVersionMismatch(f"clob: order version mismatch: {text}")
    if "tick" in lowered:
        return OrderRejected(f"clob: tick size: {text}")
    if "minimum" in lowered or "lower than" in lowered:
        return OrderRejected(f"clob: below minimum size: {text}")
    return OrderRejected(f"clob: HTTP {status}: {text}")


def _amount(value: object) -> int:
    try:
        return to_units(Decimal(str(value or "0")))
    except InvalidOperation:
        raise UpstreamUnavailable("clob: POST /order answer has a malformed amount") from None


def fill_from_answer(intent: OrderIntent, answer: dict[str, Any]) -> OrderResult | Skip:
    """POST /order's answer -> what we really got. BUY: making = pUSD paid, taking = shares
    received; SELL: making = shares sold, taking = pUSD received. Production writes them as
    decimal strings in pUSD and shares ("4.599999"), "" when nothing matched."""
    if not answer.get("success", False) or answer.get("errorMsg"):
        return Skip(Reason.REJECTED, f"rejected: {str(answer.get('errorMsg') or 'order not accepted')[:200]}")
    making, taking = _amount(answer.get("makingAmount")), _amount(answer.get("takingAmount"))
    if making <= 0 or taking <= 0:
        return Skip(Reason.NOT_FILLED, f"not filled: order {answer.get('status', 'unmatched')}")
    if intent.side is Side.BUY:
        return OrderResult(shares=taking, collateral=making)
    return OrderResult(shares=making, collateral=taking)


def _sdk_float(value: Decimal) -> float:
    """The SDK takes floats and floors ``x * 100``: 0.58 * 100 = 57.99999… would lose a cent.
    A nudge far below any tick keeps the value the SDK sees at the Decimal we decided."""
    return float(value) + 1e-9


class LiveBroker:
    mode = "live"
    can_lose_answers = True
    trades_positions = False  # py-clob-client-v2 signs CLOB V2 orders for CTF tokens only

    def __init__(
        self,
        host: str,
        private_key: str,
        *,
        chain_id: int = CHAIN_ID,
        signature_type: int = 0,
        funder: str | None = None,
        order_type: str = "FOK",
        max_concurrency: int = 4,
    ) -> None:
        def new_client() -> ClobClient:
            return ClobClient(host, chain_id=chain_id, key=private_key, signature_type=signature_type, funder=funder)

        self._new_client = new_client  # the key stays inside the SDK's signer and this closure only
        self._client = new_client()
        self._chain_id = chain_id
        self._order_type = OrderType.FAK if order_type == "FAK" else OrderType.FOK
        self._sem = asyncio.Semaphore(max_concurrency)
        self.address = self._client.get_address()

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._sem:
            try:
                return await asyncio.to_thread(fn, *args)
            except PolyException as exc:
                raise classify(exc) from None

    async def start(self) -> None:
        """The L2 API credentials of the key: derived when they exist (every start but the first),
        created otherwise. The SDK's own create-then-derive logged an ERROR on every start."""
        try:
            creds = await self._run(self._client.derive_api_key)
        except SkipError:  # none yet for this key (the CLOB refuses to derive): create them, once
            creds = await self._run(self._client.create_api_key)
        self._client.set_api_creds(creds)

    async def prepare(self, intent: OrderIntent, book: Book) -> PreparedOrder | Skip:
        if intent.worst_price is None:
            return Skip(Reason.INVALID, "invalid: a live order needs a worst acceptable price")
        if intent.side is Side.SELL:
            # right after a BUY the CLOB's balance cache may not show the shares yet
            params = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=str(intent.token_id))
            await self._run(self._client.update_balance_allowance, params)
        amount = from_units(intent.amount - intent.amount % CENT)  # whole cents, rounded down
        args = MarketOrderArgsV2(
            token_id=str(intent.token_id),
            amount=_sdk_float(amount),
            side=intent.side.value,
            price=min(_sdk_float(intent.worst_price), float(1 - book.tick_size)),
            order_type=self._order_type,
        )
        options = PartialCreateOrderOptions(tick_size=str(book.tick_size), neg_risk=book.neg_risk)
        signed = await self._run(self._client.create_market_order, args, options)
        return PreparedOrder(self._order_hash(signed, book.neg_risk), intent, signed)

    def _order_hash(self, signed: Any, neg_risk: bool) -> str:
        config = get_contract_config(self._chain_id)
        exchange = config.neg_risk_exchange_v2 if neg_risk else config.exchange_v2
        builder = ExchangeOrderBuilderV2(exchange, self._chain_id, self._client.signer)
        return str(builder.build_order_hash(builder.build_order_typed_data(signed))).lower()

    async def submit(self, order: PreparedOrder) -> OrderResult | Skip:
        try:
            answer = await self._run(self._client.post_order, order.payload, self._order_type)
        except OrderNotFilled as exc:
            return Skip(Reason.NOT_FILLED, str(exc))
        except OrderVersionMismatch as exc:
            # The exchange moved to a new order version. The SDK caches the version and cannot
            # see the mismatch when signing and posting are separate calls: start a fresh client
            # (same credentials) so the next attempt is signed for the new version.
            creds = self._client.creds
            self._client = self._new_client()
            self._client.set_api_creds(creds)
            raise OrderVersionChanged(f"{exc}; the order will be signed again") from None
        except (RateLimited, UpstreamRestarting):
            raise  # refused before matching (429, or 425 while the engine restarts): nothing executed
        except UpstreamUnavailable as exc:
            raise OrderOutcomeUnknown(str(exc)) from None  # a lost answer: the order may have executed
        if not isinstance(answer, dict):
            # The order may have executed (the SDK returns a truncated body as a string): the
            # outcome is unknown, so the intent stays open and is looked up before any resend.
            raise OrderOutcomeUnknown("clob: POST /order answer is not an object")
        return fill_from_answer(order.intent, answer)

    async def place(self, intent: OrderIntent, book: Book) -> OrderResult | Skip:
        prepared = await self.prepare(intent, book)
        if isinstance(prepared, Skip):
            return prepared
        return await self.submit(prepared)

    async def lookup(self, order_id: str) -> OrderResult | None:
        """What became of an order we may have sent: its fill (from its trades), or None if the
        CLOB never saw it (so it is safe to decide again)."""
        try:
            order = await self._run(self._client.get_order, order_id)
        except SkipError:
            return None  # 404 "order not found": never accepted
        if not isinstance(order, dict) or not order:
            return None
        shares = collateral = 0
        for trade_id in order.get("associate_trades") or []:
            trades = await self._run(self._client.get_trades, TradeParams(id=trade_id), True)
            for trade in trades if isinstance(trades, list) else []:
                if trade.get("id") != trade_id or str(trade.get("status", "")).upper() == "FAILED":
                    continue
                size, price = Decimal(str(trade.get("size") or 0)), Decimal(str(trade.get("price") or 0))
                shares += to_units(size)
                collateral += to_units(size * price)
        return OrderResult(shares, collateral)

    async def balance(self) -> int | None:
        return await self.collateral_balance()

    async def redeem(self, token_id: int, shares: int, payout: Decimal) -> OrderResult | None:
        return None  # redeemed on chain, outside copybot: the position waits as redeemable

    async def check_wallet(self) -> str:
        """The pUSD balance and the exchange contracts' allowances: money to trade and leave to move it."""
        params = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
        answer = await self._run(self._client.get_balance_allowance, params)
        answer = answer if isinstance(answer, dict) else {}
        allowances = answer.get("allowances") or {}
        values = [int(v) for v in allowances.values()] if isinstance(allowances, dict) else []
        balance = int(answer.get("balance", 0))
        cash = from_units(balance).quantize(from_units(CENT))
        if balance <= 0:
            raise CheckFailed("wallet holds no pUSD: fund it before trading")
        if not values or min(values) <= 0:
            raise CheckFailed(f"balance {cash} pUSD but an exchange allowance is 0: approve it first")
        return f"balance {cash} pUSD, allowances set"

    async def collateral_balance(self) -> int:
        params = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
        # the CLOB's cached balance shows what an order gave at once but what it received (a
        # SELL's proceeds) only after a refresh: without it cash looks short by the last sales
        await self._run(self._client.update_balance_allowance, params)
        answer = await self._run(self._client.get_balance_allowance, params)
        return int(answer.get("balance", 0)) if isinstance(answer, dict) else 0
