"""Every wallet kind against a sandbox that behaves like production at once: taker fees, answers
``delayed`` (matched later), purchases that settle only when mined, and, for a deposit wallet,
the deposit-wallet-only rule of new accounts. A copy and its mirrored exit go through; the books
match what the exchange did to the base unit, and nothing is sent twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from copybot.models import to_units
from copybot.sandbox.market_events import set_fees
from tests.support.live import FUNDS, Live, buy


@pytest.mark.parametrize("live", ["eoa", "proxy", "safe", "deposit"], indirect=True)
def test_a_copy_and_its_exit_through_production_behaviours(live: Live) -> None:
    box = live.box
    clob = box.clob
    set_fees(box, Decimal("0.02"))
    clob.settlement_lag = True
    clob.deposit_wallet_only = live.kind == "deposit"
    settings = live.settings()
    token = box.markets[1].tokens[1]

    clob.matching_delay_s = 3600
    entry = buy(live, 0, token, "40")
    box.mine(1)
    live.run(settings)  # answered "delayed": pending, not a decision
    assert live.rows("SELECT * FROM decisions") == []
    clob.match_delayed()
    clob.matching_delay_s = 0
    box.mine(1)  # the purchase settles on chain
    live.run(settings)  # looked up: recorded as the exchange matched it, fee included
    assert live.decision(entry)["decision"] == "filled"

    exit_ = box.inject_fill(box.leaders[0], token_id=token, side="SELL", shares=Decimal(40))
    box.mine(1)
    live.run(settings)
    live.run(settings)
    assert live.decision(exit_)["decision"] == "filled"

    executed = live.trades()
    assert len(executed) == 2 and live.gate.posts == 2, "one order each, none sent twice"
    booked = live.rows("SELECT side, shares, usdc, fee FROM trades ORDER BY id")
    assert [(t["side"], t["shares"], t["usdc"], t["fee"]) for t in booked] == [
        (t.side.value, t.shares, t.collateral, t.fee) for t in executed
    ]
    bought, sold = executed
    [position] = live.rows("SELECT * FROM positions")
    assert position["shares"] == 0
    assert position["realized"] == (sold.collateral - sold.fee) - (bought.collateral + bought.fee)
    box.mine(1)  # the sale settles: its proceeds arrive
    live.run(settings)
    wallet = box.balances(live.address).collateral
    assert wallet == to_units(FUNDS) + position["realized"]
    assert to_units(Decimal(live.status()["bankroll"]["cash_usdc"])) == wallet
