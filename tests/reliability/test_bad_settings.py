"""Bad input through the real command line: broken settings files, environment overrides and live
wallet settings. Every one exits 2 with exactly one stderr line naming the key (and the file),
never a traceback, never echoes a secret, and never creates the database.

Each case runs `copybot` as a process; the command rotates over watch / status / health, which
all load settings the same way before doing anything else.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from copybot.store import Store
from tests.support.cli import assert_clean_error, run_cli

LEADER = "0x2f633efb75256a2f2445110c8978684ab8936643"
LEADERS = f'leaders:\n  - address: "{LEADER}"\n'
KEY = "0x" + "4c" * 32  # never a real wallet
COMMANDS = [("watch", "--once"), ("status",), ("health", "--timeout", "0.5")]
BASE_ENV = {"ETHERSCAN_API_KEY": "etherscan-test-key"}

# (id, settings text without storage, the fragments the one error line must contain).
# "{leaders}" stands for a valid leaders section.
FILES: list[tuple[str, str, list[str]]] = [
    # unknown keys at every depth
    ("unknown_top_key", "{leaders}modee: paper\n", ["modee", "unknown key"]),
    ("unknown_source_key", "{leaders}source:\n  kindd: rpc\n", ["source.kindd", "unknown key"]),
    ("unknown_etherscan_key", "{leaders}source:\n  etherscan:\n    urll: http://x\n", ["source.etherscan.urll"]),
    ("unknown_rpc_key", "{leaders}source:\n  rpc:\n    max_range: 5\n", ["source.rpc.max_range"]),
    ("unknown_exits_key", "{leaders}exits:\n  take_proffit: 0.5\n", ["exits.take_proffit"]),
    ("unknown_live_key", "{leaders}live:\n  private_key: abc\n", ["live.private_key", "unknown key"]),
    ("unknown_leader_key", f'leaders:\n  - address: "{LEADER}"\n    lable: x\n', ["leaders[0].lable"]),
    # wrong shapes
    ("leaders_a_string", f'leaders: "{LEADER}"\n', ["leaders"]),
    ("leaders_a_mapping", f'leaders:\n  address: "{LEADER}"\n', ["leaders"]),
    ("leader_without_address", "leaders:\n  - label: whale\n", ["leaders[0].address"]),
    ("leader_label_a_list", f'leaders:\n  - address: "{LEADER}"\n    label: [a, b]\n', ["leaders[0].label"]),
    ("section_a_list", "{leaders}source: [etherscan]\n", ["source"]),
    ("section_a_string", "{leaders}risk: fixed\n", ["risk"]),
    ("nested_section_a_number", "{leaders}source:\n  etherscan: 3\n", ["source.etherscan"]),
    # addresses
    ("unquoted_hex_address", f"leaders:\n  - address: {LEADER}\n", ["leaders[0].address", "quotes"]),
    ("short_address", "leaders:\n  - address: '0x1234'\n", ["leaders[0].address"]),
    ("duplicate_leader", f'leaders:\n  - address: "{LEADER}"\n  - address: "{LEADER.upper()[2:]}"\n', ["leaders"]),
    # values out of range or of the wrong type
    ("poll_interval_zero", "{leaders}source:\n  poll_interval_s: 0\n", ["source.poll_interval_s"]),
    ("poll_interval_text", "{leaders}source:\n  poll_interval_s: fast\n", ["source.poll_interval_s"]),
    ("kind_unknown", "{leaders}source:\n  kind: websocket\n", ["source.kind"]),
    ("start_block_negative", "{leaders}source:\n  start_block: -5\n", ["source.start_block"]),
    ("confirmations_negative", "{leaders}source:\n  confirmations_window: -1\n", ["source.confirmations_window"]),
    (
        "calls_per_second_huge",
        "{leaders}source:\n  etherscan:\n    calls_per_second: 1000\n",
        ["source.etherscan.calls_per_second"],
    ),
    ("rpc_range_zero", "{leaders}source:\n  rpc:\n    max_block_range: 0\n", ["source.rpc.max_block_range"]),
    ("rpc_url_not_http", "{leaders}source:\n  rpc:\n    url: wss://node\n", ["source.rpc.url"]),
    ("etherscan_url_not_a_url", "{leaders}source:\n  etherscan:\n    url: etherscan\n", ["source.etherscan.url"]),
    ("clob_concurrency_zero", "{leaders}clob:\n  max_concurrency: 0\n", ["clob.max_concurrency"]),
    ("gamma_timeout_negative", "{leaders}gamma:\n  timeout_s: -1\n", ["gamma.timeout_s"]),
    ("sizing_unknown", "{leaders}risk:\n  sizing: kelly\n", ["risk.sizing"]),
    ("bankroll_pct_as_percent", "{leaders}risk:\n  bankroll_pct: 2\n", ["risk.bankroll_pct"]),
    ("fixed_usdc_nan", "{leaders}risk:\n  fixed_usdc: .nan\n", ["risk.fixed_usdc"]),
    ("max_order_inf", "{leaders}risk:\n  max_order_usdc: .inf\n", ["risk.max_order_usdc"]),
    ("max_order_overflowing_float", "{leaders}risk:\n  max_order_usdc: 1.0e+400\n", ["risk.max_order_usdc"]),
    ("slippage_one", "{leaders}risk:\n  max_slippage: 1\n", ["risk.max_slippage"]),
    ("open_positions_fraction", "{leaders}risk:\n  max_open_positions: 2.5\n", ["risk.max_open_positions"]),
    ("allowed_markets_unquoted_hex", "{leaders}risk:\n  allowed_markets: [0xabc]\n", ["risk.allowed_markets"]),
    ("blocked_markets_empty_entry", "{leaders}risk:\n  blocked_markets: ['']\n", ["risk.blocked_markets"]),
    ("min_above_max", "{leaders}risk:\n  min_order_usdc: 50\n  max_order_usdc: 10\n", ["risk", "min_order_usdc"]),
    ("stop_loss_above_one", "{leaders}exits:\n  stop_loss: 1.5\n", ["exits.stop_loss"]),
    ("take_profit_negative", "{leaders}exits:\n  take_profit: -0.1\n", ["exits.take_profit"]),
    ("mirror_sells_not_bool", "{leaders}exits:\n  mirror_leader_sells: sometimes\n", ["exits.mirror_leader_sells"]),
    ("bankroll_negative", "{leaders}paper:\n  starting_bankroll_usdc: -100\n", ["paper.starting_bankroll_usdc"]),
    ("retention_negative", "{leaders}storage:\n  retention_days: -1\n", ["storage.retention_days"]),
    ("batch_size_huge", "{leaders}executor:\n  batch_size: 1000\n", ["executor.batch_size"]),
    ("mode_uppercase", "{leaders}mode: LIVE\n", ["mode"]),
    # per-leader risk overrides
    (
        "leader_risk_unknown_key",
        f'leaders:\n  - address: "{LEADER}"\n    risk:\n      fixed_usd: 5\n',
        ["leaders[0].risk.fixed_usd", "unknown key"],
    ),
    (
        "leader_risk_wrong_type",
        f'leaders:\n  - address: "{LEADER}"\n    risk:\n      max_slippage: lots\n',
        ["leaders[0].risk.max_slippage"],
    ),
    (
        "leader_risk_negative",
        f'leaders:\n  - address: "{LEADER}"\n    risk:\n      max_order_usdc: -1\n',
        ["leaders[0].risk.max_order_usdc"],
    ),
    ("leader_risk_not_a_mapping", f'leaders:\n  - address: "{LEADER}"\n    risk: aggressive\n', ["leaders[0].risk"]),
    (
        "leader_risk_merged_min_above_max",
        f'leaders:\n  - address: "{LEADER}"\n    risk:\n      min_order_usdc: 500\n',
        ["leaders[0].risk", "min_order_usdc"],
    ),
    (
        "second_leader_risk_bad",
        f'leaders:\n  - address: "{LEADER}"\n  - address: "0x00000003a358014c7c0e227483dbe01619871000"\n'
        "    risk:\n      sizing: martingale\n",
        ["leaders[1].risk.sizing"],
    ),
    # live section
    ("live_signature_type_unknown", "{leaders}live:\n  signature_type: 7\n", ["live.signature_type"]),
    ("live_safe_without_funder", "{leaders}live:\n  signature_type: 2\n", ["live", "funder"]),
    ("live_funder_not_an_address", "{leaders}live:\n  signature_type: 1\n  funder: '0x123'\n", ["live.funder"]),
    ("live_order_type_gtc", "{leaders}live:\n  order_type: GTC\n", ["live.order_type"]),
    ("live_concurrency_zero", "{leaders}live:\n  max_concurrency: 0\n", ["live.max_concurrency"]),
    # not YAML at all
    ("yaml_unclosed", "{leaders}risk: [1, 2\n", ["(yaml)", "line"]),
    ("yaml_tab_indent", "{leaders}risk:\n\tfixed_usdc: 1\n", ["(yaml)"]),
    # YAML requires unique keys; PyYAML alone would keep the last one silently
    (
        "yaml_duplicate_key",
        "{leaders}risk:\n  max_slippage: 0.02\n  max_slippage: 0.05\n",
        ["risk.max_slippage", "duplicate key (line 5; first at line 4)"],
    ),
    ("yaml_nul_byte", "{leaders}risk:\n  fixed_usdc: \x00\n", ["(yaml)"]),
]


def settings_file(tmp_path: Path, text: str, name: str = "settings.yaml") -> Path:
    """The case's text with a valid leaders section for "{leaders}" and the database in tmp_path."""
    db = f'  path: "{tmp_path / "bot.db"}"\n'
    text = text.replace("{leaders}", LEADERS)
    text = text.replace("storage:\n", "storage:\n" + db) if "storage:\n" in text else text + "storage:\n" + db
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("case", "text", "fragments"), FILES, ids=[c[0] for c in FILES])
def test_broken_settings_files(tmp_path: Path, case: str, text: str, fragments: list[str]) -> None:
    cfg = settings_file(tmp_path, text)
    command = COMMANDS[[c[0] for c in FILES].index(case) % len(COMMANDS)]
    result = run_cli(*command, "--config", str(cfg), env=BASE_ENV)
    assert_clean_error(result, str(cfg), *fragments)
    assert not (tmp_path / "bot.db").exists(), "nothing may be created before the settings are valid"


