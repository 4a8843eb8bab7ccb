"""The sandbox CLOB's trading side driven by the REAL ``polymarket-client`` SDK over loopback HTTP:
L1/L2 authentication, signed V2 market orders matched against the book, the production error
bodies, balances and their cache, trades. Resolution, resting orders, batches, faults and
determinism are in test_sandbox_clob_markets.py.

What the SDK will not send (wrong credentials, forged L1 headers, V1 orders, orders signed for
the wrong exchange or domain, a maker that is not the key's funds holder) is built by hand in
:mod:`tests.support.clob_orders`. Every answer the sandbox sends is kept, so the tests also read
the wire format the SDK parses away (``""`` amounts, string balances, error bodies).

Every test runs with a throwaway key; the ``env`` fixture checks at teardown that the key never
appeared in a response body or a log record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from polymarket import (
    AcceptedOrder,
    ClobTrade,
    HexString,
    OrderResponse,
    RateLimitError,
    RequestRejectedError,
    SecureClient,
    SignedOrder,
    UserInputError,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copybot.brokers.order_id import order_hash, signed_for
from copybot.brokers.sdk_private import environment
from copybot.clock import ManualClock
from copybot.protocol import CTF_EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, ORDER_FILLED_V2, UNIT, pad_address
from copybot.sandbox import RunningSandbox, Sandbox, serve_in_thread
from copybot.sandbox.wallets import derive
from tests.support.clob_orders import Creds, RawClob, l1_headers, order_body, sign_v1, sign_v2
from tests.support.live import endpoints, sdk_client

FOK_TEXT = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_TEXT = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
L2_INVALID = {"error": "Unauthorized/Invalid api key"}

OrderKind = Literal["FOK", "FAK"]


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of the sandbox: the request's path (from the server's root), status, body."""

    path: str
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def capture(app: ASGIApp, bodies: list[bytes], answers: list[Answer] | None = None) -> ASGIApp:
    """The app, keeping every response body it sends (and, in ``answers``, each whole answer)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        status, chunks = 0, bytearray()

        async def keep(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            if message["type"] == "http.response.body":
                bodies.append(message.get("body", b""))
                chunks.extend(message.get("body", b""))
                if answers is not None and not message.get("more_body"):
                    answers.append(Answer(scope["path"], status, bytes(chunks)))
            await send(message)

        await app(scope, receive, keep)

    return wrapped


@dataclass
class Env:
    sandbox: Sandbox
    clock: ManualClock
    running: RunningSandbox
    account: LocalAccount
    client: SecureClient
    bodies: list[bytes]
    answers: list[Answer]
    clients: list[SecureClient] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.running.urls["clob"]

    def client_for(self, account: LocalAccount, wallet: str | None = None) -> SecureClient:
        """The SDK's client for ``account``'s key acting for ``wallet`` (the EOA itself unless given)."""
        client = sdk_client(self.running.urls, account.key.hex(), wallet or account.address)
        self.clients.append(client)
        return client

    def raw(self, creds: Creds | None = None, address: str | None = None) -> RawClob:
        """Hand-made L2 requests: our address and the SDK's credentials unless told otherwise."""
        return RawClob(self.host, address or self.account.address, creds or Creds.of(self.client.credentials))

    def token(self, market: int = 0, outcome: int = 0) -> str:
        return str(self.sandbox.markets[market].tokens[outcome])

    def answer(self, path: str) -> Any:
        """The JSON of the last answer to ``path`` (below the CLOB's root, no query string)."""
        full = urlsplit(self.host).path + path
        return next(a for a in reversed(self.answers) if a.path == full).json()


