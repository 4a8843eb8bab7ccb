"""Live exits through the one order path: an answer lost after the sale, an order refused before
matching, an order rejected. The position is sold exactly once, or stays open and says why."""

from __future__ import annotations

from typing import Any

import pytest

from copybot.config.settings import Settings
from tests.support.live import Live, buy


def _open_position(live: Live) -> tuple[Settings, int]:
    """One copied BUY, then settings whose stop loss fires on the next cycle (a spread under water)."""
    box = live.box
    data = live.data()  # follows from the next block on
    token = box.markets[0].tokens[1]
    buy(live, 0, token, "50")
    box.mine(1)
    live.run(live.settings(data))
    assert len(live.trades()) == 1
    data["exits"] = {"stop_loss": "0.01"}
    return live.settings(data), token


def _exit_orders(live: Live) -> list[Any]:
    return live.rows("SELECT * FROM orders WHERE purpose = 'exit:stop_loss' ORDER BY id")


def _position(live: Live, token: int) -> Any:
    [row] = live.rows("SELECT * FROM positions WHERE token_id = ?", str(token))
    return row


def _sales(live: Live, token: int) -> list[Any]:
    return [t for t in live.trades() if t.token_id == token and t.side == "SELL"]


def test_an_exit_whose_answer_was_lost_is_looked_up_and_recorded_once(live: Live, caplog: Any) -> None:
    settings, token = _open_position(live)
    posts = live.gate.posts
    live.gate.mode = "lose"
    live.run(settings)  # the exchange sold, the answer was cut in half; the same cycle looks it up
    assert "answer was lost; will look it up" in caplog.text
    [sold] = _sales(live, token)
    [order] = _exit_orders(live)
    assert order["status"] == "filled" and order["exchange_order_id"] == sold.order_id
    assert _position(live, token)["shares"] == 0
    [trade] = live.rows("SELECT * FROM trades WHERE order_id = ?", order["id"])
    assert (trade["shares"], trade["usdc"]) == (sold.shares, sold.collateral)

    live.gate.mode = "pass"
    live.run(settings)
    assert live.gate.posts == posts + 1 and len(_sales(live, token)) == 1, "the exit was never sent twice"
    assert len(_exit_orders(live)) == 1


@pytest.mark.parametrize("refusal", ["425", "429"])
def test_an_exit_refused_before_matching_is_tried_again_next_cycle(live: Live, refusal: str) -> None:
    settings, token = _open_position(live)
    live.gate.mode = refusal
    live.run(settings)
    assert [o["status"] for o in _exit_orders(live)] == ["abandoned"]
    assert _position(live, token)["shares"] > 0 and _sales(live, token) == []

    live.gate.mode = "pass"
    live.run(settings)
    assert [o["status"] for o in _exit_orders(live)] == ["abandoned", "filled"]
    assert _position(live, token)["shares"] == 0 and len(_sales(live, token)) == 1


def test_a_rejected_exit_is_recorded_as_failed_and_the_position_stays_open(live: Live) -> None:
    settings, token = _open_position(live)
    held = _position(live, token)["shares"]
    live.gate.mode = "reject"  # refused for balance / allowance
    live.run(settings)  # within live.sell_settle_wait_s of the purchase: tried again later, not failed
    [order] = _exit_orders(live)
    assert order["status"] == "abandoned" and live.rows("SELECT * FROM exits") == []
    settings = settings.model_copy(update={"live": settings.live.model_copy(update={"sell_settle_wait_s": 0.0})})
    live.run(settings)  # the wait is over (none here): a failure
    [_, order] = _exit_orders(live)
    assert order["status"] == "failed"
    assert _position(live, token)["shares"] == held and _sales(live, token) == []
    assert live.rows("SELECT COUNT(*) AS n FROM trades WHERE order_id = ?", order["id"])[0]["n"] == 0
