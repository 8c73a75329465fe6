"""Parameters and records of the Bitstamp provider.

Docs: https://www.bitstamp.net/websocket/v2/ (channels, events, heartbeat, forced reconnect).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData

BitstampAssetType = Literal["crypto"]
BitstampFeed = Literal["trade", "quote", "all"]

ENDPOINT = "wss://ws.bitstamp.net"
# feed -> channel prefixes. `order_book_[pair]` pushes the top 100 bids and asks on every
# change; its first level is the best bid/ask, the only part kept (as a quote).
CHANNELS: dict[str, tuple[str, ...]] = {
    "trade": ("live_trades",),
    "quote": ("order_book",),
    "all": ("live_trades", "order_book"),
}


class BitstampQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated pairs in any spelling: 'btcusd', 'BTC/USD', 'eth-eur'. "
        "Bitstamp has no wildcard channel, so '*' is refused."
    )
    asset_type: BitstampAssetType = Field(
        default="crypto", description="Bitstamp spot market (the only market it has)."
    )
    feed: BitstampFeed = Field(
        default="trade",
        description="trade (live_trades_[pair]), quote (best bid/ask from order_book_[pair], "
        "which sends 100 levels per change, a few KB a message) or all (both).",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        symbols = split_symbols(value)
        if not symbols:
            raise ValueError("must name at least one pair, e.g. 'btcusd' or 'BTC/USD,ETH/EUR'")
        if "*" in symbols:
            raise ValueError("'*' is not supported: Bitstamp channels are per pair; list them")
        return value

    @property
    def channels(self) -> tuple[str, ...]:
        return CHANNELS[self.feed]


class BitstampData(WebSocketData):
    """A Bitstamp trade, or the best bid/ask of its order book (`type` "quote").

    `symbol` is the canonical pair (`BTC/USD`); `date` comes from Bitstamp's `microtimestamp`.
    """

    trade_id: int | None = Field(default=None, description="Trade id `id`.")
    side: Literal["buy", "sell"] | None = Field(
        default=None, description="Taker side, from `type` (0 buy, 1 sell)."
    )
    buy_order_id: int | None = None
    sell_order_id: int | None = None
    timestamp: int | None = Field(default=None, description="`microtimestamp`, epoch µs.")
