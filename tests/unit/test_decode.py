"""Decoding and attribution of OrderFilled logs, checked against real captured logs.

Expected values come from tests/fixtures/README.md (decoded independently), not from the code.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from copybot.errors import MalformedLog
from copybot.models import Side
from copybot.protocol import CTF_EXCHANGE_V1, NEG_RISK_EXCHANGE_V2, ORDER_FILLED_V1, ORDER_FILLED_V2, checksum
from copybot.sources.decode import decode_log, hex_int

V2_LOG = "log_v2_negrisk_buy_taker.json"
V1_LOG = "log_v1_ctf_buy_maker.json"

V2_MAKER = "0x2f633efb75256a2f2445110c8978684ab8936643"
V1_MAKER = "0x00000003a358014c7c0e227483dbe01619871000"
V1_TAKER = "0xe55b90febea370d4611a4b0a9ff201183268b24e"
SPOOFER = "0x1111111111111111111111111111111111111111"
WORD = 64  # hex digits per ABI word
# The V2 capture is the classic log object, with no block time (protocol.md §5): the RPC source adds
# the block header's time before decoding, as this stand-in does.
HEADER_TIME = 1_790_000_123


def timed(log: dict[str, Any]) -> dict[str, Any]:
    """The log as the sources hand it to the decoder: with its block's time."""
    if "timeStamp" not in log and "blockTimestamp" not in log:
        log["blockTimestamp"] = hex(HEADER_TIME)
    return log


EXPECTED: dict[str, dict[str, Any]] = {
    V2_LOG: {
        "leader": V2_MAKER,
        "side": Side.BUY,
        "shares": 261_000_000,  # 261.000000 shares
        "collateral": 234_660_000,  # 234.660000 pUSD
        "price": Decimal("234.66") / Decimal("261"),
        "price_prefix": "0.899080",
        "fee": 1_184_080,
        "token_id": 84002167289818084946834195019107495872273829708192582096244977447292806293745,
        "block": 95_002_434,
        "log_index": 0x3D3,
        "tx_hash": "0x350eaaf9013a5936f048f8bcdff15c682c103207ed7cb9f987463977302c42bb",
        "timestamp": HEADER_TIME,  # the capture carries no block time: the block header's
        "exchange": NEG_RISK_EXCHANGE_V2,
        "as_taker": True,  # topic3 is the exchange itself: the taker aggregate
    },
    V1_LOG: {
        "leader": V1_MAKER,
        "side": Side.BUY,
        "shares": 17_700_000,
        "collateral": 7_434_000,
        "price": Decimal("0.42"),
        "price_prefix": "0.42",
        "fee": 1_770_000,
        "token_id": 114856201873541567677341731370365137173235058495071385195611596664202155739948,
        "block": 81_344_785,
        "log_index": 0x54D,
        "tx_hash": "0x31d5dca405136cb4ed09bcf817d2b6c2ce1331b18d4b5738eae2e76f7e73e391",
        "timestamp": 0x695E9F3D,  # JSON-RPC shape: blockTimestamp
        "exchange": CTF_EXCHANGE_V1,
        "as_taker": False,  # a resting maker order
    },
}


