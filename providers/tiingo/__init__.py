"""The `tiingo` provider: Tiingo's IEX, FX and crypto firehose WebSockets.

Docs: https://www.tiingo.com/documentation/websockets/iex,
https://www.tiingo.com/documentation/websockets/forex,
https://www.tiingo.com/documentation/websockets/crypto. Endpoints `wss://api.tiingo.com/iex`,
`/fx` and `/crypto`; the key (`TIINGO_API_KEY` or `api_key=`) rides in every request.
See `protocol.py` for the wire format and `simulator.py` for a local stand-in.
"""

from ..registry import Provider
from .models import TiingoData, TiingoQueryParams
from .protocol import TiingoProtocol

PROVIDER = Provider(
    name="tiingo",
    params=TiingoQueryParams,
    data=TiingoData,
    protocol=TiingoProtocol,
    docs_url="https://www.tiingo.com/documentation/websockets/iex",
    simulator="providers.tiingo.simulator",
)

__all__ = ["PROVIDER", "TiingoData", "TiingoProtocol", "TiingoQueryParams"]
