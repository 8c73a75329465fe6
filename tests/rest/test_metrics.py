"""`GET /metrics` and `metrics` in the status: the counters workers print in `stats` lines.

Fake workers (orchestrator/runtime/fake.py) print real `stats` status lines with counts the
test chooses; the REST app runs under a real uvicorn server and the exposition is read back
with prometheus_client's own parser.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.rest import Settings
from orchestrator.runtime.fake import FakeEngine, FakeRuntime

from .conftest import LiveServer

PROVIDER_STATS = {
    "received": 120,
    "written": 118,
    "dropped": 2,
    "lost": 0,
    "invalid": 3,
    "unreadable": 1,
    "reconnects": 4,
    "buffered": 0,
    "last_record_time": 1700000000.5,
    "commit_lag": 0.012,
    "backlog": 0.0,
    "write_problem": None,  # not a number: not a metric
}
BROADCAST_STATS = {
    "listeners": 2,
    "records_read": 118,
    "records_sent": 236,
    "frames_sent": 40,
    "slow_closes": 1,
    "gaps": 0,
    "buffered_bytes": 512,
}


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def api(engine: FakeEngine) -> Iterator[WebSocketsAPI]:
    websockets = WebSocketsAPI(Registry(), runtime=FakeRuntime(engine))
    yield websockets
    websockets.shutdown()


def serve(api: WebSocketsAPI, **settings: object) -> tuple[LiveServer, httpx.Client]:
    server = LiveServer(api, Settings.model_validate(settings)).__enter__()
    return server, httpx.Client(base_url=server.url, timeout=30)


def samples(text: str) -> dict[tuple[str, str], float]:
    """(sample name, connection) -> value, parsed by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, sample.labels.get("connection", ""))] = sample.value
    return found


def test_metrics_carry_every_counter_of_the_latest_stats_lines(api, engine):
    api.create_connection(
        provider="demo", name="ops_m1", symbol="aapl", url="ws://127.0.0.1:9", start_broadcast=True
    )
    api.create_connection(provider="demo", name="ops_m2", symbol="msft", url="ws://127.0.0.1:9")
    engine.find("ops_m1").report_stats(**{**PROVIDER_STATS, "written": 50})
    engine.find("ops_m1").report_stats(**PROVIDER_STATS)  # the latest line wins
    engine.find("ops_m1", "broadcast").report_stats(**BROADCAST_STATS)
    server, http = serve(api)
    try:
        response = http.get("/metrics")
    finally:
        http.close()
        server.__exit__()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("feeddock_connections", "")] == 2
    assert found[("feeddock_provider_received_total", "ops_m1")] == 120
    assert found[("feeddock_provider_written_total", "ops_m1")] == 118
    assert found[("feeddock_provider_dropped_total", "ops_m1")] == 2
    assert found[("feeddock_provider_invalid_total", "ops_m1")] == 3
    assert found[("feeddock_provider_reconnects_total", "ops_m1")] == 4
    assert found[("feeddock_provider_commit_lag_seconds", "ops_m1")] == pytest.approx(0.012)
    assert found[("feeddock_provider_last_record_timestamp_seconds", "ops_m1")] == 1700000000.5
    assert found[("feeddock_broadcast_listeners", "ops_m1")] == 2
    assert found[("feeddock_broadcast_records_sent_total", "ops_m1")] == 236
    assert found[("feeddock_broadcast_frames_sent_total", "ops_m1")] == 40
    assert found[("feeddock_broadcast_slow_closes_total", "ops_m1")] == 1
    assert found[("feeddock_broadcast_buffered_bytes", "ops_m1")] == 512
    assert found[("feeddock_connection_running", "ops_m1")] == 1
    assert found[("feeddock_connection_broadcasting", "ops_m2")] == 0
    # A connection whose workers have not reported yet has state but no counters.
    assert ("feeddock_provider_received_total", "ops_m2") not in found
    assert not any("write_problem" in name for name, _ in found)


def test_labels_name_the_tenant_the_connection_and_its_provider(api, engine):
    api.create_connection(provider="demo", name="ops_m3", symbol="aapl", url="ws://127.0.0.1:9")
    engine.find("ops_m3").report_stats(received=1, written=1)
    server, http = serve(api)
    try:
        text = http.get("/metrics").text
    finally:
        http.close()
        server.__exit__()
    labels = [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "feeddock_provider_received_total"
    ]
    assert labels == [{"tenant": "default", "connection": "ops_m3", "provider": "demo"}]


def test_the_status_carries_the_same_numbers_under_metrics(api, engine):
    api.create_connection(provider="demo", name="ops_m4", symbol="aapl", url="ws://127.0.0.1:9")
    engine.find("ops_m4").report_stats(**PROVIDER_STATS)
    status = api.get_client_status("ops_m4").results[0]
    assert status.metrics is not None
    assert status.metrics.provider["written"] == 118
    assert status.metrics.provider["commit_lag"] == pytest.approx(0.012)
    assert "write_problem" not in status.metrics.provider
    assert status.metrics.broadcast == {}
    assert status.metrics.labels == {
        "tenant": "default",
        "connection": "ops_m4",
        "provider": "demo",
    }
    assert status.metrics.provider_reported_at is not None


def test_a_stopped_worker_reports_no_counters(api, engine):
    api.create_connection(provider="demo", name="ops_m5", symbol="aapl", url="ws://127.0.0.1:9")
    engine.find("ops_m5").report_stats(**PROVIDER_STATS)
    api.stop_connection("ops_m5")
    status = api.get_client_status("ops_m5").results[0]
    assert status.metrics is not None and status.metrics.provider == {}


def test_stats_lines_are_kept_not_echoed(api, engine, caplog):
    api.create_connection(provider="demo", name="ops_m6", symbol="aapl", url="ws://127.0.0.1:9")
    with caplog.at_level("INFO", logger="feeddock"):
        engine.find("ops_m6").report_stats(received=5)
    assert not [r for r in caplog.records if "counters" in r.getMessage()]


def test_metrics_need_the_server_key_when_it_has_one(api):
    server, http = serve(api, server_api_key="s3cret")
    try:
        missing = http.get("/metrics")
        wrong = http.get("/metrics", headers={"X-API-Key": "nope"})
        header = http.get("/metrics", headers={"X-API-Key": "s3cret"})
        bearer = http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    finally:
        http.close()
        server.__exit__()
    assert (missing.status_code, missing.json()["error"]) == (401, "AuthTokenError")
    assert (wrong.status_code, wrong.json()["error"]) == (403, "WrongAuthTokenError")
    assert header.status_code == bearer.status_code == 200
