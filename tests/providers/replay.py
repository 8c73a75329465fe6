"""Replaying a recorded session through a real protocol object, the way the worker drives it.

A session file `data/<provider>/<session>.jsonl` holds one JSON object per line:

- `{"dir": "send", "frame": "..."}`: the next message the client sends. It must be exactly
  what the protocol builds at that point (on open, once authorized, after a reconnect);
- `{"dir": "send", "frame": "...", "live": {"subscribe": ["ethusdt"]}}`: a change made while
  streaming; the protocol's `subscribe`/`unsubscribe` for those symbols must build this frame
  (and the following `send` lines, when it builds several);
- `{"dir": "recv", "frame": "..."}`: a server frame, fed to `receive()`;
- `{"dir": "reconnect"}`: the connection was opened again (after a server close or a
  `Reconnect` event): the open and subscribe messages are expected again.

The stored JSON of every record must equal `<session>.golden.jsonl` line by line. Regenerate
the golden files after a deliberate change with `FEEDDOCK_UPDATE_GOLDEN=1 pytest ...`.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from providers.protocol import Authorized, Message, ProviderProtocol, Records

UPDATE = os.environ.get("FEEDDOCK_UPDATE_GOLDEN") == "1"


@dataclass
class Replay:
    records: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    invalid: int = 0


def replay(protocol: ProviderProtocol[Any], path: Path) -> Replay:
    symbols = [protocol.canonical_symbol(s) for s in protocol.params.symbols()]
    expected: deque[Message] = deque()

    def opened() -> None:
        expected.extend(protocol.on_open(list(symbols)))
        if protocol.ready_on_open:
            expected.extend(protocol.on_authorized(list(symbols)))

    opened()
    result = Replay()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        row = orjson.loads(line)
        where = f"{path.name} line {number}"
        if row["dir"] == "reconnect":
            assert not expected, f"{where}: messages never sent: {list(expected)}"
            opened()
            continue
        if row["dir"] == "send":
            if "live" in row:
                assert not expected, f"{where}: messages never sent: {list(expected)}"
                ((action, wanted),) = row["live"].items()
                changed = [protocol.canonical_symbol(s) for s in wanted]
                if action == "subscribe":
                    symbols.extend(s for s in changed if s not in symbols)
                    expected.extend(protocol.subscribe(changed))
                else:
                    symbols[:] = [s for s in symbols if s not in changed]
                    expected.extend(protocol.unsubscribe(changed))
            assert expected, f"{where}: the protocol built no message for {row['frame']}"
            assert expected.popleft() == row["frame"], where
            continue
        assert row["dir"] == "recv", where
        for event in protocol.receive(row["frame"]):
            if isinstance(event, Records):
                result.records += [record.to_json() for record in event.items]
                continue
            result.events.append(type(event).__name__)
            if isinstance(event, Authorized):
                expected.extend(protocol.on_authorized(list(symbols)))
        result.invalid += len(protocol.take_invalid())
    assert not expected, f"{path.name}: messages never sent: {list(expected)}"
    return result


def check_golden(result: Replay, path: Path) -> None:
    """The session's records equal its golden file (rewritten first under UPDATE)."""
    golden = path.with_name(path.name.replace(".jsonl", ".golden.jsonl"))
    if UPDATE:
        golden.write_text("".join(f"{record}\n" for record in result.records))
    assert result.records == golden.read_text().splitlines()


def recorded_sessions(directory: Path) -> set[str]:
    """Names of the sessions in a data directory (golden files excluded)."""
    names = {p.name.removesuffix(".jsonl") for p in directory.glob("*.jsonl")}
    return {name for name in names if not name.endswith(".golden")}
