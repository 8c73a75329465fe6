"""Recorded Coinbase sessions replayed through the real protocol class, against golden records.

The frames follow Coinbase's documented messages (docs samples where Coinbase gives them);
Coinbase could not be reached from here. See replay_helpers.py for the file format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.coinbase import CoinbaseProtocol, CoinbaseQueryParams
from providers.protocol import Message, ProviderProtocol

from .replay_helpers import check_golden, recorded_sessions, replay

DATA = Path(__file__).parent / "data" / "coinbase"

# Session -> (create_connection parameters, non-record events in order, invalid frames).
SESSIONS: dict[str, tuple[dict[str, Any], list[str], int]] = {
    # last_match and the first ticker restate trade 700001; a later last_match restates
    # 700002, already stored, and is dropped; the last match has a size of "n/a".
    "matches_and_ticker": ({"symbol": "BTC/USD,eth-usd"}, ["Info", "Heartbeat", "Info"], 1),
    "invalid_product": (
        {"symbol": "btc-usd,xyz-usd", "feed": "trade"},
        ["ProviderError", "Info"],
        0,
    ),
}


def rebuild(protocol: ProviderProtocol[Any], frame: str) -> list[Message]:
    message = orjson.loads(frame)
    products = message["product_ids"]
    if message["type"] == "subscribe":
        return protocol.subscribe(products)
    return protocol.unsubscribe(products)


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    values, events, invalid = SESSIONS[session]
    params = CoinbaseQueryParams.model_validate({"name": session, **values})
    result = replay(CoinbaseProtocol(params, None), DATA / f"{session}.jsonl", rebuild)
    check_golden(result, DATA / f"{session}.golden.jsonl")
    assert result.events == events
    assert result.invalid == invalid


def test_repeated_trades_are_stored_once() -> None:
    values, _, _ = SESSIONS["matches_and_ticker"]
    params = CoinbaseQueryParams.model_validate({"name": "x", **values})
    result = replay(CoinbaseProtocol(params, None), DATA / "matches_and_ticker.jsonl", rebuild)
    stored = [orjson.loads(record) for record in result.records]
    assert [(r["type"], r["trade_id"]) for r in stored] == [
        ("trade", 700001),
        ("quote", 700001),
        ("trade", 700002),
        ("quote", 700002),
    ]


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    assert recorded_sessions(DATA) == set(SESSIONS)
