"""What every source of leader fills returns, and the pieces the sources share.

A source reads logs; it stores nothing. :class:`PollResult` carries the fills, the cursors they
justify (last block fully read, per leader), and the block windows that were re-read completely,
so the store can tell which not-yet-copied fills vanished in a reorg.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from copybot.errors import MalformedLog
from copybot.models import Fill
from copybot.sources.decode import decode_log


@dataclass(frozen=True, slots=True)
class Window:
    """Blocks [lo, hi] re-read completely for these leaders: every fill of theirs in it is listed."""

    leaders: frozenset[str]
    lo: int
    hi: int


@dataclass
class PollResult:
    fills: list[Fill] = field(default_factory=list)
    cursors: dict[str, int] = field(default_factory=dict)  # leader -> last block fully read
    windows: list[Window] = field(default_factory=list)
    malformed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # leader -> transient error after retries
    latest_block: int = 0


class Source(Protocol):
    kind: str

    async def poll(self, cursors: Mapping[str, int | None], leaders: Sequence[str]) -> PollResult: ...

    def health(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def decode_rows(rows: Iterable[Mapping[str, Any]], followed: frozenset[str], result: PollResult) -> list[Fill]:
    """Decode raw logs (Etherscan or JSON-RPC shape) into followed leaders' fills; count the malformed."""
    fills = []
    for row in rows:
        try:
            fill = decode_log(row, followed)
        except MalformedLog:
            result.malformed += 1
            continue
        if fill is not None:
            fills.append(fill)
    return fills


def start_cursor(start_block: int | str, latest: int) -> int:
    """Where a leader without a saved cursor starts: ``latest`` or the block before ``start_block``."""
    return latest if start_block == "latest" else max(0, int(start_block) - 1)
