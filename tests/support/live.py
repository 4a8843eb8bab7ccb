"""Live mode against the sandbox CLOB served on loopback: a gate in front of ``POST /order`` that
misbehaves on demand, and the helpers the live tests share."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from polymarket import SecureClient
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copybot.brokers.sdk_private import Endpoints, environment
from copybot.cli.status import snapshot
from copybot.config.loading import parse_settings
from copybot.config.settings import Settings
from copybot.daemon import watch
from copybot.sandbox import RunningSandbox, Sandbox
from copybot.store import Store
from tests.support.sandbox import live_settings_dict

FUNDS = Decimal(200)


SIGNATURE_TYPES = {"eoa": 0, "proxy": 1, "safe": 2, "deposit": 3}


def sdk_client(urls: dict[str, str], key: str, wallet: str) -> SecureClient:
    """polymarket-client's sync client on the sandbox (close it, or use it in a ``with``)."""
    return SecureClient.create(
        private_key=key, wallet=to_checksum_address(wallet), environment=environment(endpoints(urls))
    )


def endpoints(urls: dict[str, str]) -> Endpoints:
    """Where the live broker's SDK finds the sandbox (its Data API is not served: never called here)."""
    return Endpoints(
        clob=urls["clob"], gamma=urls["gamma"], data=urls["clob"], relayer=urls["relayer"], rpc=urls["rpc"]
    )


class OrderGate:
    """In front of the served sandbox: ``mode`` says what ``POST /clob/order`` gets.

    ``pass``: served. ``425`` / ``429`` (with ``Retry-After: 30``): refused before the engine sees
    it (``once``: only the next request). ``reject``: refused
    with the production body for a wallet short of balance or allowance. ``lose``: executed, the
    answer cut in half (a connection lost mid-answer). ``hang``: executed, then no answer until
    ``release`` is set (the client crashes meanwhile). ``502``: executed, then a proxy's 502 in place
    of the answer (the exchange did it; the client cannot know).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.mode = "pass"
        self.posts = 0
        self.executed_flag = False
        self.release = False
        self.before_post: Callable[[int], None] | None = None  # called with the post's number first
        self.once = False  # a 425 / 429 refuses one request only, then the gate passes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/clob/order":
            await self.app(scope, receive, send)
            return
        self.posts += 1
        if self.before_post is not None:
            self.before_post(self.posts)
        mode = self.mode
        if mode == "pass":
            await self.app(scope, receive, send)
            return
        if mode in ("425", "429"):
            text = "Too Early" if mode == "425" else "Too Many Requests"
            headers = {"Retry-After": "30"} if mode == "429" else None
            await JSONResponse({"error": text}, status_code=int(mode), headers=headers)(scope, receive, send)
            self.mode = "pass" if self.once else mode
            return
        if mode == "reject":
            await JSONResponse({"error": "not enough balance / allowance"}, status_code=400)(scope, receive, send)
            return
        body = bytearray()

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, keep)  # the order executes
        if mode == "502":
            await JSONResponse({"error": "Bad Gateway"}, status_code=502)(scope, receive, send)
            return
        if mode == "hang":
            self.executed_flag = True
            while not self.release:
                await asyncio.sleep(0.01)
            await JSONResponse({"error": "Gateway Timeout"}, status_code=504)(scope, receive, send)
            return
        await Response(bytes(body[: len(body) // 2]), media_type="application/json")(scope, receive, send)


@dataclass
class Live:
    box: Sandbox
    server: RunningSandbox
    gate: OrderGate
    key: str
    address: str  # the funds holder, lowercase: the EOA itself, or its proxy / Safe / deposit wallet
    tmp: Path
    kind: str = "eoa"

    @property
    def signature_type(self) -> int:
        return SIGNATURE_TYPES[self.kind]

    def sdk(self) -> SecureClient:
        """polymarket-client's own (sync) client for this wallet, as a user would make it."""
        return sdk_client(self.server.urls, self.key, self.address)

    @property
    def db(self) -> Path:
        return self.tmp / "live.db"

    def data(self, **risk: Any) -> dict[str, Any]:
        data = live_settings_dict(self.server.urls, self.box.leaders, self.db, self.box.latest_block() + 1, **risk)
        if self.kind != "eoa":
            data["live"] |= {"signature_type": self.signature_type, "funder": self.address}
        return data

    def settings(self, data: dict[str, Any] | None = None) -> Settings:
        return parse_settings(data or self.data(), "live-settings.yaml", environ={})

    def run(self, settings: Settings) -> None:
        cycles = asyncio.run(watch(settings, self.box.api_key, once=True, private_key=self.key))
        assert cycles == 1

    def trades(self) -> list[Any]:
        """Our trades on the sandbox CLOB (what the exchange really executed for us)."""
        return [t for t in list(self.box.clob.trades) if t.maker_address == self.address.lower()]

    def rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def decision(self, fill: Any) -> sqlite3.Row:
        [row] = self.rows(
            "SELECT d.* FROM decisions d JOIN fills f ON f.id = d.fill_id WHERE f.tx_hash = ? AND f.log_index = ?",
            fill.tx_hash,
            fill.log_index,
        )
        return row

    def orders_for(self, fill: Any) -> list[sqlite3.Row]:
        return self.rows(
            "SELECT o.* FROM orders o JOIN fills f ON f.id = o.fill_id WHERE f.tx_hash = ? AND f.log_index = ? "
            "ORDER BY o.id",
            fill.tx_hash,
            fill.log_index,
        )

    def status(self) -> dict[str, Any]:
        store = Store.open_read_only(self.db)
        try:
            return snapshot(store, 0.0, limit=0)
        finally:
            store.close()


def buy(live: Live, leader: int, token: int, shares: str) -> Any:
    return live.box.inject_fill(live.box.leaders[leader], token_id=token, side="BUY", shares=Decimal(shares))


def sell(live: Live, leader: int, token: int, shares: str) -> Any:
    return live.box.inject_fill(live.box.leaders[leader], token_id=token, side="SELL", shares=Decimal(shares))
