"""The `bitstamp` provider: Bitstamp live trades and best bid/ask, keyless.

Docs: https://www.bitstamp.net/websocket/v2/
Wire protocol (one JSON object per frame, one subscribe per channel):

    > {"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}
    < {"event":"bts:subscription_succeeded","channel":"live_trades_btcusd","data":{}}
    < {"event":"trade","channel":"live_trades_btcusd","data":{"id":..,"microtimestamp":"..",...}}
    < {"event":"data","channel":"order_book_btcusd","data":{"bids":[[p,a],...],"asks":[...]}}
    > {"event":"bts:heartbeat"}                       (keep-alive, every 10 s)
    < {"event":"bts:request_reconnect",...}          (-> reconnect)

See docs/providers/bitstamp.md.
"""

from ..registry import Provider
from .models import BitstampData, BitstampQueryParams
from .protocol import BitstampProtocol

PROVIDER = Provider(
    name="bitstamp",
    params=BitstampQueryParams,
    data=BitstampData,
    protocol=BitstampProtocol,
    docs_url="https://www.bitstamp.net/websocket/v2/",
    simulator="providers.bitstamp.simulator",
)

__all__ = ["PROVIDER", "BitstampData", "BitstampProtocol", "BitstampQueryParams"]
