"""Parameters and records of the Coinbase provider (Exchange WebSocket feed, keyless channels).

Docs: https://docs.cdp.coinbase.com/exchange/websocket-feed/overview
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData

CoinbaseAssetType = Literal["crypto"]
CoinbaseFeed = Literal["all", "trade", "quote"]
FEEDS: tuple[str, ...] = get_args(CoinbaseFeed)
ENDPOINT = "wss://ws-feed.exchange.coinbase.com"
# feed -> channels: `matches` (every trade) and `ticker` (best bid/ask and the last trade, sent
# on every match). Both are served without authentication.
CHANNELS: dict[str, tuple[str, ...]] = {
    "all": ("matches", "ticker"),
    "trade": ("matches",),
    "quote": ("ticker",),
}


class CoinbaseQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated products in any spelling: 'btc-usd', 'BTC/USD', 'ethusd'. "
        "Sent as Coinbase writes them ('BTC-USD'); no wildcard."
    )
    asset_type: CoinbaseAssetType = Field(
        default="crypto", description="The Exchange feed serves spot crypto products only."
    )
    feed: CoinbaseFeed = Field(
        default="all",
        description="trade (the `matches` channel), quote (the `ticker` channel: best bid/ask "
        "at every match) or all (both).",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        symbols = split_symbols(value)
        if not symbols:
            raise ValueError("must name at least one product, e.g. 'btc-usd' or 'btc-usd,eth-usd'")
        if "*" in symbols:
            raise ValueError("'*' is not supported: Coinbase has no wildcard; list the products")
        return value


class CoinbaseData(WebSocketData):
    """A Coinbase match (trade) or ticker (quote).

    Match: price -> last_price, size -> last_size. Ticker: best_bid/best_bid_size and
    best_ask/best_ask_size -> bid/ask price and size, price/last_size -> last_price/last_size.
    Both keep `side` (matches: the maker's side; ticker: the taker's), `trade_id` and
    `sequence`; tickers add the 24-hour `open_24h`, `high_24h`, `low_24h` and `volume_24h`.
    """

    side: str | None = None
    trade_id: int | None = None
    sequence: int | None = None
    open_24h: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    volume_24h: float | None = None
