"""Several tenants on one REST server (process runtime): keys, isolation, quotas, admin, reload.

The Docker runtime's version, through a real `feeddock serve`, is tests/docker/test_tenants.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.rest import create_app
from orchestrator.rest.directory import Directory
from providers.demo.simulator import DemoSimulator

from ..helpers import wait_until
from ..tenancy import API, call, cross_tenant_refusals, key, tenants_toml
from .conftest import LiveServer

ALPHA, ALPHA_2, BETA, ADMIN = "alpha-key-1", "alpha-key-2", "beta-key-1", "admin-key-1"


class Server:
    """A REST server over a tenants file, and an HTTP client for it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.directory = Directory.from_file(path)
        self.live = LiveServer(app=create_app(directory=self.directory)).__enter__()
        self.http = httpx.Client(base_url=self.live.url, timeout=60)

    def write(self, text: str) -> None:
        """Replace the file at once, as an editor saving it does."""
        temporary = self.path.with_suffix(".new")
        temporary.write_text(text)
        temporary.replace(self.path)

    def close(self) -> None:
        self.http.close()
        self.live.__exit__()
        for api in self.directory.apis().values():
            api.shutdown()


def default_tenants(tmp_path: Path, **overrides: Any) -> dict[str, dict[str, Any]]:
    tenants: dict[str, dict[str, Any]] = {
        "alpha": {"keys": [ALPHA, ALPHA_2], "max_connections": 2},
        "beta": {"keys": [BETA], "max_connections": 1, "providers": ["demo"]},
    }
    for tenant, fields in overrides.items():
        tenants[tenant] = {**tenants.get(tenant, {}), **fields}
    return tenants


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def start(**overrides: Any) -> Server:
        path = tmp_path / "tenants.toml"
        text = tenants_toml(
            default_tenants(tmp_path, **overrides),
            admin_key=ADMIN,
            server={"results_root": str(tmp_path / "results")},
        )
        path.write_text(text)
        made.append(Server(path))
        return made[-1]

    yield start
    for made_server in made:
        made_server.close()


def create(srv: Server, who: str, name: str, market: DemoSimulator, **extra: Any) -> httpx.Response:
    body = {"provider": "demo", "name": name, "symbol": "aapl", "url": market.url, **extra}
    return srv.http.post(f"{API}/create_connection", json=body, headers=key(who))


