"""The `okx` provider: OKX's API v5 public WebSocket (trades and tickers), keyless.

Docs: https://www.okx.com/docs-v5/en/#overview-websocket
Wire protocol (JSON objects, plus the text keep-alive `ping`/`pong`; no login):

    > {"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},
       {"channel":"tickers","instId":"BTC-USDT"}]}
    < {"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"},"connId":"accb8e21"}
    < {"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"px":"..","sz":"..",...}]}
    < {"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"bidPx":"..","askPx":"..",...}]}
    < {"event":"error","code":"60018","msg":"Wrong URL or channel:...","connId":".."}
    > ping                          (every keepalive_seconds, default 20; OKX drops 30 s idle)
    < pong
    < {"event":"notice","code":"64008","msg":"The connection will soon be closed for a service
       upgrade. Please reconnect.","connId":".."}   (the worker reconnects)

Endpoint `wss://ws.okx.com:8443/ws/v5/public`. Spot pairs are stored as `BASE/QUOTE`
(`BTC/USDT`) and sent as OKX writes them (`BTC-USDT`). See docs/providers/okx.md.
"""

from ..registry import Provider
from .models import OkxData, OkxQueryParams
from .protocol import OkxProtocol

PROVIDER = Provider(
    name="okx",
    params=OkxQueryParams,
    data=OkxData,
    protocol=OkxProtocol,
    docs_url="https://www.okx.com/docs-v5/en/#overview-websocket",
    simulator="providers.okx.simulator",
)

__all__ = ["PROVIDER", "OkxData", "OkxProtocol", "OkxQueryParams"]
