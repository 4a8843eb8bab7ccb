"""A simulated Polymarket on loopback that speaks the real wire formats (see docs/protocol.md).

One ASGI app serves four upstreams under one port: ``/etherscan/v2/api`` (Etherscan API V2),
``/rpc`` (Polygon JSON-RPC), ``/clob`` (CLOB REST) and ``/gamma`` (Gamma markets), plus
``/_sandbox`` controls. Each upstream can misbehave on demand (:class:`Faults`: latency, 429,
5xx, rate-limit bodies, timeouts, malformed JSON), Etherscan enforces its 3 calls/s, and the chain
can be reorganised. It powers the demo, the integration tests and the benchmarks, and is
deterministic under a seed.

The CLOB also trades (:mod:`~copybot.sandbox.trading`): the real ``polymarket-client`` derives
API keys, posts EIP-712 V2 signed orders that match against the sandbox book, reads balances,
orders and trades. :meth:`Sandbox.fund` gives a wallet pUSD, :meth:`Sandbox.resolve` closes a
market.
"""

from .book import Market
from .core import Sandbox
from .faults import Faults, mixed_faults
from .injected import InjectedFill
from .ledger import Balances
from .server import RunningSandbox, serve, serve_in_thread

__all__ = [
    "Balances",
    "Faults",
    "InjectedFill",
    "Market",
    "RunningSandbox",
    "Sandbox",
    "mixed_faults",
    "serve",
    "serve_in_thread",
]
