"""The deploy files: the systemd unit verifies, the cron line is well-formed shell."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.unprivileged import NOBODY, shared_dir

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


README = (DEPLOY.parent / "README.md").read_text(encoding="utf-8")


def install_steps() -> str:
    start = README.index("### Install (as root)")
    block = README[start:].split("```sh\n", 1)[1].split("```", 1)[0]
    return block.replace("\\\n", " ")


def test_the_install_steps_the_unit_and_the_cron_line_agree() -> None:
    steps = install_steps()
    unit = (DEPLOY / "copybot.service").read_text(encoding="utf-8")
    cron = cron_command()
    home = re.search(r"git clone .+? (\S+) && make -C (\S+) install PYTHON=(\S+)", steps)
    assert home is not None, steps
    install_dir, make_dir, python = home.groups()
    assert install_dir == make_dir
    assert not python.startswith(("/root", "/home", "~")), "a service user must be able to run the interpreter"
    binary = f"{install_dir}/.venv/bin/copybot"
    exec_start = re.search(r"^ExecStart=(\S+) watch --config (\S+)", unit, re.M)
    assert exec_start is not None and exec_start.group(1) == binary
    settings = exec_start.group(2)
    assert f"{binary} health --quiet --config {settings}" in cron
    init = re.search(r"copybot init --path (\S+) --storage (\S+)", steps)
    assert init is not None and init.group(1) == settings
    database_dir = str(Path(init.group(2)).parent)
    assert re.search(rf"^ReadWritePaths={re.escape(database_dir)}$", unit, re.M)
    assert re.search(rf"^WorkingDirectory={re.escape(database_dir)}$", unit, re.M)
    assert f"--home {database_dir}" in steps and f"cd {database_dir}" in cron
    assert "ProtectHome=true" in unit and "User=copybot" in unit


def test_make_install_builds_the_virtualenv_from_the_interpreter_it_is_given(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "-B", "install", "PYTHON=/usr/bin/python3", f"VENV={tmp_path / 'venv'}"],
        cwd=DEPLOY.parent,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert f"/usr/bin/python3 -m venv {tmp_path / 'venv'}" in dry.stdout


def test_a_virtualenv_made_the_readme_way_runs_as_the_service_user() -> None:
    """What went wrong: built as root from an interpreter under root's home, the virtualenv could not
    be run by the unit's user. Made from the system interpreter, it can."""
    python = Path("/usr/bin/python3")
    if os.geteuid() != 0:
        pytest.skip("needs root to run a command as another user")
    if not python.is_file():
        pytest.skip("no system interpreter at /usr/bin/python3")
    made = subprocess.run([str(python), "-c", "import venv"], capture_output=True, timeout=30, check=False)
    if made.returncode != 0:
        pytest.skip("the system interpreter has no venv module (Debian: apt install python3-venv)")
    with shared_dir() as place:
        subprocess.run([str(python), "-m", "venv", "--without-pip", str(place / "venv")], check=True, timeout=120)
        ran = subprocess.run(
            [str(place / "venv/bin/python"), "-c", "import sys; print(sys.prefix)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            user=NOBODY,
            group=NOBODY,
        )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == str(place / "venv")
