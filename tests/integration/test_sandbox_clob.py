"""The sandbox CLOB's trading side driven by the REAL ``py_clob_client_v2`` over loopback HTTP:
L1/L2 authentication, signed V2 market orders matched against the book, the production error
bodies, balances and their cache, trades. Resolution, resting orders, batches, faults and
determinism are in test_sandbox_clob_markets.py.

Every test runs with a throwaway key; the ``env`` fixture checks at teardown that the key never
appeared in a response body or a log record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    MarketOrderArgsV2,
    OrderType,
    PartialCreateOrderOptions,
    TradeParams,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV1, ExchangeOrderBuilderV2, Side, SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v1 import OrderDataV1
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.signer import Signer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copybot.clock import ManualClock
from copybot.protocol import CTF_EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, ORDER_FILLED_V2, UNIT, pad_address
from copybot.sandbox import RunningSandbox, Sandbox, serve_in_thread
from copybot.sandbox.wallets import derive

FOK_TEXT = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_TEXT = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."


def capture(app: ASGIApp, bodies: list[bytes]) -> ASGIApp:
    """The app, keeping every response body it sends."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def keep(message: Message) -> None:
            if message["type"] == "http.response.body":
                bodies.append(message.get("body", b""))
            await send(message)

        await app(scope, receive, keep)

    return wrapped


@dataclass
class Env:
    sandbox: Sandbox
    clock: ManualClock
    running: RunningSandbox
    account: LocalAccount
    client: ClobClient
    bodies: list[bytes]

    def client_for(self, account: LocalAccount, **kwargs: Any) -> ClobClient:
        client = ClobClient(host=self.running.urls["clob"], chain_id=137, key=account.key.hex(), **kwargs)
        client.set_api_creds(client.create_or_derive_api_key())
        return client

    def token(self, market: int = 0, outcome: int = 0) -> str:
        return str(self.sandbox.markets[market].tokens[outcome])


