"""Parameters and records of the Alpaca market-data provider.

Docs: https://docs.alpaca.markets/docs/streaming-market-data (stocks: `v2/{feed}`),
https://docs.alpaca.markets/docs/real-time-crypto-pricing-data (crypto: `v1beta3/crypto/{loc}`).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, ValidationInfo, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData
from ..symbols import split_pair

AlpacaAssetType = Literal["stock", "crypto"]
AlpacaSource = Literal["iex", "sip", "delayed_sip", "test", "us", "us-1", "eu-1"]
AlpacaFeed = Literal["all", "trade", "quote", "bar"]
AlpacaHost = Literal["stream.data.alpaca.markets", "stream.data.sandbox.alpaca.markets"]
ASSET_TYPES: tuple[str, ...] = get_args(AlpacaAssetType)

# asset_type -> its sources, the first being the default. Stocks: IEX (free plan), SIP (paid),
# 15-minute delayed SIP, and the 24/7 test stream (symbol FAKEPACA). Crypto locations: us
# (Alpaca US), us-1 (Kraken US), eu-1 (Kraken EU).
SOURCES: dict[str, tuple[str, ...]] = {
    "stock": ("iex", "sip", "delayed_sip", "test"),
    "crypto": ("us", "us-1", "eu-1"),
}
# feed -> the subscribe message's lists. Trade corrections and cancels come with `trades`.
CHANNELS: dict[str, tuple[str, ...]] = {
    "all": ("trades", "quotes", "bars"),
    "trade": ("trades",),
    "quote": ("quotes",),
    "bar": ("bars",),
}
TEST_SYMBOL = "FAKEPACA"


class AlpacaQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated tickers ('aapl,msft'; FAKEPACA on the test stream) or "
        "crypto pairs in any spelling ('BTC/USD', 'btcusd'); '*' for every symbol."
    )
    asset_type: AlpacaAssetType = Field(
        default="stock",
        description="stock (`/v2/{source}`) or crypto (`/v1beta3/crypto/{source}`).",
    )
    source: AlpacaSource | None = Field(
        default=None,
        description="Alpaca's data feed: stock iex (default), sip, delayed_sip or test (24/7, "
        "FAKEPACA); crypto us (default, Alpaca), us-1 (Kraken US) or eu-1 (Kraken EU).",
    )
    feed: AlpacaFeed = Field(
        default="all", description="trade, quote, bar (minute bars) or all three."
    )
    host: AlpacaHost = Field(
        default="stream.data.alpaca.markets",
        description="stream.data.alpaca.markets, or stream.data.sandbox.alpaca.markets for "
        "Broker API sandbox keys.",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        if not split_symbols(value):
            raise ValueError("must name at least one symbol, e.g. 'aapl', 'BTC/USD' or '*'")
        return value

    @field_validator("asset_type")
    @classmethod
    def _check_symbols_fit_asset_type(cls, value: str, info: ValidationInfo) -> str:
        # Cross-field check: `symbol` is declared first, so it is validated by now.
        symbols = split_symbols(info.data.get("symbol") or "")
        if value == "stock" and (pairs := [s for s in symbols if "/" in s]):
            raise ValueError(
                f"'stock' does not serve currency pairs such as {pairs[0]!r}; use 'crypto'. "
                f"Allowed asset_type values: {', '.join(ASSET_TYPES)}"
            )
        if value == "crypto" and (odd := [s for s in symbols if s != "*" and not split_pair(s)]):
            raise ValueError(
                f"'crypto' needs currency pairs such as 'BTC/USD', not {odd[0]!r}. "
                f"Allowed asset_type values: {', '.join(ASSET_TYPES)}"
            )
        return value

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        allowed = SOURCES.get(str(info.data.get("asset_type")))
        if allowed is None:  # asset_type itself was refused; that error says it all
            return value
        if value is None:
            return allowed[0]
        if value not in allowed:
            raise ValueError(
                f"{value!r} is not available for asset_type "
                f"{info.data.get('asset_type')!r}; allowed sources: {', '.join(allowed)}"
            )
        return value

    @property
    def path(self) -> str:
        """`v2/iex`, `v2/test`, `v1beta3/crypto/us`, ..."""
        if self.asset_type == "crypto":
            return f"v1beta3/crypto/{self.source}"
        return f"v2/{self.source}"

    @property
    def channels(self) -> tuple[str, ...]:
        return CHANNELS[self.feed]


class AlpacaData(WebSocketData):
    """An Alpaca trade, quote, bar, trade correction or trade cancel.

    `type`: "trade", "quote", "bar" (`interval` minute or day; `updated` for late-trade
    corrections of a minute bar), "correction" or "cancel". `timestamp` keeps `t` as sent
    (RFC 3339 with nanoseconds); `date` holds microseconds.
    """

    timestamp: str | None = Field(default=None, description="`t` as sent (RFC 3339, ns).")
    trade_id: int | None = Field(default=None, description="Trade id `i` (corrected: `ci`).")
    side: Literal["buy", "sell"] | None = Field(default=None, description="Crypto taker side.")
    conditions: list[str] | None = None
    tape: str | None = None
    bid_exchange: str | None = None
    ask_exchange: str | None = None
    interval: Literal["minute", "day"] | None = None
    updated: bool | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: float | None = None
    vwap: float | None = None
    trade_count: int | None = None
    action: str | None = Field(default=None, description="Cancel `a`: C cancel, X error.")
    original_trade_id: int | None = None
    original_price: float | None = None
    original_size: float | None = None
    original_conditions: list[str] | None = None
