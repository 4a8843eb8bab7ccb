"""Running copybot against the sandbox: settings files, a `watch` subprocess, ground truth read
independently of copybot, an in-process transport that counts requests, the status snapshot."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from copybot.cli.status import snapshot
from copybot.protocol import EXCHANGES, ORDER_FILLED_V2, topic_to_address
from copybot.sandbox import RunningSandbox
from copybot.store import Store

KEY_ENV = "COPYBOT_TEST_ETHERSCAN_KEY"


def settings_dict(
    urls: dict[str, str], leaders: list[str], db: Path, start_block: int, poll_interval_s: float = 1.0, **risk: Any
) -> dict[str, Any]:
    """Paper settings for the sandbox. At 1 s per cycle the 3 calls/s Etherscan budget polls two
    leaders per cycle (one call goes to the chain head)."""
    return {
        "mode": "paper",
        "leaders": [{"address": a, "label": f"L{i}"} for i, a in enumerate(leaders)],
        "source": {
            "kind": "etherscan",
            "poll_interval_s": poll_interval_s,
            "start_block": start_block,
            "etherscan": {"url": urls["etherscan"], "chain_id": 137, "api_key_env": KEY_ENV},
        },
        "clob": {"url": urls["clob"]},
        "gamma": {"url": urls["gamma"]},
        "risk": {"sizing": "fixed", "fixed_usdc": 10, "max_slippage": "0.05", "max_trade_age_s": 300, **risk},
        "paper": {"starting_bankroll_usdc": 1000},
        "storage": {"path": str(db)},
    }


def write_settings(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def ground_truth(
    etherscan_url: str, api_key: str, leaders: list[str], from_block: int, to_block: int
) -> set[tuple[str, int]]:
    """Every leader maker fill in the range, read independently: all logs of the range (no topic
    filter), then the attribution rule applied here by hand."""
    followed = {a.lower() for a in leaders}
    out: set[tuple[str, int]] = set()
    page = 1
    while True:
        body = httpx.get(
            etherscan_url,
            params={
                "chainid": 137,
                "module": "logs",
                "action": "getLogs",
                "fromBlock": from_block,
                "toBlock": to_block,
                "topic0": ORDER_FILLED_V2,
                "page": page,
                "offset": 1000,
                "apikey": api_key,
            },
            timeout=10,
        ).json()
        rows = body["result"] if body["status"] == "1" else []
        for row in rows:
            if row["address"].lower() in EXCHANGES and topic_to_address(row["topics"][2]) in followed:
                out.add((row["transactionHash"].lower(), int(row["logIndex"], 16) if row["logIndex"] != "0x" else 0))
        if len(rows) < 1000:
            return out
        page += 1


class CountingTransport(httpx.AsyncBaseTransport):
    """An in-process sandbox app that records each request's path and how many were in flight at
    once. Every request yields to the event loop before it is served, so requests sent together
    (``gather``) overlap and ones sent one after another do not."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self.paths: list[str] = []
        self.bodies: list[tuple[str, bytes]] = []  # (path, body) of each POST
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.method == "POST":
            self.bodies.append((request.url.path, request.content))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            return await self._inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


def live_settings_dict(
    urls: dict[str, str], leaders: list[str], db: Path, start_block: int, **risk: Any
) -> dict[str, Any]:
    """Live settings for the sandbox: an EOA wallet (signature type 0), FOK market orders."""
    data = settings_dict(urls, leaders, db, start_block, **risk)
    data["mode"] = "live"
    data["live"] = {
        "private_key_env": "COPYBOT_TEST_PRIVATE_KEY",
        "signature_type": 0,
        "order_type": "FOK",
        "relayer_url": urls.get("relayer", "http://sandbox/relayer"),
        "rpc_url": urls["rpc"],
    }
    return data


# in-process sandbox: the app behind httpx.ASGITransport answers any host
URLS = {
    "etherscan": "http://sandbox/etherscan/v2/api",
    "clob": "http://sandbox/clob",
    "gamma": "http://sandbox/gamma",
    "rpc": "http://sandbox/rpc",
    "relayer": "http://sandbox/relayer",
}


def status_json(db: Path, now: float) -> dict[str, Any]:
    """``copybot status --json`` of the database at ``db``, as of ``now``, every copy included."""
    store = Store.open_read_only(db)
    try:
        return snapshot(store, now, limit=0)
    finally:
        store.close()


BACKLOG_BLOCKS = 10  # start this far behind the tip, so the first cycle has fills to copy


def sandbox_settings(tmp_path: Path, server: RunningSandbox, **extra: object) -> Path:
    box = server.sandbox
    data = settings_dict(server.urls, box.leaders, tmp_path / "bot.db", max(0, box.latest_block() - BACKLOG_BLOCKS))
    data.update(extra)
    return write_settings(tmp_path / "settings.yaml", data)


def key_env(server: RunningSandbox, **more: str) -> dict[str, str]:
    return {**os.environ, KEY_ENV: server.sandbox.api_key, **more}


def start_watch(cfg: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "copybot", "watch", "--config", str(cfg), "--no-dashboard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
