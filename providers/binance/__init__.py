"""The `binance` provider: Binance spot trades and best bid/ask, keyless.

Docs: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
Wire protocol (combined streams at `/stream`, method messages for live changes):

    > {"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}
    < {"result":null,"id":1}
    < {"stream":"btcusdt@trade","data":{"e":"trade","E":..,"s":"BTCUSDT","t":..,"p":"..",...}}
    < {"stream":"btcusdt@bookTicker","data":{"u":..,"s":"BTCUSDT","b":"..","B":"..",...}}
    < {"stream":"!serverShutdown","data":{"e":"serverShutdown","E":..}}   (-> reconnect)

Hosts: `stream.binance.com` (default), `data-stream.binance.vision` (market data only) and
`stream.binance.us` (Binance.US). Binance refuses some regions with HTTP 451 at the handshake;
see docs/providers/binance.md.
"""

from ..registry import Provider
from .models import BinanceData, BinanceQueryParams
from .protocol import BinanceProtocol

PROVIDER = Provider(
    name="binance",
    params=BinanceQueryParams,
    data=BinanceData,
    protocol=BinanceProtocol,
    docs_url="https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams",
    simulator="providers.binance.simulator",
)

__all__ = ["PROVIDER", "BinanceData", "BinanceProtocol", "BinanceQueryParams"]
