"""Tenants on the Swarm runtime, against the real single-node swarm: names, labels, scoping.

Tenant ids carry a random suffix, so concurrent runs never meet; every service carries this
session's `feeddock.orchestrator` label.
"""

from __future__ import annotations

import uuid

import pytest

from orchestrator import ParameterError, StateError, WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime import RuntimeOptions, select_runtime
from orchestrator.runtime.swarm.services import service_name
from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE
from ..engines import SwarmEngine
from ..helpers import row_ids, wait_until
from ..tenancy import python_refusals
from .conftest import GOOD_KEY, inspect, swarm_runtime


def suffix() -> str:
    return uuid.uuid4().hex[:6]


def tenant_services(engine: SwarmEngine, tenant: str) -> list[str]:
    found = engine.docker(
        "service", "ls", "--format", "{{.Name}}", "--filter", f"label=feeddock.tenant={tenant}"
    )
    return sorted(found.split())


def tenant_api(engine: SwarmEngine, tenant: str) -> WebSocketsAPI:
    return WebSocketsAPI(Registry(), runtime=swarm_runtime(engine, tenant), tenant=tenant)


def provider_image(engine: SwarmEngine) -> str:
    """An image the swarm's engine has."""
    return next(image for image in engine.images if "provider" in image)


def create(api: WebSocketsAPI, market: DemoSimulator, name: str) -> str:
    status = api.create_connection(
        provider="demo", name=name, symbol="aapl", url=market.url, api_key=GOOD_KEY, limit=None
    ).results
    return status.results_file or ""


def test_two_tenants_share_a_connection_name_and_nothing_else(market, swarm_engine):
    alpha, beta = f"Sa_{suffix()}", f"sa_{suffix()}"  # Swarm compares names without case
    apis = {tenant: tenant_api(swarm_engine, tenant) for tenant in (alpha, beta)}
    try:
        files = {tenant: create(api, market, "cluster2.shared") for tenant, api in apis.items()}
        for tenant, api in apis.items():
            name = service_name(tenant, "cluster2.shared", "provider")
            assert tenant_services(swarm_engine, tenant) == [name]
            labels = inspect(swarm_engine, "service", "inspect", name)["Spec"]["Labels"]
            assert labels["feeddock.tenant"] == tenant
            (status,) = api.get_client_status("all").results
            task = inspect(swarm_engine, "inspect", str(status.provider_pid))
            assert task["Config"]["Labels"]["feeddock.tenant"] == tenant
            wait_until(lambda path=files[tenant]: len(row_ids(path)) > 5, timeout=20)
        assert files[alpha] != files[beta]

        apis[beta].create_connection(
            provider="demo", name="cluster2_beta_only", symbol="aapl", url=market.url,
            api_key=GOOD_KEY,
        )  # fmt: skip
        refused = python_refusals(apis[alpha], "cluster2_beta_only", "cluster2_nobody")
        assert "kill" in refused and "restart_connection" in refused
        # A successor of alpha adopts alpha's connection only.
        successor = swarm_runtime(swarm_engine, alpha)
        try:
            adopted = {w.labels["feeddock.connection"] for w in successor.list_workers()}
            assert adopted == {"cluster2.shared"}
            assert successor.remove_connection("cluster2_beta_only") == []
        finally:
            successor.close()

        apis[alpha].kill("cluster2.shared")
        assert tenant_services(swarm_engine, alpha) == []
        assert len(tenant_services(swarm_engine, beta)) == 2
        assert all(s.is_running for s in apis[beta].get_client_status("all").results)
    finally:
        for api in apis.values():
            api.shutdown()
    assert tenant_services(swarm_engine, beta) == []


def test_a_service_name_held_by_another_tenant_or_instance_is_refused_never_taken(
    market, swarm_engine
):
    tenant, other = f"st{suffix()}", f"so{suffix()}"
    forged = service_name(tenant, "cluster2_forged", "provider")
    swarm_engine.docker(
        "service", "create", "--detach", "--name", forged, "--restart-condition", "none",
        "--label", f"feeddock.tenant={other}", "--label", "feeddock.connection=cluster2_forged",
        "--label", f"feeddock.orchestrator={SESSION_INSTANCE}",
        "--entrypoint", "true", provider_image(swarm_engine),
    )  # fmt: skip
    owner = tenant_api(swarm_engine, tenant)
    status = owner.create_connection(
        provider="demo", name="cluster2_held", symbol="aapl", url=market.url, api_key=GOOD_KEY
    ).results
    owner.get_client("cluster2_held").results.release()
    owner.registry.remove("cluster2_held")
    swarm_engine.docker("kill", str(status.provider_pid))  # ended, not removed
    runtime = swarm_runtime(swarm_engine, tenant)
    runtime.instance = f"{SESSION_INSTANCE}-other"
    stranger = WebSocketsAPI(Registry(), runtime=runtime)
    try:
        with pytest.raises(StateError) as forged_refusal:
            owner.create_connection(
                provider="demo", name="cluster2_forged", symbol="aapl", url=market.url
            )
        assert other not in str(forged_refusal.value)  # never whose it is
        assert forged in swarm_engine.docker("service", "ls", "--format", "{{.Name}}").split()
        with pytest.raises(StateError, match="belongs to orchestrator instance"):
            stranger.create_connection(
                provider="demo", name="cluster2_held", symbol="aapl", url=market.url,
                api_key=GOOD_KEY,
            )  # fmt: skip
        # The owner's successor adopts the ended service and restarts the connection.
        successor = tenant_api(swarm_engine, tenant)
        try:
            assert successor.get_client_status("cluster2_held").results[0].is_running is False
            restarted = successor.restart_connection("cluster2_held", api_key=GOOD_KEY).results
            assert restarted.is_running
            successor.kill("cluster2_held")
        finally:
            successor.shutdown()
    finally:
        stranger.shutdown()
        owner.shutdown()
        swarm_engine.docker("service", "rm", forged, check=False)


def test_a_tenants_limits_reach_the_service_and_a_network_is_refused(market, swarm_engine):
    runtime = swarm_runtime(swarm_engine, f"sl{suffix()}")
    runtime.reconfigure(RuntimeOptions(memory="128m", cpus=0.5))
    api = WebSocketsAPI(Registry(), runtime=runtime)
    try:
        create(api, market, "cluster2_limits")
        name = service_name(runtime.tenant, "cluster2_limits", "provider")
        limits = inspect(swarm_engine, "service", "inspect", name)["Spec"]["TaskTemplate"]
        assert limits["Resources"]["Limits"] == {
            "MemoryBytes": 128 * 1024 * 1024,
            "NanoCPUs": 500_000_000,
        }
        with pytest.raises(ParameterError, match="network 'tenant-net' is not supported"):
            runtime.reconfigure(RuntimeOptions(network="tenant-net"))
    finally:
        api.shutdown()


def test_the_swarm_runtime_refuses_a_tenant_network_when_chosen(swarm_engine, monkeypatch):
    monkeypatch.setenv("FEEDDOCK_SWARM_CONFIG", f'{{"manager": {{"url": "{swarm_engine.url}"}}}}')
    with pytest.raises(ParameterError, match="host network of their node") as refused:
        select_runtime("swarm", tenant="acme", options=RuntimeOptions(network="acme-net"))
    assert refused.value.field == "network"
