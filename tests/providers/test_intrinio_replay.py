"""Recorded Intrinio sessions replayed through the real protocol class, against golden records.

Each `data/intrinio/<session>.jsonl` line is one step of a session:
`{"dir": "token", "status": 200, "body": "<token>"}` is the reply of the auth endpoint,
`{"dir": "send" | "recv", "hex": "<bytes>"}` a binary frame, `{"dir": "recv", "text": ...}` a text
frame. `send` frames must be exactly what the protocol builds at that point (the joins right
after the token, as the worker sends them on open; later ones are live subscribe/unsubscribe);
`recv` frames are fed to `receive()`, and the stored JSON of every record must equal
`<session>.golden.jsonl` line by line. Intrinio could not be reached from here: the frames are
composed byte by byte in the layout of Intrinio's official SDKs (see test_intrinio_protocol.py),
with realistic values. Regenerate the golden files after a deliberate change with
`FEEDDOCK_UPDATE_GOLDEN=1 pytest tests/providers/test_intrinio_replay.py`.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.intrinio import IntrinioProtocol, IntrinioQueryParams
from providers.protocol import Info, Message, Records

DATA = Path(__file__).parent / "data" / "intrinio"
UPDATE = os.environ.get("FEEDDOCK_UPDATE_GOLDEN") == "1"

# Session -> (create_connection parameters, non-record events in order, invalid frames).
SESSIONS: dict[str, tuple[dict[str, Any], list[str], int]] = {
    "realtime_session": ({"symbol": "aapl,MSFT"}, ["Info", "ProviderError"], 1),
    "delayed_sip_trades_only": (
        {"symbol": "brk.b,spy", "feed": "delayed_sip", "trades_only": True},
        ["Info"],
        0,
    ),
    "firehose_session": ({"symbol": "*"}, ["Info"], 0),
    "unauthorized": ({"symbol": "aapl"}, ["Unauthorized"], 0),
}


@dataclass
class Replay:
    records: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    invalid: int = 0
    token: str | None = None


def replay(session: str) -> Replay:
    values, _, _ = SESSIONS[session]
    params = IntrinioQueryParams.model_validate({"name": session, **values})
    protocol = IntrinioProtocol(params, "REPLAY_KEY")
    symbols = [protocol.canonical_symbol(s) for s in params.symbols()]
    expected_sends: deque[Message] = deque()
    result = Replay()
    lines = (DATA / f"{session}.jsonl").read_text().splitlines()
    for number, line in enumerate(lines, 1):
        row = orjson.loads(line)
        where = f"{session}.jsonl line {number}"
        if row["dir"] == "token":
            event = protocol.token_reply(row["status"], row["body"].encode())
            result.events.append(type(event).__name__)
            if isinstance(event, Info):  # the worker connects, opens, and joins at once
                result.token = protocol.token
                assert f"&token={protocol.token}&" in protocol.url(), where
                expected_sends.extend(protocol.on_open(symbols) + protocol.on_authorized(symbols))
        elif row["dir"] == "send":
            frame = bytes.fromhex(row["hex"])
            if expected_sends:
                built = [expected_sends.popleft()]
            else:  # a live change: the protocol must build exactly this frame
                build = protocol.subscribe if frame[:1] == b"J" else protocol.unsubscribe
                built = build([frame[2:].decode() if frame[:1] == b"J" else frame[1:].decode()])
            assert built == [frame], where
        else:
            received = bytes.fromhex(row["hex"]) if "hex" in row else row["text"]
            for event in protocol.receive(received):
                if isinstance(event, Records):
                    result.records += [record.to_json() for record in event.items]
                else:
                    result.events.append(type(event).__name__)
            result.invalid += len(protocol.take_invalid())
    assert not expected_sends, f"{session}: frames never sent: {list(expected_sends)}"
    return result


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_recorded_session_replays_to_the_golden_records(session: str) -> None:
    result = replay(session)
    golden = DATA / f"{session}.golden.jsonl"
    if UPDATE:
        golden.write_text("".join(f"{record}\n" for record in result.records))
    assert result.records == golden.read_text().splitlines()
    assert result.events == SESSIONS[session][1]
    assert result.invalid == SESSIONS[session][2]


def test_every_recorded_session_has_a_golden_file_and_a_test() -> None:
    recorded = {p.name.removesuffix(".jsonl") for p in DATA.glob("*.jsonl")}
    sessions = {name for name in recorded if not name.endswith(".golden")}
    assert sessions == set(SESSIONS)
    assert {f"{name}.golden" for name in sessions} <= recorded


def stored(session: str) -> list[dict[str, Any]]:
    return [orjson.loads(record) for record in replay(session).records]


def test_the_realtime_session_keeps_each_side_and_the_live_changes() -> None:
    records = stored("realtime_session")
    assert [(r["symbol"], r["type"]) for r in records] == [
        ("AAPL", "trade"),
        ("AAPL", "ask"),
        ("AAPL", "bid"),
        ("MSFT", "trade"),
        ("MSFT", "ask"),
        ("MSFT", "bid"),
        ("NVDA", "trade"),
        ("AAPL", "trade"),
    ]
    assert records[0]["last_price"] == 228.94
    assert records[0]["date"] == "2024-11-20T14:30:00.012000Z"
    assert records[0]["timestamp"] == 1_732_113_000_012_000_345
    assert records[3]["conditions"] == "@FI"
    assert {r["exchange"] for r in records} == {"V"}
    assert {r["subprovider"] for r in records} == {"IEX"}


def test_the_sip_session_flags_the_darkpool_print() -> None:
    records = stored("delayed_sip_trades_only")
    assert {r["type"] for r in records} == {"trade"}
    seen = [(r["symbol"], r["subprovider"], r.get("exchange"), r["is_darkpool"]) for r in records]
    assert seen == [
        ("SPY", "CTA_A", "P", False),
        ("SPY", "CTA_A", "D", True),
        ("BRK.B", "CTA_B", "N", False),
        ("SPY", "UTP", None, True),
    ]


def test_the_firehose_session_streams_any_ticker() -> None:
    records = stored("firehose_session")
    assert {r["symbol"] for r in records} == {"A", "ZVRA", "TSLA"}
    assert [r["is_darkpool"] for r in records if r["type"] == "trade"] == [False, True]


def test_the_refused_key_never_yields_a_token() -> None:
    assert replay("unauthorized").token is None
