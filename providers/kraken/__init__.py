"""The `kraken` provider: Kraken's public Spot WebSocket v2 (trades and best bid/offer), keyless.

Docs: https://docs.kraken.com/exchange/api-reference/spot-websocket
Wire protocol (one JSON object per frame, both ways; no login):

    < {"channel":"status","type":"update","data":[{"system":"online","api_version":"v2",...}]}
    > {"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":false}}
    > {"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],
       "event_trigger":"bbo","snapshot":false}}
    < {"method":"subscribe","result":{"channel":"trade","symbol":"BTC/USD",...},"success":true,...}
    < {"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","price":..,"qty":..,...}]}
    < {"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":..,"ask":..,...}]}
    < {"channel":"heartbeat"}
    > {"method":"unsubscribe","params":{"channel":"trade","symbol":["BTC/USD"]}}

Endpoint `wss://ws.kraken.com/v2`. Pairs are stored as `BASE/QUOTE` (Kraken v2's own form).
See docs/providers/kraken.md.
"""

from ..registry import Provider
from .models import KrakenData, KrakenQueryParams
from .protocol import KrakenProtocol

PROVIDER = Provider(
    name="kraken",
    params=KrakenQueryParams,
    data=KrakenData,
    protocol=KrakenProtocol,
    docs_url="https://docs.kraken.com/exchange/api-reference/spot-websocket",
    simulator="providers.kraken.simulator",
)

__all__ = ["PROVIDER", "KrakenData", "KrakenProtocol", "KrakenQueryParams"]
