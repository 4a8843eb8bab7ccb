"""Risk and exit settings: new keys, per-leader overrides and effective_risk (copybot.config)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from copybot.config.loading import load_settings
from copybot.config.settings import ExitSettings, RiskSettings, Settings, effective_risk, leader_risks, merge_risk
from copybot.errors import ConfigError
from copybot.models import OrderIntent, Skip
from copybot.rules.risk import decide
from tests.support.risk import U, full_ctx, make_fill

WHALE = "0x2f633efb75256a2f2445110c8978684ab8936643"
WHALE_CHECKSUM = "0x2F633eFB75256A2f2445110C8978684AB8936643"
MINNOW = "0x00000003a358014c7c0e227483dbe01619871000"
STRANGER = "0x" + "12" * 20

OVERRIDES = f"""
leaders:
  - address: "{WHALE_CHECKSUM}"
    risk:
      sizing: proportional
      copy_ratio: "0.05"
      max_position_usdc: 40
      blocked_markets: [Election]
  - address: "{MINNOW}"
risk:
  fixed_usdc: 7
  max_order_usdc: 50
  max_position_usdc: 200
  max_slippage: "0.03"
"""


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def test_defaults_turn_every_new_limit_off() -> None:
    r, e = RiskSettings(), ExitSettings()
    assert (r.sizing, r.bankroll_pct, r.risk_per_trade) == ("fixed", Decimal("0.01"), Decimal("0.01"))
    assert r.max_position_usdc == r.max_market_usdc == r.max_exposure_usdc == r.min_leader_usdc == 0
    assert (r.max_open_positions, r.allowed_markets, r.blocked_markets) == (0, (), ())
    assert (r.round_up_to_minimum, r.price_staleness_s, r.min_hold_s) == (False, 30.0, 0.0)
    assert (r.daily_loss_limit_usdc, r.max_consecutive_failures) == (Decimal(0), 0)
    assert (e.take_profit, e.stop_loss, e.trailing_stop) == (Decimal(0), Decimal(0), Decimal(0))
    assert (e.max_hold_s, e.mirror_leader_sells) == (0.0, True)


def test_effective_risk_merges_a_leaders_overrides_over_the_global_section(tmp_path: Path) -> None:
    s = load(tmp_path, OVERRIDES)
    whale = effective_risk(s, WHALE)
    assert isinstance(whale, RiskSettings) and type(whale) is RiskSettings
    assert (whale.sizing, whale.copy_ratio, whale.max_position_usdc) == ("proportional", Decimal("0.05"), Decimal(40))
    assert whale.blocked_markets == ("election",)
    # keys the leader did not write come from the global section, not from the defaults
    assert (whale.fixed_usdc, whale.max_order_usdc, whale.max_slippage) == (Decimal(7), Decimal(50), Decimal("0.03"))
    assert effective_risk(s, WHALE_CHECKSUM) == whale  # any case
    assert effective_risk(s, MINNOW) is s.risk  # no overrides
    assert effective_risk(s, STRANGER) is s.risk  # not a leader
    assert leader_risks(s) == {WHALE: whale, MINNOW: s.risk}


def test_overrides_change_the_decision(tmp_path: Path) -> None:
    s = load(tmp_path, OVERRIDES)
    fill = make_fill()  # 42 pUSD at 0.42
    whale = decide(fill, full_ctx(token_cost=39 * U), effective_risk(s, WHALE))
    minnow = decide(fill, full_ctx(token_cost=39 * U), effective_risk(s, MINNOW))
    assert isinstance(whale, OrderIntent) and whale.amount == 1 * U  # 2.10 capped by its own 40 cap
    assert isinstance(minnow, OrderIntent) and minnow.amount == 7 * U  # global: fixed 7 under a 200 cap


def test_overrides_are_shown_as_written(tmp_path: Path) -> None:
    s = load(tmp_path, OVERRIDES)
    leaders = s.redacted()["leaders"]
    assert leaders[0]["risk"] == {
        "sizing": "proportional",
        "copy_ratio": "0.05",
        "max_position_usdc": "40",
        "blocked_markets": ["election"],
    }
    assert leaders[1]["risk"] is None
    assert "fixed_usdc" not in repr(s.leaders[0].risk)


def test_an_empty_override_is_the_global_section(tmp_path: Path) -> None:
    s = load(tmp_path, f'leaders:\n  - address: "{WHALE}"\n    risk: {{}}\n')
    assert effective_risk(s, WHALE) is s.risk
    assert merge_risk(s.risk, None) is s.risk


def test_an_override_may_lower_the_global_minimum(tmp_path: Path) -> None:
    text = f'leaders:\n  - address: "{WHALE}"\n    risk:\n      max_order_usdc: 0.5\n      min_order_usdc: 0.1\n'
    assert effective_risk(load(tmp_path, text), WHALE).max_order_usdc == Decimal("0.5")


LEADER0 = f'leaders:\n  - address: "{WHALE}"\n    risk:\n'
LEADER1 = f'leaders:\n  - address: "{MINNOW}"\n  - address: "{WHALE}"\n    risk:\n'

BROKEN = [
    ("override_unknown_key", LEADER0 + "      fixd_usdc: 5\n", ["leaders[0].risk.fixd_usdc", "unknown key"]),
    ("override_bad_value", LEADER0 + "      max_slippage: 2\n", ["leaders[0].risk.max_slippage"]),
    ("override_bad_sizing", LEADER1 + "      sizing: kelly\n", ["leaders[1].risk.sizing"]),
    ("override_not_a_mapping", f'leaders:\n  - address: "{WHALE}"\n    risk: 5\n', ["leaders[0].risk"]),
    (
        "override_merge_conflict",
        LEADER1 + "      max_order_usdc: 0.5\n",  # below the global min_order_usdc 1
        ["risk", "leaders[1].risk", "min_order_usdc must not exceed max_order_usdc"],
    ),
    ("pct_is_a_fraction", "risk:\n  bankroll_pct: 2\n", ["risk.bankroll_pct", "less than or equal to 1"]),
    ("risk_per_trade_fraction", "risk:\n  risk_per_trade: 5\n", ["risk.risk_per_trade"]),
    ("negative_cap", "risk:\n  max_exposure_usdc: -1\n", ["risk.max_exposure_usdc"]),
    ("negative_positions", "risk:\n  max_open_positions: -1\n", ["risk.max_open_positions"]),
    ("empty_market_entry", "risk:\n  blocked_markets: ['  ']\n", ["risk.blocked_markets", "not empty"]),
    ("unquoted_condition_id", "risk:\n  allowed_markets: [0xabc]\n", ["risk.allowed_markets", "quotes"]),
    ("markets_not_a_list", "risk:\n  allowed_markets: 5\n", ["risk.allowed_markets"]),
    ("staleness_zero", "risk:\n  price_staleness_s: 0\n", ["risk.price_staleness_s"]),
    ("min_hold_negative", "risk:\n  min_hold_s: -1\n", ["risk.min_hold_s"]),
    ("loss_limit_nan", "risk:\n  daily_loss_limit_usdc: .nan\n", ["risk.daily_loss_limit_usdc"]),
    ("failures_negative", "risk:\n  max_consecutive_failures: -2\n", ["risk.max_consecutive_failures"]),
    ("round_up_word", "risk:\n  round_up_to_minimum: maybe\n", ["risk.round_up_to_minimum"]),
    ("stop_loss_whole", "exits:\n  stop_loss: 1\n", ["exits.stop_loss"]),
    ("trailing_negative", "exits:\n  trailing_stop: -0.1\n", ["exits.trailing_stop"]),
    ("take_profit_negative", "exits:\n  take_profit: -0.5\n", ["exits.take_profit"]),
    ("max_hold_negative", "exits:\n  max_hold_s: -1\n", ["exits.max_hold_s"]),
    ("exits_unknown_key", "exits:\n  take_proft: 0.5\n", ["exits.take_proft", "unknown key"]),
]


@pytest.mark.parametrize(("name", "text", "fragments"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_risk_files(tmp_path: Path, name: str, text: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'settings.yaml'}: "), message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message


@pytest.mark.parametrize("sizing", ["fixed", "proportional", "bankroll_pct", "risk"])
def test_every_sizing_mode_loads(tmp_path: Path, sizing: str) -> None:
    assert load(tmp_path, f"risk:\n  sizing: {sizing}\n").risk.sizing == sizing


def test_env_overrides_reach_the_new_keys(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("", encoding="utf-8")
    environ = {
        "COPYBOT__RISK__BLOCKED_MARKETS": '["0xAB", nba-]',
        "COPYBOT__RISK__ROUND_UP_TO_MINIMUM": "true",
        "COPYBOT__EXITS__TAKE_PROFIT": "0.5",
    }
    s = load_settings(path, environ=environ)
    assert (s.risk.blocked_markets, s.risk.round_up_to_minimum) == (("0xab", "nba-"), True)
    assert s.exits.take_profit == Decimal("0.5")


def test_skip_for_a_blocked_market_uses_the_leaders_list(tmp_path: Path) -> None:
    from tests.support.risk import market

    s = load(tmp_path, OVERRIDES)
    context = full_ctx(market=market(slug="us-election-2028"))
    assert isinstance(decide(make_fill(), context, effective_risk(s, WHALE)), Skip)
    assert isinstance(decide(make_fill(), context, effective_risk(s, MINNOW)), OrderIntent)
