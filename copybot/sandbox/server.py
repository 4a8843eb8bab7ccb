"""Serving the sandbox on loopback with uvicorn: in a daemon thread (tests, benchmarks) or in the
caller's event loop (the demo).

The listening socket is bound here, before uvicorn starts, so port 0 resolves to a real port
up front and nothing races for it. uvicorn never touches signal handlers: the caller owns them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Final

import uvicorn

from .control import urls_for
from .core import Sandbox

__all__ = ["RunningSandbox", "serve", "serve_in_thread", "urls_for"]

LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
START_TIMEOUT_S: Final = 10.0


class _Server(uvicorn.Server):
    """uvicorn that reports when it listens, leaves signal handling to its caller and, when it
    shuts down, releases requests hanging on a ``timeout`` fault (uvicorn waits for them)."""

    def __init__(self, config: uvicorn.Config, sandbox: Sandbox, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._sandbox = sandbox
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # uvicorn >= 0.29
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        return None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._sandbox.monitor.allow_hangs()
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._sandbox.monitor.release_hangs()
        try:
            await super().shutdown(sockets=sockets)
        finally:
            self._sandbox.monitor.allow_hangs()  # the sandbox may still be used in-process


def _bind(host: str, port: int) -> socket.socket:
    if host not in LOOPBACK:
        raise ValueError(f"the sandbox only binds to loopback, not {host!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP (not 0): accepted sockets inherit it, and asyncio only sets TCP_NODELAY on
    # sockets that say they are TCP; without it every response waits ~40 ms on a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(sandbox: Sandbox) -> uvicorn.Config:
    return uvicorn.Config(sandbox.app, log_level="warning", access_log=False, lifespan="off")


class RunningSandbox:
    """A sandbox served by uvicorn in a daemon thread; a context manager that stops it on exit."""

    def __init__(self, sandbox: Sandbox, server: _Server, thread: threading.Thread, base_url: str) -> None:
        self.sandbox = sandbox
        self.base_url = base_url
        self.urls = urls_for(base_url)
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT_S)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_in_thread(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Serve in a daemon thread and return once it accepts connections (port 0 = any free port)."""
    sock = _bind(host, port)
    ready = threading.Event()
    server = _Server(_config(sandbox), sandbox, on_started=ready.set)

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            sock.close()

    thread = threading.Thread(target=run, name="copybot-sandbox", daemon=True)
    thread.start()
    waited = 0.0
    while not ready.wait(0.05):
        waited += 0.05
        if not thread.is_alive() or waited >= START_TIMEOUT_S:
            server.should_exit = True
            raise RuntimeError("the sandbox server did not start")
    return RunningSandbox(sandbox, server, thread, _base_url(sock))


async def serve(
    sandbox: Sandbox,
    host: str,
    port: int,
    on_ready: Callable[[dict[str, str]], None] | None = None,
) -> None:
    """Serve in the current event loop until cancelled; ``on_ready(urls)`` once listening."""
    sock = _bind(host, port)
    urls = urls_for(_base_url(sock))
    server = _Server(_config(sandbox), sandbox, on_started=lambda: on_ready(urls) if on_ready else None)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True  # shut down cleanly (uvicorn checks this flag every 0.1 s)
        await task
        raise
    finally:
        sock.close()
