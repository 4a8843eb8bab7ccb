"""A Polygon node's JSON-RPC (``POST /rpc``) over the sandbox chain: single calls and batches.

``eth_chainId``, ``net_version``, ``eth_blockNumber``, ``eth_getBlockByNumber``, a wallet's
transactions (``eth_getTransactionCount``, ``eth_gasPrice``, ``eth_estimateGas``,
``eth_sendRawTransaction``, ``eth_getTransactionReceipt``: :mod:`.transactions`) and
``eth_getLogs`` (address lists, OR-lists per topic position, ``blockHash``; with or without
``blockTimestamp``, as newer and older node releases answer), with the limits
public endpoints impose: a maximum block range and a maximum number of results per call, both
answered with error -32005 as providers do. Every answer is HTTP 200; errors are in the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse

from copybot.protocol import CHAIN_ID

from .chain import Log
from .transactions import GAS_LIMIT, GAS_PRICE, TxError

if TYPE_CHECKING:
    from .core import Sandbox

_ADDRESS: Final = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HASH: Final = re.compile(r"^0x[0-9a-fA-F]{64}$")
_QUANTITY: Final = re.compile(r"^0x[0-9a-fA-F]+$")
_LATEST_TAGS: Final = frozenset({"latest", "pending", "safe", "finalized"})
MAX_TOPICS: Final = 4


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RpcError:
    return RpcError(-32602, message)


def error(call_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "error": {"code": code, "message": message}}


def answer(sandbox: Sandbox, payload: Any) -> Any:
    """The body a node sends for a parsed request: one answer, or one per call of a batch."""
    if isinstance(payload, list):
        if not payload:
            return error(None, -32600, "empty batch")
        return [call(sandbox, item) for item in payload]
    return call(sandbox, payload)


def call(sandbox: Sandbox, request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        call_id = request.get("id") if isinstance(request, dict) else None
        return error(call_id, -32600, "invalid request")
    call_id, method = request.get("id"), request["method"]
    params = request.get("params", [])
    handler = METHODS.get(method)
    if handler is None:
        return error(call_id, -32601, f"the method {method} does not exist/is not available")
    if not isinstance(params, list):
        return error(call_id, -32602, "invalid params: expected an array")
    try:
        result = handler(sandbox, params)
    except RpcError as exc:
        return error(call_id, exc.code, exc.message)
    return {"jsonrpc": "2.0", "id": call_id, "result": result}


# -- methods ---------------------------------------------------------------------------------


def chain_id(sandbox: Sandbox, params: list[Any]) -> str:
    return hex(CHAIN_ID)


def net_version(sandbox: Sandbox, params: list[Any]) -> str:
    return str(CHAIN_ID)


def block_number(sandbox: Sandbox, params: list[Any]) -> str:
    return hex(sandbox.latest_block())


def block_by_number(sandbox: Sandbox, params: list[Any]) -> dict[str, object] | None:
    if not params:
        raise invalid("missing value for required argument 0")
    number = block_tag(params[0], sandbox.latest_block(), 0)
    try:
        return sandbox.block(number).to_rpc()
    except KeyError:
        return None  # not mined (yet), or before the sandbox's first block


def get_logs(sandbox: Sandbox, params: list[Any]) -> list[dict[str, object]]:
    if not params or not isinstance(params[0], dict):
        raise invalid("invalid argument 0: expected a filter object")
    query: dict[str, Any] = params[0]
    addresses = _addresses(query.get("address"))
    topics = _topics(query.get("topics"))
    block_hash = query.get("blockHash")
    if block_hash is not None:
        if query.get("fromBlock") is not None or query.get("toBlock") is not None:
            raise invalid("invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one")
        if not isinstance(block_hash, str) or not _HASH.match(block_hash):
            raise invalid("invalid argument 0: invalid blockHash")
        block = sandbox.block_by_hash(block_hash)
        if block is None:
            raise RpcError(-32000, "unknown block")
        start, candidates = block.number, list(block.logs)
    else:
        latest = sandbox.latest_block()
        start = block_tag(query.get("fromBlock", "latest"), latest, 0)
        end = block_tag(query.get("toBlock", "latest"), latest, 0)
        if start > end:
            raise invalid("invalid block range params")
        if end - start + 1 > sandbox.rpc_max_range:
            raise RpcError(-32005, f"block range is too wide, maximum is {sandbox.rpc_max_range}")
        candidates = sandbox.logs(start, end)
    found = [log for log in candidates if _matches(log, addresses, topics)]
    limit = sandbox.rpc_max_results
    if len(found) > limit:
        # the range that would fit: up to the block before the one holding result limit + 1
        fits = max(start, found[limit].block_number - 1)
        raise RpcError(
            -32005, f"query returned more than {limit} results. Try with this block range [{hex(start)}, {hex(fits)}]."
        )
    return [log.to_rpc(with_time=sandbox.rpc_block_timestamps) for log in found]


def transaction_count(sandbox: Sandbox, params: list[Any]) -> str:
    if not params or not isinstance(params[0], str) or not _ADDRESS.match(params[0]):
        raise invalid("invalid address")
    return hex(sandbox.transactions.nonce(params[0]))


def gas_price(sandbox: Sandbox, params: list[Any]) -> str:
    return hex(GAS_PRICE)


def estimate_gas(sandbox: Sandbox, params: list[Any]) -> str:
    if not params or not isinstance(params[0], dict):
        raise invalid("invalid transaction")
    return hex(GAS_LIMIT)


def send_raw_transaction(sandbox: Sandbox, params: list[Any]) -> str:
    if not params or not isinstance(params[0], str) or not _QUANTITY.match(params[0]):
        raise invalid("invalid raw transaction")
    try:
        return sandbox.transactions.send_raw(params[0])
    except TxError as exc:
        raise RpcError(-32000, str(exc)) from None


def transaction_receipt(sandbox: Sandbox, params: list[Any]) -> dict[str, Any] | None:
    if not params or not isinstance(params[0], str) or not _HASH.match(params[0]):
        raise invalid("invalid transaction hash")
    return sandbox.transactions.receipt(params[0])


METHODS: Final[dict[str, Callable[[Sandbox, list[Any]], Any]]] = {
    "eth_getTransactionCount": transaction_count,
    "eth_gasPrice": gas_price,
    "eth_estimateGas": estimate_gas,
    "eth_sendRawTransaction": send_raw_transaction,
    "eth_getTransactionReceipt": transaction_receipt,
    "eth_chainId": chain_id,
    "net_version": net_version,
    "eth_blockNumber": block_number,
    "eth_getBlockByNumber": block_by_number,
    "eth_getLogs": get_logs,
}


# -- parameters ------------------------------------------------------------------------------


def block_tag(raw: Any, latest: int, argument: int) -> int:
    """A block number: a hex quantity, ``earliest`` (0) or ``latest``/``pending``/``safe``/``finalized``."""
    if isinstance(raw, str) and raw in _LATEST_TAGS:
        return latest
    if raw == "earliest":
        return 0
    if isinstance(raw, str) and _QUANTITY.match(raw):
        return int(raw, 16)
    raise invalid(f"invalid argument {argument}: invalid block number {json.dumps(raw)}")


_TopicFilter = list[frozenset[str] | None]


def _addresses(raw: Any) -> frozenset[str] | None:
    if raw is None:
        return None
    given = [raw] if isinstance(raw, str) else raw
    if not isinstance(given, list) or not all(isinstance(a, str) and _ADDRESS.match(a) for a in given):
        raise invalid("invalid argument 0: invalid address")
    return frozenset(a.lower() for a in given) if given else None


def _topics(raw: Any) -> _TopicFilter:
    """Per position: None matches anything, else the set of accepted topics (OR)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TOPICS:
        raise invalid("invalid argument 0: topics must be a list of at most 4 positions")
    result: _TopicFilter = []
    for position in raw:
        options = [position] if isinstance(position, str) else position
        if options is None or (isinstance(options, list) and (not options or None in options)):
            result.append(None)  # null, [] and a null inside the list all mean "anything"
            continue
        if not isinstance(options, list) or not all(isinstance(t, str) and _HASH.match(t) for t in options):
            raise invalid("invalid argument 0: invalid topic")
        result.append(frozenset(t.lower() for t in options))
    return result


def _matches(log: Log, addresses: frozenset[str] | None, topics: _TopicFilter) -> bool:
    if addresses is not None and log.address not in addresses:
        return False
    for position, accepted in enumerate(topics):
        if accepted is not None and (position >= len(log.topics) or log.topics[position] not in accepted):
            return False
    return True


async def endpoint(sandbox: Sandbox, request: Request) -> JSONResponse:
    try:
        payload = json.loads(await request.body())
    except ValueError:
        return JSONResponse(error(None, -32700, "parse error"))
    return JSONResponse(answer(sandbox, payload))
