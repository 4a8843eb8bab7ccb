"""The error tree: each class says what the caller should do next.

::

    CopybotError
    ├── ConfigError                 stop: bad settings or command line -> exit code 2
    ├── TransientError              retry with backoff (tenacity, see ``copybot.upstream.http``)
    │   ├── RateLimited             429, Etherscan "Max rate limit reached"
    │   ├── UpstreamUnavailable     timeouts, connection errors, 5xx
    │   │   ├── UpstreamRestarting  425: the upstream is restarting; what it answered this way did nothing
    │   │   └── OrderOutcomeUnknown an order was sent but its answer was lost: look it up, never resend blindly
    │   ├── MalformedResponse       a body that is not the JSON we expect
    │   └── OrderVersionChanged     the exchange moved to a new order version before matching: re-sign, resend
    ├── PermanentUpstreamError      stop that upstream and report it (status/health)
    │   ├── InvalidApiKey           Etherscan "Invalid API Key"
    │   └── UnsupportedChain        Etherscan "Missing or unsupported chainid"
    ├── SkipError                   record the reason, skip this one thing, carry on
    │   ├── RequestRejected         an upstream answered 4xx (unknown token, bad request)
    │   │   └── RangeTooLarge       a node refuses a block window as too wide: split it
    │   ├── OrderRejected           the exchange (or paper book) refused the order: a failure
    │   │   └── OrderVersionMismatch  refused for its signing version (becomes OrderVersionChanged)
    │   ├── OrderNotFilled          accepted but nothing matched (FOK killed): a skip, not a failure
    │   ├── InsufficientFunds       not enough bankroll (or balance / allowance) for the order
    │   └── MalformedLog            a log that claims to be a fill but cannot be decoded: count it
    ├── CheckFailed                 a health check's verdict, shown as ``name: reason``
    ├── AlreadyRunning              another ``watch`` holds this database: stop, exit 1
    └── StoreError                  the database is unusable: stop

HTTP statuses become errors in one place, :func:`error_for_status`, whatever the transport
(httpx, aiohttp under web3, the CLOB SDK). Messages never contain secrets: upstream errors are
built from redacted URLs.
"""

from __future__ import annotations

from decimal import Decimal


class CopybotError(Exception):
    """Base of every error copybot raises on purpose."""


class ConfigError(CopybotError):
    """Settings or command line are wrong. The CLI prints the message and exits 2."""


class TransientError(CopybotError):
    """A failure that may succeed if retried later."""


class RateLimited(TransientError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the upstream asked us to wait (Retry-After), if it said


class UpstreamUnavailable(TransientError):
    pass


class UpstreamRestarting(UpstreamUnavailable):
    """HTTP 425 (the CLOB's matching engine restarting): the request was refused, nothing happened."""


class OrderOutcomeUnknown(UpstreamUnavailable):
    """An order may or may not have executed; its intent stays open until looked up."""


class OrderPending(OrderOutcomeUnknown):
    """The exchange accepted the order but has not decided it yet (``delayed``, or resting ``live``):
    its intent stays open and it is looked up again on later cycles, never sent again."""


class MalformedResponse(TransientError):
    pass


class OrderVersionChanged(TransientError):
    """Refused for its order version before matching: nothing executed; sign it again and resend."""


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


class RangeTooLarge(RequestRejected):
    """The node refuses this block window (too wide, too many results): split it, do not retry it as is."""


class OrderRejected(SkipError):
    pass


class TickSizeChanged(OrderRejected):
    """The exchange refused the order's price for the market's tick (it changed since the book was
    read): nothing executed. ``tick`` is the tick the refusal names, if it names one."""

    def __init__(self, message: str, tick: Decimal | None = None) -> None:
        super().__init__(message)
        self.tick = tick


class OrderVersionMismatch(OrderRejected):
    """The exchange refused the order's signing version (``order_version_mismatch``)."""


class OrderNotFilled(SkipError):
    """The order was taken but nothing matched (a fill-or-kill order killed): skipped, not failed."""


class InsufficientFunds(SkipError):
    pass


class MalformedLog(SkipError):
    """A log that claims to be an ``OrderFilled`` but whose fields cannot be decoded."""


class CheckFailed(CopybotError):
    """A health check's verdict: the message is the reason shown after ``name:``."""


class AlreadyRunning(CopybotError):
    """Another ``copybot watch`` holds the database's lock."""


class StoreError(CopybotError):
    """The database cannot be opened or migrated."""


def error_for_status(status: int, where: str, detail: str = "") -> CopybotError:
    """What an HTTP error status (400 or more) means for the caller. ``where`` names the upstream
    and path (never a query string); ``detail`` is the upstream's own error text, if any."""
    tail = f": {detail[:200]}" if detail else ""
    if status == 429:
        return RateLimited(f"{where}: HTTP 429 rate limited{tail}")
    text = f"{where}: HTTP {status}{tail}"
    if status == 425:
        return UpstreamRestarting(text)
    if status >= 500:
        return UpstreamUnavailable(text)
    return RequestRejected(text, status)
