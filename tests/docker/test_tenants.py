"""Tenants on one real Docker engine: two Python processes, and two keys on one `feeddock serve`.

Tenant ids carry a random suffix so that concurrent runs on the shared engine never meet, and
every container carries this session's `feeddock.orchestrator` label (the root conftest removes
what a failed test leaves).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator import StateError, WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime.docker import DockerRuntime

from ..conftest import SESSION_INSTANCE, need_docker
from ..helpers import free_port, row_ids, wait_until
from ..tenancy import API, call, cross_tenant_refusals, key, python_refusals, tenants_toml
from .conftest import docker

CREATE = textwrap.dedent(
    """
    import json, sys
    from orchestrator import obb

    status = obb.websockets.create_connection(
        provider="demo", name="tenants_shared", symbol="aapl,msft", url=sys.argv[1],
        api_key=sys.argv[2], limit=None,
    ).results
    print(json.dumps(status.model_dump()), flush=True)
    # Exits: the containers outlive this process, like any Docker connection.
    """
)


def suffix() -> str:
    return uuid.uuid4().hex[:6]


def tenant_containers(tenant: str) -> list[str]:
    found = docker("ps", "-aq", "--no-trunc", "--filter", f"label=feeddock.tenant={tenant}")
    return found.split()


def assert_nowhere(secrets: list[str], containers: list[str]) -> int:
    """No secret in the whole `docker inspect` JSON or the logs of any of `containers`."""
    assert containers
    for container in containers:
        inspected = docker("inspect", container)
        logs = subprocess.run(
            ["docker", "logs", container], capture_output=True, text=True, check=True
        )
        for secret in secrets:
            assert secret not in inspected, container
            assert secret not in logs.stdout + logs.stderr, container
    return len(containers)


def tenant_api(tenant: str) -> WebSocketsAPI:
    return WebSocketsAPI(
        Registry(), runtime=DockerRuntime(instance=SESSION_INSTANCE, tenant=tenant)
    )


def test_two_python_processes_of_two_tenants_share_a_name_and_nothing_else(demo_market) -> None:
    need_docker()
    alpha, beta = f"tpa{suffix()}", f"tpb{suffix()}"
    keys = {alpha: f"alpha-secret-{suffix()}", beta: f"beta-secret-{suffix()}"}
    market = demo_market(rate=100, api_keys=set(keys.values()))
    processes = {
        tenant: subprocess.Popen(
            [sys.executable, "-c", CREATE, market.url, keys[tenant]],
            env={
                **os.environ,
                "FEEDDOCK_RUNTIME": "docker",
                "FEEDDOCK_TENANT": tenant,
                "FEEDDOCK_INSTANCE": SESSION_INSTANCE,
                "FEEDDOCK_QUIET": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tenant in (alpha, beta)
    }  # both at once
    created = {}
    for tenant, process in processes.items():
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        created[tenant] = json.loads(out.strip().splitlines()[-1])
        assert keys[tenant] not in out + err

    apis = {tenant: tenant_api(tenant) for tenant in (alpha, beta)}
    try:
        for tenant, api in apis.items():
            # `docker ps --filter label=feeddock.tenant=...` separates them.
            (container,) = tenant_containers(tenant)
            assert docker("inspect", "-f", "{{.Name}}", container).strip() == (
                f"/feeddock.{tenant}.tenants_shared-provider"
            )
            # Each successor adopts its own tenant's connection only, and it streams.
            (status,) = api.get_client_status("all").results
            assert status.provider_pid == created[tenant]["provider_pid"] == container
            path = status.results_file or ""
            count = len(row_ids(path))
            wait_until(lambda path=path, count=count: len(row_ids(path)) > count)
        assert created[alpha]["results_file"] != created[beta]["results_file"]
        assert (
            assert_nowhere(list(keys.values()), tenant_containers(alpha) + tenant_containers(beta))
            == 2
        )

        apis[beta].create_connection(
            provider="demo", name="tenants_beta_only", symbol="aapl", url=market.url,
            api_key=keys[beta],
        )  # fmt: skip
        refused = python_refusals(apis[alpha], "tenants_beta_only", "tenants_nobody")
        assert "kill" in refused and "restart_connection" in refused
        assert apis[beta].get_client_status("tenants_beta_only").results[0].is_running

        apis[alpha].kill("tenants_shared")
        assert tenant_containers(alpha) == []
        assert len(tenant_containers(beta)) == 2
        assert all(s.is_running for s in apis[beta].get_client_status("all").results)
    finally:
        for api in apis.values():
            api.shutdown()
    assert tenant_containers(beta) == []


class Serve:
    """`feeddock serve` with a tenants file, as its own process."""

    def __init__(self, path: Path, env: dict[str, str], log: Path) -> None:
        self.port = int(env.pop("PORT"))
        feeddock = str(Path(sys.executable).with_name("feeddock"))
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [feeddock, "serve", "--port", str(self.port)],
            env={**os.environ, **env, "FEEDDOCK_TENANTS_FILE": str(path)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=90)
        wait_until(self._healthy, timeout=30)

    def _healthy(self) -> bool:
        assert self.process.poll() is None, "feeddock serve exited"
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[Serve] = []

    def start(text: str, **env: str) -> Serve:
        path = tmp_path / "tenants.toml"
        path.write_text(text)
        log = tmp_path / f"serve-{len(started)}.log"
        started.append(Serve(path, {"PORT": str(free_port()), **env}, log))
        return started[-1]

    yield start
    for service in started:
        service.stop()


def test_two_keys_on_one_feeddock_serve_with_docker(serve, demo_market, tmp_path) -> None:
    need_docker()
    alpha, beta = f"tra{suffix()}", f"trb{suffix()}"
    alpha_key, beta_key, admin_key = (f"{role}-key-{suffix()}" for role in ("a", "b", "admin"))
    alpha_credential, beta_credential = f"alpha-cred-{suffix()}", f"beta-cred-{suffix()}"
    token = f"listener-token-{suffix()}"
    market = demo_market(rate=100, api_keys={alpha_credential, beta_credential})
    tenants = {
        alpha: {
            "keys": [alpha_key],
            "max_connections": 2,
            "memory": "128m",
            "credentials": {"demo": {"env": "TENANTS_ALPHA_CREDENTIAL"}},
        },
        beta: {"keys": [beta_key], "max_connections": 1, "cpus": 0.5},
    }
    server = {"results_root": str(tmp_path / "results")}
    service = serve(
        tenants_toml(tenants, admin_key=admin_key, server=server),
        FEEDDOCK_RUNTIME="docker",
        FEEDDOCK_INSTANCE=SESSION_INSTANCE,
        TENANTS_ALPHA_CREDENTIAL=alpha_credential,
    )
    http = service.http

    def create(who: str, name: str, **extra: Any) -> httpx.Response:
        body = {"provider": "demo", "name": name, "symbol": "aapl", "url": market.url, **extra}
        return http.post(f"{API}/create_connection", json=body, headers=key(who))

    answers: dict[str, httpx.Response] = {}
    extra = {
        alpha_key: {"limit": None},  # its credential comes from the tenants file
        beta_key: {"limit": None, "api_key": beta_credential, "auth_token": token,
                   "start_broadcast": True, "broadcast_port": free_port()},
    }  # fmt: skip
    threads = [
        threading.Thread(
            target=lambda who=who: answers.__setitem__(who, create(who, "shared", **extra[who]))
        )
        for who in (alpha_key, beta_key)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers[alpha_key].status_code == 200, answers[alpha_key].text
    assert answers[beta_key].status_code == 200, answers[beta_key].text
    beta_token = {"auth_token": token}
    for who, params in ((alpha_key, {}), (beta_key, beta_token)):  # both stream
        wait_until(
            lambda who=who, params=params: call(
                http, "GET", "get_results", key(who), name="shared", **params
            ).json()["results"]
        )

    assert create(alpha_key, "alpha_only").status_code == 200
    matrix = cross_tenant_refusals(http, key(beta_key), "alpha_only", "nobody_at_all")
    assert len(matrix) == 10

    # Quotas: 429 per tenant.
    assert create(alpha_key, "third").status_code == 429
    assert create(beta_key, "second", api_key=beta_credential).status_code == 429

    # The admin sees both tenants, each row naming its tenant; a tenant sees itself only.
    rows = call(http, "GET", "get_client_status", key(admin_key)).json()["results"]
    assert sorted((r["tenant"], r["name"]) for r in rows) == sorted(
        [(alpha, "alpha_only"), (alpha, "shared"), (beta, "shared")]
    )
    beta_rows = call(http, "GET", "get_client_status", key(beta_key), **beta_token).json()
    assert [r["name"] for r in beta_rows["results"]] == ["shared"]

    # docker ps separates the tenants; limits are the tenant's.
    alpha_containers, beta_containers = tenant_containers(alpha), tenant_containers(beta)
    assert len(alpha_containers) == 2 and len(beta_containers) == 2  # beta broadcasts
    for container in alpha_containers:
        assert docker("inspect", "-f", "{{.HostConfig.Memory}}", container).strip() == str(
            128 << 20
        )
    for container in beta_containers:
        assert docker("inspect", "-f", "{{.HostConfig.NanoCpus}}", container).strip() == "500000000"
    secrets = [alpha_credential, beta_credential, token, alpha_key, beta_key, admin_key]
    assert assert_nowhere(secrets, alpha_containers + beta_containers) == 4
    for text in (answers[alpha_key].text, answers[beta_key].text, json.dumps(rows)):
        assert not any(secret in text for secret in secrets)

    # Reload on SIGHUP: a change the file watcher cannot see (same size, same mtime).
    path = tmp_path / "tenants.toml"
    before = path.stat()
    tenants[beta]["max_connections"] = 2
    path.write_text(tenants_toml(tenants, admin_key=admin_key, server=server))
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    service.process.send_signal(signal.SIGHUP)
    wait_until(
        lambda: create(beta_key, "second", api_key=beta_credential).status_code == 200, timeout=20
    )
    # Reload on change: a new key for alpha; nothing running was dropped.
    tenants[alpha]["keys"] = [alpha_key, "alpha-second-key"]
    path.write_text(tenants_toml(tenants, admin_key=admin_key, server=server))
    wait_until(
        lambda: call(http, "GET", "get_client_status", key("alpha-second-key")).status_code == 200,
        timeout=20,
    )
    rows = call(http, "GET", "get_client_status", key(admin_key)).json()["results"]
    assert len(rows) == 4 and all(r["is_running"] for r in rows)

    # The service is replaced; its successor re-adopts every tenant's containers. Restarts
    # take alpha's credential from the tenants file; beta's was kept nowhere: it is asked for.
    service.stop()
    service = serve(
        path.read_text(),
        FEEDDOCK_RUNTIME="docker",
        FEEDDOCK_INSTANCE=SESSION_INSTANCE,
        TENANTS_ALPHA_CREDENTIAL=alpha_credential,
    )
    http = service.http
    restarted = call(http, "POST", "restart_connection", key(alpha_key), name="shared")
    assert restarted.status_code == 200 and restarted.json()["results"]["is_running"]
    asked = call(http, "POST", "restart_connection", key(beta_key), name="shared", **beta_token)
    assert asked.status_code == 422 and asked.json()["field"] == "api_key"
    assert call(http, "GET", "get_client_status", key(beta_key), **beta_token).json()["results"][0][
        "is_running"
    ]
    given = http.post(
        f"{API}/restart_connection",
        params={"name": "shared", **beta_token},
        json={"api_key": beta_credential},
        headers=key(beta_key),
    )
    assert given.status_code == 200, given.text
    rows = call(http, "GET", "get_client_status", key(admin_key)).json()["results"]
    assert len(rows) == 4 and all(r["is_running"] for r in rows)
    assert assert_nowhere(secrets, tenant_containers(alpha) + tenant_containers(beta)) == 5

    for row in rows:
        killed = call(http, "POST", "kill", key(admin_key), name=row["name"], tenant=row["tenant"])
        assert killed.status_code == 200
    assert tenant_containers(alpha) == tenant_containers(beta) == []
    service.stop()
    logs = [log.read_text() for log in sorted(tmp_path.glob("serve-*.log"))]
    assert len(logs) == 2 and "reloaded" in logs[0]
    assert not any(secret in log for secret in secrets for log in logs)


def test_a_name_held_by_another_instance_or_tenant_is_refused_never_taken(
    demo_market, tmp_path
) -> None:
    need_docker()
    market = demo_market(rate=50)
    tenant, other = f"tni{suffix()}", f"tno{suffix()}"
    owner = tenant_api(tenant)
    status = owner.create_connection(
        provider="demo", name="tenants_held", symbol="aapl", url=market.url
    ).results
    owner.get_client("tenants_held").results.release()
    owner.registry.remove("tenants_held")
    docker("kill", str(status.provider_pid))  # stopped, not removed: its instance adopts it

    stranger = WebSocketsAPI(
        Registry(),
        runtime=DockerRuntime(instance=f"{SESSION_INSTANCE}-other", tenant=tenant),
    )
    forged = f"feeddock.{tenant}.tenants_forged-provider"
    docker(
        "create", "--name", forged, "--label", f"feeddock.tenant={other}",
        "--label", "feeddock.connection=tenants_forged",
        "--label", f"feeddock.orchestrator={SESSION_INSTANCE}", "feeddock-provider:latest",
    )  # fmt: skip
    try:
        with pytest.raises(StateError, match="belongs to orchestrator instance") as refused:
            stranger.create_connection(
                provider="demo", name="tenants_held", symbol="aapl", url=market.url
            )
        assert SESSION_INSTANCE in str(refused.value)  # the same tenant's instance: named
        with pytest.raises(StateError) as forged_refusal:
            owner.create_connection(
                provider="demo", name="tenants_forged", symbol="aapl", url=market.url
            )
        assert other not in str(forged_refusal.value)  # never whose it is
        assert docker("inspect", "-f", "{{.State.Status}}", forged).strip() == "created"
        # The owner's successor adopts the stopped container and restarts it.
        successor = tenant_api(tenant)
        assert successor.get_client_status("tenants_held").results[0].is_running is False
        assert successor.restart_connection("tenants_held").results.is_running
        successor.kill("tenants_held")
    finally:
        stranger.shutdown()
        owner.shutdown()
        subprocess.run(["docker", "rm", "-f", forged], capture_output=True, check=False)
