"""Live mode end to end: ``watch`` with ``mode: live`` against the sandbox CLOB served on loopback.

The real ``polymarket-client`` (its async client on real sockets) derives API credentials from a
throwaway key and posts EIP-712 V2 signed orders that the sandbox verifies and matches.
Covered: fills recorded as the exchange reported them, the wallet
as the bankroll, every production refusal as a clear decision, retries after 425/429 without a
duplicate, a lost answer or a crash after sending reconciled without resending, and no secret in
any log, output or database file.

An :class:`OrderGate` in front of the sandbox decides what happens to ``POST /clob/order`` only
(every other route is served normally), so a fault hits exactly the step under test.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from polymarket import RateLimitError, RequestRejectedError, TransportError

from copybot.brokers.live_answers import classify
from copybot.config.settings import Settings
from copybot.daemon import watch
from copybot.errors import (
    InsufficientFunds,
    OrderNotFilled,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderVersionMismatch,
    RateLimited,
    TickSizeChanged,
    UpstreamRestarting,
    UpstreamUnavailable,
)
from copybot.models import to_units
from tests.support.cli import run_cli
from tests.support.fixtures import load_fixture
from tests.support.live import FUNDS, Live, buy, sell
from tests.support.sandbox import KEY_ENV, write_settings

# ---- end to end -----------------------------------------------------------------------------


@pytest.mark.parametrize("live", ["eoa", "proxy", "safe", "deposit"], indirect=True)
def test_live_copies_with_signed_orders_and_the_wallet_is_the_bankroll(live: Live) -> None:
    box = live.box
    settings = live.settings()
    neg_risk, plain = box.markets[1].tokens[0], box.markets[0].tokens[1]
    first = [buy(live, 0, neg_risk, "100"), buy(live, 0, plain, "60"), sell(live, 0, neg_risk, "50")]
    box.mine(1)
    live.run(settings)  # the SELL right after its BUY: the balance cache is refreshed first
    closing = sell(live, 0, plain, "60")
    box.mine(1)
    live.run(settings)

    for fill in [*first, closing]:
        decision = live.decision(fill)
        assert decision["decision"] == "filled", decision["reason"]
    assert live.decision(first[2])["reason"] == "mirrored leader sell"

    orders = live.rows("SELECT * FROM orders ORDER BY id")
    trades = live.rows("SELECT t.*, o.exchange_order_id FROM trades t JOIN orders o ON o.id = t.order_id")
    assert len(orders) == len(trades) == 4
    executed = {t.order_id: t for t in live.trades()}
    assert len(executed) == 4, "one order per copy, none sent twice"
    for o in orders:
        assert o["mode"] == "live" and o["status"] == "filled"
        assert o["exchange_order_id"] in executed
    for t in trades:  # recorded as the exchange executed it, to the base unit
        real = executed[t["exchange_order_id"]]
        assert (t["shares"], t["usdc"], t["side"]) == (real.shares, real.collateral, real.side.value)

    wallet = box.balances(live.address)
    spent = sum(t["usdc"] for t in trades if t["side"] == "BUY") - sum(t["usdc"] for t in trades if t["side"] == "SELL")
    assert wallet.collateral == to_units(FUNDS) - spent
    for token in (neg_risk, plain):
        held = sum(t["shares"] * (1 if t["side"] == "BUY" else -1) for t in trades if t["token_id"] == str(token))
        assert wallet.shares.get(token, 0) == held
    assert wallet.shares.get(plain, 0) == 0, "the whole plain position was sold"
    st = live.status()
    assert st["mode"] == "live"
    assert to_units(Decimal(st["bankroll"]["cash_usdc"])) == wallet.collateral, "status cash is the wallet's"


# ---- production refusals --------------------------------------------------------------------


def test_clob_refusals_become_clear_decisions(live: Live) -> None:
    box = live.box
    data = live.data()
    data["leaders"][1]["risk"] = {"max_slippage": 0}  # leader 1's copies must fill at its very price
    settings = live.settings(data)

    # FOK not filled: the leader took all but 2 shares of the best ask; $10 at that price needs more
    token = box.markets[0].tokens[0]
    top = box.book(token).asks[0]
    tight = buy(live, 1, token, str(top.size - 2))
    box.mine(1)
    live.run(settings)
    killed = live.decision(tight)
    assert killed["decision"] == "skipped"
    assert killed["reason"].startswith("not filled: order couldn't be fully filled"), killed["reason"]
    [order] = live.orders_for(tight)
    assert order["status"] == "skipped" and order["exchange_order_id"]

    # not enough balance: a resting order of ours holds $195 back; the balance endpoint still says
    # $200 (production counts open orders against new ones only when they arrive)
    rest_on = box.markets[2].tokens[0]
    with live.sdk() as client:
        resting = client.create_limit_order(
            token_id=str(rest_on), side="BUY", price=Decimal("0.05"), size=Decimal(3900)
        )
        assert client.post_order(resting).status == "live"
    broke = buy(live, 0, box.markets[3].tokens[1], "40")
    box.mine(1)
    live.run(settings)
    failed = live.decision(broke)
    assert failed["decision"] == "failed"
    assert failed["reason"] == "rejected: clob: not enough balance / allowance", failed["reason"]
    assert len(live.trades()) == 0
    assert box.balances(live.address).collateral == to_units(FUNDS)


def test_425_and_429_leave_the_fill_pending_until_the_clob_takes_it_once(live: Live) -> None:
    box = live.box
    settings = live.settings()
    fill = buy(live, 0, box.markets[3].tokens[0], "30")
    box.mine(1)
    for refusal in ("425", "429"):
        live.gate.mode = refusal
        live.run(settings)
        assert live.rows("SELECT * FROM decisions") == [], f"{refusal}: nothing executed, nothing decided"
        assert live.orders_for(fill)[-1]["status"] == "abandoned"
        [(pending,)] = live.rows("SELECT state FROM fills WHERE tx_hash = ?", fill.tx_hash)
        assert pending == "pending"
    live.gate.mode = "pass"
    live.run(settings)
    copied = live.decision(fill)
    assert copied["decision"] == "filled", copied["reason"]
    assert [o["status"] for o in live.orders_for(fill)] == ["abandoned", "abandoned", "filled"]
    assert live.gate.posts == 3 and len(live.trades()) == 1


PRODUCTION_ERRORS = [
    (400, load_fixture("clob_error_fok.json"), OrderNotFilled, "not filled: order couldn't be fully filled"),
    (
        400,
        {
            "error": "no orders found to match with FAK order. FAK orders are partially filled or killed if no "
            "match is found."
        },
        OrderNotFilled,
        "not filled: no orders found",
    ),
    (400, {"error": "not enough balance / allowance"}, InsufficientFunds, "clob: not enough balance / allowance"),
    (400, load_fixture("clob_error_version_mismatch.json"), OrderVersionMismatch, "clob: order version mismatch"),
    (
        400,
        {"error": "order 0xab is invalid. Price (0.555) breaks minimum tick size rule: 0.01"},
        TickSizeChanged,
        "clob: tick size",
    ),
    (
        400,
        {"error": "order 0xab is invalid. Size (1.5) lower than the minimum: 5"},
        OrderRejected,
        "clob: below minimum size",
    ),
    (425, {"error": "Too Early"}, UpstreamRestarting, "clob: HTTP 425"),
    (429, {"error": "Too Many Requests"}, RateLimited, "clob: HTTP 429 rate limited"),
    (503, {"error": "Service Unavailable"}, UpstreamUnavailable, "clob: HTTP 503"),
]


@pytest.mark.parametrize(("status", "body", "kind", "starts"), PRODUCTION_ERRORS)
def test_each_production_error_body_maps_to_what_copybot_does(status: int, body: Any, kind: type, starts: str) -> None:
    # what the SDK raises for that answer: RateLimitError on 429, RequestRejectedError with the body's text otherwise
    exc = RateLimitError(body["error"]) if status == 429 else RequestRejectedError(body["error"], status=status)
    verdict = classify(exc, sent=False)
    assert type(verdict) is kind
    assert str(verdict).startswith(starts), str(verdict)


def test_no_answer_at_all_is_an_unknown_outcome_not_a_rejection() -> None:
    verdict = classify(TransportError("Server disconnected without sending a response."), sent=True)
    assert isinstance(verdict, OrderOutcomeUnknown) and "no answer" in str(verdict)


# ---- a crash between "intent written" and "order answered" -----------------------------------


@pytest.mark.parametrize("failure", ["lose", "502", "hang"])
def test_an_order_sent_before_a_crash_is_reconciled_not_resent(live: Live, failure: str) -> None:
    box = live.box
    settings = live.settings()
    fill = buy(live, 0, box.markets[1].tokens[1], "40")
    box.mine(1)
    live.gate.mode = failure
    if failure in ("lose", "502"):
        live.run(settings)  # the answer arrives cut in half, or a proxy's 502 replaces it: outcome unknown
        [order] = live.orders_for(fill)
        assert order["status"] == "unknown"
    else:
        asyncio.run(crash_while_in_flight(live, settings))  # the process dies waiting for the answer
        [order] = live.orders_for(fill)
        assert order["status"] == "intent", "the intent was written before the order was sent"
    assert order["exchange_order_id"]
    assert live.rows("SELECT * FROM decisions") == []
    [executed] = live.trades()
    assert executed.order_id == order["exchange_order_id"]

    live.gate.mode = "pass"
    live.run(settings)  # a restart: the open intent is looked up before anything is sent
    decision = live.decision(fill)
    assert decision["decision"] == "filled" and "reconciled" in decision["reason"], decision["reason"]
    assert (decision["fill_shares"], decision["fill_usdc"]) == (executed.shares, executed.collateral)
    assert [o["status"] for o in live.orders_for(fill)] == ["filled"]
    assert live.gate.posts == 1 and len(live.trades()) == 1, "the order was never sent again"
    [position] = live.rows("SELECT * FROM positions")
    assert (position["shares"], position["cost"]) == (executed.shares, executed.collateral)
    assert position["condition_id"] == box.markets[1].condition_id, "known to the resolution check"


async def crash_while_in_flight(live: Live, settings: Settings) -> None:
    task = asyncio.ensure_future(watch(settings, live.box.api_key, once=True, private_key=live.key))
    for _ in range(1000):
        if live.gate.executed_flag or task.done():
            break
        await asyncio.sleep(0.01)
    assert live.gate.executed_flag, "the order never reached the exchange"
    task.cancel()  # the process dies: nothing after the send runs
    await asyncio.gather(task, return_exceptions=True)
    live.gate.release = True  # let the sandbox's answer go (to no one)


# ---- secrets --------------------------------------------------------------------------------


def test_the_key_and_the_api_secret_appear_in_no_output(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    box = live.box
    data = live.data()
    data["leaders"][1]["risk"] = {"max_slippage": 0}
    config = write_settings(live.tmp / "settings.yaml", data)
    settings = live.settings(data)
    token = box.markets[0].tokens[0]
    fills = [buy(live, 0, box.markets[1].tokens[0], "50"), buy(live, 1, token, str(box.book(token).asks[0].size - 2))]
    box.mine(1)
    live.run(settings)  # one copy filled, one FOK killed: success and error paths both logged
    assert [live.decision(f)["decision"] for f in fills] == ["filled", "skipped"]

    env = {KEY_ENV: box.api_key, "COPYBOT_TEST_PRIVATE_KEY": live.key}
    exit_ = sell(live, 0, box.markets[1].tokens[0], "50")
    box.mine(1)
    watched = run_cli(
        "watch", "--config", str(config), "--live", "--once", "--no-dashboard", "--log-level", "DEBUG", env=env
    )
    assert watched.returncode == 0, watched.stderr
    assert live.decision(exit_)["decision"] == "filled", "the command line traded live too"
    status = run_cli("status", "--json", "--config", str(config), env=env)
    assert status.returncode == 0, status.stderr
    assert '"mode": "live"' in status.stdout

    with live.sdk() as client:
        creds = client.credentials
    secrets = {
        "private key": live.key.removeprefix("0x"),  # also finds the 0x form
        "api secret": creds.secret,
        "api passphrase": creds.passphrase,
    }
    texts = {
        "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "watch output": watched.stdout + watched.stderr,
        "status output": status.stdout + status.stderr,
    }
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(live.db) + suffix)
        if path.exists():
            texts[f"database{suffix}"] = path.read_bytes().decode("latin-1")
    assert "database" in texts and len(texts["logs"]) > 1000
    for what, secret in secrets.items():
        assert len(secret) >= 20
        for where, text in texts.items():
            assert secret.lower() not in text.lower(), f"the {what} appears in the {where}"


# ---- live exits -----------------------------------------------------------------------------


def test_live_stop_loss_sells_on_the_clob_and_resolution_marks_redeemable(live: Live) -> None:
    box = live.box
    data = live.data()
    data["exits"] = {"stop_loss": "0.01"}
    settings = live.settings(data)
    losing, resolving = box.markets[0].tokens[1], box.markets[3].tokens[0]
    buy(live, 0, losing, "50")
    buy(live, 1, resolving, "50")
    box.mine(1)
    live.run(settings)  # two copies; both a spread under water
    assert len(live.trades()) == 2
    box.resolve(box.markets[3].condition_id, resolving)
    live.run(settings)  # exits first: the open one is sold, the resolved one waits for a redeem

    [order] = live.rows("SELECT * FROM orders WHERE purpose LIKE 'exit:%'")
    assert (order["purpose"], order["status"], order["side"]) == ("exit:stop_loss", "filled", "SELL")
    sold = {t.order_id: t for t in live.trades()}[order["exchange_order_id"]]
    wallet = box.balances(live.address)
    assert wallet.shares.get(losing, 0) == 0
    [closed] = live.rows("SELECT * FROM positions WHERE token_id = ?", str(losing))
    assert closed["shares"] == 0
    [trade] = live.rows("SELECT * FROM trades WHERE order_id = ?", order["id"])
    assert (trade["shares"], trade["usdc"]) == (sold.shares, sold.collateral)

    [redeem] = live.rows("SELECT * FROM positions WHERE token_id = ?", str(resolving))
    assert redeem["redeemable"] == 1 and redeem["shares"] == wallet.shares[resolving], "redeemed on chain, not sold"
    [shown] = [p for p in live.status()["positions"] if p["token_id"] == str(resolving)]
    assert shown["redeemable"] is True
    assert to_units(Decimal(live.status()["bankroll"]["cash_usdc"])) == wallet.collateral


def test_live_starts_quietly_once_its_api_key_exists(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    settings = live.settings()
    buy(live, 0, live.box.markets[0].tokens[0], "20")
    live.box.mine(1)
    live.run(settings)  # the first start creates the key
    caplog.clear()
    with caplog.at_level(logging.INFO):
        live.run(settings)  # every later start derives it: nothing to complain about
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
