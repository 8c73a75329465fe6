"""Parameters and records of the OKX provider (API v5 public WebSocket).

Docs: https://www.okx.com/docs-v5/en/#overview-websocket
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData

OkxAssetType = Literal["crypto"]
OkxFeed = Literal["all", "trade", "quote"]
FEEDS: tuple[str, ...] = get_args(OkxFeed)
ENDPOINT = "wss://ws.okx.com:8443/ws/v5/public"
# feed -> public channels: `trades` (every trade) and `tickers` (last trade and best bid/ask,
# pushed on trades and best bid/ask changes, at most every 100 ms).
CHANNELS: dict[str, tuple[str, ...]] = {
    "all": ("trades", "tickers"),
    "trade": ("trades",),
    "quote": ("tickers",),
}
# OKX closes a connection that has received nothing for 30 s; the client sends the text `ping`
# every N < 30 seconds ("set a timer of N seconds ... N less than 30").
IDLE_LIMIT_SECONDS = 30.0
DEFAULT_KEEPALIVE_SECONDS = 20.0


class OkxQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated instruments in any spelling: 'btc-usdt', 'BTC/USDT', "
        "'ethusdt'. Sent as OKX writes them ('BTC-USDT'); other instIds such as "
        "'BTC-USDT-SWAP' pass through unchanged. No wildcard."
    )
    asset_type: OkxAssetType = Field(
        default="crypto", description="OKX's public channels serve crypto instruments."
    )
    feed: OkxFeed = Field(
        default="all",
        description="trade (the `trades` channel), quote (the `tickers` channel) or all (both).",
    )
    keepalive_seconds: float = Field(
        default=DEFAULT_KEEPALIVE_SECONDS,
        gt=0,
        lt=IDLE_LIMIT_SECONDS,
        description="Seconds between the text `ping` keep-alives; OKX asks for one at least "
        "every 30 s (the N < 30 of its docs).",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        symbols = split_symbols(value)
        if not symbols:
            raise ValueError("must name at least one instrument, e.g. 'btc-usdt'")
        if "*" in symbols:
            raise ValueError("'*' is not supported: OKX has no wildcard; list the instruments")
        return value


class OkxData(WebSocketData):
    """An OKX trade or ticker.

    Trade: px -> last_price, sz -> last_size, plus `side` (taker) and `trade_id`. Ticker:
    bidPx/bidSz and askPx/askSz -> bid/ask price and size, last/lastSz -> last_price/last_size,
    plus the 24-hour `open_24h`, `high_24h`, `low_24h` and `volume_24h` (base currency).
    """

    side: str | None = None
    trade_id: str | None = None
    open_24h: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    volume_24h: float | None = None
