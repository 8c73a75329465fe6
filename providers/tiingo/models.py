"""Parameters and records of the Tiingo provider.

Docs: https://www.tiingo.com/documentation/websockets/iex (also /forex and /crypto).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..params import WebSocketQueryParams
from ..records import WebSocketData

AssetType = Literal["stock", "fx", "crypto"]
TiingoFeed = Literal["all", "trade", "quote", "reference"]

# What each asset type offers. The feed picks the default `thresholdLevel`; where the server
# cannot separate trades from quotes (IEX, FX), the protocol filters client-side.
FEEDS: dict[str, tuple[str, ...]] = {
    "stock": ("all", "trade", "quote", "reference"),
    "fx": ("all", "quote"),
    "crypto": ("all", "trade", "quote"),
}
# IEX 0 = all top-of-book + trades, 5 = trades + quotes whose mid moved >= $0.01,
# 6 = Tiingo reference price only; crypto 2 = quotes + trades, 5 = trades only;
# FX 5 = all top-of-book. (The FX docs' field table also shows a "7": an index, not a level.)
LEVELS: dict[str, tuple[int, ...]] = {"stock": (0, 5, 6), "fx": (5,), "crypto": (2, 5)}
# Levels that can carry each feed ("all" is accepted with any level of the asset type).
FEED_LEVELS: dict[tuple[str, str], tuple[int, ...]] = {
    ("stock", "trade"): (0, 5),
    ("stock", "quote"): (0, 5),
    ("stock", "reference"): (6,),
    ("crypto", "quote"): (2,),
}
DEFAULT_LEVEL: dict[str, int] = {"stock": 5, "fx": 5, "crypto": 2}
DEFAULT_FEED_LEVEL: dict[tuple[str, str], int] = {("stock", "reference"): 6, ("crypto", "trade"): 5}


def _allowed(values: tuple[object, ...]) -> str:
    return ", ".join(str(value) for value in values)


class TiingoQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated tickers, e.g. 'spy,aapl', 'eurusd' or 'btcusd'; '*' for all."
    )
    asset_type: AssetType = Field(
        default="stock",
        description="stock (IEX, wss://api.tiingo.com/iex), fx (/fx) or crypto (/crypto).",
    )
    feed: TiingoFeed = Field(
        default="all",
        description="all, trade, quote, or reference (stock only: Tiingo's IEX reference price).",
    )
    threshold_level: int | None = Field(
        default=None,
        description="Tiingo `thresholdLevel`: stock 0, 5 or 6; fx 5; crypto 2 or 5. "
        "Default: derived from asset_type and feed (stock 5, reference 6, fx 5, crypto 2, "
        "crypto trade 5).",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        if not value.strip(" ,"):
            raise ValueError("must name at least one symbol, e.g. 'spy' or '*'")
        return value

    @model_validator(mode="after")
    def _check_choices(self) -> TiingoQueryParams:
        asset, feed = self.asset_type, self.feed
        if feed not in FEEDS[asset]:
            raise ValueError(
                f"feed {feed!r} is not available for asset_type {asset!r}; "
                f"allowed feeds: {_allowed(FEEDS[asset])}"
            )
        if self.threshold_level is None:
            self.threshold_level = DEFAULT_FEED_LEVEL.get((asset, feed), DEFAULT_LEVEL[asset])
        level = self.threshold_level
        if level not in LEVELS[asset]:
            raise ValueError(
                f"threshold_level {level} is not valid for asset_type {asset!r}; "
                f"allowed threshold_level values: {_allowed(LEVELS[asset])}"
            )
        levels = FEED_LEVELS.get((asset, feed), LEVELS[asset])
        if level not in levels:
            raise ValueError(
                f"threshold_level {level} does not carry feed {feed!r} for asset_type "
                f"{asset!r}; allowed threshold_level values: {_allowed(levels)}"
            )
        return self

    @property
    def service(self) -> str:
        """The endpoint path: iex, fx or crypto."""
        return {"stock": "iex", "fx": "fx", "crypto": "crypto"}[self.asset_type]


class TiingoData(WebSocketData):
    """A Tiingo trade, quote, trade break (IEX "B") or reference price (IEX level 6).

    Clean fields come from the positional arrays (see `protocol.FIELDS`); extras are the
    mid price, IEX's epoch-nanosecond `timestamp` and its boolean flags.
    """

    mid_price: float | None = None
    timestamp: int | None = Field(default=None, description="IEX epoch nanoseconds.")
    halted: bool | None = None
    after_hours: bool | None = None
    intermarket_sweep: bool | None = None
    oddlot: bool | None = None
    nms_rule_611: bool | None = None

    @field_validator("symbol", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
