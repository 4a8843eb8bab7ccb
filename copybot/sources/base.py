"""What every source of leader fills returns, and the pieces the sources share.

A source reads logs; it stores nothing. :class:`PollResult` carries the fills, the cursors they
justify (last block fully read, per leader), and the block windows that were re-read completely,
so the store can tell which not-yet-copied fills vanished in a reorg.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from copybot.config.settings import SourceSettings
from copybot.errors import MalformedLog
from copybot.models import Fill
from copybot.sources.decode import decode_log

log = logging.getLogger(__name__)
FUTURE_TOLERANCE_S = 3600  # a block time this far past our own clock is a broken or forged log


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
    started: dict[str, int] = field(default_factory=dict)  # a new leader -> the first block it is followed from


class Source(Protocol):
    kind: str

    async def poll(
        self, cursors: Mapping[str, int | None], leaders: Sequence[str], floors: Mapping[str, int] | None = None
    ) -> PollResult:
        """New fills since each leader's cursor (None: never read). ``floors``: per leader, the first
        block it was followed from; the re-read of recent blocks never reaches below it."""
        ...

    def health(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def decode_rows(
    rows: Iterable[Mapping[str, Any]], followed: frozenset[str], result: PollResult, not_after: int | None = None
) -> list[Fill]:
    """Decode raw logs (Etherscan or JSON-RPC shape) into followed leaders' fills; count the malformed
    (a block time after ``not_after`` included) and say so in the log, once per poll."""
    fills = []
    first = ""
    for row in rows:
        try:
            fill = decode_log(row, followed, not_after)
        except MalformedLog as exc:
            result.malformed += 1
            first = first or str(exc)
            continue
        if fill is not None:
            fills.append(fill)
    if first:
        log.warning("skipped %d malformed OrderFilled log(s) of followed leaders (first: %s)", result.malformed, first)
    return fills


def start_cursor(start_block: int | str, latest: int) -> int:
    """Where a leader without a saved cursor starts: ``latest`` or the block before ``start_block``."""
    return latest if start_block == "latest" else max(0, int(start_block) - 1)


def read_from(
    leader: str,
    cursors: Mapping[str, int | None],
    floors: Mapping[str, int] | None,
    settings: SourceSettings,
    latest: int,
    result: PollResult,
) -> int:
    """The first block to read for ``leader`` this poll. A new leader starts at ``start_block`` (its
    cursor and first followed block go into ``result``); a known one re-reads the last
    ``confirmations_window`` blocks, never below the block it was first followed from."""
    cursor = cursors.get(leader)
    if cursor is None:
        cursor = start_cursor(settings.start_block, latest)
        result.cursors[leader] = cursor
        result.started[leader] = cursor + 1
        return cursor + 1
    floor = (floors or {}).get(leader, 0)
    return max(0, floor, cursor + 1 - settings.confirmations_window)
