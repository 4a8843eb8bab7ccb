"""The error tree: each class says what the caller should do next.

::

    CopybotError
    ├── ConfigError             stop: bad settings or command line -> exit code 2
    ├── TransientError          retry with backoff (tenacity, see ``copybot.upstream.http``)
    │   ├── RateLimited         429, Etherscan "Max rate limit reached"
    │   ├── UpstreamUnavailable timeouts, connection errors, 5xx
    │   │   └── OrderOutcomeUnknown  an order was sent but its answer was lost: look it up, never resend blindly
    │   └── MalformedResponse   a body that is not the JSON we expect
    ├── PermanentUpstreamError  stop that upstream and report it (status/health)
    │   ├── InvalidApiKey       Etherscan "Invalid API Key"
    │   └── UnsupportedChain    Etherscan "Missing or unsupported chainid"
    ├── SkipError               record the reason, skip this fill, carry on
    │   ├── RequestRejected     an upstream answered 4xx (unknown token, bad request)
    │   ├── OrderRejected       the exchange (or paper book) refused the order
    │   └── InsufficientFunds   not enough bankroll for the order
    └── StoreError              the database is unusable: stop

Messages never contain secrets: upstream errors are built from redacted URLs.
"""

from __future__ import annotations


class CopybotError(Exception):
    """Base of every error copybot raises on purpose."""


class ConfigError(CopybotError):
    """Settings or command line are wrong. The CLI prints the message and exits 2."""


class TransientError(CopybotError):
    """A failure that may succeed if retried later."""


class RateLimited(TransientError):
    pass


class UpstreamUnavailable(TransientError):
    pass


class OrderOutcomeUnknown(UpstreamUnavailable):
    """An order may or may not have executed; its intent stays open until looked up."""


class MalformedResponse(TransientError):
    pass


class PermanentUpstreamError(CopybotError):
    """Retrying will not help; the upstream must be reconfigured."""


class InvalidApiKey(PermanentUpstreamError):
    pass


class UnsupportedChain(PermanentUpstreamError):
    pass


class SkipError(CopybotError):
    """This one operation cannot be done; record why and continue."""


class RequestRejected(SkipError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class OrderRejected(SkipError):
    pass


class InsufficientFunds(SkipError):
    pass


class StoreError(CopybotError):
    """The database cannot be opened or migrated."""
