"""The simulated chain's data: V2 ``OrderFilled`` logs, transactions and blocks, in wire form.

Everything here is pure: building a log is ABI-encoding seven words; rendering one for the
Etherscan API is turning every field into a hex string (with Etherscan's bare ``"0x"`` for zero),
for JSON-RPC the same with ``"0x0"`` for zero. A reorganisation (:func:`reorganise`) reseals the
last blocks' transactions, shuffled, under new hashes. Mining order lives in :mod:`copybot.sandbox.core`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from copybot.models import Side
from copybot.protocol import (
    CTF_EXCHANGE_V1,
    CTF_EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V1,
    NEG_RISK_EXCHANGE_V2,
    ORDER_FILLED_V1,
    ORDER_FILLED_V2,
    V2_FIRST_BLOCK,
    pad_address,
)

ZERO_WORD: Final = "0x" + "0" * 64
_WORD_MAX: Final = 2**256


def word(value: int) -> str:
    """One ABI word (uint256 / bytes32) as 64 hex digits, no prefix."""
    if not 0 <= value < _WORD_MAX:
        raise ValueError(f"{value} does not fit in 32 bytes")
    return f"{value:064x}"


def hex_qty(value: int) -> str:
    """A quantity as Etherscan writes it in getLogs: ``0x``-hex, zero as a bare ``"0x"``."""
    return "0x" if value == 0 else hex(value)


def encode_order_filled_v2(
    *,
    side: Side,
    token_id: int,
    maker_amount: int,
    taker_amount: int,
    fee: int = 0,
    builder: int = 0,
    metadata: int = 0,
) -> str:
    """The ``data`` of a V2 ``OrderFilled``: side (uint8), tokenId, makerAmountFilled,
    takerAmountFilled, fee, builder (bytes32), metadata (bytes32): seven static words."""
    side_word = 0 if side is Side.BUY else 1
    words = (side_word, token_id, maker_amount, taker_amount, fee, builder, metadata)
    return "0x" + "".join(word(w) for w in words)


@dataclass(frozen=True, slots=True)
class LogDraft:
    """A log before it is mined: what the contract emitted, without block coordinates."""

    address: str  # lowercase emitting contract
    topics: tuple[str, ...]
    data: str


def order_filled(
    *,
    exchange: str,
    order_hash: int,
    maker: str,
    taker: str,
    side: Side,
    token_id: int,
    shares: int,
    collateral: int,
    fee: int = 0,
) -> LogDraft:
    """One V2 ``OrderFilled`` for the maker's order. The amounts follow the maker's side:
    BUY pays collateral for shares, SELL gives shares for collateral (protocol.md §3)."""
    if side is Side.BUY:
        maker_amount, taker_amount = collateral, shares
    else:
        maker_amount, taker_amount = shares, collateral
    topics = (ORDER_FILLED_V2, "0x" + word(order_hash), pad_address(maker), pad_address(taker))
    data = encode_order_filled_v2(
        side=side, token_id=token_id, maker_amount=maker_amount, taker_amount=taker_amount, fee=fee
    )
    return LogDraft(address=exchange.lower(), topics=topics, data=data)


@dataclass(frozen=True, slots=True)
class Tx:
    """A transaction as far as logs are concerned: its hash, gas and the logs it emitted."""

    tx_hash: str
    gas_price: int
    gas_used: int
    logs: tuple[LogDraft, ...]


@dataclass(frozen=True, slots=True)
class Log:
    """A mined log with its block coordinates."""

    address: str
    topics: tuple[str, ...]
    data: str
    block_number: int
    block_hash: str
    timestamp: int
    log_index: int
    tx_hash: str
    tx_index: int
    gas_price: int
    gas_used: int

    def to_etherscan(self) -> dict[str, object]:
        """The getLogs record: every field a hex string, zero indices as ``"0x"``."""
        return {
            "address": self.address,
            "topics": list(self.topics),
            "data": self.data,
            "blockNumber": hex(self.block_number),
            "blockHash": self.block_hash,
            "timeStamp": hex(self.timestamp),
            "gasPrice": hex(self.gas_price),
            "gasUsed": hex(self.gas_used),
            "logIndex": hex_qty(self.log_index),
            "transactionHash": self.tx_hash,
            "transactionIndex": hex_qty(self.tx_index),
        }

    def to_rpc(self, with_time: bool = True) -> dict[str, object]:
        """The ``eth_getLogs`` record of a node: hex quantities (zero as ``"0x0"``), ``removed``;
        ``blockTimestamp`` only from node releases that send it (``with_time``)."""
        record: dict[str, object] = {
            "address": self.address,
            "topics": list(self.topics),
            "data": self.data,
            "blockNumber": hex(self.block_number),
            "transactionHash": self.tx_hash,
            "transactionIndex": hex(self.tx_index),
            "blockHash": self.block_hash,
            "blockTimestamp": hex(self.timestamp),
            "logIndex": hex(self.log_index),
            "removed": False,
        }
        if not with_time:
            del record["blockTimestamp"]
        return record


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    block_hash: str
    timestamp: int
    logs: tuple[Log, ...]
    parent_hash: str = ZERO_WORD
    txs: tuple[Tx, ...] = ()

    def to_rpc(self) -> dict[str, object]:
        """A minimal ``eth_getBlockByNumber`` answer (no transaction bodies)."""
        return {
            "number": hex(self.number),
            "hash": self.block_hash,
            "parentHash": self.parent_hash,
            "timestamp": hex(self.timestamp),
            "transactions": [],
        }


V1_OF: Final = {CTF_EXCHANGE_V2: CTF_EXCHANGE_V1, NEG_RISK_EXCHANGE_V2: NEG_RISK_EXCHANGE_V1}


def as_v1(draft: LogDraft) -> LogDraft:
    """A V2 ``OrderFilled`` as the V1 exchanges emitted it before the V2 ones existed (protocol.md
    §3): the V1 contract and topic0, the side implied by which asset is collateral (id 0)."""
    if draft.address not in V1_OF or draft.topics[0] != ORDER_FILLED_V2:
        return draft
    body = draft.data.removeprefix("0x")
    side, token, maker_amount, taker_amount, fee = (int(body[i * 64 : (i + 1) * 64], 16) for i in range(5))
    maker_asset, taker_asset = (0, token) if side == 0 else (token, 0)
    v1 = V1_OF[draft.address]
    taker = pad_address(v1) if draft.topics[3] == pad_address(draft.address) else draft.topics[3]
    words = (maker_asset, taker_asset, maker_amount, taker_amount, fee)
    data = "0x" + "".join(word(w) for w in words)
    return LogDraft(address=v1, topics=(ORDER_FILLED_V1, draft.topics[1], draft.topics[2], taker), data=data)


def seal(number: int, block_hash: str, timestamp: int, txs: Sequence[Tx], parent_hash: str = ZERO_WORD) -> Block:
    """Give each log its block coordinates; log indices run across the block's transactions.
    Below the first V2 block, fills are sealed in the V1 layout: history reads both."""
    logs: list[Log] = []
    for tx_index, tx in enumerate(txs):
        for emitted in tx.logs:
            draft = as_v1(emitted) if number < V2_FIRST_BLOCK else emitted
            logs.append(
                Log(
                    address=draft.address,
                    topics=draft.topics,
                    data=draft.data,
                    block_number=number,
                    block_hash=block_hash,
                    timestamp=timestamp,
                    log_index=len(logs),
                    tx_hash=tx.tx_hash,
                    tx_index=tx_index,
                    gas_price=tx.gas_price,
                    gas_used=tx.gas_used,
                )
            )
    return Block(
        number=number,
        block_hash=block_hash,
        timestamp=timestamp,
        logs=tuple(logs),
        parent_hash=parent_hash,
        txs=tuple(txs),
    )


def reorganise(blocks: Sequence[Block], drop: frozenset[str], rng: random.Random) -> list[Block]:
    """Replacements for ``blocks`` (consecutive, oldest first): same numbers and timestamps, new
    hashes chained from the first one's parent, and the same transactions minus ``drop``,
    shuffled and cut at random points across the range (so a kept transaction usually gets a new
    log index and maybe a new block). The caller checks that ``blocks`` is non-empty."""
    txs = [tx for block in blocks for tx in block.txs if tx.tx_hash not in drop]
    rng.shuffle(txs)
    cuts = sorted(rng.randint(0, len(txs)) for _ in range(len(blocks) - 1))
    bounds = [0, *cuts, len(txs)]
    parent = blocks[0].parent_hash
    replaced: list[Block] = []
    for i, old in enumerate(blocks):
        block_hash = f"0x{rng.getrandbits(256):064x}"
        replaced.append(seal(old.number, block_hash, old.timestamp, txs[bounds[i] : bounds[i + 1]], parent))
        parent = block_hash
    return replaced
