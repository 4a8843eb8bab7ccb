"""Settings from YAML + env (copybot.config): exact decimals, addresses, overrides, one-line errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from copybot.config.loading import DEFAULT_PATH, api_key, load_settings, relative_to, resolve_path
from copybot.config.settings import RiskSettings, Settings
from copybot.errors import ConfigError

LEADER = "0x2f633efb75256a2f2445110c8978684ab8936643"
LEADER_CHECKSUM = "0x2F633eFB75256A2f2445110C8978684AB8936643"
LEADER_BAD_CHECKSUM = "0x2f633eFB75256A2f2445110C8978684AB8936643"  # one letter's case flipped
OTHER = "0x00000003a358014c7c0e227483dbe01619871000"
OTHER_CHECKSUM = "0x00000003A358014C7C0e227483dbe01619871000"

# Every key Settings knows, each set to a value that is NOT its default, so a key that is
# silently ignored (or defaulted) makes the test fail.
FULL = f"""
mode: paper
leaders:
  - address: "{LEADER_CHECKSUM}"
    label: whale
    risk:
      fixed_usdc: 5
      max_position_usdc: 40
  - address: "{OTHER}"
source:
  kind: etherscan
  poll_interval_s: 3.5
  start_block: 95000000
  confirmations_window: 20
  recent_keys: 1000
  etherscan:
    url: "http://127.0.0.1:8545/v2/api"
    chain_id: 80002
    api_key_env: MY_ETHERSCAN_KEY
    calls_per_second: 5
    daily_budget: 50000
    page_size: 500
    cache_size: 100
    cache_ttl_s: 60
    timeout_s: 2.5
  rpc:
    url: "http://127.0.0.1:8546/rpc"
    max_block_range: 500
    timeout_s: 4
    calls_per_second: 20
clob:
  url: "http://127.0.0.1:9000/"
  timeout_s: 3
  max_concurrency: 4
gamma:
  url: "http://127.0.0.1:9001"
  timeout_s: 4
  max_concurrency: 2
risk:
  sizing: proportional
  fixed_usdc: 12.5
  copy_ratio: 0.25
  bankroll_pct: 0.02
  risk_per_trade: "0.005"
  min_order_usdc: "0.5"
  max_order_usdc: 250
  max_position_usdc: 150
  max_market_usdc: 200
  max_exposure_usdc: 900
  max_open_positions: 12
  allowed_markets: ["0xABC", "nba-"]
  blocked_markets: [election]
  min_leader_usdc: 20
  max_slippage: "0.03"
  round_up_to_minimum: true
  max_trade_age_s: 120
  price_staleness_s: 15
  min_hold_s: 600
  daily_loss_limit_usdc: 75.5
  max_consecutive_failures: 4
exits:
  take_profit: 0.5
  stop_loss: 0.25
  trailing_stop: 0.1
  max_hold_s: 86400
  mirror_leader_sells: false
paper:
  starting_bankroll_usdc: 2500.75
storage:
  path: "data/copybot.db"
  retention_days: 30
executor:
  batch_size: 20
live:
  private_key_env: MY_WALLET_KEY
  private_key_file: /etc/copybot/wallet.key
  signature_type: 2
  funder: "{OTHER}"
  order_type: FAK
  max_concurrency: 2
  orders_per_second: 5
  sell_settle_wait_s: 30
  auto_redeem: false
  relayer_api_key_env: MY_RELAYER_KEY
  api_credentials_env: MY_CLOB_API
  relayer_url: "http://127.0.0.1:9/relayer"
  rpc_url: "http://127.0.0.1:9/rpc"