def test_settings_file_that_is_not_text(tmp_path: Path) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_bytes(b"\xff\xfe\x00\x01 not utf-8 \x80\x81")
    assert_clean_error(run_cli("status", "--config", str(cfg), env=BASE_ENV), str(cfg))


def test_settings_path_is_a_directory(tmp_path: Path) -> None:
    assert_clean_error(run_cli("watch", "--once", "--config", str(tmp_path), env=BASE_ENV), str(tmp_path))


# (id, environment overrides on a valid file, fragments of the one error line)
ENV: list[tuple[str, dict[str, str], list[str]]] = [
    ("decimal_not_a_number", {"COPYBOT__RISK__FIXED_USDC": "lots"}, ["risk.fixed_usdc"]),
    ("decimal_negative", {"COPYBOT__RISK__MAX_SLIPPAGE": "-1"}, ["risk.max_slippage"]),
    ("float_a_list", {"COPYBOT__SOURCE__POLL_INTERVAL_S": "[1, 2]"}, ["source.poll_interval_s"]),
    ("float_infinite", {"COPYBOT__SOURCE__ETHERSCAN__CALLS_PER_SECOND": ".inf"}, ["source.etherscan.calls_per_second"]),
    ("int_a_word", {"COPYBOT__EXECUTOR__BATCH_SIZE": "ten"}, ["executor.batch_size"]),
    ("literal_unknown", {"COPYBOT__SOURCE__KIND": "websocket"}, ["source.kind"]),
    ("mode_unknown", {"COPYBOT__MODE": "yolo"}, ["mode"]),
    ("unknown_nested_key", {"COPYBOT__RISK__FIXED_USD": "5"}, ["risk.fixed_usd", "unknown key"]),
    ("unknown_deep_key", {"COPYBOT__SOURCE__ETHERSCAN__KEY": "abc"}, ["source.etherscan.key", "unknown key"]),
    ("unknown_top_key", {"COPYBOT__NOPE": "1"}, ["nope", "unknown key"]),
    ("section_replaced_by_scalar", {"COPYBOT__RISK": "5"}, ["risk"]),
    ("leaders_replaced_by_text", {"COPYBOT__LEADERS": "everyone"}, ["leaders"]),
    ("leaders_indexed_like_a_mapping", {"COPYBOT__LEADERS__0__ADDRESS": "0x1234"}, ["leaders"]),
    ("not_yaml", {"COPYBOT__RISK__FIXED_USDC": "{a: ["}, ["risk.fixed_usdc", "COPYBOT__RISK__FIXED_USDC"]),
    ("url_not_http", {"COPYBOT__SOURCE__ETHERSCAN__URL": "ftp://etherscan"}, ["source.etherscan.url"]),
    ("start_block_negative", {"COPYBOT__SOURCE__START_BLOCK": "-1"}, ["source.start_block"]),
    ("markets_a_number", {"COPYBOT__RISK__ALLOWED_MARKETS": "0x5"}, ["risk.allowed_markets"]),
    ("live_signature_type", {"COPYBOT__LIVE__SIGNATURE_TYPE": "9"}, ["live.signature_type"]),
    ("live_funder", {"COPYBOT__LIVE__SIGNATURE_TYPE": "1", "COPYBOT__LIVE__FUNDER": "0xZZ"}, ["live.funder"]),
    ("lowercase_name", {"copybot__risk__fixed_usdc": "abc"}, ["risk.fixed_usdc"]),
    ("config_env_missing_file", {"COPYBOT_CONFIG": "/nonexistent/copybot.yaml"}, ["not found"]),
]


