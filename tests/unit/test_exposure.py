"""Exposure: aggregated once, then patched per position; always equal to aggregating everything again."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from copybot.models import MarketInfo, Position, Side
from copybot.rules.exposure import Exposure, Holding, holdings
from copybot.store import Store
from copybot.store.ledger import apply_trade

U = 10**6
L1, L2 = "0x" + "a1" * 20, "0x" + "b2" * 20


def row(leader: str, token: int, market: str, shares: int, cost: int, mark: str | None) -> Position:
    return Position(leader, token, market, shares, cost, mark_price=None if mark is None else Decimal(mark))


def test_holdings_value_marked_positions_at_the_mark_rounded_down_and_unmarked_at_cost() -> None:
    rows = [
        row(L1, 1, "m1", 3 * U, 2 * U, "0.333333"),
        row(L2, 1, "m1", 10 * U, 5 * U, None),
        row(L1, 2, "", U, U, "0.5"),
    ]
    assert holdings(rows) == {
        (L1, 1): Holding(cost=2 * U, value=999_999, market="m1"),
        (L2, 1): Holding(cost=5 * U, value=5 * U, market="m1"),
        (L1, 2): Holding(cost=U, value=U // 2, market=""),
    }
    e = Exposure(holdings(rows))
    expected = (8 * U, 999_999 + 5 * U + U // 2, 3, 7 * U, {"m1": 7 * U})
    assert (e.total_cost, e.value, e.open_positions, e.token_cost(1), e.market_cost) == expected


def state(e: Exposure) -> tuple[int, int, int, dict[str, int]]:
    return e.total_cost, e.value, e.open_positions, {m: c for m, c in e.market_cost.items() if c}


def test_refreshing_touched_tokens_equals_loading_everything_again(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "e.db")
    rng = random.Random(7)
    tokens = list(range(1, 30))
    infos = {t: MarketInfo(t, f"m{t // 3}", "Yes") for t in tokens}
    exposure = Exposure.load(store)
    assert state(exposure) == (0, 0, 0, {})
    for _ in range(40):  # batches of trades on a few tokens, some sells, some marks
        touched = [(rng.choice((L1, L2)), t) for t in rng.sample(tokens, 4)]
        with store.tx() as c:
            for leader, t in touched:
                shares = store.our_shares(leader, t)
                if shares and rng.random() < 0.4:
                    apply_trade(c, leader, t, Side.SELL, rng.randint(1, shares), rng.randint(1, 5 * U), infos[t], 0.0)
                else:
                    apply_trade(c, leader, t, Side.BUY, rng.randint(1, 20) * U, rng.randint(1, 10) * U, infos[t], 0.0)
        if rng.random() < 0.3:
            store.update_marks({t: Decimal(rng.randint(1, 99)) / 100 for t in rng.sample(tokens, 5)}, 0.0)
            exposure = Exposure.load(store)  # marks change value: the executor reloads once per run
        else:
            exposure.refresh(store, touched)
        assert state(exposure) == state(Exposure.load(store))
        for t in tokens:
            assert exposure.token_cost(t) == Exposure.load(store).token_cost(t)
    assert exposure.open_positions > 0
    store.close()


def test_add_buy_counts_at_cost_until_refreshed() -> None:
    e = Exposure({(L1, 1): Holding(cost=5 * U, value=4 * U, market="m")})
    e.add_buy((L1, 1), "m", 2 * U)
    e.add_buy((L2, 1), "m", U)
    e.add_buy((L1, 2), "n", 3 * U)
    assert (e.total_cost, e.value, e.open_positions) == (11 * U, 10 * U, 3)
    assert e.market_cost == {"m": 8 * U, "n": 3 * U} and e.token_cost(1) == 8 * U and e.token_cost(2) == 3 * U


def test_sell_takes_out_the_average_cost_like_the_store_and_closes_a_position_sold_out(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    info = MarketInfo(1, "m", "Yes")
    with store.tx() as c:
        apply_trade(c, L1, 1, Side.BUY, 30 * U, 10 * U, info, 0.0)
    e = Exposure.load(store)
    e.sell((L1, 1), 7 * U, 30 * U)  # before the store books it
    with store.tx() as c:
        apply_trade(c, L1, 1, Side.SELL, 7 * U, 4 * U, info, 0.0)
    assert (
        state(e)
        == state(Exposure.load(store))
        == (10 * U - 10 * U * 7 // 30, 10 * U - 10 * U * 7 // 30, 1, {"m": 10 * U - 10 * U * 7 // 30})
    )
    e.sell((L1, 1), 23 * U, 23 * U)
    assert state(e) == (0, 0, 0, {})
    e.sell((L2, 5), U, U)  # not held: nothing to take out
    assert state(e) == (0, 0, 0, {})
    store.close()


def test_a_reserved_buy_counts_against_the_caps_adds_no_value_and_outlives_refreshes(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r.db")
    info = MarketInfo(1, "m", "Yes")
    e = Exposure.load(store)
    e.reserve((L1, 1), "m", 5 * U)  # answer lost: may have filled, may not
    e.refresh(store, [(L1, 1)])  # nothing stored yet: the reservation alone
    assert state(e) == (5 * U, 0, 1, {"m": 5 * U})
    with store.tx() as c:  # a later copy of the same position fills and is stored
        apply_trade(c, L1, 1, Side.BUY, 20 * U, 8 * U, info, 0.0)
    e.refresh(store, [(L1, 1)])
    assert state(e) == (13 * U, 8 * U, 1, {"m": 13 * U})
    e.sell((L1, 1), 20 * U, 20 * U)  # every stored share sold: the reservation stays
    assert state(e) == (5 * U, 0, 1, {"m": 5 * U})
    store.close()


def test_a_resolved_position_waiting_to_be_redeemed_is_worth_its_payout_but_holds_no_room() -> None:
    open_ = row(L1, 1, "m1", 10 * U, 4 * U, "0.5")
    won = Position(L1, 2, "m2", 8 * U, 3 * U, mark_price=Decimal("0.9"), redeemable=True, resolved_price=Decimal(1))
    exposure = Exposure(holdings([open_, won]))
    assert exposure.open_positions == 1, "only the open one counts against max_open_positions"
    assert exposure.total_cost == 4 * U and exposure.token_cost(2) == 0 and exposure.market_cost.get("m2", 0) == 0
    assert exposure.value == 5 * U + 8 * U, "the open one at its mark, the resolved one at its payout"
    exposure.refresh(_Rows([open_]), [(L1, 2)])  # redeemed: gone from the store
    assert (exposure.open_positions, exposure.value) == (1, 5 * U)


class _Rows:
    def __init__(self, rows: list[Position]) -> None:
        self.rows = rows

    def position_costs(self, keys=None):
        return [r for r in self.rows if keys is None or r.key in keys]
