"""Parameters and records of the Polygon (Massive) provider.

Channels per market follow the WebSocket spec in `polygon-io/client-python`
(`.polygon/websocket.json`): stocks and options `T`, `Q`, `A`, `AM`; forex `C`, `CAS`, `CA`;
crypto `XT`, `XQ`, `XAS`, `XA`; indices `V`, `A`, `AM`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..params import WebSocketQueryParams
from ..records import WebSocketData

PolygonAssetType = Literal[
    "stock",
    "stock_delayed",
    "options",
    "options_delayed",
    "fx",
    "crypto",
    "index",
    "index_delayed",
]
PolygonFeed = Literal["trade", "quote", "aggs_sec", "aggs_min", "value"]

# asset_type -> URL path of the market.
MARKETS: dict[str, str] = {
    "stock": "stocks",
    "stock_delayed": "stocks",
    "options": "options",
    "options_delayed": "options",
    "fx": "forex",
    "crypto": "crypto",
    "index": "indices",
    "index_delayed": "indices",
}

# market -> feed -> channel prefix. The first feed of each market is its default.
# OpenBB's client maps stock/index `aggs_sec` to "AS"; the spec's per-second channel is "A".
CHANNELS: dict[str, dict[str, str]] = {
    "stocks": {"trade": "T", "quote": "Q", "aggs_sec": "A", "aggs_min": "AM"},
    "options": {"trade": "T", "quote": "Q", "aggs_sec": "A", "aggs_min": "AM"},
    "forex": {"quote": "C", "aggs_sec": "CAS", "aggs_min": "CA"},
    "crypto": {"trade": "XT", "quote": "XQ", "aggs_sec": "XAS", "aggs_min": "XA"},
    "indices": {"value": "V", "aggs_sec": "A", "aggs_min": "AM"},
}


class PolygonQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated tickers in plain form, e.g. 'aapl', 'eurusd', 'btcusd', "
        "'spx', an options contract, or '*' for every ticker of the feed."
    )
    asset_type: PolygonAssetType = Field(
        default="stock", description="Market to connect to; '_delayed' uses the 15-min feed."
    )
    feed: PolygonFeed = Field(
        default="trade",
        description="Channel to stream. Default: trade (quote for fx, value for index).",
    )
    host: Literal["polygon.io", "massive.com"] = Field(
        default="polygon.io", description="Domain of the endpoints (Polygon was renamed Massive)."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_feed(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("feed") is None:
            market = MARKETS.get(str(data.get("asset_type", "stock")))
            if market is not None:
                data = {**data, "feed": next(iter(CHANNELS[market]))}
        return data

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        if not value.strip(" ,"):
            raise ValueError("must name at least one symbol, e.g. 'aapl' or '*'")
        return value

    @model_validator(mode="after")
    def _check_feed(self) -> PolygonQueryParams:
        feeds = CHANNELS[self.market]
        if self.feed not in feeds:
            raise ValueError(
                f"feed {self.feed!r} is not available for asset_type {self.asset_type!r}; "
                f"allowed feeds: {', '.join(feeds)}"
            )
        return self

    @property
    def market(self) -> str:
        return MARKETS[self.asset_type]

    @property
    def channel(self) -> str:
        return CHANNELS[self.market][self.feed]


class PolygonData(WebSocketData):
    """A Polygon trade, quote, aggregate or index value, with the clean fields filled in.

    `symbol` is Polygon's own spelling (`AAPL`, `EUR/USD`, `BTC-USD`, `I:SPX`, `O:...`).
    """

    channel: str | None = Field(default=None, description="Polygon event type, e.g. 'T', 'XQ'.")
    sequence: int | None = Field(default=None, description="Polygon sequence number `q`.")
    trade_id: str | None = None
    tape: int | None = None
    conditions: list[int] | None = None
    condition: int | None = None
    indicators: list[int] | None = None
    bid_exchange: str | None = None
    ask_exchange: str | None = None
    interval: Literal["second", "minute"] | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: float | None = None
    accumulated_volume: float | None = None
    official_open: float | None = None
    vwap: float | None = None
    day_vwap: float | None = None
    average_size: float | None = None
    end: int | None = Field(default=None, description="Aggregate window end, epoch ms.")
    received: int | None = Field(default=None, description="Crypto receive time, epoch ms.")
    otc: bool | None = None

    @field_validator("exchange", "bid_exchange", "ask_exchange", "trade_id", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # Exchange ids are ints (the forex spec example sends "44"); crypto trade ids are ints
        # in the spec and strings in the official client model.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("conditions", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        # Crypto `c` may be 0 or [] for "no condition".
        if isinstance(value, int) and not isinstance(value, bool):
            return [] if value == 0 else [value]
        return value