@pytest.mark.parametrize(("case", "environ", "fragments"), ENV, ids=[c[0] for c in ENV])
def test_bad_environment_overrides(tmp_path: Path, case: str, environ: dict[str, str], fragments: list[str]) -> None:
    cfg = settings_file(tmp_path, "{leaders}")
    command = COMMANDS[[c[0] for c in ENV].index(case) % len(COMMANDS)]
    args = [*command] if "COPYBOT_CONFIG" in environ else [*command, "--config", str(cfg)]
    assert_clean_error(run_cli(*args, env={**BASE_ENV, **environ}), *fragments)
    assert not (tmp_path / "bot.db").exists()


def test_bad_log_options(tmp_path: Path) -> None:
    cfg = settings_file(tmp_path, "{leaders}")
    assert_clean_error(run_cli("watch", "--config", str(cfg), "--log-level", "LOUD", env=BASE_ENV), "--log-level")
    assert_clean_error(run_cli("watch", "--config", str(cfg), "--log-format", "xml", env=BASE_ENV), "--log-format")
    assert not (tmp_path / "bot.db").exists()


def _live(tmp_path: Path, extra: str = "") -> Path:
    return settings_file(tmp_path, "{leaders}mode: live\n" + extra)


def _key_file(tmp_path: Path, content: str, mode: int) -> Path:
    path = tmp_path / "wallet.key"
    path.write_text(content)
    path.chmod(mode)
    return path


