"""A fill a test or benchmark put on the sandbox's chain on purpose, and where copybot should find it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from copybot.models import Side


@dataclass(frozen=True, slots=True)
class InjectedFill:
    """A leader fill queued by :meth:`Sandbox.inject_fill`: what copybot should see on chain."""

    tx_hash: str
    log_index: int  # of the leader's own log (topic2 == leader)
    block: int
    token_id: int
    side: Side
    shares: int  # base units
    collateral: int  # base units
    exchange: str  # emitting contract (a non-Polymarket address when spoofed)
    leader: str
    as_taker: bool = True
    spoof: bool = False
    fee: int = 0

    @property
    def price(self) -> Decimal:
        return Decimal(self.collateral) / Decimal(self.shares)

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "block": self.block,
            "token_id": str(self.token_id),
            "side": str(self.side),
            "shares": self.shares,
            "collateral": self.collateral,
            "price": str(self.price),
            "exchange": self.exchange,
            "leader": self.leader,
            "as_taker": self.as_taker,
            "spoof": self.spoof,
            "fee": self.fee,
        }
