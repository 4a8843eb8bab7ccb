"""The sandbox CLOB's reads of its own records, as ``/data/order``, ``/data/orders`` and
``/data/trades`` answer them: only the API key's address's own, filtered like production's query
parameters. A base of :class:`~copybot.sandbox.trading.Clob`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auth import ApiKey
from .ledger import OrderRecord, Trade

if TYPE_CHECKING:
    from .core import Sandbox


class ClobReads:
    _sandbox: Sandbox
    orders: dict[str, OrderRecord]
    trades: list[Trade]

    def _own(self, key: ApiKey) -> list[OrderRecord]:
        return [o for o in self.orders.values() if o.signer == key.address]

    def order(self, key: ApiKey, order_id: str) -> dict[str, Any] | None:
        with self._sandbox._lock:
            record = self.orders.get(order_id.lower())
            return record.to_json() if record is not None and record.signer == key.address else None

    def open_orders(self, key: ApiKey, filters: dict[str, str]) -> list[dict[str, Any]]:
        with self._sandbox._lock:
            return [
                o.to_json()
                for o in self._own(key)
                if o.status == "LIVE"
                and filters.get("id", o.order_id).lower() == o.order_id
                and filters.get("market", o.market.condition_id).lower() == o.market.condition_id
                and filters.get("asset_id", str(o.token_id)) == str(o.token_id)
            ]

    def trade_list(self, key: ApiKey, filters: dict[str, str]) -> list[dict[str, Any]]:
        """The key's address's trades, oldest first, filtered like production's query parameters."""
        after, before = _int(filters.get("after")), _int(filters.get("before"))
        with self._sandbox._lock:
            self._sandbox._sync()
            latest = self._sandbox._latest
            return [
                t.to_json(mined=t.block <= latest)
                for t in self.trades
                if t.signer == key.address
                and filters.get("id", t.trade_id) == t.trade_id
                and filters.get("market", t.market.condition_id).lower() == t.market.condition_id
                and filters.get("asset_id", str(t.token_id)) == str(t.token_id)
                and filters.get("maker_address", t.maker_address).lower() == t.maker_address
                and (after is None or t.match_time >= after)
                and (before is None or t.match_time <= before)
            ]


def _int(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() else None
