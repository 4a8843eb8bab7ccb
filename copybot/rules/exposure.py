"""Our open positions aggregated for risk: cost by token and by market, marked value, count.

Read in full once per executor run, then kept exact by :meth:`Exposure.refresh` of just the
positions a batch traded (a primary-key read each), so a batch costs the same with 10 or 10,000
open positions. Between a decision and the refresh, :meth:`Exposure.add_buy` carries a BUY forward
(valued at its cost) and :meth:`Exposure.sell` a SELL (its share of cost and value gone), so the
next decision in the same batch sees both. :meth:`Exposure.reserve` holds the cost of a BUY whose
answer was lost (it may have filled) against the caps for the rest of the run, whatever the store
says; it adds no value, so equity is never inflated by an order that may not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from copybot.models import Position, value_at

Key = tuple[str, int]  # (leader, token id): one position


class PositionRows(Protocol):
    def position_costs(self, keys: Sequence[Key] | None = None) -> Sequence[Position]: ...


@dataclass(frozen=True, slots=True)
class Holding:
    """One open position: cost basis, marked value and the market it belongs to."""

    cost: int = 0
    value: int = 0
    market: str = ""
    settled: bool = False  # resolved, waiting to be redeemed: counts in equity, not as an open position


def holdings(positions: Iterable[Position]) -> dict[Key, Holding]:
    """A :class:`Holding` per position: unmarked, valued at its cost; marked, at shares x mark,
    rounded down. A resolved position waiting to be redeemed is no risk any more: it is worth its
    payout and holds no cost against the caps (``Holding.settled``)."""
    out: dict[Key, Holding] = {}
    for p in positions:
        if p.redeemable:
            out[p.key] = Holding(0, p.payout, "", settled=True)
            continue
        value = p.cost if p.mark_price is None else value_at(p.shares, p.mark_price)
        out[p.key] = Holding(p.cost, value, p.condition_id)
    return out


class Exposure:
    def __init__(self, positions: dict[Key, Holding] | None = None) -> None:
        self._positions: dict[Key, Holding] = {}
        self._token_cost: dict[int, int] = {}
        self.market_cost: dict[str, int] = {}
        self.total_cost = 0
        self.value = 0
        self._reserved: dict[Key, Holding] = {}
        self._settled = 0  # positions resolved and waiting to be redeemed (not open risk)
        for key, h in (positions or {}).items():
            self._set(key, h)

    @classmethod
    def load(cls, store: PositionRows) -> Exposure:
        return cls(holdings(store.position_costs()))

    @property
    def open_positions(self) -> int:
        return len(self._positions) - self._settled

    def token_cost(self, token: int) -> int:
        return self._token_cost.get(token, 0)

    def _set(self, key: Key, new: Holding | None) -> None:
        old = self._positions.pop(key, None)
        self._settled -= old is not None and old.settled
        old = old or Holding()
        cur = new or Holding()
        self._settled += new is not None and new.settled
        self.total_cost += cur.cost - old.cost
        self.value += cur.value - old.value
        token = key[1]
        self._token_cost[token] = self._token_cost.get(token, 0) - old.cost + cur.cost
        if old.market:
            self.market_cost[old.market] -= old.cost
        if cur.market:
            self.market_cost[cur.market] = self.market_cost.get(cur.market, 0) + cur.cost
        if new is not None:
            self._positions[key] = new

    def add_buy(self, key: Key, market: str, cost: int) -> None:
        """A BUY just filled (not stored yet): its cost counts now, valued at cost."""
        self._set(key, _plus(self._positions.get(key), Holding(cost, cost, market)))

    def sell(self, key: Key, sold: int, held: int) -> None:
        """A SELL of ``sold`` of the ``held`` shares just filled (not stored yet): the average cost
        (and marked value) of what left stops counting now; all of it when nothing is left. What is
        reserved for the position stays (``held`` never includes a lost BUY's shares)."""
        h = self._positions.get(key)
        if h is None or held <= 0:
            return
        r = self._reserved.get(key)
        cost, value = (h.cost, h.value) if r is None else (h.cost - r.cost, h.value - r.value)
        left = None if sold >= held else Holding(cost - cost * sold // held, value - value * sold // held, h.market)
        self._set(key, left if r is None else _plus(left, r))

    def reserve(self, key: Key, market: str, cost: int) -> None:
        """A BUY whose answer was lost: its cost counts against the caps until the run ends."""
        r = self._reserved.get(key, Holding(market=market))
        self._reserved[key] = Holding(r.cost + cost, 0, r.market or market)
        self._set(key, _plus(self._positions.get(key), Holding(cost, 0, market)))

    def refresh(self, store: PositionRows, keys: Iterable[Key]) -> None:
        """Replace these positions with what the store now says (after a batch was recorded),
        plus what is reserved for them."""
        wanted = list(dict.fromkeys(keys))
        if wanted:
            fresh = holdings(store.position_costs(wanted))
            for key in wanted:
                r = self._reserved.get(key)
                self._set(key, fresh.get(key) if r is None else _plus(fresh.get(key), r))


def _plus(h: Holding | None, extra: Holding) -> Holding:
    """``h`` with ``extra``'s cost and value added (``extra`` alone when there is no ``h``)."""
    if h is None:
        return extra
    return Holding(h.cost + extra.cost, h.value + extra.value, h.market or extra.market)
