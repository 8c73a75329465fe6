"""Parameters and records of the Intrinio real-time equities provider."""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, field_validator

from ..params import WebSocketQueryParams, split_symbols
from ..records import WebSocketData

IntrinioFeed = Literal["realtime", "delayed_sip", "nasdaq_basic", "cboe_one", "equities_edge"]
FEEDS: tuple[str, ...] = get_args(IntrinioFeed)

# One host per feed, serving both `/auth` and `/socket/websocket` (the SDKs' provider names:
# REALTIME (also called IEX), DELAYED_SIP, NASDAQ_BASIC, CBOE_ONE, EQUITIES_EDGE).
HOSTS: dict[str, str] = {
    "realtime": "realtime-mx.intrinio.com",
    "delayed_sip": "realtime-delayed-sip.intrinio.com",
    "nasdaq_basic": "realtime-nasdaq-basic.intrinio.com",
    "cboe_one": "cboe-one.intrinio.com",
    "equities_edge": "equities-edge.intrinio.com",
}

# The whole market in one channel. The SDKs call it "lobby" (Node: "$lobby") and send
# `$FIREHOSE` on the wire; it needs a firehose entitlement on the Intrinio account.
FIREHOSE = "*"
FIREHOSE_ALIASES = frozenset({"*", "LOBBY", "$LOBBY", "$FIREHOSE"})
# ASCII tickers such as BRK.A, BF-B or an index-like ^XYZ; the wire length byte is one octet.
TICKER = re.compile(r"^[A-Za-z0-9.\-/^_=]{1,30}$")


class IntrinioQueryParams(WebSocketQueryParams):
    symbol: str = Field(
        description="Comma-separated tickers, e.g. 'aapl,msft', or '*' for the whole market "
        "(the firehose, which Intrinio enables per account)."
    )
    asset_type: Literal["stock"] = Field(
        default="stock", description="Intrinio's real-time WebSocket serves US equities only."
    )
    feed: IntrinioFeed = Field(
        default="realtime",
        description="Intrinio data feed (the SDKs' 'provider'): realtime (IEX), delayed_sip, "
        "nasdaq_basic, cboe_one or equities_edge. Each has its own host.",
    )
    trades_only: bool = Field(
        default=False,
        description="Join channels for trades only: no ask and bid updates (most of the volume).",
    )
    delayed: bool = Field(
        default=False,
        description="Ask for delayed data even when the account is entitled to real-time.",
    )
    auth_url: str | None = Field(
        default=None,
        description="Where to GET the access token (default: /auth on the WebSocket's host, "
        "so a `url` override sends it there too).",
    )

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        symbols = split_symbols(value)
        if not symbols:
            raise ValueError("must name at least one ticker, e.g. 'aapl' or 'aapl,msft', or '*'")
        bad = [s for s in symbols if s.upper() not in FIREHOSE_ALIASES and not TICKER.match(s)]
        if bad:
            raise ValueError(
                f"{bad[0]!r} is not a ticker: use 1-30 ASCII letters, digits or . - / ^ _ =, "
                "or '*' for the whole market"
            )
        return value

    @field_validator("auth_url")
    @classmethod
    def _check_auth_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class IntrinioData(WebSocketData):
    """An Intrinio trade, or one side of the top of book (`ask` or `bid`).

    Intrinio sends each side of a quote as its own message, so `type` keeps Intrinio's words:
    a `trade` fills `last_price`/`last_size`, an `ask` fills `ask_price`/`ask_size` and a `bid`
    fills `bid_price`/`bid_size`. `exchange` is the one-letter market center.
    """

    type: Literal["trade", "ask", "bid"]
    volume: int | None = Field(default=None, description="Trades: the day's volume so far.")
    conditions: str | None = Field(default=None, description="Condition codes as sent.")
    subprovider: str | None = Field(
        default=None, description="Source within the feed: IEX, UTP, CTA_A, CTA_B, OTC, ..."
    )
    is_darkpool: bool | None = Field(
        default=None, description="Trades: reported off-exchange (the SDKs' rule)."
    )
    timestamp: int | None = Field(
        default=None, description="Epoch nanoseconds as sent (`date` keeps microseconds)."
    )
