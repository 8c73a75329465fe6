"""The `fmp` provider: Financial Modeling Prep's real-time websockets for stocks, forex, crypto.

Docs: https://site.financialmodelingprep.com/developer/docs/websocket-api
Wire protocol (one JSON object per frame, both ways):

    > {"event":"login","data":{"apiKey":"KEY"}}
    < {"event":"login","status":200,"message":"Authenticated"}
      or {"event":"login","status":401,"message":"Unauthorized"}
    > {"event":"subscribe","data":{"ticker":["aapl","msft"]}}
    > {"event":"unsubscribe","data":{"ticker":["msft"]}}
    < {"s":"aapl","t":1689947444488938500,"type":"Q","ap":191.52,"as":400,"bp":191.5,"bs":1000,
       "lp":null,"ls":null}
    < {"event":"heartbeat",...}
    < {"event":"login","status":401,"message":"Connected from another location"}  (kicked)

Hosts: stocks `wss://websockets.financialmodelingprep.com`, forex
`wss://forex.financialmodelingprep.com`, crypto `wss://crypto.financialmodelingprep.com`.
Credential: `api_key=...` or the environment variable FMP_API_KEY. See docs/providers/fmp.md.
"""

from ..registry import Provider
from .models import FmpData, FmpQueryParams
from .protocol import FmpProtocol

PROVIDER = Provider(
    name="fmp",
    params=FmpQueryParams,
    data=FmpData,
    protocol=FmpProtocol,
    docs_url="https://site.financialmodelingprep.com/developer/docs/websocket-api",
    simulator="providers.fmp.simulator",
)

__all__ = ["PROVIDER", "FmpData", "FmpProtocol", "FmpQueryParams"]