def test_two_tenants_create_one_name_at_once_and_never_see_each_other(server, market) -> None:
    srv = server()
    answers: dict[str, httpx.Response] = {}
    barrier = threading.Barrier(2)

    def create_as(who: str) -> None:
        barrier.wait()
        answers[who] = create(srv, who, "shared", market, limit=None)

    threads = [threading.Thread(target=create_as, args=(who,)) for who in (ALPHA, BETA)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers[ALPHA].status_code == answers[BETA].status_code == 200
    assert answers[ALPHA].json()["results"]["results_file"].startswith(str(srv.path.parent))
    for who in (ALPHA, BETA):  # both stream, each into its own file
        wait_until(
            lambda who=who: call(srv.http, "GET", "get_results", key(who), name="shared").json()[
                "results"
            ]
        )
    files = {
        call(srv.http, "GET", "get_client_status", key(who)).json()["results"][0]["results_file"]
        for who in (ALPHA, BETA)
    }
    assert len(files) == 2

    assert create(srv, ALPHA, "alpha_only", market).status_code == 200
    rows = cross_tenant_refusals(srv.http, key(BETA), "alpha_only", "never_created")
    assert [status for _, status in rows] == [404] * len(rows)
    beta_sees = call(srv.http, "GET", "get_client_status", key(BETA)).json()["results"]
    assert [s["name"] for s in beta_sees] == ["shared"]
    assert "tenant" not in beta_sees[0] or beta_sees[0]["tenant"] is None
    # The second key of a tenant is the same tenant.
    alpha_sees = call(srv.http, "GET", "get_client_status", key(ALPHA_2)).json()["results"]
    assert sorted(s["name"] for s in alpha_sees) == ["alpha_only", "shared"]
    assert all(s["is_running"] for s in alpha_sees)


def test_a_missing_or_wrong_key_is_one_401_that_says_nothing_of_tenants(server) -> None:
    srv = server()
    missing = srv.http.get(f"{API}/get_client_status")
    wrong = srv.http.get(f"{API}/get_client_status", headers=key("guess"))
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == wrong.json()
    assert "tenant" not in missing.text.lower()
    assert srv.http.get("/healthz").json() == {"status": "ok"}
    refused = call(srv.http, "GET", "get_client_status", key(ALPHA), tenant="beta")
    assert refused.status_code == 422 and refused.json()["field"] == "tenant"


def test_quotas_are_counted_per_tenant(server, market, tmp_path) -> None:
    srv = server()
    body = {"provider": "polygon", "name": "p", "symbol": "aapl", "url": market.url}
    refused = srv.http.post(f"{API}/create_connection", json=body, headers=key(BETA))
    assert refused.status_code == 422 and refused.json()["allowed"] == ["demo"]
    outside = create(srv, ALPHA, "o", market, results_file=str(tmp_path / "elsewhere.db"))
    assert outside.status_code == 422 and outside.json()["field"] == "results_file"

    assert create(srv, BETA, "b1", market).status_code == 200
    full = create(srv, BETA, "b2", market)
    assert full.status_code == 429
    assert create(srv, ALPHA, "a1", market).status_code == 200  # beta's cap is beta's
    assert create(srv, ALPHA, "a2", market).status_code == 200
    assert create(srv, ALPHA, "a3", market).status_code == 429


def test_the_admin_reads_every_tenant_and_kills_any_connection(server, market) -> None:
    srv = server()
    assert create(srv, ALPHA, "same", market, auth_token="alpha-token").status_code == 200
    assert create(srv, BETA, "same", market).status_code == 200
    assert create(srv, ALPHA, "only_alpha", market).status_code == 200

    rows = call(srv.http, "GET", "get_client_status", key(ADMIN)).json()["results"]
    assert sorted((r["tenant"], r["name"]) for r in rows) == [
        ("alpha", "only_alpha"),
        ("alpha", "same"),
        ("beta", "same"),
    ]
    one = call(srv.http, "GET", "get_client_status", key(ADMIN), name="same", tenant="beta")
    assert [(r["tenant"], r["name"]) for r in one.json()["results"]] == [("beta", "same")]
    forbidden = create(srv, ADMIN, "x", market)
    assert forbidden.status_code == 403
    ambiguous = call(srv.http, "POST", "kill", key(ADMIN), name="same")
    assert ambiguous.status_code == 422 and sorted(ambiguous.json()["allowed"]) == ["alpha", "beta"]

    killed = call(srv.http, "POST", "kill", key(ADMIN), name="same", tenant="alpha")
    assert killed.status_code == 200  # without alpha's connection token
    assert call(srv.http, "POST", "kill", key(ADMIN), name="only_alpha").status_code == 200
    rows = call(srv.http, "GET", "get_client_status", key(ADMIN)).json()["results"]
    assert [(r["tenant"], r["name"]) for r in rows] == [("beta", "same")]
    assert call(srv.http, "POST", "kill", key(ADMIN), name="nobody").status_code == 404


def test_the_tenants_credential_comes_from_the_file_never_the_servers_env(
    server, demo_market, monkeypatch
) -> None:
    market = demo_market(api_keys={"alpha-provider-key"})
    monkeypatch.setenv("ALPHA_DEMO_KEY", "alpha-provider-key")
    monkeypatch.setenv("DEMO_API_KEY", "alpha-provider-key")  # the server's: nobody's to use
    srv = server(alpha={"credentials": {"demo": {"env": "ALPHA_DEMO_KEY"}}})

    created = create(srv, ALPHA, "keyed", market)
    assert created.status_code == 200, created.text
    assert "alpha-provider-key" not in created.text
    refused = create(srv, BETA, "keyed", market)
    assert refused.status_code == 502 and refused.json()["error"] == "UnauthorizedError"
    status = call(srv.http, "GET", "get_client_status", key(ADMIN))
    assert "alpha-provider-key" not in status.text


def test_the_file_reloads_without_dropping_connections(server, market, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr("orchestrator.console.show", lambda line, level=0: shown.append(line))
    srv = server()
    assert create(srv, ALPHA, "keeps_running", market).status_code == 200
    assert create(srv, BETA, "b1", market).status_code == 200
    assert create(srv, BETA, "b2", market).status_code == 429

    # alpha's first key is withdrawn, beta gets a new key and a larger cap, gamma is new.
    srv.write(
        tenants_toml(
            {
                "alpha": {"keys": [ALPHA_2], "max_connections": 2},
                "beta": {"keys": [BETA, "beta-key-2"], "max_connections": 2},
                "gamma": {"keys": ["gamma-key"]},
            },
            admin_key=ADMIN,
            server={"results_root": str(srv.path.parent / "results")},
        )
    )
    wait_until(
        lambda: call(srv.http, "GET", "get_client_status", key("gamma-key")).status_code == 200
    )
    assert call(srv.http, "GET", "get_client_status", key(ALPHA)).status_code == 401
    assert create(srv, "beta-key-2", "b2", market).status_code == 200
    kept = call(srv.http, "GET", "get_client_status", key(ALPHA_2), name="keeps_running")
    assert kept.json()["results"][0]["is_running"] is True

    shown.clear()
    srv.write("[tenants.alpha]\napi_key_sha256 = 'not hex'\n")
    wait_until(lambda: any("not reloaded" in line for line in shown))
    assert any("line 2: tenants.alpha.api_key_sha256" in line for line in shown)
    assert call(srv.http, "GET", "get_client_status", key("gamma-key")).status_code == 200

    srv.directory.request_reload()  # what SIGHUP does; the broken file is still refused
    shown.clear()
    wait_until(lambda: any("not reloaded" in line for line in shown))


def test_a_malformed_file_is_refused_at_start(tmp_path, monkeypatch) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text("[tenants.alpha]\napi_key_sha256 = 'abc'\nmax_connections = 1\n")
    monkeypatch.setenv("FEEDDOCK_TENANTS_FILE", str(path))
    with pytest.raises(Exception, match=r"line 2: tenants\.alpha\.api_key_sha256"):
        create_app()


def test_feeddock_serve_refuses_a_malformed_tenants_file_naming_line_and_field(tmp_path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text("[tenants.alpha]\napi_key_sha256 = 'abc'\n")
    feeddock = str(Path(sys.executable).with_name("feeddock"))
    done = subprocess.run(
        [feeddock, "serve", "--port", "1"],
        env={**os.environ, "FEEDDOCK_TENANTS_FILE": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "line 2: tenants.alpha.api_key_sha256" in " ".join(done.stderr.split())
