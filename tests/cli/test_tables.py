"""Tables fitted to the terminal: at 80 columns fewer columns, never a cut number; the columns a
reader needs most (side, price, usdc, decision; the positions' leader) stay."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console

from copybot.cli.dashboard import render
from copybot.cli.status import renderables
from copybot.cli.tables import copies_table, exits_table, positions_table

LONG_QUESTION = "Will the Federal Reserve cut interest rates by at least 50 basis points before the end of 2026?"
LEADER = "0x2F633eFb75256A2F2445110c8978684aB8936643"
TOKEN = "84002167289818084946834195019107495872273829708192582096244977447292806293745"


def status() -> dict[str, Any]:
    copy = {
        "at": "2026-12-01T12:34:56Z",
        "leader": LEADER,
        "leader_label": "whale-of-polymarket",
        "side": "BUY",
        "token_id": TOKEN,
        "question": LONG_QUESTION,
        "outcome": "Yes",
        "leader_price": "0.876543",
        "fill_price": "0.881234",
        "order_usdc": "12345.678901",
        "decision": "filled",
        "code": "copied",
        "reason": "copied after walking three levels of the book at worse and worse prices",
    }
    position = {
        "leader": LEADER,
        "token_id": TOKEN,
        "condition_id": "0xc0",
        "outcome": "Yes",
        "question": LONG_QUESTION,
        "shares": "98765.432109",
        "avg_price": "0.876543",
        "cost_usdc": "86573.123456",
        "mark_price": "0.812345",
        "unrealized_pnl_usdc": "-6340.987654",
        "realized_pnl_usdc": "1234.567890",
        "redeemable": False,
    }
    exit_ = {
        "at": "2026-12-01T12:35:01Z",
        "leader": LEADER,
        "leader_label": "",
        "token_id": TOKEN,
        "question": LONG_QUESTION,
        "outcome": "No",
        "rule": "trailing_stop",
        "status": "filled",
        "shares": "43210.987654",
        "usdc": "31234.567890",
        "price": "0.722847",
        "realized_pnl_usdc": "-4321.098765",
        "detail": "trailing stop: bid 0.72 is 17.85% below the high-water bid 0.88 (limit 10%)",
    }
    leader = {
        "address": LEADER,
        "label": "whale-of-polymarket",
        "cursor_block": 95123456,
        "fills_seen": 123456,
        "copied": 65432,
        "skipped": 57924,
        "last_fill_at": "2026-12-01T12:34:50Z",
        "realized_pnl_usdc": "-123456.789012",
        "unrealized_pnl_usdc": "98765.432109",
    }
    return {
        "mode": "paper",
        "bankroll": {
            "cash_usdc": "1000",
            "exposure_usdc": "86573.123456",
            "realized_pnl_usdc": "1234.56789",
            "unrealized_pnl_usdc": "-6340.987654",
            "paused_reason": "",
            "open_positions": 1,
        },
        "leaders": [leader],
        "copies": [copy],
        "exits": [exit_],
        "positions": [position],
        "stats": {
            "cycles": 12,
            "heartbeat_age_s": 1.2,
            "cache_hits": 5,
            "cache_misses": 2,
            "api_calls": 40,
            "last_error": "",
            "upstreams": {"clob": {"calls": 12, "errors": {"unavailable": 2}}},
        },
    }


def printed(renderable: Any, width: int) -> str:
    console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


NUMBERS = re.compile(r"-?\d+\.\d+")


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_every_table_fits_and_no_number_is_cut(width: int) -> None:
    data = status()
    for renderable in [*renderables(data, width), render(data, None, 2.0, width)]:
        text = printed(renderable, width)
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= width, "\n".join(line for line in lines if len(line) > width)
        for line in lines:
            for cell in line.split("│"):
                # a number column is never cut: no cell is digits then an ellipsis
                assert not re.fullmatch(r"\s*-?[\d.]+…\s*", cell), (width, line)


def test_at_80_columns_the_columns_that_matter_stay() -> None:
    data = status()
    copies = printed(copies_table(data["copies"], 80), 80)
    for header in ("side", "our px", "usdc", "decision"):
        assert header in copies, copies
    for value in ("BUY", "0.8812", "12345.68", "filled"):
        assert value in copies, copies
    positions = printed(positions_table(data, 80), 80)
    assert "leader" in positions and "0x2F63" in positions  # the leader column, however narrow
    for value in ("98765.43", "-6340.99", "86573.12"):
        assert value in positions, positions
    exits = printed(exits_table(data["exits"], 80), 80)
    for value in ("trailing stop", "-4321.10", "31234.57"):
        assert value in exits, exits


def test_a_wide_terminal_shows_every_column() -> None:
    data = status()
    copies = printed(copies_table(data["copies"], 200), 200)
    for header in ("time", "leader", "side", "market", "leader px", "our px", "usdc", "decision", "reason"):
        assert header in copies
    assert all(n in copies for n in ("0.8765", "0.8812", "12345.68"))
    assert NUMBERS.search(copies)