"""


def write(tmp_path: Path, text: str, name: str = "settings.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and name != "leaders":
            out |= _keys(ann, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def _yaml_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _yaml_keys(value, f"{prefix}{key}.")
        else:
            out.add(prefix + key)
    return out


def test_full_file_covers_every_settings_key() -> None:
    import yaml

    assert _yaml_keys(yaml.safe_load(FULL)) == _keys(Settings)


def test_full_file_loads_with_exact_values(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, FULL), environ={})
    assert s.mode == "paper"
    assert [(lead.address, lead.label) for lead in s.leaders] == [(LEADER, "whale"), (OTHER, "")]
    assert s.leaders[0].name == "whale" and s.leaders[1].name == OTHER[:10]
    src = s.source
    assert (src.kind, src.poll_interval_s, src.start_block) == ("etherscan", 3.5, 95_000_000)
    e = src.etherscan
    assert (e.url, e.chain_id, e.api_key_env) == ("http://127.0.0.1:8545/v2/api", 80002, "MY_ETHERSCAN_KEY")
    assert (e.calls_per_second, e.page_size, e.cache_size, e.cache_ttl_s, e.timeout_s) == (5, 500, 100, 60, 2.5)
    assert (e.daily_budget, src.confirmations_window, src.recent_keys) == (50_000, 20, 1000)
    rpc = src.rpc
    assert (rpc.url, rpc.max_block_range, rpc.timeout_s, rpc.calls_per_second) == (
        "http://127.0.0.1:8546/rpc",
        500,
        4,
        20,
    )
    assert (s.clob.url, s.clob.timeout_s, s.clob.max_concurrency) == ("http://127.0.0.1:9000", 3, 4)
    assert (s.gamma.url, s.gamma.timeout_s, s.gamma.max_concurrency) == ("http://127.0.0.1:9001", 4, 2)
    r = s.risk
    assert r.sizing == "proportional"
    # YAML numbers and strings both come out as exact Decimals
    for value, expected in [
        (r.fixed_usdc, "12.5"),
        (r.copy_ratio, "0.25"),
        (r.bankroll_pct, "0.02"),
        (r.risk_per_trade, "0.005"),
        (r.min_order_usdc, "0.5"),
        (r.max_order_usdc, "250"),
        (r.max_position_usdc, "150"),
        (r.max_market_usdc, "200"),
        (r.max_exposure_usdc, "900"),
        (r.min_leader_usdc, "20"),
        (r.max_slippage, "0.03"),
        (r.daily_loss_limit_usdc, "75.5"),
        (s.exits.take_profit, "0.5"),
        (s.exits.stop_loss, "0.25"),
        (s.exits.trailing_stop, "0.1"),
        (s.paper.starting_bankroll_usdc, "2500.75"),
    ]:
        assert isinstance(value, Decimal)
        assert value == Decimal(expected)
    assert r.max_trade_age_s == 120
    assert (r.max_open_positions, r.round_up_to_minimum, r.max_consecutive_failures) == (12, True, 4)
    assert (r.allowed_markets, r.blocked_markets) == (("0xabc", "nba-"), ("election",))  # lowercase
    assert (r.price_staleness_s, r.min_hold_s) == (15, 600)
    assert (s.exits.max_hold_s, s.exits.mirror_leader_sells) == (86400, False)
    assert s.leaders[1].risk is None
    override = s.leaders[0].risk
    assert override is not None and override.model_dump() == {
        "fixed_usdc": Decimal(5),
        "max_position_usdc": Decimal(40),
    }
    assert s.storage.path == str(tmp_path.resolve() / "data/copybot.db")  # beside the settings file
    assert s.executor.batch_size == 20
    assert s.storage.retention_days == 30
    lv = s.live
    assert (lv.private_key_env, lv.private_key_file, lv.signature_type) == (
        "MY_WALLET_KEY",
        "/etc/copybot/wallet.key",
        2,
    )
    assert (lv.funder, lv.order_type, lv.max_concurrency, lv.orders_per_second) == (OTHER, "FAK", 2, 5)
    assert (lv.sell_settle_wait_s, lv.auto_redeem, lv.relayer_api_key_env) == (30, False, "MY_RELAYER_KEY")
    assert (lv.api_credentials_env, lv.relayer_url, lv.rpc_url) == (
        "MY_CLOB_API",
        "http://127.0.0.1:9/relayer",
        "http://127.0.0.1:9/rpc",
    )


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    loaded = load_settings(write(tmp_path, ""), environ={})
    assert loaded == relative_to(Settings(), tmp_path.resolve())
    assert loaded.storage.path == str(tmp_path.resolve() / "copybot-paper.db")


def test_relative_paths_are_taken_from_the_settings_files_folder_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    (run / "settings.yaml").write_text(
        "storage:\n  path: data/bot.db\nlive:\n  private_key_file: secrets/key\n", encoding="utf-8"
    )
    monkeypatch.chdir(elsewhere)  # as systemd or cron would: started from another directory
    s = load_settings("../run/settings.yaml", environ={})
    assert s.storage.path == str(run.resolve() / "data/bot.db")
    assert s.live.private_key_file == str(run.resolve() / "secrets/key")
    env = load_settings("../run/settings.yaml", environ={"COPYBOT__STORAGE__PATH": "other.db"})
    assert env.storage.path == str(run.resolve() / "other.db")  # an override from the environment too
    absolute = load_settings("../run/settings.yaml", environ={"COPYBOT__STORAGE__PATH": str(tmp_path / "a.db")})
    assert absolute.storage.path == str(tmp_path / "a.db")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.1", Decimal("0.1")),
        ('"0.1"', Decimal("0.1")),
        ("0.07", Decimal("0.07")),
        ("1e-2", Decimal("0.01")),  # YAML 1.1 reads this as a string; still exact
        ("0", Decimal(0)),
    ],
)
def test_decimals_are_exact(tmp_path: Path, raw: str, expected: Decimal) -> None:
    s = load_settings(write(tmp_path, f"risk:\n  max_slippage: {raw}\n"), environ={})
    assert s.risk.max_slippage == expected
    assert str(s.risk.max_slippage) == str(expected)  # not 0.1000000000000000055511151231257827...


@pytest.mark.parametrize(
    "address",
    [LEADER, LEADER_CHECKSUM, LEADER.upper().replace("0X", "0x"), "0X" + LEADER[2:], f"  {LEADER}  "],
)
def test_addresses_accepted_and_stored_lowercase(tmp_path: Path, address: str) -> None:
    s = load_settings(write(tmp_path, f'leaders:\n  - address: "{address}"\n'), environ={})
    assert s.leaders[0].address == LEADER


# ---- env overrides ---------------------------------------------------------------------------


BASE = f"""
leaders:
  - address: "{LEADER}"