def serve_env(caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    """A quiet sandbox (no background trading, a manual clock: the book only moves with our
    orders) served on loopback, and a funded throwaway wallet with L2 credentials. Afterwards,
    the key must not be in any response body or log record."""
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    sandbox = Sandbox(seed=11, clock=clock, etherscan_rate_limit=None, trade_prob=0, noise_prob=0)
    bodies: list[bytes] = []
    sandbox.app = capture(sandbox.app, bodies)  # type: ignore[assignment]  # any ASGI app serves
    account: LocalAccount = Account.create()
    sandbox.fund(account.address, Decimal(1000))
    with serve_in_thread(sandbox) as running:
        client = ClobClient(host=running.urls["clob"], chain_id=137, key=account.key.hex(), signature_type=0)
        client.set_api_creds(client.create_or_derive_api_key())
        yield Env(sandbox, clock, running, account, client, bodies)
    secret = account.key.hex().removeprefix("0x").lower()
    assert bodies and not any(secret in body.decode(errors="replace").lower() for body in bodies)
    assert secret not in caplog.text.lower()


@pytest.fixture
def env(caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    yield from serve_env(caplog)


def market_order(
    client: ClobClient, token: str, amount: float, side: str, price: float, order_type: str = OrderType.FOK, **opts: Any
) -> dict[str, Any]:
    args = MarketOrderArgsV2(token_id=token, amount=amount, side=side, price=price)
    options = PartialCreateOrderOptions(**opts) if opts else None
    answer: dict[str, Any] = client.create_and_post_market_order(args, options, order_type=order_type)
    return answer


def exact(text: str | Decimal) -> float:
    """A decimal as a float the client's ``round_down`` keeps: it floors ``x * 100``, and for
    about 6% of two-decimal floats (0.58, 1.13, …) that product falls just below the integer."""
    return float(text) + 1e-9


def refused(call: Callable[[], Any]) -> tuple[int | None, Any]:
    with pytest.raises(PolyApiException) as caught:
        call()
    return caught.value.status_code, caught.value.error_msg


def asks(sandbox: Sandbox, token: str) -> list[tuple[Decimal, Decimal]]:
    return [(level.price, level.size) for level in sandbox.book(int(token)).asks]


# -- authentication --------------------------------------------------------------------------


def test_credentials_are_derived_repeatably_and_created_once(env: Env) -> None:
    client = ClobClient(host=env.running.urls["clob"], chain_id=137, key=env.account.key.hex())
    first = client.derive_api_key()
    assert client.derive_api_key() == first == client.create_or_derive_api_key()
    assert env.client.creds == first
    status, body = refused(client.create_api_key)  # nonce 0 exists already
    assert (status, body) == (400, {"error": "Could not create api key"})
    other = client.create_api_key(nonce=7)
    assert other.api_key != first.api_key and client.derive_api_key(nonce=7) == other
    # a second sandbox with the same seed hands the same wallet the same credentials
    twin = Sandbox(seed=11, clock=ManualClock(), etherscan_rate_limit=None)
    with serve_in_thread(twin) as running:
        again = ClobClient(host=running.urls["clob"], chain_id=137, key=env.account.key.hex())
        assert again.derive_api_key() == first


def test_the_api_keys_of_the_caller_are_listed_for_a_credentials_check(env: Env) -> None:
    """GET /auth/api-keys (L2): polymarket-client checks credentials it was given against this list."""
    client = env.client
    assert client.get_api_keys() == {"apiKeys": [client.creds.api_key]}
    other = client.create_api_key(nonce=9)
    assert client.get_api_keys() == {"apiKeys": [client.creds.api_key, other.api_key]}
    stranger = ClobClient(host=env.running.urls["clob"], chain_id=137, key=Account.create().key.hex())
    stranger.set_api_creds(stranger.create_or_derive_api_key())
    assert stranger.get_api_keys() == {"apiKeys": [stranger.creds.api_key]}  # never another wallet's keys


def test_l1_headers_must_be_signed_by_the_address(env: Env) -> None:
    other: LocalAccount = Account.create()
    headers = ClobClient(host=env.running.urls["clob"], chain_id=137, key=other.key.hex())._l1_headers()
    forged = {**headers, "POLY_ADDRESS": env.account.address}
    for sent in (forged, {k: v for k, v in headers.items() if k != "POLY_SIGNATURE"}):
        answer = httpx.get(env.running.urls["clob"] + "/auth/derive-api-key", headers=sent)
        assert (answer.status_code, answer.json()) == (401, {"error": "Invalid L1 Request headers"})


def test_trading_endpoints_need_valid_l2_headers(env: Env) -> None:
    creds = env.client.creds
    host = env.running.urls["clob"]
    wrong = [
        replace(creds, api_secret="c2VjcmV0LWJ1dC1ub3QtdGhlLXJpZ2h0LW9uZQ=="),
        replace(creds, api_passphrase="0" * 64),
        replace(creds, api_key="00000000-0000-4000-8000-000000000000"),
    ]
    for bad in wrong:
        client = ClobClient(host=host, chain_id=137, key=env.account.key.hex(), creds=bad)
        for call in (
            client.get_trades,
            client.get_open_orders,
            lambda c=client: c.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)),
            lambda c=client: market_order(c, env.token(), 5, "BUY", 0.9),
        ):
            assert refused(call) == (401, {"error": "Unauthorized/Invalid api key"})
    # right key, another wallet's address
    stranger: LocalAccount = Account.create()
    client = ClobClient(host=host, chain_id=137, key=stranger.key.hex(), creds=creds)
    assert refused(client.get_trades) == (401, {"error": "Unauthorized/Invalid api key"})
    assert httpx.get(host + "/data/trades").status_code == 401


