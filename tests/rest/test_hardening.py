"""What a REST caller must not be able to do, and faults that still answer JSON."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ..helpers import free_port, wait_until

API = "/api/v1/websockets"


def create(http, market, name="stocks", **extra):
    body = {"provider": "demo", "name": name, "symbol": "aapl", "url": market.url, **extra}
    return http.post(f"{API}/create_connection", json=body)


@pytest.mark.parametrize(
    "kwargs",
    ['{"ws": "mymodule:Protocol"}', '{"http": "h11"}', '{"env_file": "/etc/shadow"}',
     '{"ssl_keyfile": "/root/key.pem"}', '{"log_level": "trace"}'],
)  # fmt: skip
def test_uvicorn_kwargs_over_rest_are_tuning_only(serve, market, kwargs):
    http = serve()
    assert create(http, market).status_code == 200
    refused = http.post(
        f"{API}/start_broadcasting",
        params={"name": "stocks", "port": free_port(), "uvicorn_kwargs": kwargs},
    )
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["field"] == "uvicorn_kwargs" and "ws_max_size" in body["allowed"]
    fine = http.post(
        f"{API}/start_broadcasting",
        params={"name": "stocks", "port": free_port(), "uvicorn_kwargs": '{"ws_max_size": 65536}'},
    )
    assert fine.status_code == 200, fine.text


def test_a_404_names_no_other_connection(serve, market):
    http = serve()
    assert create(http, market, name="secret-desk", auth_token="t").status_code == 200
    missing = http.get(f"{API}/get_results", params={"name": "ghost"})
    assert missing.status_code == 404
    assert "secret-desk" not in missing.text
    assert missing.json()["detail"] == "No connection named 'ghost'."


class _Teapot(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(418)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Teapot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_refused_url_gives_one_generic_error(serve, http_server, runtime_name):
    http = serve()
    response = http.post(
        f"{API}/create_connection",
        json={"provider": "demo", "name": "probe", "symbol": "aapl", "url": http_server},
    )
    assert response.status_code == 502, response.text
    assert "418" not in response.text
    assert "could not open a WebSocket connection to its url" in response.json()["detail"]


def test_a_closed_port_fails_fast(serve, runtime_name):
    http = serve()
    started = time.monotonic()
    response = http.post(
        f"{API}/create_connection",
        json={
            "provider": "demo",
            "name": "closed",
            "symbol": "a",
            "url": f"ws://127.0.0.1:{free_port()}",
        },
    )
    assert response.status_code == 502, response.text
    assert time.monotonic() - started < 15
    assert http.get(f"{API}/get_client_status").json()["results"] == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only), unmounted after the test."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=False
    )
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    """Write into `directory` until its disk is full."""
    with (directory / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_a_full_disk_is_a_507_json_error(serve, market, tiny_disk, runtime_name):
    http = serve()
    fill(tiny_disk)
    refused = create(http, market, results_file=str(tiny_disk / "results.db"))
    assert refused.status_code == 507, refused.text
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == "StorageFullError"
    assert http.get(f"{API}/get_client_status").json()["results"] == []


def test_a_disk_that_fills_while_streaming_degrades_the_connection(
    serve, market, tiny_disk, runtime_name
):
    http = serve()
    results = tiny_disk / "results.db"
    assert create(http, market, results_file=str(results), limit=None).status_code == 200
    started = time.monotonic()  # from the first byte of the filler: the disk is full sooner
    fill(tiny_disk)
    degraded = wait_until(
        lambda: (
            (s := http.get(f"{API}/get_client_status").json()["results"][0])["health"] == "degraded"
            and s
        ),
        timeout=10,
    )
    elapsed = time.monotonic() - started
    print(f"\nfull disk ({runtime_name}): degraded {elapsed:.2f} s after filling began")
    assert elapsed < 2, f"degraded after {elapsed:.1f} s"
    assert "full" in degraded["last_error"]
    assert degraded["is_running"] is True


def test_the_api_docs_sit_behind_the_server_key(serve):
    http = serve(server_api_key="k3y")
    for path in ("/docs", "/redoc", "/openapi.json"):
        refused = http.get(path)
        assert refused.status_code == 401, path
        assert refused.json()["error"] == "AuthTokenError"
    assert http.get("/openapi.json", headers={"X-API-Key": "nope"}).status_code == 403
    assert http.get("/openapi.json", headers={"X-API-Key": "k3y"}).status_code == 200
    page = http.get("/docs", params={"api_key": "k3y"})
    assert page.status_code == 200 and "swagger" in page.text.lower()
    # The browser keeps the key for the page's own fetch of the schema.
    assert http.get("/openapi.json").status_code == 200
    assert serve().get("/docs").status_code == 200  # no key configured: open as before