def serve_env(caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    """A quiet sandbox (no background trading, a manual clock: the book only moves with our
    orders) served on loopback, and a funded throwaway wallet with the SDK's client (which made
    its L2 credentials). Afterwards, the key must not be in any response body or log record."""
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    sandbox = Sandbox(seed=11, clock=clock, etherscan_rate_limit=None, trade_prob=0, noise_prob=0)
    bodies: list[bytes] = []
    answers: list[Answer] = []
    sandbox.app = capture(sandbox.app, bodies, answers)  # type: ignore[assignment]  # any ASGI app serves
    account: LocalAccount = Account.create()
    sandbox.fund(account.address, Decimal(1000))
    with serve_in_thread(sandbox) as running:
        client = sdk_client(running.urls, account.key.hex(), account.address)
        env = Env(sandbox, clock, running, account, client, bodies, answers)
        try:
            yield env
        finally:
            for each in [client, *env.clients]:
                each.close()
    secret = account.key.hex().removeprefix("0x").lower()
    assert bodies and not any(secret in body.decode(errors="replace").lower() for body in bodies)
    assert secret not in caplog.text.lower()


@pytest.fixture
def env(caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    yield from serve_env(caplog)


def signed_market_order(
    client: SecureClient,
    token: str,
    amount: Decimal | int | str,
    side: str,
    price: Decimal | str,
    kind: OrderKind = "FOK",
) -> SignedOrder:
    """The SDK's market order: a BUY spends ``amount`` pUSD at most at ``price``, a SELL sells
    ``amount`` shares at least at ``price``."""
    if side == "BUY":
        return client.create_market_order(
            token_id=token, side="BUY", amount=Decimal(amount), max_price=Decimal(price), order_type=kind
        )
    return client.create_market_order(
        token_id=token, side="SELL", shares=Decimal(amount), min_price=Decimal(price), order_type=kind
    )


def accepted(answer: OrderResponse) -> AcceptedOrder:
    assert isinstance(answer, AcceptedOrder), answer
    return answer


def market_order(
    client: SecureClient,
    token: str,
    amount: Decimal | int | str,
    side: str,
    price: Decimal | str,
    kind: OrderKind = "FOK",
) -> AcceptedOrder:
    return accepted(client.post_order(signed_market_order(client, token, amount, side, price, kind)))


def refused(env: Env, call: Callable[[], Any]) -> tuple[int, Any]:
    """The status and JSON body of the answer the SDK raised on (it read the same error text)."""
    with pytest.raises((RequestRejectedError, RateLimitError)) as caught:
        call()
    last = env.answers[-1]
    if isinstance(caught.value, RequestRejectedError):
        assert (caught.value.status, str(caught.value)) == (last.status, last.json()["error"])
    else:
        assert last.status == 429  # the only status the SDK raises RateLimitError for
    return last.status, last.json()


def trades(client: SecureClient, **filters: str) -> list[ClobTrade]:
    """Every trade of the client's key (all pages)."""
    return list(client.list_account_trades(**filters).iter_items())


def balance(
    env: Env, client: SecureClient, asset_type: Literal["COLLATERAL", "CONDITIONAL"], token: str | None = None
) -> Any:
    """``GET /balance-allowance`` through the SDK, as the JSON it answered (the SDK read the same)."""
    parsed = client.get_balance_allowance(asset_type=asset_type, token_id=token)
    raw = env.answer("/balance-allowance")
    assert parsed.balance == int(raw["balance"])
    assert parsed.allowances == {k: int(v) for k, v in raw["allowances"].items()}
    return raw


def asks(sandbox: Sandbox, token: str) -> list[tuple[Decimal, Decimal]]:
    return [(level.price, level.size) for level in sandbox.book(int(token)).asks]


def derive_key(host: str, account: LocalAccount, nonce: int = 0) -> Creds:
    answer = httpx.get(host + "/auth/derive-api-key", headers=l1_headers(account, nonce))
    assert answer.status_code == 200, answer.text
    return Creds.from_json(answer.json())


def create_key(host: str, account: LocalAccount, nonce: int = 0) -> httpx.Response:
    return httpx.post(host + "/auth/api-key", headers=l1_headers(account, nonce))


# -- authentication --------------------------------------------------------------------------


def test_credentials_are_derived_repeatably_and_created_once(env: Env) -> None:
    host = env.host
    first = derive_key(host, env.account)
    assert derive_key(host, env.account) == first == Creds.of(env.client.credentials)
    assert Creds.of(env.client_for(env.account).credentials) == first  # the SDK: create refused, derived
    refusal = create_key(host, env.account)  # nonce 0 exists already
    assert (refusal.status_code, refusal.json()) == (400, {"error": "Could not create api key"})
    made = create_key(host, env.account, nonce=7)
    assert made.status_code == 200
    other = Creds.from_json(made.json())
    assert other.key != first.key and derive_key(host, env.account, nonce=7) == other
    seven = SecureClient.create(
        private_key=env.account.key.hex(),
        wallet=env.account.address,
        environment=environment(endpoints(env.running.urls)),
        nonce=7,
    )
    env.clients.append(seven)
    assert Creds.of(seven.credentials) == other
    # a second sandbox with the same seed hands the same wallet the same credentials
    twin = Sandbox(seed=11, clock=ManualClock(), etherscan_rate_limit=None)
    with serve_in_thread(twin) as running:
        assert derive_key(running.urls["clob"], env.account) == first


def test_the_api_keys_of_the_caller_are_listed_for_a_credentials_check(env: Env) -> None:
    """GET /auth/api-keys (L2): polymarket-client checks credentials it was given against this list."""
    client = env.client
    mine = client.credentials.key
    assert client.fetch_api_keys() == (mine,)
    assert env.answer("/auth/api-keys") == {"apiKeys": [mine]}
    made = create_key(env.host, env.account, nonce=9)
    assert made.status_code == 200
    other = Creds.from_json(made.json())
    assert client.fetch_api_keys() == (mine, other.key)
    assert env.answer("/auth/api-keys") == {"apiKeys": [mine, other.key]}
    stranger = env.client_for(Account.create())
    assert stranger.fetch_api_keys() == (stranger.credentials.key,)  # never another wallet's keys
    assert env.answer("/auth/api-keys") == {"apiKeys": [stranger.credentials.key]}


def test_l1_headers_must_be_signed_by_the_address(env: Env) -> None:
    other: LocalAccount = Account.create()
    headers = l1_headers(other)
    assert httpx.get(env.host + "/auth/derive-api-key", headers=headers).status_code == 200  # its own: fine
    forged = {**headers, "POLY_ADDRESS": env.account.address}
    for sent in (forged, {k: v for k, v in headers.items() if k != "POLY_SIGNATURE"}):
        answer = httpx.get(env.host + "/auth/derive-api-key", headers=sent)
        assert (answer.status_code, answer.json()) == (401, {"error": "Invalid L1 Request headers"})


def test_trading_endpoints_need_valid_l2_headers(env: Env) -> None:
    creds = Creds.of(env.client.credentials)
    signed = signed_market_order(env.client, env.token(), 5, "BUY", "0.9")
    calls: list[Callable[[RawClob], httpx.Response]] = [
        lambda raw: raw.get("/data/trades"),
        lambda raw: raw.get("/data/orders"),
        lambda raw: raw.get("/balance-allowance", asset_type="COLLATERAL", signature_type="0"),
        lambda raw: raw.post("/order", order_body(signed, raw.creds.key)),
    ]
    wrong = [
        replace(creds, secret="c2VjcmV0LWJ1dC1ub3QtdGhlLXJpZ2h0LW9uZQ=="),
        replace(creds, passphrase="0" * 64),
        replace(creds, key="00000000-0000-4000-8000-000000000000"),
    ]
    for bad in wrong:
        for call in calls:
            answer = call(env.raw(bad))
            assert (answer.status_code, answer.json()) == (401, L2_INVALID)
    # right key, another wallet's address
    stranger: LocalAccount = Account.create()
    answer = env.raw(creds, stranger.address).get("/data/trades")
    assert (answer.status_code, answer.json()) == (401, L2_INVALID)
    assert httpx.get(env.host + "/data/trades").status_code == 401
    # the same requests with the right headers are served (the order was never taken above)
    assert [call(env.raw(creds)).status_code for call in calls] == [200] * len(calls)
    assert env.answer("/order")["status"] == "matched"


def test_market_parameters_reach_the_client(env: Env) -> None:
    client, sandbox, host = env.client, env.sandbox, env.host
    assert httpx.get(host + "/version").json() == {"version": 2}
    assert httpx.get(host + "/").json() == "OK"
    assert httpx.get(host + "/time").json() == int(env.clock.now())
    ticks = set()
    for number, market in enumerate(sandbox.markets[:4]):
        token = env.token(number)
        tick = httpx.get(host + "/tick-size", params={"token_id": token}).json()["minimum_tick_size"]
        assert str(tick) == str(market.tick_size)
        assert httpx.get(host + "/neg-risk", params={"token_id": token}).json() == {"neg_risk": market.neg_risk}
        info = httpx.get(f"{host}/clob-markets/{market.condition_id}").json()
        assert info["t"] == [{"t": str(t), "o": o} for t, o in zip(market.tokens, market.outcomes, strict=True)]
        assert (info["mos"], info["nr"], info["ao"]) == (5, market.neg_risk, True)
        # what the SDK makes of them: a price on the tick, signed for the market's exchange ...
        order = client.create_limit_order(token_id=token, price=market.tick_size * 3, size=Decimal(10), side="BUY")
        assert Decimal(order.maker_amount) / order.taker_amount == market.tick_size * 3
        exchange = NEG_RISK_EXCHANGE_V2 if market.neg_risk else CTF_EXCHANGE_V2
        assert signed_for(asdict(order), order_hash(asdict(order), exchange))
        # ... and none between two ticks
        with pytest.raises(UserInputError, match=f"tick size {market.tick_size}"):
            client.create_limit_order(token_id=token, price=market.tick_size * Decimal("2.5"), size=10, side="BUY")
        ticks.add(market.tick_size)
    assert len(ticks) > 1  # markets with different ticks were seen


# -- orders ----------------------------------------------------------------------------------


def test_fok_buy_fills_moves_balances_consumes_the_book_and_is_listed(env: Env) -> None:
    sandbox, client, token = env.sandbox, env.client, env.token()
    before = asks(sandbox, token)
    signed = signed_market_order(client, token, 25, "BUY", before[0][0] + Decimal("0.05"))
    answer = accepted(client.post_order(signed))
    raw = env.answer("/order")
    assert (raw["success"], raw["status"], raw["errorMsg"]) == (True, "matched", "")
    assert answer.status == "matched"
    assert answer.order_id.startswith("0x") and len(answer.order_id) == 66
    assert answer.order_id == order_hash(asdict(signed), CTF_EXCHANGE_V2)  # the order's EIP-712 hash
    spent, shares = answer.making_amount, answer.taking_amount
    assert (Decimal(raw["makingAmount"]), Decimal(raw["takingAmount"])) == (spent, shares)
    assert Decimal("24.99") <= spent <= 25 and shares > 0
    assert before[0][0] <= spent / shares <= before[0][0] + Decimal("0.05")
    held = sandbox.balances(env.account.address)
    assert held.collateral == 1000 * UNIT - spent * UNIT
    assert held.shares == {int(token): shares * UNIT}
    after = asks(sandbox, token)
    assert sum(s for _, s in before) - sum(s for _, s in after) == shares
    # the trade, the order, no resting orders
    (trade,) = trades(client)
    assert trade.id == answer.trade_ids[0] and trade.taker_order_id == answer.order_id
    assert (trade.side, trade.size, trade.status) == ("BUY", shares, "MATCHED")
    assert trade.transaction_hash == answer.transactions_hashes[0]
    assert trade.maker_address.lower() == env.account.address.lower() and trade.trader_side == "TAKER"
    assert sum(m.matched_amount for m in trade.maker_orders) == shares
    assert trades(client, id=trade.id) == [trade]
    assert trades(client, asset_id=env.token(1)) == []
    order = client.get_order(order_id=answer.order_id)
    assert (order.status, order.size_matched, order.order_type) == ("MATCHED", shares, "FOK")
    assert client.list_open_orders().first_page().items == ()
    assert env.answer("/data/orders")["data"] == []
    # it settles in the next block as V2 OrderFilled logs: our aggregate is the last one
    block = sandbox.mine()
    logs = [log for log in sandbox.logs(block, block) if log.tx_hash == trade.transaction_hash]
    ours = logs[-1]
    assert (ours.address, ours.topics[0], ours.topics[1]) == (CTF_EXCHANGE_V2, ORDER_FILLED_V2, answer.order_id)
    assert ours.topics[2:] == (pad_address(env.account.address), pad_address(CTF_EXCHANGE_V2))
    data = bytes.fromhex(ours.data[2:])
    words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]
    assert words[:5] == [0, int(token), spent * UNIT, shares * UNIT, 0]
    assert all(log.topics[3] == pad_address(env.account.address) for log in logs[:-1])
    assert trades(client)[0].status == "CONFIRMED"


def test_fok_that_cannot_fill_is_killed_with_the_production_error(env: Env, fixture_json: Any) -> None:
    sandbox, token = env.sandbox, env.token()
    best, size = asks(sandbox, token)[0]
    before, held = asks(sandbox, token), sandbox.balances(env.account.address)
    too_much = best * size + 20  # more than the best level holds, and the bound allows no other
    status, body = refused(env, lambda: market_order(env.client, token, too_much, "BUY", best))
    assert (status, body) == (400, fixture_json("clob_error_fok.json"))
    assert body["error"] == FOK_TEXT
    assert asks(sandbox, token) == before and sandbox.balances(env.account.address) == held
    assert trades(env.client) == []


def test_fak_fills_what_it_can_and_is_refused_when_nothing_matches(env: Env) -> None:
    sandbox, token = env.sandbox, env.token()
    best, size = asks(sandbox, token)[0]
    answer = market_order(env.client, token, best * size + 20, "BUY", best, "FAK")
    assert answer.status == "matched" and answer.taking_amount == size
    assert asks(sandbox, token)[0][0] > best
    cheap = asks(sandbox, token)[0][0] - Decimal("0.1")
    status, body = refused(env, lambda: market_order(env.client, token, 5, "BUY", cheap, "FAK"))
    assert status == 400
    assert body == {"error": FAK_TEXT}


def test_balance_and_minimum_size_are_checked(env: Env) -> None:
    token = env.token()
    assert refused(env, lambda: market_order(env.client, token, 1500, "BUY", "0.99")) == (
        400,
        {"error": "not enough balance / allowance"},
    )
    assert refused(env, lambda: market_order(env.client, token, "0.5", "BUY", "0.99")) == (
        400,
        {"error": "invalid amount for a marketable BUY order ($0.5), min size: $1"},
    )
    status, body = refused(env, lambda: market_order(env.client, token, 2, "SELL", "0.01"))
    assert status == 400 and body["error"].endswith("is invalid. Size (2) lower than the minimum: 5")
    assert body["error"].startswith("order 0x")


def test_sell_right_after_buy_needs_a_balance_refresh(env: Env) -> None:
    client, token = env.client, env.token()
    bought = market_order(client, token, 20, "BUY", "0.99")
    shares = bought.taking_amount
    assert refused(env, lambda: market_order(client, token, shares, "SELL", "0.01")) == (
        400,
        {"error": "not enough balance / allowance"},
    )
    assert balance(env, client, "CONDITIONAL", token)["balance"] == "0"
    update = env.raw().get("/balance-allowance/update", asset_type="CONDITIONAL", token_id=token, signature_type="0")
    assert update.status_code == 200
    refreshed = update.json()
    assert refreshed["balance"] == str(int(bought.taking_amount * UNIT))
    assert balance(env, client, "CONDITIONAL", token) == refreshed
    assert all(v == str(2**256 - 1) for v in refreshed["allowances"].values()) and len(refreshed["allowances"]) == 3
    cash_before = balance(env, client, "COLLATERAL")["balance"]
    sold = market_order(client, token, shares, "SELL", "0.01")
    assert sold.status == "matched" and sold.making_amount == bought.taking_amount
    # proceeds are on chain at once, in the CLOB's view after a refresh or once the cache expires
    on_chain = env.sandbox.balances(env.account.address).collateral
    assert on_chain == int(cash_before) + sold.taking_amount * UNIT
    assert balance(env, client, "COLLATERAL")["balance"] == cash_before
    env.clock.advance(env.sandbox.clob.ledger.ttl_s)
    assert balance(env, client, "COLLATERAL")["balance"] == str(on_chain)
    assert env.sandbox.balances(env.account.address).shares == {}


def test_a_tampered_order_is_refused(env: Env) -> None:
    client, token = env.client, env.token()
    signed = signed_market_order(client, token, 5, "BUY", "0.99")
    richer = replace(signed, maker_amount=signed.maker_amount * 2)
    assert refused(env, lambda: client.post_order(richer)) == (400, {"error": "invalid signature"})
    flipped = signed.signature[:-4] + ("00" if signed.signature[-4:-2] != "00" else "01") + signed.signature[-2:]
    tampered = replace(signed, signature=HexString(flipped))
    assert refused(env, lambda: client.post_order(tampered)) == (400, {"error": "invalid signature"})
    assert accepted(client.post_order(signed)).status == "matched"
    status, body = refused(env, lambda: client.post_order(signed))  # the same signed order again
    order_id = trades(client)[0].taker_order_id
    assert (status, body) == (400, {"error": f"order {order_id} is invalid. Duplicated."})


def test_v1_signed_orders_get_order_version_mismatch(env: Env, fixture_json: Any) -> None:
    client, token = env.client, env.token()
    v1 = sign_v1(env.account, token_id=token, maker_amount=5_000_000, taker_amount=5_102_040)
    expected = (400, fixture_json("clob_error_version_mismatch.json"))
    answer = env.raw().post("/order", order_body(v1, client.credentials.key, "FOK"))
    assert (answer.status_code, answer.json()) == expected

    # the V2 layout signed under domain version "1" is the same mismatch
    def v2(version: str) -> SignedOrder:
        return sign_v2(
            env.account,
            exchange=CTF_EXCHANGE_V2,
            token_id=token,
            maker_amount=5_000_000,
            taker_amount=5_102_040,
            domain_version=version,
        )

    assert refused(env, lambda: client.post_order(v2("1"))) == expected
    assert env.sandbox.balances(env.account.address).collateral == 1000 * UNIT
    assert accepted(client.post_order(v2("2"))).status == "matched"  # the same order under version "2" is taken


def test_neg_risk_orders_verify_against_the_neg_risk_exchange(env: Env) -> None:
    sandbox, client = env.sandbox, env.client
    number = next(i for i, m in enumerate(sandbox.markets) if m.neg_risk)
    token = env.token(number, 1)
    assert httpx.get(env.host + "/neg-risk", params={"token_id": token}).json() == {"neg_risk": True}
    # signed for the plain CTF exchange: the signature does not verify for this market
    plain = sign_v2(
        env.account, exchange=CTF_EXCHANGE_V2, token_id=token, maker_amount=5_000_000, taker_amount=5_050_500
    )
    status, body = refused(env, lambda: client.post_order(plain))
    assert (status, body) == (400, {"error": "invalid signature"})
    answer = market_order(client, token, 5, "BUY", "0.99")
    assert answer.status == "matched"
    block = sandbox.mine()
    ours = [log for log in sandbox.logs(block, block) if log.topics[1] == answer.order_id]
    assert [log.address for log in ours] == [NEG_RISK_EXCHANGE_V2]


def test_a_safe_funder_trades_with_signature_type_2(env: Env) -> None:
    sandbox = env.sandbox
    owner: LocalAccount = Account.create()
    safe = derive(owner.address, "safe")  # the owner's Safe, at its CREATE2 address
    sandbox.fund(safe, Decimal(50), owner=owner.address)
    client = env.client_for(owner, safe)
    assert balance(env, client, "COLLATERAL")["balance"] == str(50 * UNIT)
    signed = signed_market_order(client, env.token(), 10, "BUY", "0.99")
    assert (signed.signature_type, signed.maker.lower(), str(signed.signer)) == (2, safe, owner.address)
    answer = accepted(client.post_order(signed))
    assert answer.status == "matched"
    assert sandbox.balances(safe).collateral == 50 * UNIT - answer.making_amount * UNIT
    assert sandbox.balances(owner.address).collateral == 0
    assert trades(client)[0].maker_address.lower() == safe
    assert trades(env.client) == []  # another key's trades are not listed
    # a maker that is not the key's funds holder
    stranger = sign_v2(
        owner,
        exchange=CTF_EXCHANGE_V2,
        token_id=env.token(),
        maker_amount=10_000_000,
        taker_amount=10_101_010,
        maker=Account.create().address,
        signature_type=2,
    )
    status, body = refused(env, lambda: client.post_order(stranger))
    assert (status, body) == (400, {"error": "the order owner has to be the owner of the API KEY"})
    # a body naming another API key as the owner (the SDK always names its own)
    signed = signed_market_order(client, env.token(), 10, "BUY", "0.99")
    answer = env.raw(Creds.of(client.credentials), owner.address).post(
        "/order", order_body(signed, env.client.credentials.key)
    )
    assert (answer.status_code, answer.json()) == (400, {"error": "the order owner has to be the owner of the API KEY"})
    assert accepted(client.post_order(signed)).status == "matched"  # the same order, its own key: taken
