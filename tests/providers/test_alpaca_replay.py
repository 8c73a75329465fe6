"""Recorded Alpaca sessions replayed through the real protocol class, against golden records.

The frames are the examples of Alpaca's docs (streaming market data, real-time stock and crypto
pricing data), alpaca-py's test fixtures for crypto, and the FAKEPACA trades a user recorded
from the test stream; Alpaca could not be reached from here. File format and regeneration:
see `replay.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.alpaca import AlpacaProtocol, AlpacaQueryParams

from .replay import Replay, check_golden, recorded_sessions, replay

DATA = Path(__file__).parent / "data" / "alpaca"

# Session -> (create_connection parameters, credential, non-record events in order).
SESSIONS: dict[str, tuple[dict[str, Any], str, list[str]]] = {
    "iex_session": (
        {"symbol": "aapl,AMD"},
        "REPLAY:SECRET",
        ["Info", "Authorized", "Info", "Info", "ProviderError", "Info"],
    ),
    "test_stream_session": (
        {"symbol": "fakepaca", "source": "test", "feed": "trade"},
        "REPLAY:SECRET",
        ["Info", "Authorized", "Info", "Info", "Authorized", "Info"],
    ),
    "crypto_session": (
        {"symbol": "btcusd,ETH-USD", "asset_type": "crypto"},
        "REPLAY:SECRET",
        ["Info", "Authorized", "Info"],
    ),
    "refused_session": ({"symbol": "aapl"}, "WRONG:KEY", ["Info", "Unauthorized"]),
    "connection_limit_session": ({"symbol": "aapl"}, "REPLAY:SECRET", ["Info", "ProviderError"]),
}


def run(session: str) -> Replay:
    values, credential, _ = SESSIONS[session]
    params = AlpacaQueryParams.model_validate({"name": session, **values})
    return replay(AlpacaProtocol(params, credential), DATA / f"{session}.jsonl")


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    result = run(session)
    check_golden(result, DATA / f"{session}.jsonl")
    assert result.events == SESSIONS[session][2]


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    assert recorded_sessions(DATA) == set(SESSIONS)
    assert all((DATA / f"{name}.golden.jsonl").exists() for name in SESSIONS)


def test_the_iex_session_has_every_record_type_and_one_invalid_trade() -> None:
    result = run("iex_session")
    rows = [orjson.loads(r) for r in result.records]
    assert [r["type"] for r in rows] == [
        "trade",
        "quote",
        "quote",
        "quote",
        "bar",
        "cancel",
        "correction",
    ]
    assert result.invalid == 1


def test_the_test_stream_has_only_fakepaca_and_survives_a_reconnect() -> None:
    rows = [orjson.loads(r) for r in run("test_stream_session").records]
    assert {r["symbol"] for r in rows} == {"FAKEPACA"}
    assert [r["trade_id"] for r in rows] == [1, 2, 3]


def test_crypto_records_use_the_canonical_pair_and_the_venue() -> None:
    rows = [orjson.loads(r) for r in run("crypto_session").records]
    assert [(r["symbol"], r["type"], r["exchange"]) for r in rows] == [
        ("BTC/USD", "trade", "alpaca"),
        ("ETH/USD", "trade", "alpaca"),
        ("BTC/USD", "quote", "alpaca"),
        ("BTC/USD", "bar", "alpaca"),
    ]
    assert [r.get("side") for r in rows[:2]] == ["buy", "sell"]
