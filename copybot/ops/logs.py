"""Logging setup: one line per record, as text (for people) or JSON (for journald/Loki).

httpx logs full request URLs at INFO, and Etherscan URLs carry the API key, so those loggers
are pinned to WARNING whatever the chosen level. A copy decision is logged with its fields
attached (``extra={"fields": ...}``): the text format shows the message built from them, the JSON
format spreads them as top-level keys so a log pipeline can filter on ``decision`` or ``leader``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

from copybot.models import CopyOutcome, from_units
from copybot.protocol import checksum

LogFormat = Literal["text", "json"]
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")
_RESERVED = {"ts", "level", "logger", "msg", "exc"}


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus the record's ``fields`` as keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in _RESERVED})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record. Under the dashboard, rich's
    Live swaps in a proxy that prints above the live view; a handler holding the original stream
    would draw through the view instead."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: str = "INFO", fmt: LogFormat = "text") -> None:
    handler = _CurrentStderr(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # at DEBUG, hpack (HTTP/2 header compression, used by the CLOB SDK's client over https) logs
    # every header value, and the CLOB's L2 headers carry the API passphrase; web3 logs the RPC
    # URL, where node providers put their API key
    for noisy in ("httpx", "httpcore", "hpack", "h2", "web3", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def outcome_fields(o: CopyOutcome) -> dict[str, Any]:
    """A copy decision as flat, JSON-ready fields (money and prices as decimal strings)."""
    f = o.fill
    fields: dict[str, Any] = {
        "decision": o.decision.value,
        "leader": checksum(f.leader),
        "side": f.side.value,
        "token": str(f.token_id),
        "leader_price": str(f.price.quantize(from_units(1)).normalize()),
        "tx": f"{f.tx_hash}:{f.log_index}",
    }
    if o.result is not None:
        fields |= {
            "usdc": str(from_units(o.result.collateral)),
            "shares": str(from_units(o.result.shares)),
            "price": str(o.result.avg_price.quantize(from_units(1)).normalize()),
        }
    fields["reason"] = o.reason
    return fields


def outcome_line(o: CopyOutcome) -> str:
    return " ".join(
        f"{key}={value!r}" if key == "reason" else f"{key}={value}" for key, value in outcome_fields(o).items()
    )


def log_outcomes(outcomes: Sequence[CopyOutcome]) -> None:
    logger = logging.getLogger("copybot.copy")
    for o in outcomes:
        logger.info(outcome_line(o), extra={"fields": outcome_fields(o)})
