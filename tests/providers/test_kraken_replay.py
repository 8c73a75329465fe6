"""Recorded Kraken sessions replayed through the real protocol class, against golden records.

The frames follow Kraken's documented messages (docs samples where Kraken gives them); Kraken
could not be reached from here. See replay_helpers.py for the file format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.kraken import KrakenProtocol, KrakenQueryParams
from providers.protocol import Message, ProviderProtocol

from .replay_helpers import check_golden, recorded_sessions, replay

DATA = Path(__file__).parent / "data" / "kraken"

# Session -> (create_connection parameters, non-record events in order, invalid frames).
SESSIONS: dict[str, tuple[dict[str, Any], list[str], int]] = {
    "trades_and_quotes": (
        {"symbol": "btcusd,ETH-USD"},
        ["Info"] * 5 + ["Heartbeat", "Info", "Info"],
        1,  # the ticker without `timestamp`
    ),
    "unlisted_pair": (
        {"symbol": "btc/usd,XYZ/USD", "feed": "trade"},
        ["Info", "Info", "ProviderError", "ProviderError"],
        0,
    ),
}


def rebuild(protocol: ProviderProtocol[Any], frame: str) -> list[Message]:
    message = orjson.loads(frame)
    pairs = message["params"]["symbol"]
    return (
        protocol.subscribe(pairs)
        if message["method"] == "subscribe"
        else (protocol.unsubscribe(pairs))
    )


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    values, events, invalid = SESSIONS[session]
    params = KrakenQueryParams.model_validate({"name": session, **values})
    result = replay(KrakenProtocol(params, None), DATA / f"{session}.jsonl", rebuild)
    check_golden(result, DATA / f"{session}.golden.jsonl")
    assert result.events == events
    assert result.invalid == invalid


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    assert recorded_sessions(DATA) == set(SESSIONS)
