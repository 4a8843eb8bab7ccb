"""A simulated Polymarket on loopback that speaks the real wire formats (see shared/protocol.md).

One ASGI app serves three upstreams under one port: ``/etherscan/v2/api`` (Etherscan API V2),
``/clob`` (CLOB REST) and ``/gamma`` (Gamma markets), plus ``/_sandbox`` controls. It powers the
demo, the integration tests and the benchmarks, and is deterministic under a seed.
"""

from .book import Market
from .core import InjectedFill, Sandbox
from .server import RunningSandbox, serve, serve_in_thread

__all__ = ["InjectedFill", "Market", "RunningSandbox", "Sandbox", "serve", "serve_in_thread"]
