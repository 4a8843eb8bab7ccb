"""Orders the CLOB accepts but decides later (``delayed``): never a final skip, never sent twice.

Production answers some orders ``{"success": true, "status": "delayed"}`` (matched seconds later);
the sandbox does it on demand (``Clob.matching_delay_s``) and matches them when the test says so
(``Clob.match_delayed``), so no test waits on a wall clock.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from copybot.models import to_units
from copybot.ops.health import Check, run_checks
from copybot.sandbox.market_events import change_tick, set_fees
from tests.support.live import FUNDS, Live, buy


def orders_posted(live: Live) -> int:
    return live.gate.posts


@pytest.mark.parametrize("live", ["eoa", "deposit"], indirect=True)
def test_a_delayed_copy_stays_open_until_the_clob_matches_it_then_is_recorded_once(live: Live) -> None:
    box = live.box
    settings = live.settings()
    box.clob.matching_delay_s = 3600
    fill = buy(live, 0, box.markets[1].tokens[0], "40")
    box.mine(1)

    live.run(settings)  # sent, answered "delayed"
    [order] = live.orders_for(fill)
    assert order["status"] == "unknown" and order["exchange_order_id"]
    assert live.rows("SELECT * FROM decisions") == [], "a delayed order is not a decision yet"
    assert box.clob.orders[order["exchange_order_id"]].status == "DELAYED"

    box.clob.matching_delay_s = 0  # later orders match at once
    other = buy(live, 1, box.markets[2].tokens[1], "30")
    box.mine(1)
    live.run(settings)  # still delayed: looked up, not decided again, not sent again; the rest goes on
    assert orders_posted(live) == 2
    assert live.decision(other)["decision"] == "filled", "one undecided order must not hold up the others"
    assert [o["status"] for o in live.orders_for(fill)] == ["unknown"]
    [(state,)] = live.rows("SELECT state FROM fills WHERE tx_hash = ?", fill.tx_hash)
    assert state == "pending"

    box.clob.match_delayed()
    live.run(settings)  # now matched: the lookup records the fill the exchange made
    decision = live.decision(fill)
    assert decision["decision"] == "filled" and "reconciled" in decision["reason"], decision["reason"]
    [executed] = [t for t in live.trades() if t.order_id == order["exchange_order_id"]]
    assert (decision["fill_shares"], decision["fill_usdc"]) == (executed.shares, executed.collateral)
    assert orders_posted(live) == 2 and [o["status"] for o in live.orders_for(fill)] == ["filled"]


def test_a_delayed_order_the_clob_then_kills_leaves_its_fill_to_be_decided_again(live: Live) -> None:
    box = live.box
    data = live.data()
    data["leaders"][0]["risk"] = {"max_slippage": 0}  # must fill at the leader's very price
    settings = live.settings(data)
    box.clob.matching_delay_s = 3600
    token = box.markets[0].tokens[0]
    fill = buy(live, 0, token, "20")
    box.mine(1)
    live.run(settings)
    [order] = live.orders_for(fill)
    assert order["status"] == "unknown"
    book = box.book(token)  # the liquidity at that price is taken meanwhile: the FOK will be killed
    box.inject_fill(box.leaders[1], token_id=token, side="BUY", shares=sum(a.size for a in book.asks[:3]))
    box.clob.match_delayed()
    assert box.clob.orders[order["exchange_order_id"]].status == "UNMATCHED"
    box.clob.matching_delay_s = 0
    live.run(settings)
    statuses = [o["status"] for o in live.orders_for(fill)]
    assert statuses == ["abandoned"], "killed by the exchange: nothing executed, safe to decide again"
    decision = live.decision(fill)  # decided again by the rules, on the book as it is now
    assert (decision["decision"], decision["code"]) == ("skipped", "slippage"), decision["reason"]
    assert orders_posted(live) == 1 and live.trades() == []


def test_a_trade_that_fails_on_chain_after_matching_is_reversed_in_the_ledger(live: Live) -> None:
    box = live.box
    settings = live.settings()
    token = box.markets[3].tokens[1]
    box.clob.failing_trades = True  # matched now, reverted on chain when its block is mined
    fill = buy(live, 0, token, "40")
    box.mine(1)
    live.run(settings)
    assert live.decision(fill)["decision"] == "filled", "booked when it matched"
    [trade] = live.rows("SELECT * FROM trades")
    assert trade["settlement"] == "pending" and trade["exchange_trades"]
    [position] = live.rows("SELECT * FROM positions")
    assert position["shares"] == trade["shares"] > 0

    box.clob.failing_trades = False
    box.mine(1)  # the trade's block: it FAILED, the wallet got its pUSD back
    assert box.balances(live.address).collateral == to_units(FUNDS)
    live.run(settings)
    [trade] = live.rows("SELECT * FROM trades")
    assert (trade["settlement"], trade["exchange_trades"]) == ("failed", "")
    [position] = live.rows("SELECT * FROM positions")
    assert (position["shares"], position["cost"], position["realized"]) == (0, 0, 0)
    [reversal] = live.rows("SELECT * FROM ledger WHERE kind = 'trade_failed'")
    assert reversal["amount"] == trade["usdc"]
    assert to_units(Decimal(live.status()["bankroll"]["cash_usdc"])) == to_units(FUNDS)


def test_confirmed_trades_are_marked_and_a_failed_sale_gives_its_shares_back(live: Live) -> None:
    box = live.box
    settings = live.settings()
    token = box.markets[2].tokens[0]
    buy(live, 0, token, "40")
    box.mine(1)
    live.run(settings)
    box.mine(1)  # the purchase is mined: CONFIRMED
    live.run(settings)
    [bought] = live.rows("SELECT * FROM trades")
    assert (bought["settlement"], bought["exchange_trades"]) == ("confirmed", "")
    [before] = live.rows("SELECT * FROM positions")

    box.clob.failing_trades = True
    box.inject_fill(box.leaders[0], token_id=token, side="SELL", shares=Decimal(40))  # the leader exits
    box.mine(1)
    live.run(settings)  # mirrored: sold, booked with its realized P&L
    [sold] = live.rows("SELECT * FROM trades WHERE side = 'SELL'")
    assert sold["settlement"] == "pending"
    [after_sale] = live.rows("SELECT * FROM positions")
    assert after_sale["shares"] < before["shares"] and after_sale["realized"] != 0
    box.clob.failing_trades = False
    box.mine(1)
    live.run(settings)  # the sale FAILED on chain: the shares, their cost and the P&L come back
    [position] = live.rows("SELECT * FROM positions")
    assert (position["shares"], position["cost"], position["realized"]) == (
        before["shares"],
        before["cost"],
        before["realized"],
    )
    assert box.balances(live.address).shares[token] == position["shares"], "what the chain holds"
    [sold] = live.rows("SELECT * FROM trades WHERE side = 'SELL'")
    assert sold["settlement"] == "failed"


def test_a_sell_refused_while_its_purchase_settles_is_retried_then_goes_through(live: Live) -> None:
    box = live.box
    settings = live.settings()
    box.clob.settlement_lag = True  # shares arrive only when the purchase's block is mined
    token = box.markets[0].tokens[1]
    bought = buy(live, 0, token, "40")
    exit_ = box.inject_fill(box.leaders[0], token_id=token, side="SELL", shares=Decimal(40))
    box.mine(1)
    live.run(settings)  # the BUY fills; the mirrored SELL is refused: the shares are not there yet
    assert live.decision(bought)["decision"] == "filled"
    [order] = live.orders_for(exit_)
    assert order["status"] == "abandoned", "refused for balance, kept for a later cycle"
    query = "SELECT state FROM fills WHERE tx_hash = ? AND log_index = ?"
    [(state,)] = live.rows(query, exit_.tx_hash, exit_.log_index)
    assert state == "pending"
    assert live.rows("SELECT * FROM positions")[0]["shares"] > 0

    box.mine(1)  # the purchase settles: the shares are in the wallet
    live.run(settings)
    sold = live.decision(exit_)
    assert sold["decision"] == "filled" and sold["reason"] == "mirrored leader sell", sold["reason"]
    assert [o["status"] for o in live.orders_for(exit_)] == ["abandoned", "filled"]
    assert live.rows("SELECT shares FROM positions")[0]["shares"] == 0


def test_a_sell_refused_for_balance_after_the_wait_is_a_failure(live: Live) -> None:
    box = live.box
    data = live.data()
    data["live"]["sell_settle_wait_s"] = 0  # no waiting: the old behaviour, a failure at once
    settings = live.settings(data)
    box.clob.settlement_lag = True
    token = box.markets[0].tokens[1]
    buy(live, 0, token, "40")
    exit_ = box.inject_fill(box.leaders[0], token_id=token, side="SELL", shares=Decimal(40))
    box.mine(1)
    live.run(settings)
    failed = live.decision(exit_)
    assert failed["decision"] == "failed"
    assert failed["reason"] == "rejected: clob: not enough balance / allowance", failed["reason"]


def test_an_exit_refused_while_its_purchase_settles_is_tried_again_next_cycle(live: Live) -> None:
    box = live.box
    data = live.data()
    data["exits"] = {"stop_loss": "0.01"}  # the spread alone trips it
    settings = live.settings(data)
    box.clob.settlement_lag = True
    token = box.markets[0].tokens[1]
    buy(live, 0, token, "50")
    box.mine(1)
    live.run(settings)  # bought
    live.run(settings)  # the stop-loss SELL is refused: the shares have not arrived
    assert live.rows("SELECT * FROM exits") == [], "not recorded as a failed exit"
    [order] = live.rows("SELECT * FROM orders WHERE purpose LIKE 'exit:%'")
    assert order["status"] == "abandoned"
    box.mine(1)
    live.run(settings)
    [exit_] = live.rows("SELECT * FROM exits")
    assert (exit_["rule"], exit_["status"]) == ("stop_loss", "filled")
    assert live.rows("SELECT shares FROM positions")[0]["shares"] == 0


def test_health_checks_the_approvals_a_sell_needs_on_a_token_copybot_holds(live: Live) -> None:
    box = live.box
    settings = live.settings()
    buy(live, 0, box.markets[0].tokens[0], "40")
    box.mine(2)
    live.run(settings)

    def wallet_check() -> Check:
        report = asyncio.run(run_checks(settings, box.api_key, max_age_s=600, private_key=live.key))
        [check] = [c for c in report.checks if c.name == "wallet"]
        return check

    ok = wallet_check()
    assert ok.ok and ok.detail.endswith("allowances set, outcome tokens approved"), ok.detail
    box.clob.unapproved.add((live.address, "CONDITIONAL"))  # an EOA that never approved the CTF tokens
    refused = wallet_check()
    assert not refused.ok and "SELLs and exits would be refused" in refused.detail, refused.detail
    box.clob.unapproved.add((live.address, "COLLATERAL"))
    assert "an exchange allowance is 0" in wallet_check().detail


def test_an_order_refused_because_the_tick_changed_is_signed_again_on_the_new_tick(live: Live) -> None:
    box = live.box
    settings = live.settings()
    market = box.markets[2]  # trades on a 0.001 tick
    assert market.tick_size == Decimal("0.001")
    fill = buy(live, 0, market.tokens[0], "40")
    box.mine(1)
    # the tick moves to 0.01 after copybot read the book and signed: the CLOB refuses the price
    live.gate.before_post = lambda n: change_tick(box, market.condition_id, Decimal("0.01")) if n == 1 else None
    live.run(settings)
    orders = live.orders_for(fill)
    assert [o["status"] for o in orders][0] == "abandoned", "refused before matching: certainly not executed"
    assert len(orders) == 2 and orders[1]["client_key"].endswith(":tick"), "signed again once"
    assert live.gate.posts == 2
    decision = live.decision(fill)
    assert decision["decision"] == "filled", decision["reason"]
    assert orders[1]["status"] == "filled", "the fill is recorded on the order that made it"
    [executed] = live.trades()
    assert executed.order_id == orders[1]["exchange_order_id"]
    assert (decision["fill_shares"], decision["fill_usdc"]) == (executed.shares, executed.collateral)


@pytest.mark.parametrize("live", ["eoa", "deposit"], indirect=True)
def test_fees_the_clob_charges_are_the_ones_copybot_sizes_and_books(live: Live) -> None:
    box = live.box
    clob_market = f"{live.server.urls['clob']}/clob-markets/{box.markets[1].condition_id}"
    assert "fd" not in httpx.get(clob_market, timeout=5).json(), "no fees: no fee data (the field is optional)"
    set_fees(box, Decimal("0.03"), Decimal(1))  # 3% x p(1-p) per share, on every market
    assert httpx.get(clob_market, timeout=5).json()["fd"] == {"r": 0.03, "e": 1, "to": True}
    data = live.data(max_order_usdc=10)  # the $10 copy and its fee must fit $10 together
    settings = live.settings(data)
    token = box.markets[1].tokens[0]
    buy(live, 0, token, "40")
    box.mine(1)
    live.run(settings)
    [trade] = live.rows("SELECT * FROM trades")
    [executed] = live.trades()
    assert trade["fee"] == executed.fee > 0, "booked the fee the exchange charged, to the base unit"
    [position] = live.rows("SELECT * FROM positions")
    assert position["cost"] == executed.collateral + executed.fee
    wallet = box.balances(live.address).collateral
    assert wallet == to_units(FUNDS) - executed.collateral - executed.fee
    assert to_units(Decimal(live.status()["bankroll"]["cash_usdc"])) == wallet
    spend = live.rows("SELECT order_usdc FROM decisions")[0]["order_usdc"]
    assert spend < to_units(Decimal(10)) and spend + executed.fee <= to_units(Decimal(10)), (spend, executed.fee)

    box.inject_fill(box.leaders[0], token_id=token, side="SELL", shares=Decimal(40))
    box.mine(1)
    live.run(settings)  # mirrored: the sale's fee comes out of its proceeds and its P&L
    sale = [t for t in live.trades() if t.side.value == "SELL"][0]
    [closed] = live.rows("SELECT * FROM positions")
    assert closed["shares"] == 0
    assert closed["realized"] == sale.collateral - sale.fee - position["cost"]
    assert box.balances(live.address).collateral == wallet + sale.collateral - sale.fee


def test_a_429_holds_the_rest_of_the_cycles_orders_back_for_its_retry_after(live: Live) -> None:
    box = live.box
    settings = live.settings()
    first = buy(live, 0, box.markets[0].tokens[0], "30")
    second = buy(live, 1, box.markets[2].tokens[0], "30")
    box.mine(1)
    live.gate.mode, live.gate.once = "429", True  # the first post is refused with Retry-After: 30
    live.run(settings)
    assert live.gate.posts == 1, "nothing else posted (nor signed) while the CLOB asked to wait"
    assert live.rows("SELECT * FROM decisions") == []
    live.run(settings)  # a later cycle (a restart here): both go through, once each
    assert [live.decision(f)["decision"] for f in (first, second)] == ["filled", "filled"]
    assert live.gate.posts == 3 and len(live.trades()) == 2


@pytest.mark.parametrize("live", ["eoa", "deposit"], indirect=True)
def test_answers_that_name_trades_only_are_booked_and_settled_by_trade(live: Live) -> None:
    box = live.box
    box.clob.async_settlement = True  # no transaction hashes in the answer
    settings = live.settings()
    buy(live, 0, box.markets[1].tokens[0], "40")
    box.mine(1)
    live.run(settings)
    [trade] = live.rows("SELECT * FROM trades")
    [executed] = live.trades()
    assert (trade["settlement"], trade["exchange_trades"]) == ("pending", executed.trade_id)
    box.mine(1)
    live.run(settings)
    [trade] = live.rows("SELECT * FROM trades")
    assert trade["settlement"] == "confirmed"


def test_refusals_answered_with_200_and_success_false_are_the_same_decisions(live: Live) -> None:
    box = live.box
    box.clob.refusals_in_body = True  # production may answer a refusal in the body instead of a 400
    data = live.data()
    data["leaders"][1]["risk"] = {"max_slippage": 0}
    data["live"]["sell_settle_wait_s"] = 0
    settings = live.settings(data)
    token = box.markets[0].tokens[0]
    with live.sdk() as client:  # the answer really is a 200 with the refusal in its body
        order = client.create_market_order(
            token_id=str(token), side="BUY", amount=Decimal(150), max_price=Decimal("0.01"), order_type="FOK"
        )
        refused = client.post_order(order)
    assert not refused.ok and refused.code in ("unmatched", "fok_not_filled"), refused
    tight = buy(live, 1, token, str(box.book(token).asks[0].size - 2))  # a FOK that cannot fill
    box.mine(1)
    live.run(settings)
    killed = live.decision(tight)
    assert (killed["decision"], killed["code"]) == ("skipped", "not_filled"), killed["reason"]
    box.clob.unapproved.add((live.address, "COLLATERAL"))
    broke = buy(live, 0, box.markets[2].tokens[0], "30")
    box.mine(1)
    live.run(settings)
    failed = live.decision(broke)
    assert failed["decision"] == "failed" and "not enough balance / allowance" in failed["reason"], failed["reason"]
    assert live.trades() == []
