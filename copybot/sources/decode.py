"""Pure decoding of ``OrderFilled`` logs (V1 and V2) into attributed :class:`Fill` values.

Accepts both wire shapes: Etherscan (hex strings, ``timeStamp``, bare ``"0x"`` for zero) and
JSON-RPC (``blockTimestamp`` when the node sends it, ``removed``). A log without its block's time is
malformed here: the RPC source fills the time in from the block header first (protocol.md §5), and a
time of zero, or one after ``not_after``, is never taken for a fill's age.

Attribution follows protocol.md §3: a log counts for wallet W only if W is its indexed maker
(topic2) and it was emitted by a Polymarket exchange.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any

from copybot.errors import MalformedLog
from copybot.models import Fill, Side
from copybot.protocol import EXCHANGES, ORDER_FILLED_V1, ORDER_FILLED_V2, topic_to_address

MAX_STORED = 2**63 - 1  # SQLite's INTEGER: no real amount, block or index comes near it


def _in_range(name: str, value: int) -> int:
    """A uint256 word or hex quantity that must fit what we store; negative means a forged log."""
    if not 0 <= value <= MAX_STORED:
        raise MalformedLog(f"{name} {value} is out of range")
    return value


def hex_int(value: object) -> int:
    """Parse an Etherscan/RPC hex quantity; ``"0x"`` and ``""`` mean 0. Ints pass through."""
    if isinstance(value, bool):
        raise MalformedLog(f"not a hex quantity: {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise MalformedLog(f"not a hex quantity: {value!r}")
    text = value.strip().lower()
    if text in ("0x", ""):
        return 0
    try:
        return int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        raise MalformedLog(f"not a hex quantity: {value!r}") from None


def _words(data: str, count: int) -> list[int]:
    body = data.lower().removeprefix("0x")
    if len(body) < 64 * count:
        raise MalformedLog(f"data has {len(body) // 64} words, expected at least {count}")
    try:
        return [int(body[i * 64 : (i + 1) * 64], 16) for i in range(count)]
    except ValueError:
        raise MalformedLog("data is not hex") from None


def is_relevant(log: Mapping[str, Any], leaders: Container[str]) -> bool:
    """Cheap pre-check: an OrderFilled from a Polymarket exchange whose maker is followed."""
    topics = log.get("topics")
    if not isinstance(topics, list) or len(topics) < 4:
        return False
    topic0 = str(topics[0]).lower()
    if topic0 not in (ORDER_FILLED_V1, ORDER_FILLED_V2):
        return False
    if str(log.get("address", "")).lower() not in EXCHANGES:
        return False  # spoofed event from some other contract
    return topic_to_address(str(topics[2])) in leaders


def block_time(log: Mapping[str, Any]) -> object:
    """The log's block time as sent (Etherscan ``timeStamp``, JSON-RPC ``blockTimestamp``), or None."""
    return log.get("timeStamp", log.get("blockTimestamp"))


def decode_log(log: Mapping[str, Any], leaders: Container[str], not_after: int | None = None) -> Fill | None:
    """The leader's fill in this log, or None when the log is not one of a followed leader's fills.

    Raises :class:`MalformedLog` when a relevant log cannot be decoded, including a block time that
    is missing, zero, or later than ``not_after`` (unix seconds; None = no upper bound).
    """
    if log.get("removed") is True or not is_relevant(log, leaders):
        return None
    topics = [str(t).lower() for t in log["topics"]]
    exchange = str(log["address"]).lower()
    maker = topic_to_address(topics[2])
    taker = topic_to_address(topics[3])
    data = str(log.get("data", ""))
    if topics[0] == ORDER_FILLED_V2:
        side_word, token_id, maker_amount, taker_amount, fee = _words(data, 5)
        if side_word not in (0, 1):
            raise MalformedLog(f"V2 side must be 0 or 1, got {side_word}")
        side = Side.BUY if side_word == 0 else Side.SELL
    else:
        maker_asset, taker_asset, maker_amount, taker_amount, fee = _words(data, 5)
        if maker_asset == 0:
            side, token_id = Side.BUY, taker_asset
        else:
            side, token_id = Side.SELL, maker_asset
    if side is Side.BUY:
        collateral, shares = maker_amount, taker_amount
    else:
        shares, collateral = maker_amount, taker_amount
    tx_hash = str(log.get("transactionHash", "")).lower()
    if not tx_hash.startswith("0x") or len(tx_hash) != 66:
        raise MalformedLog(f"bad transactionHash {tx_hash!r}")
    timestamp = _timestamp(block_time(log), not_after)
    return Fill(
        leader=maker,
        tx_hash=tx_hash,
        log_index=_in_range("logIndex", hex_int(log.get("logIndex", "0x"))),
        block=_in_range("blockNumber", hex_int(log.get("blockNumber"))),
        timestamp=timestamp,
        exchange=exchange,
        token_id=token_id,
        side=side,
        shares=_in_range("shares", shares),
        collateral=_in_range("collateral", collateral),
        fee=_in_range("fee", fee),
        as_taker=taker == exchange,
    )


def _timestamp(raw: object, not_after: int | None) -> int:
    if raw is None:
        raise MalformedLog("no block timestamp")
    value = _in_range("timestamp", hex_int(raw))
    if value == 0:
        raise MalformedLog("block timestamp is 0")
    if not_after is not None and value > not_after:
        raise MalformedLog(f"block timestamp {value} is in the future")
    return value
