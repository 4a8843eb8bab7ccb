"""Facts about Polymarket on Polygon that copybot is built on (see docs/protocol.md).

Everything here is a constant: contract addresses, event topics, decimals. Addresses are kept
lowercase for comparison; use :func:`checksum` for display.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Final

CHAIN_ID: Final = 137
DECIMALS: Final = 6
UNIT: Final = 10**DECIMALS  # base units per pUSD / per share
CENT: Final = UNIT // 100  # base units in 0.01 pUSD: order collateral is a whole number of cents
LOT: Final = UNIT // 100  # base units in 0.01 share: the smallest size the CLOB trades
DEFAULT_TICK: Final = Decimal("0.01")  # a market's price step when its book does not say

CTF_EXCHANGE_V1: Final = "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"
NEG_RISK_EXCHANGE_V1: Final = "0xc5d563a36ae78145c45a50134d48a1215220f80a"
CTF_EXCHANGE_V2: Final = "0xe111180000d2663c0091e4f400237545b87b996b"
NEG_RISK_EXCHANGE_V2: Final = "0xe2222d279d744050d28e00520010520000310f59"
# "Protocol V2" markets: the V2 OrderFilled layout and topic0, but token ids are position ids (§3)
EXCHANGE_V3: Final = "0xe3333700ca9d93003f00f0f71f8515005f6c00aa"

V1_EXCHANGES: Final = frozenset({CTF_EXCHANGE_V1, NEG_RISK_EXCHANGE_V1})
V2_EXCHANGES: Final = frozenset({CTF_EXCHANGE_V2, NEG_RISK_EXCHANGE_V2})
POSITION_EXCHANGES: Final = frozenset({EXCHANGE_V3})  # trade position ids, not CTF token ids
EXCHANGES: Final = V1_EXCHANGES | V2_EXCHANGES | POSITION_EXCHANGES
NEG_RISK_EXCHANGES: Final = frozenset({NEG_RISK_EXCHANGE_V1, NEG_RISK_EXCHANGE_V2})

V2_FIRST_BLOCK: Final = 84_902_353

ORDER_FILLED_V1: Final = "0xd0a08e8c493f9c94f29311604c9de1b4e8c8d4c06bd0c789af57f2d65bfec0f6"
ORDER_FILLED_V2: Final = "0xd543adfd945773f1a62f74f0ee55a5e3b9b1a28262980ba90b1a89f2ea84d8ee"

ETHERSCAN_MAX_RECORDS: Final = 1000  # records per getLogs page
ETHERSCAN_MAX_WINDOW: Final = 10_000  # page x offset may not exceed this


def pad_address(address: str) -> str:
    """An address as a 32-byte topic: ``0x`` + 24 zeros + 40 hex digits (lowercase)."""
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def topic_to_address(topic: str) -> str:
    """The address held in the low 20 bytes of a 32-byte topic, lowercase."""
    return "0x" + topic.lower().removeprefix("0x")[-40:]


@lru_cache(maxsize=4096)  # a status lists each leader on every position row: hash each address once
def checksum(address: str) -> str:
    # imported on first use: eth_utils costs 30-50 ms and most importers (models, risk, sizing) only want UNIT
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


# -- EIP-712: what the exchanges and wallets sign (ExchangeV2 orders, deposit-wallet batches) ---------

EXCHANGE_DOMAIN_NAME: Final = "Polymarket CTF Exchange"
EIP712_DOMAIN: Final = (  # name, version, chainId, verifyingContract
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)
ORDER_STRUCT: Final = (  # an order as CTFExchangeV2 / NegRiskCtfExchangeV2 hash it (``expiration`` is not signed)
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
)
# the Order type string (what ERC-7739 wrappers carry and hash)
ORDER_TYPE: Final = "Order(" + ",".join(f"{f['type']} {f['name']}" for f in ORDER_STRUCT) + ")"
