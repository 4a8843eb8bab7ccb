"""Who holds what on the sandbox CLOB, what the CLOB believes they hold, and its records.

**Balances** are per funds holder (the order's ``maker``: the EOA for signature type 0, the proxy
or safe for types 1 and 2), in 6-decimal base units: pUSD collateral (asset 0) and shares per
token id. They change at once when an order matches (the "chain").

**The balance cache** models production's: the CLOB checks an order against its cached view of
the holder's balance per (address, asset), not the chain. A view is taken from the chain the
first time it is needed, when ``GET /balance-allowance/update`` asks for it, when
:meth:`Sandbox.fund` deposits collateral, and once it is older than ``ttl_s`` seconds of the
sandbox clock. A match debits the view of what the order gave (collateral for a BUY, shares
for a SELL) at once, but what it received only shows after a refresh, so a SELL right after a
BUY is refused with "not enough balance / allowance" until the client calls
``update_balance_allowance`` (or ``ttl_s`` passes). Deterministic on a manual clock.

**Records** are the orders and trades ``/data/order``, ``/data/orders`` and ``/data/trades``
answer. Not thread-safe by themselves: the :class:`~copybot.sandbox.trading.Clob` holds the
sandbox lock around every use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from copybot.models import Side
from copybot.protocol import checksum

from .book import Market, fmt_price, fmt_units

COLLATERAL: Final = 0  # the asset key of pUSD (token ids are never 0)
MAX_ALLOWANCE: Final = str(2**256 - 1)
DEFAULT_TTL_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class Balances:
    """What an address holds, in base units: collateral and shares per token (non-zero only)."""

    collateral: int
    shares: Mapping[int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "usdc": fmt_units(self.collateral),
            "collateral": str(self.collateral),
            "shares": {str(t): str(s) for t, s in sorted(self.shares.items())},
        }


class Ledger:
    """Chain balances and the CLOB's cached view of them."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._chain: dict[str, dict[int, int]] = {}
        self._view: dict[tuple[str, int], tuple[int, float]] = {}  # (address, asset) -> (units, taken at)

    def chain(self, address: str, asset: int) -> int:
        return self._chain.get(address, {}).get(asset, 0)

    def balances(self, address: str) -> Balances:
        held = self._chain.get(address, {})
        shares = {a: units for a, units in held.items() if a != COLLATERAL and units}
        return Balances(collateral=held.get(COLLATERAL, 0), shares=shares)

    def refresh(self, address: str, asset: int, now: float) -> int:
        units = self.chain(address, asset)
        self._view[address, asset] = (units, now)
        return units

    def view(self, address: str, asset: int, now: float) -> int:
        """What the CLOB believes ``address`` holds of ``asset`` (refreshed when missing or stale)."""
        cached = self._view.get((address, asset))
        if cached is None or now - cached[1] >= self.ttl_s:
            return self.refresh(address, asset, now)
        return cached[0]

    def deposit(self, address: str, asset: int, units: int) -> None:
        """Credit the chain only: the view catches up on its next refresh."""
        held = self._chain.setdefault(address, {})
        held[asset] = held.get(asset, 0) + units

    def receive(self, address: str, asset: int, units: int, now: float) -> None:
        """Credit a match's proceeds to the chain; the view keeps what it showed before (taken
        now if the CLOB had none, as for a token bought for the first time)."""
        self.view(address, asset, now)
        self.deposit(address, asset, units)

    def spend(self, address: str, asset: int, units: int) -> None:
        """Debit the chain and the view (the CLOB knows what it matched)."""
        self.deposit(address, asset, -units)
        cached = self._view.get((address, asset))
        if cached is not None:
            self._view[address, asset] = (cached[0] - units, cached[1])


def avg_price(collateral: int, shares: int) -> str:
    """Collateral per share rounded to 6 decimals, as a plain decimal string."""
    exact = Decimal(collateral) / Decimal(shares)
    return f"{exact.quantize(Decimal('0.000001'), rounding=ROUND_HALF_EVEN).normalize():f}"


