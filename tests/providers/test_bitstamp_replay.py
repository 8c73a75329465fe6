"""Recorded Bitstamp sessions replayed through the real protocol class, against golden records.

The frames follow Bitstamp's documented messages and the captures quoted by clients
(cryptofeed, slinky); Bitstamp could not be reached from here. File format and regeneration:
see `replay.py`. The periodic `bts:heartbeat` the client sends is not part of these files
(the worker's timer sends it); the server's reply is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.bitstamp import BitstampProtocol, BitstampQueryParams

from .replay import Replay, check_golden, recorded_sessions, replay

DATA = Path(__file__).parent / "data" / "bitstamp"

# Session -> (create_connection parameters, non-record events in order).
SESSIONS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "trades_session": (
        {"symbol": "BTC/USD,eth-eur"},
        ["Info", "Info", "Info", "Heartbeat", "Reconnect", "Info"],
    ),
    "book_session": (
        {"symbol": "btcusd", "feed": "all"},
        ["Info", "Info", "ProviderError", "Info", "Info"],
    ),
}


def run(session: str) -> Replay:
    values, _ = SESSIONS[session]
    params = BitstampQueryParams.model_validate({"name": session, **values})
    return replay(BitstampProtocol(params, None), DATA / f"{session}.jsonl")


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    result = run(session)
    check_golden(result, DATA / f"{session}.jsonl")
    assert result.events == SESSIONS[session][1]
    assert result.invalid == 0


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    assert recorded_sessions(DATA) == set(SESSIONS)
    assert all((DATA / f"{name}.golden.jsonl").exists() for name in SESSIONS)


def test_the_reconnect_request_resubscribes_every_current_channel() -> None:
    rows = [orjson.loads(r) for r in run("trades_session").records]
    assert [(r["symbol"], r["side"], r["trade_id"]) for r in rows] == [
        ("BTC/USD", "buy", 412345678),
        ("ETH/EUR", "sell", 412345679),
        ("XRP/USD", "buy", 412345680),
        ("BTC/USD", "sell", 412345681),
    ]


def test_only_changes_of_the_book_top_become_quotes() -> None:
    rows = [orjson.loads(r) for r in run("book_session").records]
    assert [(r["type"], r.get("bid_size"), r.get("ask_price")) for r in rows] == [
        ("quote", 0.5, 108401.0),  # the second book changed below the top: no quote
        ("quote", 0.1, 108401.0),
        ("trade", None, None),
        ("quote", 0.1, 108401.5),
    ]
