"""A connection's record survives the trip through labels."""

from __future__ import annotations

import pytest

from orchestrator.record import ConnectionRecord, RecordError


def test_the_record_round_trips_through_labels() -> None:
    record = ConnectionRecord(
        name="n",
        provider="demo",
        params={"symbol": "aapl", "limit": 10},
        symbols=("AAPL", "MSFT"),
        results_file="/tmp/r.db",
        temp_dir="/tmp",
        token_hash="sha256:ab:cd",
        results_created=True,
    )
    assert ConnectionRecord.from_labels(record.labels()) == record


def test_labels_without_a_record_are_refused() -> None:
    with pytest.raises(RecordError, match="schema"):
        ConnectionRecord.from_labels({"feeddock.connection": "x"})