risk:
  max_order_usdc: 50
  fixed_usdc: 20
source:
  etherscan:
    page_size: 100
"""


@pytest.mark.parametrize(
    ("environ", "path", "expected"),
    [
        pytest.param({"COPYBOT__RISK__FIXED_USDC": "5"}, ("risk", "fixed_usdc"), Decimal(5), id="risk-fixed"),
        pytest.param({"COPYBOT__RISK__COPY_RATIO": "0.05"}, ("risk", "copy_ratio"), Decimal("0.05"), id="decimal"),
        pytest.param(
            {"COPYBOT__SOURCE__ETHERSCAN__CHAIN_ID": "80002"}, ("source", "etherscan", "chain_id"), 80002, id="nested"
        ),
        pytest.param(
            {"COPYBOT__SOURCE__START_BLOCK": "latest"}, ("source", "start_block"), "latest", id="start-latest"
        ),
        pytest.param(
            {"COPYBOT__STORAGE__PATH": "/var/lib/copybot/x.db"},
            ("storage", "path"),
            "/var/lib/copybot/x.db",
            id="new-section",
        ),
        pytest.param({"COPYBOT__MODE": "paper"}, ("mode",), "paper", id="top-level"),
        pytest.param({"COPYBOT_CONFIG": "elsewhere.yaml"}, ("risk", "fixed_usdc"), Decimal(20), id="not-an-override"),
        pytest.param({"OTHER__RISK__FIXED_USDC": "1"}, ("risk", "fixed_usdc"), Decimal(20), id="other-prefix"),
    ],
)
def test_env_overrides(tmp_path: Path, environ: dict[str, str], path: tuple[str, ...], expected: object) -> None:
    s: Any = load_settings(write(tmp_path, BASE), environ=environ)
    value = s
    for part in path:
        value = getattr(value, part)
    assert value == expected
    assert type(value) is type(expected)
    # an override replaces one key, it never wipes the rest of the section from the file
    assert s.risk.max_order_usdc == Decimal(50)
    assert s.source.etherscan.page_size == 100
    assert s.leaders[0].address == LEADER


@pytest.mark.parametrize(
    ("environ", "fragments"),
    [
        pytest.param({"COPYBOT__LIVE__SIGNATURE_TYPE": "9"}, ["live.signature_type"], id="live-signature-type"),
        pytest.param({"COPYBOT__RISK__MAX_SLIPPAGE": "2"}, ["risk.max_slippage"], id="invalid-value"),
        pytest.param({"COPYBOT__RISK__NOPE": "1"}, ["risk.nope", "unknown key"], id="unknown-key"),
        pytest.param({"COPYBOT__RISK__FIXED_USDC": "[1"}, ["risk.fixed_usdc", "COPYBOT__RISK__FIXED_USDC"], id="yaml"),
        pytest.param(
            {"COPYBOT__RISK": "{max_slippage: 0.01, max_slippage: 0.05}"},
            ["risk.max_slippage", "COPYBOT__RISK", "duplicate key"],
            id="duplicate-key",
        ),
    ],
)
def test_bad_env_overrides(tmp_path: Path, environ: dict[str, str], fragments: list[str]) -> None:
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ)
    message = str(info.value)
    [variable] = environ
    assert message.startswith(f"environment variable {variable}: "), message  # the variable, not the file
    assert str(path) not in message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


# ---- where the file comes from ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cli", "environ", "expected"),
    [
        ("cli.yaml", {"COPYBOT_CONFIG": "env.yaml"}, Path("cli.yaml")),
        (Path("/etc/copybot.yaml"), {}, Path("/etc/copybot.yaml")),
        (None, {"COPYBOT_CONFIG": "env.yaml"}, Path("env.yaml")),
        ("", {"COPYBOT_CONFIG": "env.yaml"}, Path("env.yaml")),
        (None, {"COPYBOT_CONFIG": ""}, DEFAULT_PATH),
        (None, {}, DEFAULT_PATH),
    ],
)
def test_resolve_path(cli: str | Path | None, environ: dict[str, str], expected: Path) -> None:
    assert resolve_path(cli, environ) == expected
    assert Path("settings.yaml") == DEFAULT_PATH


def test_resolution_order_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "risk:\n  fixed_usdc: 1\n", "settings.yaml")
    env_file = write(tmp_path, "risk:\n  fixed_usdc: 2\n", "env.yaml")
    cli_file = write(tmp_path, "risk:\n  fixed_usdc: 3\n", "cli.yaml")
    environ = {"COPYBOT_CONFIG": str(env_file)}
    assert load_settings(cli_file, environ=environ).risk.fixed_usdc == 3
    assert load_settings(None, environ=environ).risk.fixed_usdc == 2
    assert load_settings(None, environ={}).risk.fixed_usdc == 1


# ---- broken files: ConfigError naming the file and the key, on one line ------------------------


BROKEN = [
    ("bad_yaml", "risk: [1, 2\n", ["(yaml)", "not valid YAML", "line"]),
    ("bad_yaml_tab", "risk:\n\tfixed_usdc: 1\n", ["(yaml)"]),
    ("top_level_list", "- mode: paper\n", ["(top level)", "mapping"]),
    ("top_level_scalar", "paper\n", ["(top level)"]),
    ("unknown_top_key", "moed: paper\n", ["moed", "unknown key"]),
    ("unknown_nested_key", "risk:\n  fixd_usdc: 5\n", ["risk.fixd_usdc", "unknown key"]),
    ("secret_in_file", "source:\n  etherscan:\n    api_key: abc\n", ["source.etherscan.api_key", "unknown key"]),
    ("unknown_leader_key", f"leaders:\n  - address: '{LEADER}'\n    lable: x\n", ["leaders[0].lable", "unknown key"]),
    ("wrong_type", "risk:\n  max_trade_age_s: soon\n", ["risk.max_trade_age_s"]),
    ("wrong_type_section", "risk: 5\n", ["risk"]),
    ("wrong_type_decimal", "risk:\n  fixed_usdc: ten\n", ["risk.fixed_usdc"]),
    ("wrong_sizing", "risk:\n  sizing: kelly\n", ["risk.sizing"]),
    ("invalid_address", "leaders:\n  - address: '0x1234'\n", ["leaders[0].address", "not an address"]),
    # YAML 1.1 reads an unquoted 0x... as an integer: say so instead of "must be a string like 0x..."
    ("unquoted_address", f"leaders:\n  - address: {LEADER}\n", ["leaders[0].address", "quotes"]),
    ("numeric_address", "leaders:\n  - address: 12345\n", ["leaders[0].address"]),
    ("invalid_address_hex", f"leaders:\n  - address: '0x{'g' * 40}'\n", ["leaders[0].address"]),
    ("bad_checksum", f"leaders:\n  - address: '{LEADER_BAD_CHECKSUM}'\n", ["leaders[0].address", "checksum"]),
    ("second_leader_bad", f"leaders:\n  - address: '{LEADER}'\n  - address: nope\n", ["leaders[1].address"]),
    ("negative_limit", "risk:\n  max_order_usdc: -1\n", ["risk.max_order_usdc"]),
    ("zero_max", "risk:\n  max_order_usdc: 0\n", ["risk.max_order_usdc"]),
    ("negative_fixed", "risk:\n  fixed_usdc: -5\n", ["risk.fixed_usdc"]),
    ("infinite_fixed", "risk:\n  fixed_usdc: .inf\n", ["risk.fixed_usdc"]),
    ("nan_ratio", "risk:\n  copy_ratio: .nan\n", ["risk.copy_ratio"]),
    ("min_above_max", "risk:\n  min_order_usdc: 50\n  max_order_usdc: 10\n", ["risk", "min_order_usdc"]),
    (
        "duplicate_leader",
        f"leaders:\n  - address: '{LEADER}'\n  - address: '{LEADER_CHECKSUM}'\n",
        ["leaders", "listed twice", LEADER],
    ),
    ("start_block_negative", "source:\n  start_block: -5\n", ["source.start_block"]),
    ("start_block_word", "source:\n  start_block: earliest\n", ["source.start_block"]),
    ("max_slippage_1_5", "risk:\n  max_slippage: 1.5\n", ["risk.max_slippage"]),
    ("max_slippage_1", "risk:\n  max_slippage: 1\n", ["risk.max_slippage"]),
    ("page_size_too_big", "source:\n  etherscan:\n    page_size: 5000\n", ["source.etherscan.page_size"]),
    ("chain_id_zero", "source:\n  etherscan:\n    chain_id: 0\n", ["source.etherscan.chain_id"]),
    ("bad_url", "clob:\n  url: ftp://clob\n", ["clob.url", "http"]),
    ("live_without_funder", "mode: live\nlive:\n  signature_type: 2\n", ["live", "funder"]),
    ("mode_unknown", "mode: yolo\n", ["mode"]),
]


@pytest.mark.parametrize(("name", "text", "fragments"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files(tmp_path: Path, name: str, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text, f"{name}.yaml")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message, message


# ---- a key written twice: YAML would keep the last one silently ----------------------------------


DUPLICATES = [
    ("top_level", "risk:\n  fixed_usdc: 1\nmode: paper\nrisk:\n  fixed_usdc: 2\n", "risk", 4, 1),
    ("nested", "risk:\n  max_slippage: 0.02\n  fixed_usdc: 5\n  max_slippage: 0.05\n", "risk.max_slippage", 4, 2),
    ("deep", "source:\n  etherscan:\n    timeout_s: 2\n    timeout_s: 3\n", "source.etherscan.timeout_s", 4, 3),
    ("in_a_leader", f"leaders:\n  - address: '{LEADER}'\n    label: a\n    label: b\n", "leaders[0].label", 4, 3),
    ("quoted_and_plain", "risk:\n  max_slippage: 0.02\n  'max_slippage': 0.05\n", "risk.max_slippage", 3, 2),
    ("flow_mapping", "risk: {fixed_usdc: 1, fixed_usdc: 2}\n", "risk.fixed_usdc", 1, 1),
    ("inside_a_merge", "risk:\n  <<: {fixed_usdc: 1, fixed_usdc: 2}\n", "risk.fixed_usdc", 2, 2),
]


@pytest.mark.parametrize(("name", "text", "key", "line", "first"), DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_duplicate_keys_are_an_error(tmp_path: Path, name: str, text: str, key: str, line: int, first: int) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value) == f"{path}: {key}: duplicate key (line {line}; first at line {first})"


def test_same_key_in_different_mappings_and_merge_overrides_still_load(tmp_path: Path) -> None:
    text = f"""
