"""The `polygon` provider: Polygon.io (renamed Massive in 2025) real-time and delayed WebSockets.

Docs: https://polygon.io/docs/websocket/quickstart. Endpoints are `wss://socket.polygon.io/<market>`
(real time) and `wss://delayed.polygon.io/<market>` (15-minute delayed), markets `stocks`,
`options`, `forex`, `crypto` and `indices`; the same service answers on `*.massive.com`.
The key comes from `api_key=` or the environment variable POLYGON_API_KEY.
"""

from ..registry import Provider
from .models import PolygonData, PolygonQueryParams
from .protocol import PolygonProtocol

PROVIDER = Provider(
    name="polygon",
    params=PolygonQueryParams,
    data=PolygonData,
    protocol=PolygonProtocol,
    docs_url="https://polygon.io/docs/websocket/quickstart",
    simulator="providers.polygon.simulator",
)

__all__ = ["PROVIDER", "PolygonData", "PolygonProtocol", "PolygonQueryParams"]
