"""Who may sign and fund an order, as the CLOB checks it before matching (production's texts).

Signature types 0-2: the API key's address signs; the maker is that address (0) or its deployed
proxy (1) / Safe (2). Type 3 (POLY_1271): the deposit wallet is both signer and maker and the API
key's address must own it; the wallet itself then checks the signature (ERC-1271, in
:func:`copybot.sandbox.orders.check_signature`). Accounts made since 2026-05-04 may only use the
deposit-wallet flow (``deposit_wallet_only``).
"""

from __future__ import annotations

from typing import Final

from .orders import OrderError, SignedOrder
from .wallets import Wallets

NOT_OWNER: Final = "the order owner has to be the owner of the API KEY"
NOT_SIGNER: Final = "the order signer address has to be the address of the API KEY"
DEPOSIT_WALLET_FLOW: Final = "maker address not allowed, please use the deposit wallet flow"
WALLET_KIND: Final = {1: "proxy", 2: "safe", 3: "deposit"}


def holder_of(wallets: Wallets, address: str, signature_type: int) -> str | None:
    """The funds holder for an API key's (lowercase) address and a signature type; None if that
    wallet is not deployed."""
    if signature_type == 0:
        return address
    wallet = wallets.of(address, WALLET_KIND[signature_type])
    return None if wallet is None else wallet.address


def check_accounts(wallets: Wallets, address: str, order: SignedOrder, *, deposit_wallet_only: bool) -> None:
    """:class:`OrderError` unless the key's ``address`` may sign this order for its maker."""
    kind = order.signature_type
    if kind != 3 and deposit_wallet_only:
        raise OrderError(DEPOSIT_WALLET_FLOW)
    if kind == 3:
        wallet = wallets.get(order.signer)
        if wallet is None or wallet.kind != "deposit" or wallet.owner != address:
            raise OrderError(NOT_SIGNER)
        if order.maker != order.signer:
            raise OrderError(DEPOSIT_WALLET_FLOW)
        return
    if order.signer != address:
        raise OrderError(NOT_SIGNER)
    if order.maker != holder_of(wallets, address, kind):
        raise OrderError(DEPOSIT_WALLET_FLOW if kind == 0 else NOT_OWNER)
