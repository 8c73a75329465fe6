"""Parameters and records of the FMP provider."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import AwareDatetime, ConfigDict, Field, ValidationInfo, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData

FmpAssetType = Literal["stock", "fx", "crypto"]
FmpFeed = Literal["all", "trade", "quote"]
ASSET_TYPES: tuple[str, ...] = get_args(FmpAssetType)
FEEDS: tuple[str, ...] = get_args(FmpFeed)

# One host per asset type (FMP "legacy cluster" websockets; same protocol on all three).
ENDPOINTS: dict[str, str] = {
    "stock": "wss://websockets.financialmodelingprep.com",
    "fx": "wss://forex.financialmodelingprep.com",
    "crypto": "wss://crypto.financialmodelingprep.com",
}


class FmpQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated tickers, e.g. 'aapl,msft', 'eurusd' or 'btcusd'. "
        "'EUR/USD' and 'BTC-USD' are accepted for fx and crypto. FMP documents no wildcard."
    )
    asset_type: FmpAssetType = Field(
        default="stock", description="Selects the FMP host: stock, fx or crypto."
    )
    feed: FmpFeed = Field(
        default="all",
        description="Client-side filter: FMP sends every event type on one subscription. "
        "'trade' keeps trades and trade breaks, 'quote' keeps top-of-book quotes.",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        symbols = split_symbols(value)
        if not symbols:
            raise ValueError("must name at least one ticker, e.g. 'aapl' or 'aapl,msft'")
        if "*" in symbols:
            raise ValueError("'*' is not supported: FMP documents no wildcard; list the tickers")
        return value

    @field_validator("asset_type")
    @classmethod
    def _check_symbols_fit_asset_type(cls, value: str, info: ValidationInfo) -> str:
        # Cross-field check: `symbol` is declared first, so it is validated by now.
        pairs = [s for s in split_symbols(info.data.get("symbol") or "") if "/" in s]
        if value == "stock" and pairs:
            raise ValueError(
                f"'stock' does not serve currency pairs such as {pairs[0]!r}; use 'fx' or "
                f"'crypto'. Allowed asset_type values: {', '.join(ASSET_TYPES)}"
            )
        return value


class FmpData(WebSocketData):
    """An FMP trade, quote or trade break, validated straight from the wire names.

    Wire names (validation aliases): s, t, type, e, lp, ls, bp, bs, ap, as; the record keeps
    the clean names. `timestamp` keeps `t` exactly as sent (epoch nanoseconds for stocks),
    since `date` only holds microseconds. Wire fields FMP does not document are not kept.
    """

    # No dict is rebuilt per record under the clean names: pydantic reads the wire names.
    model_config = ConfigDict(extra="ignore")

    symbol: str = Field(validation_alias="s")
    date: AwareDatetime = Field(validation_alias="t")
    exchange: str | None = Field(default=None, validation_alias="e")
    last_price: float | None = Field(default=None, validation_alias="lp")
    last_size: float | None = Field(default=None, validation_alias="ls")
    bid_price: float | None = Field(default=None, validation_alias="bp")
    bid_size: float | None = Field(default=None, validation_alias="bs")
    ask_price: float | None = Field(default=None, validation_alias="ap")
    ask_size: float | None = Field(default=None, validation_alias="as")
    timestamp: int | None = Field(default=None, description="`t` as sent by FMP.")
