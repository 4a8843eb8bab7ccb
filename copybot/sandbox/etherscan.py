"""Etherscan API V2 (``/v2/api``) over the sandbox chain: ``getLogs`` and ``eth_blockNumber``.

Like the real service, every answer is HTTP 200 and errors are told apart by ``status`` and
``result``; the bodies below are copied from real captures (tests/fixtures).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from copybot.protocol import CHAIN_ID, ETHERSCAN_MAX_RECORDS, ETHERSCAN_MAX_WINDOW

from .chain import Log

if TYPE_CHECKING:
    from .core import Sandbox

INVALID_KEY: Final = {"status": "0", "message": "NOTOK", "result": "Invalid API Key"}
NO_RECORDS: Final = {"status": "0", "message": "No records found", "result": []}
BAD_CHAIN: Final = {
    "status": "0",
    "message": "NOTOK",
    "result": "Missing or unsupported chainid parameter (required for v2 api), "
    "please see https://api.etherscan.io/v2/chainlist for the list of supported chainids",
}
WINDOW_TOO_LARGE: Final = {
    "status": "0",
    "message": "NOTOK",
    "result": "Result window is too large, PageNo x Offset size must be less than or equal to 10000",
}
RATE_LIMITED: Final = {
    "status": "0",
    "message": "NOTOK",
    "result": "Max rate limit reached, please use API Key for higher rate limit",
}
BAD_MODULE: Final = {"status": "0", "message": "NOTOK", "result": "Error! Missing Or invalid Module name"}
BAD_ACTION: Final = {"status": "0", "message": "NOTOK", "result": "Error! Missing Or invalid Action name"}

_TOPIC: Final = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS: Final = re.compile(r"^0x[0-9a-f]{40}$")


class _BadParam(Exception):
    pass


def notok(result: str) -> dict[str, Any]:
    return {"status": "0", "message": "NOTOK", "result": result}


def answer(sandbox: Sandbox, query: Mapping[str, str]) -> dict[str, Any]:
    """The body Etherscan would send for these query parameters."""
    if query.get("chainid") != str(CHAIN_ID):
        return dict(BAD_CHAIN)
    if query.get("apikey") != sandbox.api_key:
        return dict(INVALID_KEY)
    module, action = query.get("module"), query.get("action")
    if module == "logs":
        if action != "getLogs":
            return dict(BAD_ACTION)
        try:
            return get_logs(sandbox, query)
        except _BadParam as exc:
            return notok(str(exc))
    if module == "proxy":
        if action != "eth_blockNumber":
            return dict(BAD_ACTION)
        return {"jsonrpc": "2.0", "id": 83, "result": hex(sandbox.latest_block())}
    return dict(BAD_MODULE)


def get_logs(sandbox: Sandbox, query: Mapping[str, str]) -> dict[str, Any]:
    page = _int(query.get("page", "1"), "page")
    offset = _int(query.get("offset", str(ETHERSCAN_MAX_RECORDS)), "offset")
    if page * offset > ETHERSCAN_MAX_WINDOW:
        return dict(WINDOW_TOO_LARGE)
    offset = min(offset, ETHERSCAN_MAX_RECORDS)
    address = query.get("address", "").lower() or None
    if address is not None and not _ADDRESS.match(address):
        raise _BadParam("Error! Invalid address format")
    topics = _topics(query)
    latest = sandbox.latest_block()
    from_block = _block(query.get("fromBlock", "0"), latest, "fromBlock")
    to_block = _block(query.get("toBlock", "latest"), latest, "toBlock")
    matching = [
        log
        for log in sandbox.logs(from_block, to_block)
        if (address is None or log.address == address) and _matches(log, topics)
    ]
    chosen = matching[(page - 1) * offset : page * offset]
    if not chosen:
        return dict(NO_RECORDS)
    return {"status": "1", "message": "OK", "result": [log.to_etherscan() for log in chosen]}


def _int(raw: str, name: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise _BadParam(f"Error! Invalid {name} number")
    return int(raw)


def _block(raw: str, latest: int, name: str) -> int:
    if raw == "latest":
        return latest
    if raw.isdigit():
        return int(raw)
    if raw.lower().startswith("0x"):
        try:
            return int(raw, 16)
        except ValueError:
            pass
    raise _BadParam(f"Error! Invalid {name} number")


# (position, topic, operator joining it to the topics before it); the first operator is unused
_TopicFilter = list[tuple[int, str, str]]


def _topics(query: Mapping[str, str]) -> _TopicFilter:
    """Given topics in position order, each with its ``topicX_Y_opr`` (``and`` when missing)."""
    given = [(i, query[f"topic{i}"].lower()) for i in range(4) if query.get(f"topic{i}")]
    result: _TopicFilter = []
    for n, (j, topic) in enumerate(given):
        if not _TOPIC.match(topic):
            raise _BadParam(f"Error! Invalid topic{j} format")
        operator = "and"
        for i, _ in reversed(given[:n]):  # the operator to the nearest earlier topic that names one
            if f"topic{i}_{j}_opr" in query:
                operator = query[f"topic{i}_{j}_opr"].lower()
                break
        if operator not in ("and", "or"):
            raise _BadParam("Error! Invalid topic operator")
        result.append((j, topic, operator))
    return result


def _matches(log: Log, topics: _TopicFilter) -> bool:
    """Fold the topic tests left to right with their operators (Etherscan's pairwise ``and``/``or``)."""
    verdict: bool | None = None
    for position, topic, operator in topics:
        hit = position < len(log.topics) and log.topics[position] == topic
        if verdict is None:
            verdict = hit
        elif operator == "and":
            verdict = verdict and hit
        else:
            verdict = verdict or hit
    return True if verdict is None else verdict


def routes(sandbox: Sandbox) -> list[Route]:
    async def api(request: Request) -> JSONResponse:
        return JSONResponse(answer(sandbox, request.query_params))

    return [Route("/api", api, methods=["GET"])]
