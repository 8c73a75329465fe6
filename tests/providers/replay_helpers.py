"""Replaying recorded sessions through a real protocol class, for the keyless crypto providers.

A `data/<provider>/<session>.jsonl` line is `{"dir": "send" | "recv", "frame": "<exact text>"}`.
`send` frames must be exactly what the protocol builds at that point: first what it sends on
open and right after (keyless feeds subscribe at once), then keep-alives, then the live
changes a session recorded (rebuilt from the frame's symbols by `rebuild`). `recv` frames go
to `receive()`; the stored JSON of every record must equal `<session>.golden.jsonl` line by
line. Regenerate golden files after a deliberate change with FEEDDOCK_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from providers.protocol import Message, ProviderProtocol, Records

UPDATE = os.environ.get("FEEDDOCK_UPDATE_GOLDEN") == "1"
Rebuild = Callable[[ProviderProtocol[Any], str], list[Message]]


@dataclass
class Replay:
    records: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    invalid: int = 0


def replay(protocol: ProviderProtocol[Any], path: Path, rebuild: Rebuild) -> Replay:
    symbols = [protocol.canonical_symbol(s) for s in protocol.params.symbols()]
    expected: deque[Message] = deque(protocol.on_open(symbols))
    if protocol.ready_on_open:
        expected.extend(protocol.on_authorized(symbols))
    result = Replay()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        row = orjson.loads(line)
        frame = row["frame"]
        where = f"{path.name} line {number}"
        if row["dir"] == "send":
            if not expected and frame not in protocol.keepalive():
                expected.extend(rebuild(protocol, frame))
            built = expected.popleft() if expected else protocol.keepalive()[0]
            assert built == frame, where
            continue
        assert row["dir"] == "recv", where
        for event in protocol.receive(frame):
            if isinstance(event, Records):
                result.records += [record.to_json() for record in event.items]
            else:
                result.events.append(type(event).__name__)
        result.invalid += len(protocol.take_invalid())
    assert not expected, f"{path.name}: messages never sent: {list(expected)}"
    return result


def check_golden(result: Replay, golden: Path) -> None:
    if UPDATE:
        golden.write_text("".join(f"{record}\n" for record in result.records))
    assert result.records == golden.read_text().splitlines()


def recorded_sessions(directory: Path) -> set[str]:
    names = {p.name.removesuffix(".jsonl") for p in directory.glob("*.jsonl")}
    sessions = {name for name in names if not name.endswith(".golden")}
    assert {f"{name}.golden" for name in sessions} <= names, "a session lacks its golden file"
    return sessions