def _pad(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _word(value: int) -> str:
    return format(value, "064x")


@pytest.mark.parametrize("name", [V2_LOG, V1_LOG])
def test_real_logs_decode_to_documented_values(fixture_json: Callable[[str], Any], name: str) -> None:
    exp = EXPECTED[name]
    fill = decode_log(timed(fixture_json(name)), {exp["leader"]})
    assert fill is not None
    assert fill.leader == exp["leader"]
    assert fill.side is exp["side"]
    assert fill.shares == exp["shares"]
    assert fill.collateral == exp["collateral"]
    assert isinstance(fill.price, Decimal)
    assert fill.price == exp["price"]
    assert str(fill.price).startswith(exp["price_prefix"])
    assert fill.fee == exp["fee"]
    assert fill.token_id == exp["token_id"]
    assert fill.block == exp["block"]
    assert fill.log_index == exp["log_index"]
    assert fill.tx_hash == exp["tx_hash"]
    assert fill.timestamp == exp["timestamp"]
    assert fill.exchange == exp["exchange"]
    assert fill.as_taker is exp["as_taker"]
    assert fill.key == (exp["tx_hash"], exp["log_index"])


# ---- attribution: which logs count for which followed wallet ---------------------------------


@pytest.mark.parametrize(
    ("name", "leaders", "counts"),
    [
        pytest.param(V2_LOG, {V2_MAKER}, True, id="v2-maker-followed"),
        pytest.param(V1_LOG, {V1_MAKER}, True, id="v1-maker-followed"),
        pytest.param(V1_LOG, {V1_TAKER}, False, id="v1-leader-only-topic3-counterparty-view"),
        pytest.param(V2_LOG, {NEG_RISK_EXCHANGE_V2}, False, id="v2-exchange-in-topic3-is-not-a-leader"),
        pytest.param(V1_LOG, {V1_MAKER, V1_TAKER}, True, id="v1-both-followed-counts-once-for-maker"),
        pytest.param(V2_LOG, set(), False, id="nobody-followed"),
        pytest.param(V2_LOG, {V1_MAKER}, False, id="someone-else-followed"),
    ],
)
def test_only_the_indexed_maker_is_attributed(
    fixture_json: Callable[[str], Any], name: str, leaders: set[str], counts: bool
) -> None:
    fill = decode_log(timed(fixture_json(name)), leaders)
    if counts:
        assert fill is not None
        assert fill.leader in leaders
        assert fill.leader == EXPECTED[name]["leader"]  # never the counterparty in topic3
    else:
        assert fill is None


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(log: dict[str, Any]) -> None:
        log[key] = value

    return apply


def _topic(index: int, value: str) -> Callable[[dict[str, Any]], None]:
    def apply(log: dict[str, Any]) -> None:
        log["topics"][index] = value

    return apply


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def apply(log: dict[str, Any]) -> None:
        log.pop(key, None)

    return apply


def _truncate_topics(log: dict[str, Any]) -> None:
    log["topics"] = log["topics"][:3]


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        pytest.param(V2_LOG, _set("address", SPOOFER), id="v2-spoofed-emitter"),
        pytest.param(V1_LOG, _set("address", SPOOFER), id="v1-spoofed-emitter"),
        pytest.param(V2_LOG, _set("address", "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"), id="v2-from-pusd-token"),
        pytest.param(V1_LOG, _set("address", ""), id="no-address"),
        pytest.param(V2_LOG, _topic(0, "0x" + "ab" * 32), id="unknown-topic0"),
        pytest.param(V2_LOG, _topic(0, "0x174b3811" + "0" * 52 + "ab7c"), id="orders-matched-like"),
        pytest.param(V1_LOG, _set("removed", True), id="removed-by-reorg"),
        pytest.param(V2_LOG, _set("removed", True), id="v2-removed"),
        pytest.param(V1_LOG, _truncate_topics, id="too-few-topics"),
        pytest.param(V1_LOG, _set("topics", "not a list"), id="topics-not-a-list"),
    ],
)
def test_logs_that_are_not_a_followed_fill_are_ignored(
    fixture_json: Callable[[str], Any], name: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    log = fixture_json(name)
    mutate(log)
    assert decode_log(log, {V2_MAKER, V1_MAKER}) is None


def test_v1_topic0_on_a_v2_exchange_is_still_decoded_as_v1(fixture_json: Callable[[str], Any]) -> None:
    # Both event shapes are accepted from every Polymarket exchange; the layout follows topic0.
    log = fixture_json(V1_LOG)
    assert log["topics"][0] == ORDER_FILLED_V1
    fill = decode_log(log, {V1_MAKER})
    assert fill is not None and fill.side is Side.BUY


# ---- wire-format quirks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0x", 0),
        ("", 0),
        ("0x0", 0),
        ("0x3d3", 979),
        ("0X3D3", 979),
        (" 0x10 ", 16),
        ("0x5a99f42", 95_002_434),
        (42, 42),
        ("42", 42),  # a decimal string (some RPCs) stays decimal
    ],
)
def test_hex_int(raw: object, expected: int) -> None:
    assert hex_int(raw) == expected


