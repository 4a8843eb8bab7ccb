"""Settings: one frozen, validated object (pydantic), section by section, with every default.

Built from a file by :mod:`copybot.config.loading`. Secrets are never stored here: settings only
name the environment variables (or the 0600 file) holding them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from copybot.protocol import CHAIN_ID

DAY = 86_400  # seconds: durations are bounded, so an `inf` or a typo of 1e12 is refused, not run
NonNegDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
PosDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]  # used as written (Etherscan's, the RPC node's)
BaseUrl = Annotated[str, AfterValidator(lambda v: _http_url(v).rstrip("/"))]  # paths are appended to it
Fraction = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]


class _Section(BaseModel):
    # coerce_numbers_to_str: a label or path written as 2024 (or set from the environment) is text
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def _address(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 0x... as a hex integer; accepting it would lose the checksum case.
        raise ValueError('was read as a number: put the address in quotes, e.g. "0x..."')
    if not isinstance(value, str):
        raise ValueError("must be a string like 0x followed by 40 hex digits")
    v = value.strip()
    body = v[2:] if v[:2] in ("0x", "0X") else ""
    if len(body) != 40 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise ValueError(f"{value!r} is not an address (0x followed by 40 hex digits)")
    if body != body.lower() and body != body.upper():
        from eth_utils.address import is_checksum_address

        if not is_checksum_address("0x" + body):
            raise ValueError(f"{value!r} has mixed case but a wrong checksum")
    return "0x" + body.lower()


class EtherscanSettings(_Section):
    url: HttpUrl = "https://api.etherscan.io/v2/api"
    chain_id: int = Field(CHAIN_ID, gt=0)
    api_key_env: str = "ETHERSCAN_API_KEY"
    calls_per_second: float = Field(3.0, gt=0, le=100, allow_inf_nan=False)
    daily_budget: int = Field(100_000, ge=1, le=100_000_000)
    page_size: int = Field(1000, ge=1, le=1000)
    cache_size: int = Field(4096, ge=0, le=1_000_000)
    cache_ttl_s: float = Field(3600.0, gt=0, le=30 * DAY, allow_inf_nan=False)
    timeout_s: float = Field(10.0, ge=0.1, le=300, allow_inf_nan=False)


class RpcSettings(_Section):
    url: HttpUrl = "https://polygon-rpc.com"
    max_block_range: int = Field(1000, ge=1, le=1_000_000)
    timeout_s: float = Field(10.0, ge=0.1, le=300, allow_inf_nan=False)
    calls_per_second: float = Field(10.0, gt=0, le=1000, allow_inf_nan=False)


class SourceSettings(_Section):
    kind: Literal["etherscan", "rpc"] = "etherscan"
    poll_interval_s: float = Field(2.0, ge=0.1, le=3600, allow_inf_nan=False)
    start_block: int | Literal["latest"] = "latest"
    confirmations_window: int = Field(12, ge=0, le=1000)
    recent_keys: int = Field(50_000, ge=100, le=10_000_000)
    etherscan: EtherscanSettings = EtherscanSettings()
    rpc: RpcSettings = RpcSettings()

    @field_validator("start_block")
    @classmethod
    def _check_start(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 10**10:
            raise ValueError("must be 'latest' or a block number from 0 to 10,000,000,000")
        return value


class HttpService(_Section):
    url: BaseUrl
    timeout_s: float = Field(10.0, ge=0.1, le=300, allow_inf_nan=False)
    max_concurrency: int = Field(8, ge=1, le=64)


class ClobSettings(HttpService):
    url: BaseUrl = "https://clob.polymarket.com"


class GammaSettings(HttpService):
    url: BaseUrl = "https://gamma-api.polymarket.com"


class RiskSettings(_Section):
    """Sizing, caps, execution guards and kill switches, applied by ``copybot.rules.risk.decide``.

    Money keys are pUSD (``*_usdc``); fractions are plain fractions (0.02 = 2%, never 2). A cap or
    switch set to 0 is off. ``leaders[].risk`` may override any of these keys for one leader
    (see :func:`effective_risk`).
    """

    # sizing of a copied BUY, then clamped to [min_order_usdc, max_order_usdc]
    sizing: Literal["fixed", "proportional", "bankroll_pct", "risk"] = "fixed"
    fixed_usdc: NonNegDecimal = Decimal(10)
    copy_ratio: NonNegDecimal = Decimal("0.1")
    bankroll_pct: Fraction = Decimal("0.01")
    risk_per_trade: Fraction = Decimal("0.01")
    min_order_usdc: NonNegDecimal = Decimal(1)
    max_order_usdc: PosDecimal = Decimal(100)
    # caps on what we hold (cost basis, all leaders); a BUY is shrunk to fit
    max_position_usdc: NonNegDecimal = Decimal(0)
    max_market_usdc: NonNegDecimal = Decimal(0)
    max_exposure_usdc: NonNegDecimal = Decimal(0)
    max_open_positions: int = Field(0, ge=0, le=1_000_000)
    allowed_markets: tuple[str, ...] = ()
    blocked_markets: tuple[str, ...] = ()
    min_leader_usdc: NonNegDecimal = Decimal(0)
    # execution guards
    max_slippage: Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)] = Decimal("0.02")
    round_up_to_minimum: bool = False
    max_trade_age_s: float = Field(300.0, gt=0, le=30 * DAY, allow_inf_nan=False)
    price_staleness_s: float = Field(30.0, gt=0, le=DAY, allow_inf_nan=False)
    min_hold_s: float = Field(0.0, ge=0, le=365 * DAY, allow_inf_nan=False)
    # kill switches: pause new BUYs (exits still run)
    daily_loss_limit_usdc: NonNegDecimal = Decimal(0)
    max_consecutive_failures: int = Field(0, ge=0, le=1_000_000)

    # RiskOverrides holds a partial set of keys: min <= max is checked once merged over `risk`
    _check_order_range: ClassVar[bool] = True

    @field_validator("allowed_markets", "blocked_markets", mode="before")
    @classmethod
    def _no_numbers(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 0x... as a hex integer: it would never match the condition id
        if isinstance(value, list | tuple) and any(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError('an entry was read as a number: put condition ids in quotes, e.g. "0x..."')
        return value

    @field_validator("allowed_markets", "blocked_markets")
    @classmethod
    def _check_markets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        entries = tuple(entry.strip().lower() for entry in value)
        if any(not entry for entry in entries):
            raise ValueError("entries must be condition ids or slug fragments, not empty")
        return entries

    @model_validator(mode="after")
    def _min_below_max(self) -> RiskSettings:
        if self._check_order_range and self.min_order_usdc > self.max_order_usdc:
            raise ValueError("min_order_usdc must not exceed max_order_usdc")
        return self


class RiskOverrides(RiskSettings):
    """A leader's ``risk:`` mapping: any subset of the RiskSettings keys, validated the same way.

    Only the keys written in the file are kept (and shown by ``redacted()``); the rest come from
    the global ``risk`` section when :func:`merge_risk` lays these over it.
    """

    _check_order_range: ClassVar[bool] = False

    @model_serializer(mode="wrap")
    def _only_set_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}

    def __repr_args__(self) -> Any:
        return [(key, value) for key, value in super().__repr_args__() if key in self.model_fields_set]


class Leader(_Section):
    address: str
    label: str = ""
    risk: RiskOverrides | None = None  # per-leader overrides of the global risk section

    @field_validator("address", mode="before")
    @classmethod
    def _check_address(cls, value: object) -> str:
        return _address(value)

    @property
    def name(self) -> str:
        return self.label or self.address[:10]


class ExitSettings(_Section):
    """When an open position is closed by copybot itself (see ``copybot.rules.exits.exit_reason``).

    Fractions are of the position's cost basis (take_profit 0.5 = exit at +50%, stop_loss 0.25 =
    exit at -25%), judged on the best bid; 0 turns a rule off. ``risk.min_hold_s`` delays TP/SL.
    """

    take_profit: NonNegDecimal = Decimal(0)
    stop_loss: Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)] = Decimal(0)
    trailing_stop: Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)] = Decimal(0)
    max_hold_s: float = Field(0.0, ge=0, le=365 * DAY, allow_inf_nan=False)
    mirror_leader_sells: bool = True  # false: leader SELLs are recorded but not copied


class PaperSettings(_Section):
    starting_bankroll_usdc: NonNegDecimal = Decimal(1000)


class StorageSettings(_Section):
    path: str = "copybot-paper.db"
    retention_days: float = Field(
        90.0, ge=0, le=36_500, allow_inf_nan=False
    )  # older decided fills compacted; 0 = all kept


class ExecutorSettings(_Section):
    batch_size: int = Field(10, ge=1, le=100)


class LiveSettings(_Section):
    """Real orders on the CLOB (``mode: live`` plus ``watch --live``). The key itself never goes
    here: it comes from the environment variable or the 0600 file named below."""

    private_key_env: str = "COPYBOT_PRIVATE_KEY"
    private_key_file: str = ""  # used when set; must be mode 0600
    signature_type: int = Field(0, ge=0, le=3)  # 0 EOA, 1 POLY_PROXY, 2 POLY_GNOSIS_SAFE, 3 POLY_1271
    funder: str = ""  # the proxy/safe/deposit wallet holding the funds (required for types 1-3)
    order_type: Literal["FOK", "FAK"] = "FOK"
    max_concurrency: int = Field(4, ge=1, le=32)
    orders_per_second: float = Field(10.0, gt=0, le=350, allow_inf_nan=False)  # POST /order, any sliding second
    # a SELL refused for balance / allowance this soon after its shares were bought is retried on
    # later cycles (the purchase may not have settled on chain); 0 = never retried
    sell_settle_wait_s: float = Field(120.0, ge=0, le=3600, allow_inf_nan=False)
    # redeem resolved winning positions from watch: an EOA sends the transaction (and pays its gas);
    # a proxy, Safe or deposit wallet's goes through Polymarket's relayer, with a relayer API key
    # from the environment (<relayer_api_key_env> and <relayer_api_key_env>_ADDRESS)
    auto_redeem: bool = False
    relayer_api_key_env: str = "COPYBOT_RELAYER_API_KEY"
    # CLOB API credentials made elsewhere: <prefix>_KEY, <prefix>_SECRET, <prefix>_PASSPHRASE in the
    # environment (all three, or none: then they are derived from the key)
    api_credentials_env: str = "COPYBOT_CLOB_API"
    relayer_url: BaseUrl = "https://relayer-v2.polymarket.com"  # asked whether a wallet is deployed
    rpc_url: BaseUrl = "https://polygon.drpc.org"  # what the SDK reads the chain through

    @field_validator("funder", mode="before")
    @classmethod
    def _check_funder(cls, value: object) -> str:
        return "" if value in ("", None) else _address(value)

    @model_validator(mode="after")
    def _funder_needed(self) -> LiveSettings:
        if self.signature_type != 0 and not self.funder:
            raise ValueError("funder: required when signature_type is 1, 2 or 3 (the wallet holding the funds)")
        return self


class Settings(_Section):
    mode: Literal["paper", "live"] = "paper"
    leaders: tuple[Leader, ...] = ()
    source: SourceSettings = SourceSettings()
    clob: ClobSettings = ClobSettings()
    gamma: GammaSettings = GammaSettings()
    risk: RiskSettings = Field(RiskSettings(), validate_default=True)  # validated: leaders' overrides merge
    exits: ExitSettings = ExitSettings()
    paper: PaperSettings = PaperSettings()
    storage: StorageSettings = StorageSettings()
    executor: ExecutorSettings = ExecutorSettings()
    live: LiveSettings = LiveSettings()

    @field_validator("leaders")
    @classmethod
    def _unique_leaders(cls, value: tuple[Leader, ...]) -> tuple[Leader, ...]:
        seen: set[str] = set()
        for leader in value:
            if leader.address in seen:
                raise ValueError(f"{leader.address} is listed twice")
            seen.add(leader.address)
        return value

    @field_validator("risk")
    @classmethod
    def _overrides_merge(cls, value: RiskSettings, info: ValidationInfo) -> RiskSettings:
        # leaders are validated first (field order), so each override can be checked merged
        for i, leader in enumerate(info.data.get("leaders", ())):
            if leader.risk is None:
                continue
            try:
                merge_risk(value, leader.risk)
            except ValidationError as exc:
                msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                raise ValueError(f"with leaders[{i}].risk merged over it: {msg}") from None
        return value

    def redacted(self) -> dict[str, Any]:
        """Settings as plain data, safe to print (settings hold env var names, never secrets)."""
        return self.model_dump(mode="json")


def merge_risk(base: RiskSettings, overrides: RiskOverrides | None) -> RiskSettings:
    """``base`` with the keys set in ``overrides`` replaced, validated again as a whole."""
    if overrides is None or not overrides.model_fields_set:
        return base
    return RiskSettings.model_validate({**base.model_dump(), **overrides.model_dump()})


def effective_risk(settings: Settings, leader_address: str) -> RiskSettings:
    """The risk settings for copying ``leader_address``: its ``leaders[].risk`` merged over ``risk``.

    Addresses compare case-insensitively; an address not in ``leaders`` gets the global section.
    Pure and cheap, but it re-validates: compute once per leader per batch, not per order.
    """
    address = leader_address.lower()
    for leader in settings.leaders:
        if leader.address == address:
            return merge_risk(settings.risk, leader.risk)
    return settings.risk


def leader_risks(settings: Settings) -> dict[str, RiskSettings]:
    """:func:`effective_risk` for every leader, keyed by lowercase address: compute once, look up per fill."""
    return {leader.address: merge_risk(settings.risk, leader.risk) for leader in settings.leaders}
