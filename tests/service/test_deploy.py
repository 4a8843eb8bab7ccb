"""The deploy files: the systemd unit verifies, the cron line is well-formed shell."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT_DIRS = (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system"))


def test_unit_asks_for_notify_watchdog_and_hardening() -> None:
    unit = (DEPLOY / "copybot.service").read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=60",
        "Restart=on-failure",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/copybot",
        "EnvironmentFile=/etc/copybot/copybot.env",
    ):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    # An image root holding the unit unchanged, the boot targets it hooks into and a stand-in for
    # /opt/copybot/.venv/bin/copybot (verify checks that ExecStart is executable).
    units = tmp_path / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    source = next((d for d in UNIT_DIRS if (d / "multi-user.target").exists()), None)
    if source is None:
        pytest.skip("no systemd unit directory to verify against")
    for target in source.glob("*.target"):
        shutil.copy(target, units)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(DEPLOY / "copybot.service", tmp_path / "etc/systemd/system")
    exe = tmp_path / "opt/copybot/.venv/bin/copybot"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(0o755)
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={tmp_path}", "copybot.service"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # verify exits 0 even on ignored bad lines: any message at all is a failure
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def cron_command() -> str:
    lines = [
        line
        for line in (DEPLOY / "copybot.cron").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"] and fields[5] == "root"
    return fields[6]


def test_cron_line_is_well_formed_and_runs_health() -> None:
    command = cron_command()
    assert "%" not in command, "cron turns % into newlines"
    assert "copybot health --quiet --config /etc/copybot/settings.yaml" in command
    subprocess.run(["sh", "-n", "-c", command], check=True, timeout=10)


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
if [ "$(basename "$0")" = runuser ]; then echo "heartbeat: last cycle 400s ago"; exit "$HEALTH_RC"; fi
exit 0
"""


@pytest.mark.parametrize(
    ("rc", "restarted", "logged"),
    [
        (0, False, ""),
        (1, True, "not working, restarting copybot: heartbeat: last cycle 400s ago;"),
        (3, False, "degraded, a restart would not help: heartbeat: last cycle 400s ago;"),
        (2, False, "health exited 2: heartbeat: last cycle 400s ago;"),
    ],
)
def test_cron_restarts_only_when_a_restart_may_help(tmp_path: Path, rc: int, restarted: bool, logged: str) -> None:
    """The line run for real, with systemctl, runuser and logger replaced by stubs that record their calls."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("systemctl", "runuser", "logger"):
        (stubs / name).write_text(STUB, encoding="utf-8")
        (stubs / name).chmod(0o755)
    (tmp_path / "copybot.env").write_text("ETHERSCAN_API_KEY=k\n", encoding="utf-8")
    command = (
        cron_command()
        .replace("/var/lib/copybot", str(tmp_path))
        .replace("/etc/copybot/copybot.env", str(tmp_path / "copybot.env"))
    )
    calls = tmp_path / "calls"
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "CALLS": str(calls), "HEALTH_RC": str(rc)}
    subprocess.run(["sh", "-c", command], env=env, check=True, timeout=30)
    made = calls.read_text(encoding="utf-8").splitlines()
    assert made[0] == "systemctl is-enabled --quiet copybot"
    assert made[1].startswith("runuser -u copybot -- /opt/copybot/.venv/bin/copybot health --quiet")
    assert ("systemctl restart copybot" in made) is restarted
    assert [c for c in made if c.startswith("logger")] == ([f"logger -t copybot-health {logged}"] if logged else [])
