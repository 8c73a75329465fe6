"""Parameters and records of the demo provider."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

from ..params import WebSocketQueryParams
from ..records import WebSocketData

DemoFeed = Literal["trade", "quote", "all"]


class DemoQueryParams(WebSocketQueryParams):
    symbol: str = Field(description="Comma-separated symbols, e.g. 'aapl,msft', or '*' for all.")
    asset_type: Literal["stock", "fx", "crypto"] = Field(
        default="stock", description="Asset class of the symbols (labels the records)."
    )
    feed: DemoFeed = Field(default="all", description="Which events to stream.")

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        if not value.strip(" ,"):
            raise ValueError("must name at least one symbol, e.g. 'aapl' or '*'")
        return value


class DemoData(WebSocketData):
    """A demo trade or quote, validated straight from the wire names (validation aliases):
    sym, t, ev, x, p, s, bp, bs, ap, as, q. Other wire fields are kept as extras."""

    symbol: str = Field(validation_alias="sym")
    date: AwareDatetime = Field(validation_alias="t")
    type: str | None = Field(default=None, validation_alias="ev")
    exchange: str | None = Field(default=None, validation_alias="x")
    last_price: float | None = Field(default=None, validation_alias="p")
    last_size: float | None = Field(default=None, validation_alias="s")
    bid_price: float | None = Field(default=None, validation_alias="bp")
    bid_size: float | None = Field(default=None, validation_alias="bs")
    ask_price: float | None = Field(default=None, validation_alias="ap")
    ask_size: float | None = Field(default=None, validation_alias="as")
    sequence: int | None = Field(default=None, alias="q")
