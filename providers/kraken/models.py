"""Parameters and records of the Kraken provider (Spot WebSocket v2, public market data).

Docs: https://docs.kraken.com/exchange/api-reference/spot-websocket
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData

KrakenAssetType = Literal["crypto"]
KrakenFeed = Literal["all", "trade", "quote"]
FEEDS: tuple[str, ...] = get_args(KrakenFeed)
ENDPOINT = "wss://ws.kraken.com/v2"
# feed -> the v2 channels it subscribes: `trade` for trades, `ticker` (event_trigger "bbo") for
# best bid/offer changes.
CHANNELS: dict[str, tuple[str, ...]] = {
    "all": ("trade", "ticker"),
    "trade": ("trade",),
    "quote": ("ticker",),
}


class KrakenQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated currency pairs in any spelling: 'btc/usd', 'BTC-USD', "
        "'ethusd'. Sent as Kraken v2 writes them ('BTC/USD'); no wildcard."
    )
    asset_type: KrakenAssetType = Field(
        default="crypto", description="Kraken's public v2 feed serves spot currency pairs only."
    )
    feed: KrakenFeed = Field(
        default="all",
        description="trade (the `trade` channel), quote (the `ticker` channel on best "
        "bid/offer changes) or all (both).",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        symbols = split_symbols(value)
        if not symbols:
            raise ValueError("must name at least one pair, e.g. 'btc/usd' or 'btc/usd,eth/usd'")
        if "*" in symbols:
            raise ValueError("'*' is not supported: Kraken has no wildcard; list the pairs")
        return value


class KrakenData(WebSocketData):
    """A Kraken trade or best bid/offer update.

    Trades: price -> last_price, qty -> last_size, plus `side` (taker), `ord_type`, `trade_id`.
    Quotes (ticker): bid/bid_qty/ask/ask_qty -> bid/ask price and size, last -> last_price, plus
    the 24-hour `volume`, `vwap`, `low`, `high`, `change` and `change_pct`.
    """

    side: str | None = None
    ord_type: str | None = None
    trade_id: int | None = None
    volume: float | None = None
    vwap: float | None = None
    low: float | None = None
    high: float | None = None
    change: float | None = None
    change_pct: float | None = None
