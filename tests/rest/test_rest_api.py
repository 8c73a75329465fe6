"""Every REST endpoint and every error status, over real HTTP."""

from __future__ import annotations

import io

import httpx
import pytest

from orchestrator import WebSocketsAPI, listen
from orchestrator.registry import Registry
from orchestrator.rest import Settings

from ..helpers import wait_until
from .conftest import LiveServer, free_port

API = "/api/v1/websockets"


def create(http, market, name="stocks", **extra):
    body = {"provider": "demo", "name": name, "symbol": "aapl,msft", "url": market.url, **extra}
    return http.post(f"{API}/create_connection", json=body)


def test_the_whole_lifecycle_over_http(serve, market):
    http = serve()

    created = create(http, market, limit=None)
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == {"id", "results", "provider", "warnings", "chart", "extra"}
    assert body["provider"] == "demo"
    assert body["results"]["name"] == "stocks"
    assert body["results"]["is_running"] is True

    statuses = http.get(f"{API}/get_client_status").json()["results"]
    assert [s["name"] for s in statuses] == ["stocks"]
    one = http.get(f"{API}/get_client_status", params={"name": "stocks"}).json()["results"]
    assert one[0]["subscribed_symbols"] == "AAPL,MSFT"

    records = wait_until(
        lambda: http.get(f"{API}/get_results", params={"name": "stocks"}).json()["results"]
    )
    assert {"date", "symbol", "type"} <= set(records[0])
    assert records[0]["date"].endswith("Z")

    params = {"name": "stocks", "symbol": "nvda"}
    subscribed = http.post(f"{API}/subscribe", params=params).json()["results"]
    assert subscribed["subscribed_symbols"] == "AAPL,MSFT,NVDA"
    market.wait_for_message(lambda m: isinstance(m, dict) and m.get("symbols") == ["NVDA"])
    unsubscribed = http.post(f"{API}/unsubscribe", params={"name": "stocks", "symbol": "msft"})
    assert unsubscribed.json()["results"]["subscribed_symbols"] == "AAPL,NVDA"

    port = free_port()
    broadcasting = http.post(f"{API}/start_broadcasting", params={"name": "stocks", "port": port})
    assert broadcasting.json()["results"]["broadcast_address"] == f"ws://127.0.0.1:{port}"
    assert listen(f"ws://127.0.0.1:{port}", file=io.StringIO(), max_records=2) == 2
    quiet = http.post(f"{API}/stop_broadcasting", params={"name": "stocks"}).json()["results"]
    assert quiet["is_broadcasting"] is False
    assert quiet["is_running"] is True

    cleared = http.post(f"{API}/clear_results", params={"name": "stocks"}).json()["results"]
    assert cleared.endswith("results cleared from stocks.")

    stopped = http.post(f"{API}/stop_connection", params={"name": "stocks"}).json()["results"]
    assert stopped["is_running"] is False
    restarted = http.post(f"{API}/restart_connection", params={"name": "stocks"}).json()
    assert restarted["results"]["is_running"] is True
    assert restarted["results"]["subscribed_symbols"] == "AAPL,NVDA"

    killed = http.post(f"{API}/kill", params={"name": "stocks"}).json()["results"]
    assert killed == "Clients stocks killed."
    assert http.get(f"{API}/get_client_status").json()["results"] == []


def test_health_and_openapi_docs(serve):
    http = serve()
    assert http.get("/healthz").json() == {"status": "ok", "connections": 0}
    schema = http.get("/openapi.json").json()
    paths = set(schema["paths"])
    expected = {
        "clear_results",
        "create_connection",
        "get_client_status",
        "get_results",
        "kill",
        "restart_connection",
        "start_broadcasting",
        "stop_broadcasting",
        "stop_connection",
        "subscribe",
        "unsubscribe",
    }
    assert {f"{API}/{name}" for name in expected} <= paths
    assert f"{API}/get_client" not in paths
    assert http.get("/docs").status_code == 200


