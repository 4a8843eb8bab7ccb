"""Logging setup: plain one-line records; third-party HTTP loggers kept quiet.

httpx logs full request URLs at INFO, and Etherscan URLs carry the API key, so those loggers
are pinned to WARNING whatever the chosen level.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence

from copybot.models import CopyOutcome, from_units
from copybot.protocol import checksum


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def outcome_line(o: CopyOutcome) -> str:
    f = o.fill
    parts = [
        f"decision={o.decision.value}",
        f"leader={checksum(f.leader)}",
        f"side={f.side.value}",
        f"token={f.token_id}",
        f"leader_price={f.price.quantize(from_units(1)).normalize()}",
        f"tx={f.tx_hash}:{f.log_index}",
    ]
    if o.result is not None:
        parts += [
            f"usdc={from_units(o.result.collateral)}",
            f"shares={from_units(o.result.shares)}",
            f"price={o.result.avg_price.quantize(from_units(1)).normalize()}",
        ]
    parts.append(f"reason={o.reason!r}")
    return " ".join(parts)


def log_outcomes(outcomes: Sequence[CopyOutcome]) -> None:
    logger = logging.getLogger("copybot.copy")
    for o in outcomes:
        logger.info(outcome_line(o))
