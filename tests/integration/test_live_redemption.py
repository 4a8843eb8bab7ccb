"""Resolved positions in live mode: a losing one closes at 0, a winning one waits to be redeemed
(worth its payout, no room under the caps, not an open position) and is booked once the wallet no
longer holds its tokens, so its payout is counted once: in the wallet's cash, not twice."""

from __future__ import annotations

import logging
import sqlite3
from decimal import Decimal

import pytest
from eth_account import Account

from copybot.config.settings import Settings
from copybot.models import to_units
from copybot.sandbox.book import Market
from copybot.sandbox.market_events import redeem
from copybot.sandbox.transactions import COLLATERAL_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER
from tests.support.cli import assert_clean_error, run_cli
from tests.support.live import FUNDS, Live, buy
from tests.support.sandbox import KEY_ENV, write_settings


def bought_then_resolved(live: Live, settings: Settings, market: Market, winner: int) -> tuple[sqlite3.Row, int]:
    """A copied BUY of ``winner``, its market resolved to it, then one more cycle: the position as it
    was bought, and the wallet's pUSD just before that cycle."""
    buy(live, 0, winner, "40")
    live.box.mine(1)
    live.run(settings)
    [position] = live.rows("SELECT * FROM positions")
    live.box.resolve(market.condition_id, winner)
    before = live.box.balances(live.address).collateral
    live.run(settings)
    return position, before


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


def test_auto_redeem_sends_the_redeem_from_an_eoa_and_books_the_payout_in_the_same_cycle(live: Live) -> None:
    box = live.box
    data = live.data()
    data["live"]["auto_redeem"] = True
    settings = live.settings(data)
    market = box.markets[1]  # neg-risk: redeemed through the neg-risk collateral adapter
    position, before = bought_then_resolved(live, settings, market, market.tokens[0])
    [sent] = box.transactions.sent
    assert sent["status"] == "0x1" and sent["from"] == live.address
    assert sent["to"] == NEG_RISK_COLLATERAL_ADAPTER
    [closed] = live.rows("SELECT * FROM positions")
    assert (closed["shares"], closed["realized"]) == (0, position["shares"] - position["cost"])
    assert box.balances(live.address).collateral == before + position["shares"]
    assert to_units(Decimal(live.status()["bankroll"]["cash_usdc"])) == before + position["shares"]
    assert [tuple(r) for r in live.rows("SELECT rule, status FROM exits")] == [("resolved", "filled")]
    live.run(settings)
    assert len(box.transactions.sent) == 1, "nothing left to redeem: nothing sent again"


def test_copybot_redeem_lists_with_dry_run_then_redeems_and_watch_books_it(live: Live) -> None:
    box = live.box
    data = live.data()
    config = write_settings(live.tmp / "settings.yaml", data)
    settings = live.settings(data)
    market = box.markets[2]
    bought_then_resolved(live, settings, market, market.tokens[1])
    [position] = live.rows("SELECT * FROM positions")
    assert position["redeemable"] == 1, "marked redeemable: auto_redeem is off"
    env = {KEY_ENV: box.api_key, "COPYBOT_TEST_PRIVATE_KEY": live.key}

    listed = run_cli("redeem", "--dry-run", "--config", str(config), env=env)
    assert listed.returncode == 0, listed.stderr
    assert market.condition_id in listed.stdout and "nothing sent" in listed.stdout
    assert f"shares pay {Decimal(position['shares']) / 10**6}" in listed.stdout
    assert box.transactions.sent == []

    done = run_cli("redeem", "--config", str(config), env=env)
    assert done.returncode == 0, done.stderr
    [sent] = box.transactions.sent
    assert sent["to"] == COLLATERAL_ADAPTER and f"transaction {sent['transactionHash']}" in done.stdout
    assert live.key.removeprefix("0x") not in done.stdout + done.stderr
    live.run(settings)  # watch sees the tokens gone and books the payout
    [closed] = live.rows("SELECT * FROM positions")
    assert (closed["shares"], closed["realized"]) == (0, position["shares"] - position["cost"])
    again = run_cli("redeem", "--config", str(config), env=env)
    assert again.returncode == 0 and "nothing to redeem" in again.stdout


@pytest.mark.parametrize("live", ["proxy", "safe", "deposit"], indirect=True)
def test_a_polymarket_wallet_redeems_through_the_relayer_with_its_api_key(
    live: Live, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    box = live.box
    owner = Account.from_key(live.key).address
    relayer_key = box.relayer.issue_key(owner)
    monkeypatch.setenv("COPYBOT_RELAYER_API_KEY", relayer_key)
    monkeypatch.setenv("COPYBOT_RELAYER_API_KEY_ADDRESS", owner)
    data = live.data()
    data["live"]["auto_redeem"] = True
    settings = live.settings(data)
    market = box.markets[3]
    # redeemed by the relayer, gasless, for the wallet: booked in the same cycle
    position, before = bought_then_resolved(live, settings, market, market.tokens[1])
    [relayed] = box.relayer.transactions.values()
    kind = {"proxy": "PROXY", "safe": "SAFE", "deposit": "WALLET"}[live.kind]
    assert (relayed["state"], relayed["wallet"], relayed["calls"], relayed["type"]) == (
        "STATE_CONFIRMED",
        live.address,
        1,
        kind,
    )
    assert box.transactions.sent == [], "nothing sent from the owner's EOA"
    assert box.balances(live.address).collateral == before + position["shares"]
    [closed] = live.rows("SELECT * FROM positions")
    assert (closed["shares"], closed["realized"]) == (0, position["shares"] - position["cost"])
    assert relayer_key not in caplog.text + "".join(str(r.__dict__) for r in caplog.records)


@pytest.mark.parametrize("live", ["deposit"], indirect=True)
def test_a_relayer_key_that_is_not_the_relayers_is_refused_and_nothing_is_booked(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = live.box
    owner = Account.from_key(live.key).address
    monkeypatch.setenv("COPYBOT_RELAYER_API_KEY", "not-a-key")
    monkeypatch.setenv("COPYBOT_RELAYER_API_KEY_ADDRESS", owner)
    data = live.data()
    data["live"]["auto_redeem"] = True
    settings = live.settings(data)
    market = box.markets[3]
    bought_then_resolved(live, settings, market, market.tokens[1])  # the relayer says 401: tried again later
    assert box.relayer.transactions == {}
    [waiting] = live.rows("SELECT * FROM positions")
    assert waiting["redeemable"] == 1 and waiting["shares"] > 0


@pytest.mark.parametrize("live", ["safe", "deposit"], indirect=True)
def test_auto_redeem_from_a_polymarket_wallet_needs_the_relayer_key(live: Live) -> None:
    data = live.data()
    data["live"]["auto_redeem"] = True
    config = write_settings(live.tmp / "settings.yaml", data)
    env = {KEY_ENV: live.box.api_key, "COPYBOT_TEST_PRIVATE_KEY": live.key}
    result = run_cli("watch", "--config", str(config), "--live", "--once", env=env)
    assert_clean_error(result, "live.relayer_api_key_env", "COPYBOT_RELAYER_API_KEY")
