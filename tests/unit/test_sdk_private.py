"""The contract with polymarket-client's private API (copybot/brokers/sdk_private.py): if an SDK
upgrade moves or changes any of it, these fail loudly, before live trading does. (That a client on
that environment really talks to those URLs is what every live test against the sandbox shows.)"""

from __future__ import annotations

import dataclasses

from eth_account import Account
from polymarket import PRODUCTION, Environment
from polymarket._internal.environment import PRODUCTION_CONFIG

from copybot.brokers.sdk_private import PRODUCTION_URLS, WALLET_KINDS, Endpoints, environment, wallet_kind
from copybot.protocol import CHAIN_ID, CTF_EXCHANGE_V2, NEG_RISK_EXCHANGE_V2
from copybot.sandbox.wallets import deposit_wallet, proxy_wallet, safe_wallet

SANDBOX = Endpoints(
    clob="http://127.0.0.1:9/clob",
    gamma="http://127.0.0.1:9/gamma",
    data="http://127.0.0.1:9/data",
    relayer="http://127.0.0.1:9/relayer",
    rpc="http://127.0.0.1:9/rpc",
)


def config_of(env: Environment) -> object:
    return env._config


def test_the_environment_keeps_production_but_for_the_urls() -> None:
    env = environment(SANDBOX)
    assert isinstance(env, Environment) and env.name == "custom"
    config = config_of(env)
    assert (config.clob_url, config.gamma_url, config.data_url, config.relayer_url, config.rpc_url) == (
        SANDBOX.clob,
        SANDBOX.gamma,
        SANDBOX.data,
        SANDBOX.relayer,
        SANDBOX.rpc,
    )
    changed = {
        f.name for f in dataclasses.fields(config) if getattr(config, f.name) != getattr(PRODUCTION_CONFIG, f.name)
    }
    assert changed == {"clob_url", "gamma_url", "data_url", "relayer_url", "rpc_url"}
    # what order hashes and signatures depend on: production's, and copybot's own constants agree
    assert config.chain_id == CHAIN_ID
    assert (config.standard_exchange.lower(), config.neg_risk_exchange.lower()) == (
        CTF_EXCHANGE_V2,
        NEG_RISK_EXCHANGE_V2,
    )


def test_production_urls_give_the_sdks_own_production_environment() -> None:
    assert environment(Endpoints(**PRODUCTION_URLS)) is PRODUCTION
    config = config_of(PRODUCTION)
    assert {k: getattr(config, f"{k}_url") for k in PRODUCTION_URLS} == PRODUCTION_URLS


def test_wallet_kinds_are_classified_as_the_sdk_does_and_match_the_sandboxs_derivations() -> None:
    assert WALLET_KINDS == ("EOA", "POLY_PROXY", "GNOSIS_SAFE", "DEPOSIT_WALLET")
    for _ in range(3):
        owner = Account.create().address
        assert wallet_kind(owner, owner) == "EOA"
        assert wallet_kind(owner, proxy_wallet(owner)) == "POLY_PROXY"
        assert wallet_kind(owner, safe_wallet(owner)) == "GNOSIS_SAFE"
        assert wallet_kind(owner, deposit_wallet(owner)) == "DEPOSIT_WALLET"
        assert wallet_kind(owner, deposit_wallet(owner, legacy_uups=True)) == "DEPOSIT_WALLET"
        assert wallet_kind(owner, Account.create().address) is None, "someone else's address: no kind"
        assert wallet_kind(owner, deposit_wallet(Account.create().address)) is None


def test_the_balance_refresh_request_is_still_built_where_copybot_builds_it() -> None:
    from polymarket._internal.actions import account
    from polymarket._internal.wallet import signature_type_for

    path, params = account.build_update_balance_allowance_request(
        asset_type="CONDITIONAL", token_id="123", signature_type=signature_type_for("DEPOSIT_WALLET")
    )
    assert path == "/balance-allowance/update"
    assert dict(params) == {"asset_type": "CONDITIONAL", "token_id": "123", "signature_type": 3}
