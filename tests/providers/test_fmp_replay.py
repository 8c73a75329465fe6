"""Recorded FMP sessions replayed through the real protocol class, compared to golden records.

Each `data/fmp/<session>.jsonl` line is `{"dir": "send" | "recv", "frame": "<exact text>"}`.
`send` frames must be exactly what the protocol builds at that point; `recv` frames are fed to
`receive()`, and the stored JSON of every record must equal `<session>.golden.jsonl` line by line.
The frames follow FMP's documented messages and the one live capture in the research notes
(the `key` quote); FMP could not be reached from here. Regenerate the golden files after a
deliberate change with `FEEDDOCK_UPDATE_GOLDEN=1 pytest tests/providers/test_fmp_replay.py`.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.fmp import FmpProtocol, FmpQueryParams
from providers.protocol import Authorized, Records

DATA = Path(__file__).parent / "data" / "fmp"
UPDATE = os.environ.get("FEEDDOCK_UPDATE_GOLDEN") == "1"

# Session -> (create_connection parameters, API key, non-record events in order).
SESSIONS: dict[str, tuple[dict[str, Any], str, list[str]]] = {
    "stock_session": (
        {"symbol": "AAPL,key"},
        "REPLAY_KEY",
        ["Authorized", "Info", "Heartbeat", "Info", "ProviderError"],
    ),
    "crypto_quotes_session": (
        {"symbol": "BTC-USD,eth/usd", "asset_type": "crypto", "feed": "quote"},
        "REPLAY_KEY",
        ["Authorized", "Info", "Heartbeat"],
    ),
    "unauthorized_session": ({"symbol": "aapl"}, "WRONG", ["Unauthorized"]),
    "kicked_session": (
        {"symbol": "EUR/USD", "asset_type": "fx"},
        "REPLAY_KEY",
        ["Authorized", "Info", "Unauthorized"],
    ),
}


@dataclass
class Replay:
    records: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    invalid: int = 0


def replay(session: str) -> Replay:
    values, api_key, _ = SESSIONS[session]
    protocol = FmpProtocol(FmpQueryParams.model_validate({"name": session, **values}), api_key)
    symbols = [protocol.canonical_symbol(s) for s in protocol.params.symbols()]
    expected_sends: deque[str | bytes] = deque(protocol.on_open(symbols))
    result = Replay()
    lines = (DATA / f"{session}.jsonl").read_text().splitlines()
    for number, line in enumerate(lines, 1):
        row = orjson.loads(line)
        frame = row["frame"]
        if row["dir"] == "send":
            if expected_sends:
                built = [expected_sends.popleft()]
            else:  # a live change: the protocol must build exactly this message
                message = orjson.loads(frame)
                build = (
                    protocol.subscribe if message["event"] == "subscribe" else protocol.unsubscribe
                )
                built = build(message["data"]["ticker"])
            assert built == [frame], f"{session}.jsonl line {number}"
            continue
        assert row["dir"] == "recv"
        for event in protocol.receive(frame):
            if isinstance(event, Records):
                result.records += [record.to_json() for record in event.items]
                continue
            result.events.append(type(event).__name__)
            if isinstance(event, Authorized):
                expected_sends.extend(protocol.on_authorized(symbols))
        result.invalid += len(protocol.take_invalid())
    assert not expected_sends, f"{session}: messages never sent: {list(expected_sends)}"
    return result


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    result = replay(session)
    golden = DATA / f"{session}.golden.jsonl"
    if UPDATE:
        golden.write_text("".join(f"{record}\n" for record in result.records))
    assert result.records == golden.read_text().splitlines()
    assert result.events == SESSIONS[session][2]


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    recorded = {p.name.removesuffix(".jsonl") for p in DATA.glob("*.jsonl")}
    sessions = {name for name in recorded if not name.endswith(".golden")}
    assert sessions == set(SESSIONS)
    assert {f"{name}.golden" for name in sessions} <= recorded


def test_the_stock_session_has_every_event_type_and_one_invalid_frame() -> None:
    result = replay("stock_session")
    types = [orjson.loads(record)["type"] for record in result.records]
    assert types == ["quote", "trade", "quote", "break", "trade"]
    assert result.invalid == 1


def test_the_quote_feed_drops_the_crypto_trade() -> None:
    result = replay("crypto_quotes_session")
    assert [orjson.loads(r)["symbol"] for r in result.records] == ["BTCUSD", "ETHUSD"]
    assert {orjson.loads(r)["exchange"] for r in result.records} == {"SIM"}
