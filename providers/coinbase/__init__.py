"""The `coinbase` provider: the Coinbase Exchange WebSocket feed's keyless channels.

Docs: https://docs.cdp.coinbase.com/exchange/websocket-feed/overview
Wire protocol (one JSON object per frame, both ways; no login; subscribe within 5 seconds):

    > {"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches","ticker"]}
    < {"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]},...]}
    < {"type":"last_match","trade_id":..,"product_id":"BTC-USD","price":"..","size":"..",...}
    < {"type":"match","trade_id":..,"time":"..","product_id":"BTC-USD","price":"..",...}
    < {"type":"ticker","product_id":"BTC-USD","best_bid":"..","best_ask":"..",...}
    < {"type":"error","message":"Failed to subscribe","reason":"XYZ-USD is not a valid product"}
    > {"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["matches","ticker"]}

Endpoint `wss://ws-feed.exchange.coinbase.com`. Products are stored as `BASE/QUOTE`
(`BTC/USD`) and sent as Coinbase writes them (`BTC-USD`). See docs/providers/coinbase.md.
"""

from ..registry import Provider
from .models import CoinbaseData, CoinbaseQueryParams
from .protocol import CoinbaseProtocol

PROVIDER = Provider(
    name="coinbase",
    params=CoinbaseQueryParams,
    data=CoinbaseData,
    protocol=CoinbaseProtocol,
    docs_url="https://docs.cdp.coinbase.com/exchange/websocket-feed/overview",
    simulator="providers.coinbase.simulator",
)

__all__ = ["PROVIDER", "CoinbaseData", "CoinbaseProtocol", "CoinbaseQueryParams"]
