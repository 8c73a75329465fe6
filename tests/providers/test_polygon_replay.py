"""Recorded Polygon sessions replayed through the real protocol class, against golden records.

Each `data/polygon/<session>.jsonl` line is `{"dir": "recv"|"send", "frame": <text frame>}`.
The frames are assembled from the verbatim messages of Polygon's spec, its official client's
mock server and fixtures (see docs/providers/polygon.md), not captured from a live account.
Every `send` frame must be exactly what the protocol sends at that point (the auth on open, the
subscribe once authorized, then the user's live changes listed below); every `recv` frame goes
through `receive()`, and the records' stored JSON must equal `<session>.golden.jsonl`.

Regenerate the golden files after a deliberate change with
`.venv/bin/python -m tests.providers.test_polygon_replay` and review the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.polygon import PolygonProtocol, PolygonQueryParams
from providers.protocol import Authorized, Event, Info, ProviderError, Records, Unauthorized

DATA = Path(__file__).parent / "data" / "polygon"

# session -> (parameters, key, live changes the user made while streaming, in order)
SESSIONS: dict[str, tuple[dict[str, Any], str, list[tuple[str, list[str]]]]] = {
    "stocks_trades": ({"symbol": "aapl,msft"}, "KEY", [("unsubscribe", ["msft"])]),
    "stocks_quotes_plan_error": ({"symbol": "msft", "feed": "quote"}, "KEY", []),
    "stocks_delayed_aggs_min": (
        {"symbol": "gte", "asset_type": "stock_delayed", "feed": "aggs_min"},
        "KEY",
        [],
    ),
    "options_quotes": (
        {"symbol": "spy241220p00720000", "asset_type": "options", "feed": "quote"},
        "KEY",
        [],
    ),
    "fx_quotes": ({"symbol": "usdcnh,eur/usd", "asset_type": "fx"}, "KEY", []),
    "fx_aggs_min": ({"symbol": "usdeur", "asset_type": "fx", "feed": "aggs_min"}, "KEY", []),
    "crypto_trades": ({"symbol": "btcusd", "asset_type": "crypto"}, "KEY", []),
    "crypto_quotes": ({"symbol": "btc-usd", "asset_type": "crypto", "feed": "quote"}, "KEY", []),
    "indices_values": ({"symbol": "spx", "asset_type": "index"}, "KEY", []),
    "auth_failed": ({"symbol": "aapl"}, "WRONG", []),
}


def replay(session: str) -> tuple[list[str], list[Event]]:
    """Run one session; return the stored JSON of its records and its other events."""
    params, key, changes = SESSIONS[session]
    proto = PolygonProtocol(PolygonQueryParams(name="replay", **params), key)
    symbols = [proto.canonical_symbol(s) for s in proto.params.symbols()]
    pending = list(proto.on_open(symbols))
    remaining = list(changes)
    stored: list[str] = []
    events: list[Event] = []
    lines = (DATA / f"{session}.jsonl").read_text().splitlines()
    for number, line in enumerate(lines, 1):
        entry = orjson.loads(line)
        if entry["dir"] == "send":
            if not pending and remaining:
                action, change = remaining.pop(0)
                pending = (
                    proto.subscribe(change)
                    if action == "subscribe"
                    else (proto.unsubscribe(change))
                )
            expected = pending.pop(0) if pending else None
            assert entry["frame"] == expected, f"{session}.jsonl line {number}"
            continue
        for event in proto.receive(entry["frame"]):
            if isinstance(event, Records):
                stored.extend(item.to_json() for item in event.items)
            else:
                events.append(event)
            if isinstance(event, Authorized):
                pending.extend(proto.on_authorized(symbols))
    assert pending == [], f"{session}: the protocol would still send {pending}"
    assert remaining == [], f"{session}: user changes not found in the recording: {remaining}"
    assert proto.take_invalid() == []
    return stored, events


def golden_path(session: str) -> Path:
    return DATA / f"{session}.golden.jsonl"


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_replayed_records_match_the_golden_file(session: str) -> None:
    stored, _ = replay(session)
    golden = golden_path(session).read_text().splitlines()
    assert [orjson.loads(item) for item in stored] == [orjson.loads(item) for item in golden]


def test_every_recorded_session_is_replayed() -> None:
    recorded = {p.name.removesuffix(".jsonl") for p in DATA.glob("*.jsonl")}
    recorded = {name for name in recorded if not name.endswith(".golden")}
    assert recorded == set(SESSIONS)


def test_acks_arrive_as_info_one_per_topic() -> None:
    _, events = replay("stocks_trades")
    assert [e for e in events if isinstance(e, Info)] == [
        Info("subscribed to: T.AAPL"),
        Info("subscribed to: T.MSFT"),
        Info("unsubscribed to: T.MSFT"),
    ]


def test_a_topic_outside_the_plan_is_a_provider_error() -> None:
    _, events = replay("stocks_quotes_plan_error")
    assert ProviderError("not authorized") in events


def test_a_plan_without_websockets_is_refused_with_the_providers_text() -> None:
    stored, events = replay("auth_failed")
    assert stored == []
    assert events[-1] == Unauthorized(
        "Your plan doesn't include websocket access. Visit https://massive.com/pricing to upgrade."
    )


def test_every_stored_record_has_an_aware_date_and_a_type_in_words() -> None:
    for session in SESSIONS:
        for item in replay(session)[0]:
            record = orjson.loads(item)
            assert record["date"].endswith("Z"), (session, record)
            assert record["type"] in {"trade", "quote", "aggregate", "value"}, (session, record)


def regenerate() -> None:
    for session in SESSIONS:
        stored, _ = replay(session)
        golden_path(session).write_text("".join(f"{item}\n" for item in stored))
        print(f"{golden_path(session).name}: {len(stored)} records")


if __name__ == "__main__":
    regenerate()
    sys.exit(0)
