"""Recorded OKX sessions replayed through the real protocol class, against golden records.

The frames follow OKX's documented messages (docs samples where OKX gives them); OKX could
not be reached from here. See replay_helpers.py for the file format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.okx import OkxProtocol, OkxQueryParams
from providers.protocol import Message, ProviderProtocol

from .replay_helpers import check_golden, recorded_sessions, replay

DATA = Path(__file__).parent / "data" / "okx"

# Session -> (create_connection parameters, non-record events in order, invalid frames).
SESSIONS: dict[str, tuple[dict[str, Any], list[str], int]] = {
    # The second BTC-USDT ticker restates the first (same ts) and is dropped; the session ends
    # with the service-upgrade notice, which asks for a reconnect.
    "trades_and_tickers": (
        {"symbol": "btc/usdt,ETHUSDT"},
        ["Info"] * 4 + ["Heartbeat", "Info", "Info", "Reconnect"],
        0,
    ),
    "unknown_instrument": (
        {"symbol": "foo-bar", "feed": "quote"},
        ["ProviderError", "Info"],
        0,
    ),
}


def rebuild(protocol: ProviderProtocol[Any], frame: str) -> list[Message]:
    message = orjson.loads(frame)
    inst_ids = list(dict.fromkeys(arg["instId"] for arg in message["args"]))
    if message["op"] == "subscribe":
        return protocol.subscribe(inst_ids)
    return protocol.unsubscribe(inst_ids)


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    values, events, invalid = SESSIONS[session]
    params = OkxQueryParams.model_validate({"name": session, **values})
    result = replay(OkxProtocol(params, None), DATA / f"{session}.jsonl", rebuild)
    check_golden(result, DATA / f"{session}.golden.jsonl")
    assert result.events == events
    assert result.invalid == invalid


def test_a_swap_instrument_keeps_its_inst_id_as_symbol() -> None:
    values, _, _ = SESSIONS["unknown_instrument"]
    params = OkxQueryParams.model_validate({"name": "x", **values})
    result = replay(OkxProtocol(params, None), DATA / "unknown_instrument.jsonl", rebuild)
    assert [orjson.loads(r)["symbol"] for r in result.records] == ["BTC-USDT-SWAP"]


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    assert recorded_sessions(DATA) == set(SESSIONS)
