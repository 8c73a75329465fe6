"""The `alpaca` provider: Alpaca's real-time market data for stocks (IEX, SIP, the 24/7 test
stream) and crypto; trades, quotes and minute bars.

Docs: https://docs.alpaca.markets/docs/streaming-market-data
Wire protocol (server messages are JSON arrays):

    < [{"T":"success","msg":"connected"}]
    > {"action":"auth","key":"KEY_ID","secret":"SECRET"}
    < [{"T":"success","msg":"authenticated"}]
      (or [{"T":"error","code":402,"msg":"auth failed"}])
    > {"action":"subscribe","trades":["AAPL"],"quotes":["AAPL"],"bars":["AAPL"]}
    < [{"T":"subscription","trades":["AAPL"],"quotes":["AAPL"],"bars":["AAPL"]}]
    < [{"T":"t","S":"AAPL",...},{"T":"q","S":"AAPL",...}]

Credential: one string `KEY_ID:SECRET`, as `api_key=` or the environment variable
ALPACA_API_KEY; without it, ALPACA_API_KEY (key id) + ALPACA_API_SECRET, or Alpaca's own
APCA_API_KEY_ID + APCA_API_SECRET_KEY, are joined. See docs/providers/alpaca.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..registry import Provider
from .models import AlpacaData, AlpacaQueryParams
from .protocol import AlpacaProtocol

# (key id, secret) environment pairs, tried in order when ALPACA_API_KEY holds no secret.
ENV_PAIRS = (("ALPACA_API_KEY", "ALPACA_API_SECRET"), ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"))


@dataclass(frozen=True)
class AlpacaProvider(Provider):
    """Alpaca needs a key id and a secret: the environment may hold them apart."""

    def credential_from_env(self) -> str | None:
        whole = os.environ.get(self.credential_env, "")
        if ":" in whole:
            return whole
        for key_env, secret_env in ENV_PAIRS:
            key, secret = os.environ.get(key_env), os.environ.get(secret_env)
            if key and secret:
                return f"{key}:{secret}"
        return whole or None


PROVIDER = AlpacaProvider(
    name="alpaca",
    params=AlpacaQueryParams,
    data=AlpacaData,
    protocol=AlpacaProtocol,
    docs_url="https://docs.alpaca.markets/docs/streaming-market-data",
    simulator="providers.alpaca.simulator",
)

__all__ = ["PROVIDER", "AlpacaData", "AlpacaProtocol", "AlpacaProvider", "AlpacaQueryParams"]
