"""Recorded Binance sessions replayed through the real protocol class, against golden records.

The frames follow the payloads of Binance's docs (web-socket-streams.md, spot and Binance.US)
and the error form clients observe (`{"error":{...},"id":N}`); Binance could not be reached
from here. File format and regeneration: see `replay.py`. `bookTicker` records are dated on
receipt: the replay fixes the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.binance import BinanceProtocol, BinanceQueryParams

from .replay import Replay, check_golden, recorded_sessions, replay

DATA = Path(__file__).parent / "data" / "binance"
RECEIVED = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

# Session -> (create_connection parameters, non-record events in order).
SESSIONS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "spot_session": (
        {"symbol": "BTCUSDT,eth/usdt"},
        ["Info", "Info", "Info", "Reconnect", "Info"],
    ),
    "us_session": (
        {"symbol": "BTC/USD", "feed": "trade", "host": "stream.binance.us"},
        ["Info", "ProviderError"],
    ),
    "raw_quotes_session": (
        {"symbol": "bnbusdt", "feed": "quote", "url": "wss://stream.binance.com:9443/ws"},
        ["Info", "Reconnect", "Info"],
    ),
}


def run(session: str) -> Replay:
    values, _ = SESSIONS[session]
    params = BinanceQueryParams.model_validate({"name": session, **values})
    protocol = BinanceProtocol(params, None, clock=lambda: RECEIVED)
    return replay(protocol, DATA / f"{session}.jsonl")


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    result = run(session)
    check_golden(result, DATA / f"{session}.jsonl")
    assert result.events == SESSIONS[session][1]


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    assert recorded_sessions(DATA) == set(SESSIONS)
    assert all((DATA / f"{name}.golden.jsonl").exists() for name in SESSIONS)


def test_the_spot_session_resubscribes_what_is_current_after_server_shutdown() -> None:
    result = run("spot_session")
    rows = [orjson.loads(r) for r in result.records]
    assert [(r["symbol"], r["type"]) for r in rows] == [
        ("BTC/USDT", "trade"),
        ("BTC/USDT", "quote"),
        ("ETH/USDT", "trade"),
        ("ETH/USDT", "quote"),
        ("SOL/USDT", "trade"),
        ("BTC/USDT", "trade"),
    ]
    assert result.invalid == 1  # the trade with an empty price


def test_binance_us_trades_carry_the_order_ids() -> None:
    rows = [orjson.loads(r) for r in run("us_session").records]
    assert {r["exchange"] for r in rows} == {"binance.us"}
    assert [r["buyer_order_id"] for r in rows] == [3412345678, 3412345679]
    assert [r["side"] for r in rows] == ["sell", "buy"]
