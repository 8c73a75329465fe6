"""The `intrinio` provider: Intrinio's real-time US equities WebSocket (binary messages).

Docs: https://docs.intrinio.com/tutorial/websocket and the official SDKs cited in
`protocol.py`, which define the wire format. A session, in short:

    GET https://realtime-mx.intrinio.com/auth?api_key=KEY      -> 200 "<token>" (or 401)
    wss://realtime-mx.intrinio.com/socket/websocket?vsn=1.0.0&token=<token>&UseNewEquitiesFormat=v2
    > 4a 00 41 41 50 4c                  join AAPL ('J', trades-only flag, ticker)
    > 4a 00 24 46 49 52 45 48 4f 53 45   join the firehose ($FIREHOSE), symbol '*'
    > 4c 41 41 50 4c                     leave AAPL ('L', ticker)
    < 02 00 20 04 41 41 50 4c ...        two messages: a trade, then an ask (see protocol.py)

Credential: `api_key=...` or the environment variable INTRINIO_API_KEY. The worker fetches the
token before connecting, again after 24 h, and when the server refuses it on a reconnect.
See docs/providers/intrinio.md.
"""

from ..registry import Provider
from .models import IntrinioData, IntrinioQueryParams
from .protocol import IntrinioProtocol

PROVIDER = Provider(
    name="intrinio",
    params=IntrinioQueryParams,
    data=IntrinioData,
    protocol=IntrinioProtocol,
    docs_url="https://docs.intrinio.com/tutorial/websocket",
    simulator="providers.intrinio.simulator",
)

__all__ = ["PROVIDER", "IntrinioData", "IntrinioProtocol", "IntrinioQueryParams"]
