"""Storing what a poll found (store.fills through Store.save_poll): a fill a reorg moved takes its new
place instead of being stored twice; one whose old place was not re-read is a second fill."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from copybot.models import Fill, Side
from copybot.sources.base import PollResult, Window
from copybot.store import Store

U = 10**6
NOW = 1_790_000_000.0
LEADER = "0x" + "a1" * 20
TX = "0x" + "77" * 32
FILL = Fill(
    LEADER, TX, 3, 100, int(NOW) - 20, "0xe111180000d2663c0091e4f400237545b87b996b", 42, Side.BUY, 10 * U, 5 * U
)


def stored(store: Store) -> list[tuple[int, int, int, str]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute("SELECT block, log_index, ts, state FROM fills ORDER BY id").fetchall()
    finally:
        conn.close()


def poll(fills: list[Fill], lo: int, hi: int) -> PollResult:
    return PollResult(fills=fills, cursors={LEADER: hi}, windows=[Window(frozenset({LEADER}), lo, hi)])


def test_a_fill_moved_by_a_reorg_takes_its_new_place_once(store: Store) -> None:
    assert store.save_poll(poll([FILL], 100, 100), NOW).new == 1
    moved = replace(FILL, block=101, log_index=5, timestamp=FILL.timestamp + 2)
    report = store.save_poll(poll([moved], 100, 101), NOW)  # block 100 re-read: the log is no longer there
    assert (report.new, report.moved, report.vanished) == (0, 1, 0)
    assert stored(store) == [(101, 5, moved.timestamp, "pending")]
    assert [p.fill for p in store.pending_fills(10)] == [moved]
    # seen again at its new place: a duplicate, nothing changes
    again = store.save_poll(poll([moved], 100, 101), NOW)
    assert (again.new, again.moved) == (0, 0) and stored(store) == [(101, 5, moved.timestamp, "pending")]


def test_a_twin_whose_old_place_was_not_re_read_is_a_second_fill(store: Store) -> None:
    store.save_poll(poll([FILL], 100, 100), NOW)
    twin = replace(FILL, block=100, log_index=9)  # the same amounts twice in one transaction
    report = store.save_poll(poll([FILL, twin], 101, 101), NOW)  # block 100 not re-read: nothing moved
    assert (report.new, report.moved, report.duplicates) == (1, 0, 1)
    assert [row[:2] for row in stored(store)] == [(100, 3), (100, 9)]


def test_a_pending_fill_gone_from_a_re_read_window_is_skipped_as_reorged(store: Store) -> None:
    store.save_poll(poll([FILL], 100, 100), NOW)
    report = store.save_poll(poll([], 99, 101), NOW)
    assert report.vanished == 1 and store.pending_fills(10) == []
    assert stored(store) == [(100, 3, FILL.timestamp, "done")]
