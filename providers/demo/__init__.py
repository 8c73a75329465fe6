"""The `demo` provider: a synthetic market served by a simulator shipped with feeddock.

It needs no API key and no internet, and it runs through exactly the same worker, writer and
broadcast code as the real providers. Wire protocol (all server frames are JSON arrays):

    < [{"ev":"status","status":"connected","message":"feeddock demo market"}]
    > {"action":"login","key":"<any non-empty key>"}
    < [{"ev":"status","status":"authorized","message":"logged in"}]
      or [{"ev":"status","status":"unauthorized","message":"invalid key"}], then a close
    > {"action":"subscribe","symbols":["AAPL","MSFT"],"feeds":["trade","quote"]}
    < [{"ev":"status","status":"subscribed","message":"subscribed to: AAPL,MSFT"}]
    > {"action":"unsubscribe","symbols":["MSFT"]}
    < [{"ev":"status","status":"unsubscribed","message":"unsubscribed from: MSFT"}]
    < [{"ev":"trade","sym":"AAPL","t":1732000000123456789,"p":101.25,"s":100,"x":"DEMO","q":7}]
    < [{"ev":"quote","sym":"AAPL","t":...,"bp":101.2,"bs":300,"ap":101.3,"as":200,"x":"DEMO","q":8}]
    < [{"ev":"heartbeat"}]
    < [{"ev":"status","status":"error","message":"invalid symbol: ..."}]

`*` subscribes to every symbol of the demo universe. `t` is epoch nanoseconds; `q` is a
sequence number unique per simulator.
"""

from ..registry import Provider
from .models import DemoData, DemoQueryParams
from .protocol import DemoProtocol

PROVIDER = Provider(
    name="demo",
    params=DemoQueryParams,
    data=DemoData,
    protocol=DemoProtocol,
    docs_url="docs/providers.md#demo",
    simulator="providers.demo.simulator",
    simulated_by_default=True,
)

__all__ = ["PROVIDER", "DemoData", "DemoProtocol", "DemoQueryParams"]