@pytest.mark.parametrize("raw", [None, True, False, 1.5, "0xzz", "zz", [], {}])
def test_hex_int_rejects(raw: object) -> None:
    with pytest.raises(MalformedLog):
        hex_int(raw)


@pytest.mark.parametrize(
    ("name", "mutate", "field", "expected"),
    [
        pytest.param(V2_LOG, _set("logIndex", "0x"), "log_index", 0, id="bare-0x-log-index"),
        pytest.param(V2_LOG, _drop("logIndex"), "log_index", 0, id="missing-log-index"),
        pytest.param(V2_LOG, _set("timeStamp", "0x6a000000"), "timestamp", 0x6A000000, id="etherscan-timeStamp"),
        pytest.param(V2_LOG, _set("blockTimestamp", "0x6a000001"), "timestamp", 0x6A000001, id="rpc-blockTimestamp"),
        pytest.param(V1_LOG, _set("timeStamp", "0x6a000002"), "timestamp", 0x6A000002, id="timeStamp-wins-over-rpc"),
        pytest.param(V1_LOG, _set("removed", False), "block", 81_344_785, id="removed-false-is-kept"),
        pytest.param(
            V1_LOG,
            _set("transactionHash", EXPECTED[V1_LOG]["tx_hash"].upper().replace("0X", "0x")),
            "tx_hash",
            EXPECTED[V1_LOG]["tx_hash"],
            id="tx-hash-lowercased",
        ),
    ],
)
def test_wire_quirks(
    fixture_json: Callable[[str], Any],
    name: str,
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    expected: object,
) -> None:
    log = fixture_json(name)
    mutate(log)
    fill = decode_log(timed(log), {V2_MAKER, V1_MAKER})
    assert fill is not None
    assert getattr(fill, field) == expected


def _checksum_everything(log: dict[str, Any]) -> None:
    log["address"] = checksum(log["address"])
    for i in (2, 3):
        # a topic is not an address, but some tools print the embedded address checksummed
        log["topics"][i] = "0x" + "0" * 24 + checksum("0x" + log["topics"][i][-40:])[2:]
    log["topics"][0] = log["topics"][0].upper().replace("0X", "0x")


@pytest.mark.parametrize("name", [V2_LOG, V1_LOG])
def test_checksum_case_addresses_and_topics_still_match(fixture_json: Callable[[str], Any], name: str) -> None:
    log = timed(fixture_json(name))
    _checksum_everything(log)
    assert log["address"] != log["address"].lower()  # the mutation really changed the case
    fill = decode_log(log, {EXPECTED[name]["leader"]})
    assert fill is not None
    assert fill.leader == EXPECTED[name]["leader"]  # stored lowercase
    assert fill.exchange == EXPECTED[name]["exchange"]
    assert fill.as_taker is EXPECTED[name]["as_taker"]  # the topic3 == exchange test is case-insensitive too


# ---- synthetic V1/V2 SELLs (layouts from protocol.md §3) ---------------------------------------


def _v2_sell_log(fixture_json: Callable[[str], Any], side: int) -> dict[str, Any]:
    log: dict[str, Any] = timed(fixture_json(V2_LOG))
    body = _word(side) + _word(777) + _word(50_000_000) + _word(30_000_000) + _word(0) + _word(0) + _word(0)
    log["data"] = "0x" + body
    log["topics"][3] = _pad(V1_TAKER)  # a resting maker this time
    return log


def test_v2_sell_reads_shares_from_maker_amount(fixture_json: Callable[[str], Any]) -> None:
    fill = decode_log(_v2_sell_log(fixture_json, side=1), {V2_MAKER})
    assert fill is not None
    assert (fill.side, fill.token_id, fill.shares, fill.collateral) == (Side.SELL, 777, 50_000_000, 30_000_000)
    assert fill.price == Decimal("0.6")
    assert fill.as_taker is False