def test_unknown_provider_is_400_with_the_allowed_names(serve):
    response = serve().post(
        f"{API}/create_connection", json={"provider": "nope", "name": "x", "symbol": "a"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "UnknownProviderError"
    assert body["field"] == "provider"
    assert "demo" in body["allowed"]


def test_bad_parameters_are_422_naming_the_field(serve, market):
    http = serve()
    response = create(http, market, asset_type="bond")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Invalid parameters: 'asset_type'")
    assert response.json()["allowed"] == ["stock", "fx", "crypto"]
    missing = http.post(f"{API}/subscribe", params={"name": "stocks"})
    assert missing.status_code == 422
    assert "symbol" in missing.json()["detail"]
    bad_port = http.post(f"{API}/start_broadcasting", params={"name": "x", "port": 70000})
    assert bad_port.status_code == 422


def test_connection_tokens_are_401_when_missing_and_403_when_wrong(serve, market):
    http = serve()
    assert create(http, market, auth_token="s3cret").status_code == 200

    missing = http.get(f"{API}/get_results", params={"name": "stocks"})
    assert missing.status_code == 401
    wrong = http.get(f"{API}/get_results", params={"name": "stocks", "auth_token": "guess"})
    assert wrong.status_code == 403
    assert "guess" not in wrong.text and "s3cret" not in wrong.text
    by_header = http.get(
        f"{API}/get_results", params={"name": "stocks"}, headers={"X-Auth-Token": "s3cret"}
    )
    assert by_header.status_code == 200


def test_server_api_key_guards_every_route_but_health(serve):
    http = serve(server_api_key="tenant-key")
    assert http.get(f"{API}/get_client_status").status_code == 401
    assert http.get(f"{API}/get_client_status", headers={"X-API-Key": "x"}).status_code == 403
    ok = http.get(f"{API}/get_client_status", headers={"X-API-Key": "tenant-key"})
    assert ok.status_code == 200
    assert http.get("/healthz").status_code == 200


def test_unknown_connection_is_404_and_duplicate_is_409(serve, market):
    http = serve()
    assert http.post(f"{API}/kill", params={"name": "ghost"}).status_code == 404
    assert create(http, market).status_code == 200
    duplicate = create(http, market)
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]
    not_broadcasting = http.post(f"{API}/stop_broadcasting", params={"name": "stocks"})
    assert not_broadcasting.status_code == 409


def test_server_limits_for_tenants(serve, market, tmp_path):
    http = serve(providers=["demo"], max_connections=1, allow_url=False, results_root=str(tmp_path))
    refused = create(http, market)
    assert refused.status_code == 422
    assert refused.json()["field"] == "url"
    outside = http.post(
        f"{API}/create_connection",
        json={"provider": "demo", "name": "a", "symbol": "x", "results_file": "/etc/feeddock.db"},
    )
    assert outside.status_code == 422
    unsafe = http.post(
        f"{API}/create_connection",
        json={"provider": "demo", "name": "a", "symbol": "x", "connect_kwargs": {"host": "h"}},
    )
    assert unsafe.status_code == 422
    assert "ping_interval" in unsafe.json()["allowed"]
    first = http.post(
        f"{API}/create_connection", json={"provider": "demo", "name": "a", "symbol": "x"}
    )
    assert first.status_code == 200, first.text
    second = http.post(
        f"{API}/create_connection", json={"provider": "demo", "name": "b", "symbol": "x"}
    )
    assert second.status_code == 429


def test_runtime_unavailable_is_503(monkeypatch):
    monkeypatch.setenv("FEEDDOCK_RUNTIME", "docker")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/feeddock-test.sock")
    with LiveServer(WebSocketsAPI(Registry()), Settings()) as server:
        response = httpx.post(
            f"{server.url}{API}/create_connection",
            json={"provider": "demo", "name": "x", "symbol": "aapl"},
        )
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "RuntimeUnavailableError"
    assert "Docker" in body["detail"]


@pytest.mark.parametrize("route", ["get_results", "clear_results"])
def test_routes_need_a_name(serve, route):
    http = serve()
    method = http.get if route.startswith("get") else http.post
    assert method(f"{API}/{route}").status_code == 422