@dataclass(frozen=True, slots=True)
class MakerFill:
    order_id: str
    owner: str
    maker: str  # lowercase
    price: int  # millionths
    shares: int


@dataclass(frozen=True, slots=True)
class Trade:
    """One match of an API order (the taker) against resting liquidity, settled in one transaction."""

    trade_id: str
    order_id: str
    owner: str  # API key
    signer: str  # lowercase EOA of the API key
    maker_address: str  # lowercase funds holder
    market: Market
    token_id: int
    side: Side
    shares: int
    collateral: int
    makers: tuple[MakerFill, ...]
    match_time: int
    tx_hash: str
    block: int  # the block it settles in
    failed: bool = False  # its transaction reverts: FAILED once its block is mined
    fee: int = 0  # charged on top of a BUY, taken from a SELL's proceeds

    def to_json(self, mined: bool) -> dict[str, Any]:
        """The ``/data/trades`` record (``trader_side`` TAKER). Status MATCHED until its block is
        mined, then CONFIRMED (or FAILED). ``price`` is the average, rounded; the exact amounts are ``size``
        and the ``maker_orders``."""
        outcome = self.market.outcomes[self.market.index_of(self.token_id)]
        other = Side.SELL if self.side is Side.BUY else Side.BUY
        return {
            "id": self.trade_id,
            "taker_order_id": self.order_id,
            "market": self.market.condition_id,
            "asset_id": str(self.token_id),
            "side": str(self.side),
            "size": fmt_units(self.shares),
            "fee_rate_bps": str(self.fee * 10_000 // self.collateral if self.collateral else 0),
            "price": avg_price(self.collateral, self.shares),
            "status": ("FAILED" if self.failed else "CONFIRMED") if mined else "MATCHED",
            "match_time": str(self.match_time),
            "last_update": str(self.match_time),
            "outcome": outcome,
            "bucket_index": 0,
            "owner": self.owner,
            "maker_address": checksum(self.maker_address),
            "transaction_hash": self.tx_hash,
            "trader_side": "TAKER",
            "maker_orders": [
                {
                    "order_id": m.order_id,
                    "owner": m.owner,
                    "maker_address": checksum(m.maker),
                    "matched_amount": fmt_units(m.shares),
                    "price": fmt_price(m.price),
                    "fee_rate_bps": str(self.fee * 10_000 // self.collateral if self.collateral else 0),
                    "asset_id": str(self.token_id),
                    "outcome": outcome,
                    "side": str(other),
                }
                for m in self.makers
            ],
        }


@dataclass(slots=True)
class OrderRecord:
    """An order the CLOB accepted. ``reserved``: what a LIVE remainder holds back of the maker's
    balance (collateral for a BUY, shares for a SELL)."""

    order_id: str
    owner: str
    signer: str
    maker_address: str
    market: Market
    token_id: int
    side: Side
    order_type: str
    price: int  # millionths, on the tick
    original_size: int  # shares
    size_matched: int
    status: str  # MATCHED, LIVE, CANCELED
    created_at: int
    expiration: int
    reserved: int = 0
    trades: list[str] = field(default_factory=list)

    @property
    def asset(self) -> int:
        return COLLATERAL if self.side is Side.BUY else self.token_id

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.order_id,
            "status": self.status,
            "owner": self.owner,
            "maker_address": checksum(self.maker_address),
            "market": self.market.condition_id,
            "asset_id": str(self.token_id),
            "side": str(self.side),
            "original_size": fmt_units(self.original_size),
            "size_matched": fmt_units(self.size_matched),
            "price": fmt_price(self.price),
            "outcome": self.market.outcomes[self.market.index_of(self.token_id)],
            "expiration": str(self.expiration),
            "order_type": self.order_type,
            "associate_trades": list(self.trades),
            "created_at": self.created_at,
        }