def test_market_parameters_reach_the_client(env: Env) -> None:
    client, sandbox = env.client, env.sandbox
    assert client.get_version() == 2
    assert client.get_ok() == "OK" and client.get_server_time() == int(env.clock.now())
    for number, market in enumerate(sandbox.markets[:4]):
        token = env.token(number)
        assert client.get_tick_size(token) == str(market.tick_size)
        assert client.get_neg_risk(token) is market.neg_risk
        info = client.get_clob_market_info(market.condition_id)
        assert info["t"] == [{"t": str(t), "o": o} for t, o in zip(market.tokens, market.outcomes, strict=True)]
        assert (info["mos"], info["nr"], info["ao"]) == (5, market.neg_risk, True)


# -- orders ----------------------------------------------------------------------------------


def test_fok_buy_fills_moves_balances_consumes_the_book_and_is_listed(env: Env) -> None:
    sandbox, client, token = env.sandbox, env.client, env.token()
    before = asks(sandbox, token)
    answer = market_order(client, token, 25, "BUY", float(before[0][0]) + 0.05)
    assert answer["success"] is True and answer["status"] == "matched" and answer["errorMsg"] == ""
    assert answer["orderID"].startswith("0x") and len(answer["orderID"]) == 66
    spent, shares = Decimal(answer["makingAmount"]), Decimal(answer["takingAmount"])
    assert Decimal("24.99") <= spent <= 25 and shares > 0
    assert before[0][0] <= spent / shares <= before[0][0] + Decimal("0.05")
    held = sandbox.balances(env.account.address)
    assert held.collateral == 1000 * UNIT - spent * UNIT
    assert held.shares == {int(token): shares * UNIT}
    after = asks(sandbox, token)
    assert sum(s for _, s in before) - sum(s for _, s in after) == shares
    # the trade, the order, no resting orders
    (trade,) = client.get_trades()
    assert trade["id"] == answer["tradeIDs"][0] and trade["taker_order_id"] == answer["orderID"]
    assert (trade["side"], Decimal(trade["size"]), trade["status"]) == ("BUY", shares, "MATCHED")
    assert trade["transaction_hash"] == answer["transactionsHashes"][0]
    assert trade["maker_address"].lower() == env.account.address.lower() and trade["trader_side"] == "TAKER"
    assert sum(Decimal(m["matched_amount"]) for m in trade["maker_orders"]) == shares
    assert client.get_trades(TradeParams(id=trade["id"])) == [trade]
    assert client.get_trades(TradeParams(asset_id=env.token(1))) == []
    order = client.get_order(answer["orderID"])
    assert (order["status"], Decimal(order["size_matched"]), order["order_type"]) == ("MATCHED", shares, "FOK")
    assert client.get_open_orders() == []
    # it settles in the next block as V2 OrderFilled logs: our aggregate is the last one
    block = sandbox.mine()
    logs = [log for log in sandbox.logs(block, block) if log.tx_hash == trade["transaction_hash"]]
    ours = logs[-1]
    assert (ours.address, ours.topics[0], ours.topics[1]) == (CTF_EXCHANGE_V2, ORDER_FILLED_V2, answer["orderID"])
    assert ours.topics[2:] == (pad_address(env.account.address), pad_address(CTF_EXCHANGE_V2))
    data = bytes.fromhex(ours.data[2:])
    words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]
    assert words[:5] == [0, int(token), spent * UNIT, shares * UNIT, 0]
    assert all(log.topics[3] == pad_address(env.account.address) for log in logs[:-1])
    assert client.get_trades()[0]["status"] == "CONFIRMED"


def test_fok_that_cannot_fill_is_killed_with_the_production_error(env: Env, fixture_json: Any) -> None:
    sandbox, token = env.sandbox, env.token()
    best, size = asks(sandbox, token)[0]
    before, held = asks(sandbox, token), sandbox.balances(env.account.address)
    too_much = float(best * size) + 20  # more than the best level holds, and the bound allows no other
    status, body = refused(lambda: market_order(env.client, token, too_much, "BUY", exact(best)))
    assert (status, body) == (400, fixture_json("clob_error_fok.json"))
    assert body["error"] == FOK_TEXT
    assert asks(sandbox, token) == before and sandbox.balances(env.account.address) == held
    assert env.client.get_trades() == []