LIVE: list[tuple[str, str, dict[str, str], list[str]]] = [
    ("key_unset", "", {}, ["live.private_key_env", "COPYBOT_PRIVATE_KEY"]),
    ("key_empty", "", {"COPYBOT_PRIVATE_KEY": "  "}, ["COPYBOT_PRIVATE_KEY"]),
    ("key_not_hex", "", {"COPYBOT_PRIVATE_KEY": "0x" + "zz" * 32}, ["COPYBOT_PRIVATE_KEY", "not a private key"]),
    ("key_too_short", "", {"COPYBOT_PRIVATE_KEY": KEY[:40]}, ["COPYBOT_PRIVATE_KEY", "not a private key"]),
    ("key_too_long", "", {"COPYBOT_PRIVATE_KEY": KEY + "00"}, ["COPYBOT_PRIVATE_KEY", "not a private key"]),
    ("key_in_another_variable", "live:\n  private_key_env: MY_WALLET\n", {"COPYBOT_PRIVATE_KEY": KEY}, ["MY_WALLET"]),
    ("key_file_missing", "live:\n  private_key_file: {dir}/missing.key\n", {}, ["live.private_key_file"]),
    (
        "key_file_world_readable",
        "live:\n  private_key_file: {dir}/wallet.key\n",
        {"mode": "644"},
        ["live.private_key_file", "chmod 600"],
    ),
    (
        "key_file_garbage",
        "live:\n  private_key_file: {dir}/wallet.key\n",
        {"mode": "600", "content": "garbage"},
        ["live.private_key_file", "not a private key"],
    ),
    ("key_file_is_a_directory", "live:\n  private_key_file: {dir}\n", {}, ["live.private_key_file"]),
]


@pytest.mark.parametrize(("case", "extra", "environ", "fragments"), LIVE, ids=[c[0] for c in LIVE])
def test_live_wallet_problems(tmp_path: Path, case: str, extra: str, environ: dict[str, str], fragments: list[str]):
    env = {**BASE_ENV, "COPYBOT_PRIVATE_KEY": ""}
    if "mode" in environ:
        _key_file(tmp_path, environ.get("content", KEY), int(environ["mode"], 8))
    else:
        env |= environ
    if case == "key_file_is_a_directory":
        tmp_path.chmod(stat.S_IRWXU)
    cfg = _live(tmp_path, extra.replace("{dir}", str(tmp_path)))
    line = assert_clean_error(run_cli("watch", "--once", "--live", "--config", str(cfg), env=env), *fragments)
    for secret in (KEY, KEY[2:], KEY[:40], "garbage", "zz" * 32):
        assert secret not in line
    assert not (tmp_path / "bot.db").exists()


def test_live_settings_on_a_paper_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "bot.db")
    store.init_paper("paper", 1_000_000_000, 0.0)
    store.close()
    cfg = _live(tmp_path)
    env = {**BASE_ENV, "COPYBOT_PRIVATE_KEY": KEY}
    result = run_cli("watch", "--once", "--live", "--config", str(cfg), env=env)
    line = assert_clean_error(result, "storage.path", logged=True)
    assert "paper" in line and KEY[2:] not in line


def test_one_line_even_with_a_bare_environment(tmp_path: Path) -> None:
    """No HOME, no locale, no terminal: still one line and exit 2 (rich must not draw a panel)."""
    cfg = settings_file(tmp_path, "{leaders}risk:\n  fixed_usdc: ten\n")
    env = {"PATH": os.environ.get("PATH", ""), "ETHERSCAN_API_KEY": "k"}
    result = subprocess.run(
        [sys.executable, "-m", "copybot", "status", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert_clean_error(result, "risk.fixed_usdc")
