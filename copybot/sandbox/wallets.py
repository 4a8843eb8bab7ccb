"""The wallets a Polymarket account trades from, as production derives and checks them.

Every account wallet is a contract at a CREATE2 address derived from its owner's EOA, so the
exchange (and the SDK, offline) can tell which owner a wallet belongs to:

- proxy wallet ("email" accounts, signature type 1): Polymarket's proxy factory, salt =
  keccak(owner), init code = a minimal proxy of the proxy implementation;
- Safe ("browser wallet" accounts, type 2): the Safe factory, salt = keccak(abi(owner)), a fixed
  init-code hash;
- deposit wallet (every account since 2026-05-04, type 3, POLY_1271): the deposit-wallet factory,
  salt = keccak(abi(factory, owner as bytes32)), init code = an ERC-1967 beacon proxy (a UUPS
  proxy for the first ones), deployed by Polymarket's relayer.

The factories, implementations and init-code hashes are production's (written here from the
contracts' deployments, as ``polymarket-client`` 0.14 carries them); a contract test checks these
derivations against the SDK's for random owners. Signature checks: type 1 and 2 orders are signed by
the owner (``signer`` = owner EOA, ``maker`` = its wallet); a type 3 order names the deposit wallet
as both, and the wallet validates the signature (ERC-1271): the owner's ECDSA signature over an
ERC-7739 ``TypedDataSign`` wrapper of the order, or a plain one over the order hash.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

from eth_abi.abi import encode as abi_encode
from eth_abi.packed import encode_packed
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from copybot.protocol import ORDER_TYPE

PROXY_FACTORY: Final = "0xaB45c5A4B0c941a2F231C04C3f49182e1A254052"
PROXY_IMPLEMENTATION: Final = "0x44e999d5c2F66Ef0861317f9A4805AC2e90aEB4f"
SAFE_FACTORY: Final = "0xaacFeEa03eb1561C4e67d661e40682Bd20E3541b"
SAFE_INIT_CODE_HASH: Final = "2bce2127ff07fb632d16c8347c4ebf501f4841168bed00d9e6ef715ddb6fcecf"
DEPOSIT_WALLET_FACTORY: Final = "0x00000000000Fb5C9ADea0298D729A0CB3823Cc07"
DEPOSIT_WALLET_IMPLEMENTATION: Final = "0x58CA52ebe0DadfdF531Cde7062e76746de4Db1eB"
DEPOSIT_WALLET_BEACON: Final = "0x7A18EDfe055488A3128f01F563e5B479D92ffc3a"

KINDS: Final = ("proxy", "safe", "deposit")
SIGNATURE_TYPES: Final = {"proxy": 1, "safe": 2, "deposit": 3}

# the minimal proxy the proxy factory deploys, with the factory and implementation spliced in
_PROXY_CODE: Final = (
    "3d3d606380380380913d393d73{factory}5af4602a57600080fd5b602d8060366000396000f3363d3d373d3d3d363d73"
    "{impl}5af43d82803e903d91602b57fd5bf352e831dd" + "00" * 31 + "20" + "00" * 32
)
# ERC-1967 proxies with immutable args (Solady LibClone): prefix + target + fixed code + args
_BEACON_PREFIX: Final = 0x6100523D8160233D3973
_BEACON_CODE: Final = bytes.fromhex(
    "60195155f3363d3d373d3d363d602036600436635c60da"
    "1b60e01b36527fa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6c"
    "b3582b35133d50545afa5036515af43d6000803e604d573d6000fd5b3d6000f3"
)
_UUPS_PREFIX: Final = 0x61003D3D8160233D3973
_UUPS_CODE: Final = bytes.fromhex(
    "6009"
    "5155f3363d3d373d3d363d7f360894a13ba1a3210667c828492db98dca3e2076"
    "cc3735a920a3ca505d382bbc545af43d6000803e6038573d6000fd5b3d6000f3"
)


def _raw(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x"))


def _create2(factory: str, salt: bytes, code_hash: bytes) -> str:
    return to_checksum_address(keccak(b"\xff" + _raw(factory) + salt + code_hash)[12:])


def proxy_wallet(owner: str) -> str:
    code = _PROXY_CODE.format(factory=PROXY_FACTORY[2:].lower(), impl=PROXY_IMPLEMENTATION[2:].lower())
    salt = keccak(encode_packed(["address"], [to_checksum_address(owner)]))
    return _create2(PROXY_FACTORY, salt, keccak(bytes.fromhex(code)))


def safe_wallet(owner: str) -> str:
    salt = keccak(abi_encode(["address"], [to_checksum_address(owner)]))
    return _create2(SAFE_FACTORY, salt, bytes.fromhex(SAFE_INIT_CODE_HASH))


def _deposit_args(owner: str) -> bytes:
    return abi_encode(["address", "bytes32"], [DEPOSIT_WALLET_FACTORY, _raw(owner).rjust(32, b"\0")])


def deposit_wallet(owner: str, *, legacy_uups: bool = False) -> str:
    args = _deposit_args(owner)
    if legacy_uups:
        prefix, target, code = _UUPS_PREFIX, DEPOSIT_WALLET_IMPLEMENTATION, _UUPS_CODE
    else:
        prefix, target, code = _BEACON_PREFIX, DEPOSIT_WALLET_BEACON, _BEACON_CODE
    head = (prefix + (len(args) << 56)).to_bytes(10, "big")
    return _create2(DEPOSIT_WALLET_FACTORY, keccak(args), keccak(head + _raw(target) + code + args))


def derive(owner: str, kind: str) -> str:
    """The lowercase address of ``owner``'s wallet of this kind."""
    derive_one = {"proxy": proxy_wallet, "safe": safe_wallet, "deposit": deposit_wallet}[kind]
    return derive_one(owner).lower()