def test_fak_fills_what_it_can_and_is_refused_when_nothing_matches(env: Env) -> None:
    sandbox, token = env.sandbox, env.token()
    best, size = asks(sandbox, token)[0]
    answer = market_order(env.client, token, float(best * size) + 20, "BUY", exact(best), OrderType.FAK)
    assert answer["status"] == "matched" and Decimal(answer["takingAmount"]) == size
    assert asks(sandbox, token)[0][0] > best
    cheap = float(asks(sandbox, token)[0][0]) - 0.1
    status, body = refused(lambda: market_order(env.client, token, 5, "BUY", cheap, OrderType.FAK))
    assert status == 400
    assert body == {"error": FAK_TEXT}


def test_balance_and_minimum_size_are_checked(env: Env) -> None:
    token = env.token()
    assert refused(lambda: market_order(env.client, token, 1500, "BUY", 0.99)) == (
        400,
        {"error": "not enough balance / allowance"},
    )
    assert refused(lambda: market_order(env.client, token, 0.5, "BUY", 0.99)) == (
        400,
        {"error": "invalid amount for a marketable BUY order ($0.5), min size: $1"},
    )
    status, body = refused(lambda: market_order(env.client, token, 2, "SELL", 0.01))
    assert status == 400 and body["error"].endswith("is invalid. Size (2) lower than the minimum: 5")
    assert body["error"].startswith("order 0x")


def test_sell_right_after_buy_needs_a_balance_refresh(env: Env) -> None:
    client, token = env.client, env.token()
    bought = market_order(client, token, 20, "BUY", 0.99)
    shares = exact(bought["takingAmount"])
    conditional = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token)
    collateral = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    assert refused(lambda: market_order(client, token, shares, "SELL", 0.01)) == (
        400,
        {"error": "not enough balance / allowance"},
    )
    assert client.get_balance_allowance(conditional)["balance"] == "0"
    refreshed = client.update_balance_allowance(conditional)
    assert refreshed["balance"] == str(int(Decimal(bought["takingAmount"]) * UNIT))
    assert client.get_balance_allowance(conditional) == refreshed
    assert all(v == str(2**256 - 1) for v in refreshed["allowances"].values()) and len(refreshed["allowances"]) == 3
    cash_before = client.get_balance_allowance(collateral)["balance"]
    sold = market_order(client, token, shares, "SELL", 0.01)
    assert sold["status"] == "matched" and Decimal(sold["makingAmount"]) == Decimal(bought["takingAmount"])
    # proceeds are on chain at once, in the CLOB's view after a refresh or once the cache expires
    on_chain = env.sandbox.balances(env.account.address).collateral
    assert on_chain == int(cash_before) + Decimal(sold["takingAmount"]) * UNIT
    assert client.get_balance_allowance(collateral)["balance"] == cash_before
    env.clock.advance(env.sandbox.clob.ledger.ttl_s)
    assert client.get_balance_allowance(collateral)["balance"] == str(on_chain)
    assert env.sandbox.balances(env.account.address).shares == {}


def test_a_tampered_order_is_refused(env: Env) -> None:
    client, token = env.client, env.token()
    signed = client.create_market_order(MarketOrderArgsV2(token_id=token, amount=5, side="BUY", price=0.99))
    richer = replace(signed, makerAmount=str(int(signed.makerAmount) * 2))
    assert refused(lambda: client.post_order(richer, OrderType.FOK)) == (400, {"error": "invalid signature"})
    flipped = signed.signature[:-4] + ("00" if signed.signature[-4:-2] != "00" else "01") + signed.signature[-2:]
    tampered = replace(signed, signature=flipped)
    assert refused(lambda: client.post_order(tampered, OrderType.FOK)) == (400, {"error": "invalid signature"})
    assert client.post_order(signed, OrderType.FOK)["status"] == "matched"
    status, body = refused(lambda: client.post_order(signed, OrderType.FOK))  # the same signed order again
    order_id = client.get_trades()[0]["taker_order_id"]
    assert (status, body) == (400, {"error": f"order {order_id} is invalid. Duplicated."})


