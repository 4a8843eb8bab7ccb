"""``copybot redeem``: the resolved positions whose payout waits to be redeemed, and (live, EOA
wallet) redeeming them now, one transaction per market. ``watch`` books each payout once the wallet
no longer holds the tokens (``copybot.trading.positions``), so redeeming here never counts twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from copybot.config.settings import Settings
from copybot.errors import CopybotError
from copybot.models import Position, from_units
from copybot.store import Store


@dataclass
class Waiting:
    """One resolved market's positions waiting to be redeemed."""

    condition_id: str
    question: str = ""
    positions: list[Position] = field(default_factory=list)

    @property
    def payout(self) -> int:
        return sum(p.payout for p in self.positions)


def waiting(settings: Settings) -> list[Waiting]:
    """Redeemable positions, by market (the database is only read)."""
    store = Store.open_read_only(settings.storage.path)
    try:
        held = [p for p in store.open_positions() if p.redeemable]
    finally:
        store.close()
    markets: dict[str, Waiting] = {}
    for p in held:
        markets.setdefault(p.condition_id, Waiting(p.condition_id, p.question)).positions.append(p)
    return list(markets.values())


async def redeem_resolved(settings: Settings, private_key: str | None, echo: Callable[[str], object]) -> int:
    """List what waits; with ``private_key`` (live, not a dry run) redeem each market. Returns the
    number of markets that could not be redeemed."""
    markets = waiting(settings)
    if not markets:
        echo("nothing to redeem")
        return 0
    for m in markets:
        shares, pays = from_units(sum(p.shares for p in m.positions)), from_units(m.payout)
        echo(f"{m.condition_id}  {m.question or '(question unknown)'}: {shares} shares pay {pays} pUSD")
    if private_key is None:
        echo(f"dry run: {len(markets)} market(s), nothing sent")
        return 0
    from copybot.app import build_broker  # the CLOB SDK: live mode only

    broker = build_broker(settings, private_key)
    failed = 0
    try:
        await broker.start()
        for m in markets:
            try:
                echo(f"{m.condition_id}: {await broker.redeem_market(m.condition_id)}")
            except CopybotError as exc:
                failed += 1
                echo(f"{m.condition_id}: not redeemed: {exc}")
    finally:
        await broker.close()
    echo("copybot watch books each payout once the wallet no longer holds the tokens")
    return failed
