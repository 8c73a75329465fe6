"""Parameters and records of the Binance spot provider.

Docs: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
(source: github.com/binance/binance-spot-api-docs, web-socket-streams.md) and, for Binance.US,
github.com/binance-us/binance-us-api-docs, web-socket-streams.md.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, ValidationInfo, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData

BinanceAssetType = Literal["crypto"]
BinanceFeed = Literal["all", "trade", "quote"]
BinanceHost = Literal["stream.binance.com", "data-stream.binance.vision", "stream.binance.us"]
HOSTS: tuple[str, ...] = get_args(BinanceHost)

# host -> combined-stream endpoint. Subscriptions are sent as SUBSCRIBE messages, so the URL
# names no stream; `/stream` wraps every event as {"stream": name, "data": payload}.
ENDPOINTS: dict[str, str] = {
    "stream.binance.com": "wss://stream.binance.com:9443/stream",
    "data-stream.binance.vision": "wss://data-stream.binance.vision/stream",
    "stream.binance.us": "wss://stream.binance.us:9443/stream",
}
# feed -> stream types per symbol (`<symbol>@trade`, `<symbol>@bookTicker`).
STREAM_TYPES: dict[str, tuple[str, ...]] = {
    "all": ("trade", "bookTicker"),
    "trade": ("trade",),
    "quote": ("bookTicker",),
}
# "A single connection can listen to a maximum of 1024 streams." (both Binance and Binance.US)
MAX_STREAMS = 1024


class BinanceQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated spot pairs in any spelling: 'btcusdt', 'BTC/USDT', "
        "'btc-usdt'. Binance has no per-symbol wildcard for these streams, so '*' is refused."
    )
    asset_type: BinanceAssetType = Field(
        default="crypto", description="Binance spot market (the only market served here)."
    )
    feed: BinanceFeed = Field(
        default="all",
        description="trade (`<symbol>@trade`), quote (`<symbol>@bookTicker`, best bid/ask "
        "changes) or all (both).",
    )
    host: BinanceHost = Field(
        default="stream.binance.com",
        description="stream.binance.com (Binance), data-stream.binance.vision (Binance's "
        "market-data-only host) or stream.binance.us (Binance.US, for US residents).",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        symbols = split_symbols(value)
        if not symbols:
            raise ValueError("must name at least one pair, e.g. 'btcusdt' or 'BTC/USDT,ETH/USDT'")
        if "*" in symbols:
            raise ValueError("'*' is not supported: Binance streams are per symbol; list the pairs")
        return value

    @field_validator("feed")
    @classmethod
    def _check_stream_count(cls, value: str, info: ValidationInfo) -> str:
        # Cross-field check: `symbol` is declared first, so it is validated by now.
        count = len(split_symbols(info.data.get("symbol") or "")) * len(STREAM_TYPES[value])
        if count > MAX_STREAMS:
            raise ValueError(
                f"{value!r} needs {count} streams for these symbols, but one Binance connection "
                f"carries at most {MAX_STREAMS}; split the symbols over several connections"
            )
        return value

    @property
    def stream_types(self) -> tuple[str, ...]:
        return STREAM_TYPES[self.feed]


class BinanceData(WebSocketData):
    """A Binance spot trade or best bid/ask update.

    `symbol` is the canonical pair (`BTC/USDT`). Trades carry `date` = trade time `T`; a
    `bookTicker` update carries no time at all, so its `date` is when feeddock received it.
    """

    trade_id: int | None = Field(default=None, description="Trade id `t`.")
    event_time: int | None = Field(default=None, description="Event time `E`, epoch ms.")
    side: Literal["buy", "sell"] | None = Field(
        default=None, description="Taker side: 'sell' when the buyer was the maker (`m`)."
    )
    update_id: int | None = Field(default=None, description="Order book update id `u`.")