def test_v1_signed_orders_get_order_version_mismatch(env: Env, fixture_json: Any) -> None:
    client, token = env.client, env.token()
    signer = Signer(env.account.key.hex(), 137)
    config = get_contract_config(137)
    v1 = ExchangeOrderBuilderV1(config.exchange, 137, signer).build_signed_order(
        OrderDataV1(
            maker=env.account.address,
            taker="0x0000000000000000000000000000000000000000",
            tokenId=token,
            makerAmount="5000000",
            takerAmount="5102040",
            side=Side.BUY,
            signer=env.account.address,
            signatureType=0,
        )
    )
    expected = (400, fixture_json("clob_error_version_mismatch.json"))
    assert refused(lambda: client.post_order(v1, OrderType.FOK)) == expected
    # the V2 layout signed under domain version "1" is the same mismatch
    old_domain = ExchangeOrderBuilderV2(config.exchange_v2, 137, signer, domain_version="1")
    v2_as_v1 = old_domain.build_signed_order(
        OrderDataV2(
            maker=env.account.address,
            tokenId=token,
            makerAmount="5000000",
            takerAmount="5102040",
            side=Side.BUY,
            signer=env.account.address,
            signatureType=SignatureTypeV2.EOA,
        )
    )
    assert refused(lambda: client.post_order(v2_as_v1, OrderType.FOK)) == expected
    assert env.sandbox.balances(env.account.address).collateral == 1000 * UNIT


def test_neg_risk_orders_verify_against_the_neg_risk_exchange(env: Env) -> None:
    sandbox, client = env.sandbox, env.client
    number = next(i for i, m in enumerate(sandbox.markets) if m.neg_risk)
    token = env.token(number, 1)
    assert client.get_neg_risk(token) is True
    # signed for the plain CTF exchange: the signature does not verify for this market
    status, body = refused(lambda: market_order(client, token, 5, "BUY", 0.99, neg_risk=False))
    assert (status, body) == (400, {"error": "invalid signature"})
    answer = market_order(client, token, 5, "BUY", 0.99)
    assert answer["status"] == "matched"
    block = sandbox.mine()
    ours = [log for log in sandbox.logs(block, block) if log.topics[1] == answer["orderID"]]
    assert [log.address for log in ours] == [NEG_RISK_EXCHANGE_V2]


def test_a_safe_funder_trades_with_signature_type_2(env: Env) -> None:
    sandbox = env.sandbox
    owner: LocalAccount = Account.create()
    safe = to_checksum_address(derive(owner.address, "safe"))  # the owner's Safe, at its CREATE2 address
    sandbox.fund(safe, Decimal(50), owner=owner.address)
    client = env.client_for(owner, signature_type=2, funder=safe)
    collateral = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    assert client.get_balance_allowance(collateral)["balance"] == str(50 * UNIT)
    answer = market_order(client, env.token(), 10, "BUY", 0.99)
    assert answer["status"] == "matched"
    assert sandbox.balances(safe).collateral == 50 * UNIT - Decimal(answer["makingAmount"]) * UNIT
    assert sandbox.balances(owner.address).collateral == 0
    assert client.get_trades()[0]["maker_address"].lower() == safe.lower()
    # a maker that is not the key's funds holder
    stranger = ClobClient(
        host=env.running.urls["clob"], chain_id=137, key=owner.key.hex(), creds=client.creds, signature_type=2
    )
    stranger.builder.funder = Account.create().address
    status, body = refused(lambda: market_order(stranger, env.token(), 10, "BUY", 0.99))
    assert (status, body) == (400, {"error": "the order owner has to be the owner of the API KEY"})
