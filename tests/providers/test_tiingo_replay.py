"""Recorded Tiingo sessions replayed through the real protocol class, against golden records.

Each `data/tiingo/<session>.jsonl` line is `{"dir": "send"|"recv", "frame": <text frame>}`.
`send` frames must be exactly what the protocol builds (the first one by `on_open`, later ones
by `subscribe`/`unsubscribe` for the same tickers); `recv` frames go through `receive`. The
stored JSON of every record must equal `<session>.golden.jsonl` line by line.
Server frames are the verbatim examples of Tiingo's docs, except where marked in the test ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.protocol import Records
from providers.tiingo import TiingoProtocol, TiingoQueryParams

DATA = Path(__file__).parent / "data" / "tiingo"
API_KEY = "test-token"
# Parameters of each recorded session, and the non-record events it must produce in order.
SESSIONS: dict[str, tuple[dict[str, Any], list[str]]] = {
    # control replies after the change and the "B" break are constructed; one frame is invalid
    "iex_tops": (
        {"symbol": "spy,uso", "threshold_level": 0},
        ["Authorized", "Heartbeat", "Info", "Info"],
    ),
    "iex_reference": ({"symbol": "vym", "feed": "reference"}, ["Authorized", "Heartbeat"]),
    "fx": ({"symbol": "eurnok", "asset_type": "fx"}, ["Authorized", "Heartbeat"]),
    "crypto": ({"symbol": "*", "asset_type": "crypto"}, ["Authorized", "Heartbeat"]),
    # the bad-token code and text are unverified (see the research notes)
    "unauthorized": ({"symbol": "spy"}, ["Unauthorized"]),
    "bad_threshold": ({"symbol": "spy", "threshold_level": 0}, ["ProviderError"]),
}
INVALID = {"iex_tops": 1}


def load(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replay(name: str) -> tuple[list[str], list[str], TiingoProtocol]:
    params, _ = SESSIONS[name]
    protocol = TiingoProtocol(TiingoQueryParams(name="replay", **params), API_KEY)
    stored: list[str] = []
    events: list[str] = []
    opened = False
    for line in load(DATA / f"{name}.jsonl"):
        frame = line["frame"]
        if line["dir"] == "send":
            if not opened:
                built = protocol.on_open(protocol.params.symbols())
                opened = True
            else:
                request = orjson.loads(frame)
                change = getattr(protocol, request["eventName"])
                built = change(request["eventData"]["tickers"])
            assert built == [frame]
            continue
        for event in protocol.receive(frame):
            if isinstance(event, Records):
                stored.extend(record.to_json() for record in event.items)
            else:
                events.append(type(event).__name__)
    return stored, events, protocol


def test_every_recorded_session_is_replayed() -> None:
    recorded = {p.name.removesuffix(".jsonl") for p in DATA.glob("*.jsonl")}
    recorded = {name for name in recorded if not name.endswith(".golden")}
    assert recorded == set(SESSIONS)


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_replay_matches_golden_records(name: str) -> None:
    stored, events, protocol = replay(name)
    golden = load(DATA / f"{name}.golden.jsonl")
    assert [orjson.loads(record) for record in stored] == golden
    assert events == SESSIONS[name][1]
    assert len(protocol.take_invalid()) == INVALID.get(name, 0)
