"""A tiny sd_notify client: tells systemd we are ready, alive (watchdog) and stopping.

Protocol (``man sd_notify``): newline-separated ``KEY=value`` lines in one datagram sent to the
AF_UNIX socket named by ``$NOTIFY_SOCKET``; a leading ``@`` names a socket in Linux's abstract
namespace. Without ``$NOTIFY_SOCKET`` (not started by systemd, or ``Type=simple``) every call is
a no-op. Sending never raises: a lost status line must not take the daemon down with it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None) -> None:
        self._address = address
        self._warned = False
        self._stopping = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *lines: str) -> bool:
        """Send ``lines`` as one message; True if it was delivered to the socket."""
        if self._address is None or not lines:
            return False
        # abstract namespace: "@name" on the wire is a leading NUL byte
        target = "\0" + self._address[1:] if self._address.startswith("@") else self._address
        payload = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:  # non-inheritable by default
                sock.setblocking(False)  # a full queue (nobody reading) drops the line, never stalls the loop
                sock.sendto(payload, target)
        except OSError as exc:
            if not self._warned:  # once: a missing socket would otherwise log every cycle
                log.warning("cannot notify systemd at %s: %s", self._address, exc.strerror or exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def alive(self, status: str) -> bool:
        """A watchdog ping with the current summary. Dropped once stopping: systemd no longer
        expects pings then, and STOPPING=1 must stay the last word."""
        if self._stopping:
            return False
        return self.send("WATCHDOG=1", f"STATUS={status}")

    def stopping(self, status: str = "stopping") -> bool:
        if self._stopping:
            return False
        self._stopping = True
        return self.send("STOPPING=1", f"STATUS={status}")


def watchdog_period(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog interval systemd expects pings within (seconds), or None when it is off."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # the watchdog was set up for another process (we were forked by it)
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None
