"""The command line as a user meets it: exit codes, one-line errors, no tracebacks, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import assert_clean_error, run_cli

GOOD = """
leaders:
  - address: "0x2f633efb75256a2f2445110c8978684ab8936643"
storage:
  path: "{db}"
"""

BROKEN = [
    ("bad_yaml", "leaders: [\n", "(yaml)"),
    ("unknown_key", "risk:\n  fixed_usd: 5\n", "risk.fixed_usd"),
    ("wrong_type", "source:\n  poll_interval_s: fast\n", "source.poll_interval_s"),
    ("bad_address", "leaders:\n  - address: '0x1234'\n", "leaders[0].address"),
    ("negative_limit", "risk:\n  max_order_usdc: -5\n", "risk.max_order_usdc"),
    ("bad_mode", "mode: yolo\n", "mode"),
    ("not_a_mapping", "- 1\n- 2\n", "(top level)"),
]


@pytest.mark.parametrize(("name", "text", "key"), BROKEN, ids=[b[0] for b in BROKEN])
@pytest.mark.parametrize("command", ["watch", "status"])
def test_broken_settings_exit_2_naming_file_and_key(
    tmp_path: Path, name: str, text: str, key: str, command: str
) -> None:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(text, encoding="utf-8")
    assert_clean_error(run_cli(command, "--config", str(cfg)), str(cfg), key)


def test_missing_settings_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert_clean_error(run_cli("watch", "--config", str(missing)), str(missing), "not found")


def test_config_from_environment_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "env.yaml"
    cfg.write_text("risk:\n  min_order_usdc: 50\n  max_order_usdc: 10\n", encoding="utf-8")
    assert_clean_error(run_cli("status", env={"COPYBOT_CONFIG": str(cfg)}), str(cfg), "min_order_usdc")


def test_env_override_is_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(GOOD.format(db=tmp_path / "x.db"), encoding="utf-8")
    result = run_cli("status", "--config", str(cfg), env={"COPYBOT__RISK__MAX_SLIPPAGE": "-1"})
    assert_clean_error(result, "risk.max_slippage")


def test_watch_without_api_key_names_the_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(GOOD.format(db=tmp_path / "x.db"), encoding="utf-8")
    result = run_cli("watch", "--config", str(cfg), "--once", env={"ETHERSCAN_API_KEY": ""})
    assert_clean_error(result, "ETHERSCAN_API_KEY")
    assert not (tmp_path / "x.db").exists(), "nothing should be created before settings are complete"


def test_status_without_database(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(GOOD.format(db=tmp_path / "absent.db"), encoding="utf-8")
    assert_clean_error(run_cli("status", "--config", str(cfg)), "copybot watch")


def test_bad_option_value_exits_2() -> None:
    result = run_cli("watch", "--duration", "soon")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("copybot ")


def test_live_trading_needs_both_the_setting_and_the_flag(tmp_path: Path) -> None:
    live = tmp_path / "live.yaml"
    live.write_text(GOOD.format(db=tmp_path / "l.db") + "mode: live\n", encoding="utf-8")
    assert_clean_error(run_cli("watch", "--config", str(live), "--once", env={"ETHERSCAN_API_KEY": "k"}), "--live")
    paper = tmp_path / "paper.yaml"
    paper.write_text(GOOD.format(db=tmp_path / "p.db"), encoding="utf-8")
    result = run_cli("watch", "--config", str(paper), "--once", "--live", env={"ETHERSCAN_API_KEY": "k"})
    assert_clean_error(result, "--live", "mode: paper")
    assert not (tmp_path / "l.db").exists() and not (tmp_path / "p.db").exists()


def test_live_key_must_come_from_env_or_a_private_file(tmp_path: Path) -> None:
    key = "0x" + "ab" * 32
    keyfile = tmp_path / "wallet.key"
    keyfile.write_text(key, encoding="utf-8")
    keyfile.chmod(0o644)
    cfg = tmp_path / "live.yaml"
    cfg.write_text(
        GOOD.format(db=tmp_path / "l.db") + f"mode: live\nlive:\n  private_key_file: {keyfile}\n", encoding="utf-8"
    )
    result = run_cli("watch", "--config", str(cfg), "--once", "--live", env={"ETHERSCAN_API_KEY": "k"})
    assert_clean_error(result, "live.private_key_file", "chmod 600")
    assert key not in result.stderr + result.stdout
    cfg.write_text(GOOD.format(db=tmp_path / "l.db") + "mode: live\n", encoding="utf-8")
    result = run_cli(
        "watch", "--config", str(cfg), "--once", "--live", env={"ETHERSCAN_API_KEY": "k", "COPYBOT_PRIVATE_KEY": "nope"}
    )
    assert_clean_error(result, "COPYBOT_PRIVATE_KEY", "not a private key")
    assert "nope" not in result.stderr


WRONG_FUNDERS = [
    (1, "deposit", "is a deposit wallet of this key, not a proxy wallet (live.signature_type 1)"),
    (3, "safe", "is a Safe of this key, not a deposit wallet (live.signature_type 3)"),
    (3, "stranger", "is not a wallet of this key's address"),
]


@pytest.mark.parametrize(("signature_type", "funder", "says"), WRONG_FUNDERS)
@pytest.mark.parametrize("command", ["watch", "health"])
def test_a_funder_that_is_not_the_configured_kind_of_wallet_is_refused(
    tmp_path: Path, command: str, signature_type: int, funder: str, says: str
) -> None:
    from eth_account import Account

    from copybot.sandbox.wallets import derive

    account = Account.create()
    address = Account.create().address.lower() if funder == "stranger" else derive(account.address, funder)
    cfg = tmp_path / "live.yaml"
    cfg.write_text(
        GOOD.format(db=tmp_path / "l.db")
        + f"mode: live\nlive:\n  signature_type: {signature_type}\n  funder: '{address}'\n",
        encoding="utf-8",
    )
    args = ["--once", "--live"] if command == "watch" else []
    env = {"ETHERSCAN_API_KEY": "k", "COPYBOT_PRIVATE_KEY": account.key.hex()}
    result = run_cli(command, "--config", str(cfg), *args, env=env)
    assert_clean_error(result, "live.funder", says)
    assert account.key.hex().removeprefix("0x") not in result.stderr + result.stdout
    assert not (tmp_path / "l.db").exists(), "refused before anything was opened"


def test_api_credentials_from_the_environment_come_as_all_three_or_none(tmp_path: Path) -> None:
    from eth_account import Account

    account = Account.create()
    cfg = tmp_path / "live.yaml"
    cfg.write_text(GOOD.format(db=tmp_path / "l.db") + "mode: live\n", encoding="utf-8")
    env = {"ETHERSCAN_API_KEY": "k", "COPYBOT_PRIVATE_KEY": account.key.hex(), "COPYBOT_CLOB_API_KEY": "abc"}
    result = run_cli("health", "--config", str(cfg), env=env)
    assert_clean_error(result, "live.api_credentials_env", "COPYBOT_CLOB_API_SECRET", "COPYBOT_CLOB_API_PASSPHRASE")