def test_v1_sell_token_is_the_maker_asset(fixture_json: Callable[[str], Any]) -> None:
    log = fixture_json(V1_LOG)
    log["data"] = "0x" + _word(999) + _word(0) + _word(10_000_000) + _word(2_500_000) + _word(5)
    fill = decode_log(log, {V1_MAKER})
    assert fill is not None
    assert (fill.side, fill.token_id, fill.shares, fill.collateral, fill.fee) == (
        Side.SELL,
        999,
        10_000_000,
        2_500_000,
        5,
    )
    assert fill.price == Decimal("0.25")


# ---- malformed logs of a followed leader -------------------------------------------------------


def _data(value: str) -> Callable[[dict[str, Any]], None]:
    return _set("data", value)


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        pytest.param(V2_LOG, _data("0x"), id="v2-empty-data"),
        pytest.param(V2_LOG, _data("0x" + _word(0) * 4), id="v2-four-words"),
        pytest.param(V1_LOG, _data("0x" + _word(0) * 4 + "00" * 31), id="v1-short-by-one-byte"),
        pytest.param(V2_LOG, _data("0x" + "zz" * 32 + _word(1) * 6), id="v2-non-hex-side-word"),
        pytest.param(V1_LOG, _data("0x" + _word(0) * 2 + "g" * WORD + _word(1) * 2), id="v1-non-hex-amount"),
        pytest.param(V2_LOG, _data("0x" + _word(2) + _word(1) * 6), id="v2-side-word-2"),
        pytest.param(V2_LOG, _data("0x" + "f" * WORD + _word(1) * 6), id="v2-side-word-max"),
        pytest.param(V2_LOG, _set("transactionHash", "0x1234"), id="short-tx-hash"),
        pytest.param(V2_LOG, _drop("transactionHash"), id="missing-tx-hash"),
        pytest.param(V1_LOG, _set("blockNumber", "0xnope"), id="non-hex-block"),
        pytest.param(V1_LOG, _drop("blockNumber"), id="missing-block"),
        pytest.param(V1_LOG, _set("logIndex", "twelve"), id="non-hex-log-index"),
        pytest.param(V1_LOG, _drop("blockTimestamp"), id="no-block-time-at-all"),
        pytest.param(V2_LOG, lambda log: None, id="v2-as-captured-without-its-block-time"),
        pytest.param(V1_LOG, _set("blockTimestamp", "0x0"), id="block-time-zero"),
        pytest.param(V2_LOG, _set("timeStamp", "0x"), id="etherscan-block-time-bare-0x"),
    ],
)
def test_malformed_followed_logs_raise(
    fixture_json: Callable[[str], Any], name: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    log = fixture_json(name)
    mutate(log)
    with pytest.raises(MalformedLog):
        decode_log(log, {V2_MAKER, V1_MAKER})


def test_malformed_log_of_an_unfollowed_wallet_is_just_ignored(fixture_json: Callable[[str], Any]) -> None:
    log = fixture_json(V2_LOG)
    log["data"] = "0x"
    assert decode_log(log, {V1_MAKER}) is None


def test_topic0_constants_match_the_fixtures(fixture_json: Callable[[str], Any]) -> None:
    assert fixture_json(V2_LOG)["topics"][0] == ORDER_FILLED_V2
    assert fixture_json(V1_LOG)["topics"][0] == ORDER_FILLED_V1


def test_a_block_time_in_the_future_is_malformed_never_a_young_fill(fixture_json: Callable[[str], Any]) -> None:
    log = fixture_json(V1_LOG)  # blockTimestamp 0x695E9F3D
    assert decode_log(log, {V1_MAKER}, not_after=0x695E9F3D) is not None  # up to the bound: fine
    with pytest.raises(MalformedLog, match="in the future"):
        decode_log(log, {V1_MAKER}, not_after=0x695E9F3D - 1)
