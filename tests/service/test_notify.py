"""sd_notify: the client on its own, and what `copybot watch` tells a (fake) systemd."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from copybot.clock import ManualClock
from copybot.config.loading import parse_settings
from copybot.daemon import watch
from copybot.ops.notify import Notifier, watchdog_period
from copybot.sandbox import Sandbox, serve_in_thread
from tests.support.cli import run_cli
from tests.support.sandbox import URLS, key_env, sandbox_settings, settings_dict, status_json


@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket in the abstract namespace, named the way systemd passes it ("@...")."""
    name = f"copybot-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    with sock:
        yield "@" + name, sock


def drain(sock: socket.socket) -> list[dict[str, str]]:
    out = []
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return out
        out.append(dict(line.split("=", 1) for line in data.decode().splitlines()))


def test_messages_reach_an_abstract_socket(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    n = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert n.enabled
    assert n.ready("up") and n.alive("cycle 1\nwith a newline")
    assert n.stopping("bye") and not n.alive("too late") and not n.stopping()
    assert drain(sock) == [
        {"READY": "1", "STATUS": "up"},
        {"WATCHDOG": "1", "STATUS": "cycle 1 with a newline"},
        {"STOPPING": "1", "STATUS": "bye"},
    ]


def test_path_socket_and_no_socket(tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="cb"))  # AF_UNIX paths are limited to 108 bytes; tmp_path may be longer
    path = str(short / "notify.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            assert Notifier(path).send("READY=1")
            assert sock.recv(100) == b"READY=1"
    finally:
        shutil.rmtree(short)
    assert not Notifier.from_env({}).enabled and not Notifier(None).ready("x")
    # a socket that is gone: reported as not sent, never raised
    assert Notifier(str(tmp_path / "gone.sock")).alive("x") is False


def test_watchdog_period() -> None:
    assert watchdog_period({"WATCHDOG_USEC": "60000000"}) == 60.0
    assert watchdog_period({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_period({"WATCHDOG_USEC": "x"}) is None and watchdog_period({}) is None


def test_watch_notifies_ready_watchdog_each_cycle_and_stopping(
    tmp_path: Path, listener: tuple[str, socket.socket], clock: ManualClock
) -> None:
    """The loop on the injected clock: a cycle a second for ten seconds, each followed by one watchdog
    ping (read as they come: a datagram queue holds only a few)."""
    address, sock = listener
    box = Sandbox(seed=8, leaders=2, block_time_s=0.25, trade_prob=0.5, clock=clock)
    db = tmp_path / "bot.db"
    data = settings_dict(URLS, box.leaders, db, max(0, box.latest_block() - 10))
    settings = parse_settings(data, "s.yaml", environ={})
    transport = httpx.ASGITransport(app=box.app)
    messages: list[dict[str, str]] = []
    notifier = Notifier(address)
    cycles = asyncio.run(
        watch(
            settings,
            box.api_key,
            duration=10,
            clock=clock,
            transport=transport,
            notifier=notifier,
            on_cycle=lambda _: messages.extend(drain(sock)),
        )
    )
    messages += drain(sock)
    assert cycles >= 10 and cycles == status_json(db, clock.now())["stats"]["cycles"]
    assert messages[0]["READY"] == "1" and messages[0]["STATUS"].startswith("started: 2 leaders")
    assert messages[-1] == {"STOPPING": "1", "STATUS": "stopping"}
    pings = messages[1:-1]
    assert len(pings) == cycles, "one WATCHDOG=1 per cycle"
    for i, ping in enumerate(pings, 1):
        assert ping["WATCHDOG"] == "1"
        assert ping["STATUS"].startswith("block ") and f"cycle {i}," in ping["STATUS"]
        assert "fills " in ping["STATUS"] and "copies " in ping["STATUS"] and "USDC" in ping["STATUS"]


def test_the_command_finds_the_socket_in_its_environment(tmp_path: Path, listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    box = Sandbox(seed=8, leaders=2, block_time_s=0.25, trade_prob=0.5)
    with serve_in_thread(box) as server:
        cfg = sandbox_settings(tmp_path, server)
        result = run_cli(
            "watch", "--config", str(cfg), "--once", "--no-dashboard", env=key_env(server, NOTIFY_SOCKET=address)
        )
    assert result.returncode == 0, result.stderr
    kinds = [next(iter(m)) for m in drain(sock)]
    assert kinds == ["READY", "WATCHDOG", "STOPPING"]


def test_a_queue_nobody_reads_drops_lines_instead_of_stalling_the_loop(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    notifier = Notifier(address)
    sent = [notifier.send("WATCHDOG=1", f"STATUS=cycle {i}") for i in range(1000)]  # nothing drains meanwhile
    assert sent[0] is True and sent[-1] is False  # a full queue: dropped, reported, returned at once
    assert 0 < len(drain(sock)) < 1000
