"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.live import FUNDS, Live, OrderGate


@pytest.fixture(params=["eoa"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """A live trader on the served sandbox; parametrize ``live`` indirectly with a wallet kind
    (eoa, proxy, safe, deposit) to trade from that kind of wallet."""
    # leaders trade only when a test injects; blocks are mined only by box.mine()
    box = Sandbox(seed=41, leaders=2, markets=4, trade_prob=0.0, noise_prob=0.0, block_time_s=3600)
    box.etherscan_rate_limit = None  # each run is a fresh app, with a fresh budget
    gate = OrderGate(box.app)
    box.app = gate  # type: ignore[assignment]  # what serve_in_thread serves
    account = Account.create()
    kind = request.param
    wallet = account.address.lower() if kind == "eoa" else box.clob.open_account(account.address, kind)
    box.fund(wallet, FUNDS)
    with serve_in_thread(box) as server:
        yield Live(box, server, gate, account.key.hex(), wallet, tmp_path, kind)
