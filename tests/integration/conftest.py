"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.live import FUNDS, Live, OrderGate


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    # leaders trade only when a test injects; blocks are mined only by box.mine()
    box = Sandbox(seed=41, leaders=2, markets=4, trade_prob=0.0, noise_prob=0.0, block_time_s=3600)
    box.etherscan_rate_limit = None  # each run is a fresh app, with a fresh budget
    gate = OrderGate(box.app)
    box.app = gate  # type: ignore[assignment]  # what serve_in_thread serves
    account = Account.create()
    box.fund(account.address, FUNDS)
    with serve_in_thread(box) as server:
        yield Live(box, server, gate, account.key.hex(), account.address, tmp_path)