@dataclass(frozen=True, slots=True)
class Wallet:
    address: str  # lowercase
    owner: str  # lowercase EOA
    kind: str  # proxy | safe | deposit


class Wallets:
    """The account wallets the relayer has deployed, by address. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_address: dict[str, Wallet] = {}

    def deploy(self, owner: str, kind: str) -> Wallet:
        if kind not in KINDS:
            raise ValueError(f"wallet kind must be one of {', '.join(KINDS)}, not {kind!r}")
        wallet = Wallet(derive(owner, kind), owner.lower(), kind)
        with self._lock:
            self._by_address[wallet.address] = wallet
        return wallet

    def get(self, address: str) -> Wallet | None:
        with self._lock:
            return self._by_address.get(address.lower())

    def of(self, owner: str, kind: str) -> Wallet | None:
        return self.get(derive(owner, kind))


# -- ERC-1271 for deposit wallets ---------------------------------------------------------------

_TYPED_DATA_SIGN: Final = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)"
)
DEPOSIT_WALLET_NAME: Final = "DepositWallet"
DEPOSIT_WALLET_VERSION: Final = "1"


def deposit_wallet_signer(wallet: str, order_hash: bytes, signature: bytes, chain_id: int) -> str | None:
    """Who signed for the deposit wallet ``wallet`` (ERC-1271 ``isValidSignature(order_hash, sig)``):
    the lowercase recovered address, or None when the signature does not commit to ``order_hash``.

    ERC-7739 nested form: ``ecdsa(65) ‖ app domain separator ‖ contents hash ‖ contents type ‖
    uint16 length``; the wallet checks ``keccak(0x1901 ‖ separator ‖ contents) == order_hash`` and
    that the contents type is the Order's, then recovers the signer of ``keccak(0x1901 ‖ separator ‖
    hashStruct(TypedDataSign(contents, "DepositWallet", "1", chainId, wallet, 0)))``. A bare 65-byte
    signature is recovered over the order hash itself."""
    try:
        if len(signature) >= 65 and signature[64] not in (27, 28):  # on chain, ECDSA.recover takes only these
            return None
        if len(signature) == 65:
            return str(Account._recover_hash(order_hash, signature=signature)).lower()
        if len(signature) < 65 + 64 + 2:
            return None
        ecdsa, separator, contents = signature[:65], signature[65:97], signature[97:129]
        length = int.from_bytes(signature[-2:], "big")
        contents_type = signature[129:-2]
        if len(contents_type) != length or contents_type.decode() != ORDER_TYPE:
            return None
        if keccak(b"\x19\x01" + separator + contents) != order_hash:
            return None
        type_hash = keccak((_TYPED_DATA_SIGN + ORDER_TYPE).encode())
        struct = keccak(
            abi_encode(
                ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
                [
                    type_hash,
                    contents,
                    keccak(DEPOSIT_WALLET_NAME.encode()),
                    keccak(DEPOSIT_WALLET_VERSION.encode()),
                    chain_id,
                    to_checksum_address(wallet),
                    b"\0" * 32,
                ],
            )
        )
        digest = keccak(b"\x19\x01" + separator + struct)
        return str(Account._recover_hash(digest, signature=ecdsa)).lower()
    except Exception:  # a malformed signature or wrapper: whatever eth_account / eth_keys raise
        return None
