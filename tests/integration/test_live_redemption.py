"""Resolved positions in live mode: a losing one closes at 0, a winning one waits to be redeemed
(worth its payout, no room under the caps, not an open position) and is booked once the wallet no
longer holds its tokens, so its payout is counted once: in the wallet's cash, not twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from copybot.models import to_units
from copybot.sandbox.market_events import redeem
from tests.support.live import FUNDS, Live, buy


@pytest.mark.parametrize("live", ["eoa", "deposit"], indirect=True)
def test_a_resolved_market_closes_the_loser_at_0_and_books_the_winner_once_redeemed(live: Live) -> None:
    box = live.box
    settings = live.settings()
    market = box.markets[3]
    winner, loser = market.tokens
    buy(live, 0, winner, "40")
    buy(live, 1, loser, "40")
    box.mine(1)
    live.run(settings)
    cost = {int(p["token_id"]): p["cost"] for p in live.rows("SELECT * FROM positions")}
    box.resolve(market.condition_id, winner)
    live.run(settings)

    lost = live.rows("SELECT * FROM positions WHERE token_id = ?", str(loser))[0]
    assert (lost["shares"], lost["cost"], lost["realized"]) == (0, 0, -cost[loser]), "a loser closes at 0"
    won = live.rows("SELECT * FROM positions WHERE token_id = ?", str(winner))[0]
    assert won["redeemable"] == 1 and won["shares"] > 0 and Decimal(won["resolved_price"]) == 1
    st = live.status()
    assert st["bankroll"]["open_positions"] == 1  # listed, but waiting, not risk:
    assert Decimal(st["bankroll"]["exposure_usdc"]) == 0
    assert to_units(Decimal(st["bankroll"]["redeemable_usdc"])) == won["shares"]  # 1 pUSD a share
    before = box.balances(live.address).collateral

    paid = redeem(box, live.address, market.condition_id)  # the user redeems on polymarket.com
    assert paid == won["shares"]
    live.run(settings)
    won = live.rows("SELECT * FROM positions WHERE token_id = ?", str(winner))[0]
    assert (won["shares"], won["cost"], won["realized"]) == (0, 0, paid - cost[winner])
    st = live.status()
    cash = to_units(Decimal(st["bankroll"]["cash_usdc"]))
    assert cash == before + paid == box.balances(live.address).collateral, "the payout, once, in the wallet"
    assert Decimal(st["bankroll"]["redeemable_usdc"]) == 0 and st["bankroll"]["open_positions"] == 0
    total = to_units(Decimal(st["bankroll"]["realized_pnl_usdc"]))
    assert cash - to_units(FUNDS) == total, "every pUSD that left or came back is in the realized P&L"
    rows = live.rows("SELECT rule, status FROM exits ORDER BY id")
    assert [tuple(r) for r in rows] == [("resolved", "filled"), ("resolved", "redeemable"), ("resolved", "filled")]