leaders:
  - address: "{LEADER}"
    risk: &careful
      fixed_usdc: 5
      max_slippage: 0.01
  - address: "{OTHER}"
    risk:
      <<: *careful
      fixed_usdc: 7
risk:
  fixed_usdc: 3
source:
  etherscan:
    timeout_s: 2
  rpc:
    timeout_s: 4
"""
    s = load_settings(write(tmp_path, text), environ={})
    assert (s.leaders[1].risk.fixed_usdc, s.leaders[1].risk.max_slippage) == (Decimal(7), Decimal("0.01"))
    assert (s.risk.fixed_usdc, s.source.etherscan.timeout_s, s.source.rpc.timeout_s) == (Decimal(3), 2, 4)


@pytest.mark.parametrize("via", ["cli", "env"])
def test_missing_file(tmp_path: Path, via: str) -> None:
    path = tmp_path / "nope" / "settings.yaml"
    cli, environ = (path, {}) if via == "cli" else (None, {"COPYBOT_CONFIG": str(path)})
    with pytest.raises(ConfigError) as info:
        load_settings(cli, environ=environ)
    message = str(info.value)
    assert str(path) in message and "not found" in message
    assert "\n" not in message


def test_a_directory_is_not_a_settings_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={})
    assert str(tmp_path) in str(info.value)
    assert "\n" not in str(info.value)


def test_risk_settings_direct_construction_validates() -> None:
    assert RiskSettings(copy_ratio=0.1).copy_ratio == Decimal("0.1")  # a float, as YAML gives it
    with pytest.raises(ValueError, match="min_order_usdc"):
        RiskSettings(min_order_usdc=Decimal(5), max_order_usdc=Decimal(1))


# ---- secrets come from the environment ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "environ", "var"),
    [
        ("", {}, "ETHERSCAN_API_KEY"),
        ("", {"ETHERSCAN_API_KEY": "   "}, "ETHERSCAN_API_KEY"),
        ("source:\n  etherscan:\n    api_key_env: MY_KEY\n", {"ETHERSCAN_API_KEY": "k"}, "MY_KEY"),
    ],
)
def test_api_key_missing_names_the_variable(tmp_path: Path, text: str, environ: dict[str, str], var: str) -> None:
    settings = load_settings(write(tmp_path, text), environ={})
    with pytest.raises(ConfigError) as info:
        api_key(settings, environ)
    assert var in str(info.value)
    assert "\n" not in str(info.value)


def test_api_key_read_from_the_named_variable(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "source:\n  etherscan:\n    api_key_env: MY_KEY\n"), environ={})
    assert api_key(settings, {"MY_KEY": " s3cret \n", "ETHERSCAN_API_KEY": "wrong"}) == "s3cret"
    assert "s3cret" not in str(settings.redacted())


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("source:\n  poll_interval_s: .inf\n", "source.poll_interval_s"),
        ("source:\n  poll_interval_s: 1e12\n", "source.poll_interval_s"),
        ("source:\n  poll_interval_s: .nan\n", "source.poll_interval_s"),
        ("source:\n  poll_interval_s: 0.01\n", "source.poll_interval_s"),
        ("source:\n  etherscan:\n    timeout_s: .inf\n", "source.etherscan.timeout_s"),
        ("source:\n  etherscan:\n    daily_budget: 1000000000000\n", "source.etherscan.daily_budget"),
        ("source:\n  start_block: 100000000000000\n", "source.start_block"),
        ("risk:\n  max_trade_age_s: .inf\n", "risk.max_trade_age_s"),
        ("risk:\n  max_open_positions: 1000000000000\n", "risk.max_open_positions"),
        ("exits:\n  max_hold_s: 1e12\n", "exits.max_hold_s"),
        ("storage:\n  retention_days: .inf\n", "storage.retention_days"),
        ("clob:\n  timeout_s: 0\n", "clob.timeout_s"),
    ],
)
def test_durations_and_counts_have_a_sane_range(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, text), environ={})
    assert f": {key}: " in str(refused.value), str(refused.value)


def test_an_infinite_interval_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, ""), environ={"COPYBOT__SOURCE__POLL_INTERVAL_S": "inf"})
    assert str(refused.value).startswith(
        "environment variable COPYBOT__SOURCE__POLL_INTERVAL_S: source.poll_interval_s: "
    )
