"""Tenants on one (fake) engine: names, labels, visibility, adoption, results files, secrets."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from contract import lock
from orchestrator import ParameterError, WebSocketsAPI
from orchestrator.errors import ResultsInUseError
from orchestrator.record import TENANT_LABEL
from orchestrator.registry import Registry
from orchestrator.runtime import ProcessRuntime
from orchestrator.runtime.base import worker_name
from orchestrator.runtime.fake import FakeEngine, FakeRuntime

from ..tenancy import python_refusals
from .conftest import create


@pytest.fixture
def tenant_api(engine: FakeEngine):
    made: list[WebSocketsAPI] = []

    def make(tenant: str, **options: object) -> WebSocketsAPI:
        runtime = FakeRuntime(
            engine,
            survives_exit=True,
            tenant=tenant,
            keeps_secrets=bool(options.pop("keeps_secrets", True)),
        )
        api = WebSocketsAPI(Registry(), runtime=runtime, **options)  # type: ignore[arg-type]
        made.append(api)
        return api

    yield make
    for api in made:
        api.shutdown()


def test_two_tenants_run_the_same_name_side_by_side(tenant_api, engine) -> None:
    alpha, beta = tenant_api("alpha"), tenant_api("beta")
    create(alpha, name="shared")
    create(beta, name="shared", symbol="nvda")

    assert alpha.get_client_status("shared").results[0].subscribed_symbols == "AAPL,MSFT"
    assert beta.get_client_status("shared").results[0].subscribed_symbols == "NVDA"
    names = sorted(w.name for w in engine.running())
    assert names == ["feeddock.alpha.shared-provider", "feeddock.beta.shared-provider"]
    assert {w.labels[TENANT_LABEL] for w in engine.running()} == {"alpha", "beta"}

    alpha.kill("shared")  # the kill sweep is the tenant's own
    assert [w.name for w in engine.running()] == ["feeddock.beta.shared-provider"]
    assert beta.get_client_status("shared").results[0].is_running


def test_another_tenants_connection_is_refused_exactly_like_an_unknown_name(
    tenant_api, engine
) -> None:
    alpha, beta = tenant_api("alpha"), tenant_api("beta")
    create(beta, name="theirs", start_broadcast=True, broadcast_port=7001)

    assert len(python_refusals(alpha, "theirs", "nobody")) == 11
    assert alpha.get_client_status("all").results == []
    status = beta.get_client_status("theirs").results[0]
    assert status.is_running and status.is_broadcasting  # untouched by every attempt


def test_adoption_and_orphan_reports_cover_the_callers_tenant_only(
    tenant_api, engine, monkeypatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr("orchestrator.console.show", lambda line, level=0: shown.append(line))
    first_alpha, beta = tenant_api("alpha"), tenant_api("beta")
    create(first_alpha, name="mine")
    create(beta, name="theirs")
    for client in first_alpha.registry.all():
        client.release()
        first_alpha.registry.remove(client.name)
    # One of beta's workers no record explains: alpha must not even report it.
    engine.find("theirs").labels["feeddock.params"] = "{broken"
    shown.clear()

    successor = tenant_api("alpha")
    assert [s.name for s in successor.get_client_status("all").results] == ["mine"]
    assert not any("theirs" in line for line in shown)
    assert any("Adopted connection 'mine'" in line for line in shown)


def test_workers_made_before_tenants_belong_to_the_default_tenant(tenant_api, engine) -> None:
    first = tenant_api("default")
    create(first, name="old")
    first.get_client("old").results.release()
    first.registry.remove("old")
    del engine.find("old").labels[TENANT_LABEL]  # as an earlier version made it

    assert tenant_api("other").get_client_status("all").results == []
    adopted = tenant_api("default").get_client_status("old").results[0]
    assert adopted.is_running


def test_container_names_never_meet_across_tenants_or_with_names_made_before() -> None:
    tenants = ["a", "a-b", "b_c", "default", "a.b"[:1]]
    connections = ["x", "x.y", "a.x", "b-x", "x-provider", "y_z.w"]
    made = {
        (tenant, connection, role): worker_name(tenant, connection, role)
        for tenant, connection, role in itertools.product(
            tenants, connections, ("provider", "broadcast")
        )
    }
    assert len(set(made.values())) == len(made)
    legacy = {f"feeddock-{c}-{r}" for c in connections for r in ("provider", "broadcast")}
    assert not legacy & set(made.values())


@pytest.mark.parametrize("bad", ["a.b", "", "x" * 41, "tenant/1", "é"])
def test_a_bad_tenant_id_names_the_field(bad: str) -> None:
    with pytest.raises(ParameterError) as refused:
        WebSocketsAPI(Registry(), runtime=ProcessRuntime("default"), tenant=bad)
    assert refused.value.field == "tenant"


def test_a_runtime_of_another_tenant_is_refused() -> None:
    with pytest.raises(ParameterError, match="serves tenant 'alpha'"):
        WebSocketsAPI(Registry(), runtime=FakeRuntime(tenant="alpha"), tenant="beta")
    assert WebSocketsAPI(Registry(), runtime=FakeRuntime(tenant="alpha")).tenant == "alpha"


def test_the_tenant_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("FEEDDOCK_TENANT", "from-env")
    assert WebSocketsAPI(Registry()).tenant == "from-env"
    monkeypatch.setenv("FEEDDOCK_TENANT", "bad.id")
    with pytest.raises(ParameterError) as refused:
        WebSocketsAPI(Registry())
    assert refused.value.field == "FEEDDOCK_TENANT"


# -- results roots and held files ----------------------------------------------------------


def test_results_stay_inside_the_tenants_root(tenant_api, tmp_path: Path) -> None:
    root = tmp_path / "alpha"
    alpha = tenant_api("alpha", results_root=str(root))
    create(alpha, name="temp")
    temp = Path(alpha.get_client_status("temp").results[0].results_file or "")
    assert root.resolve() in temp.parents

    create(alpha, name="inside", results_file=str(root / "sub" / "r.db"))
    inside = alpha.get_client_status("inside").results[0].results_file
    assert inside == str(root.resolve() / "sub" / "r.db")

    (tmp_path / "elsewhere").mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere")
    for outside in (str(tmp_path / "other.db"), str(root / "escape" / "r.db"), "/etc/r.db"):
        with pytest.raises(ParameterError) as refused:
            create(alpha, name="outside", results_file=outside)
        assert refused.value.field == "results_file"
    assert not (tmp_path / "elsewhere" / "r.db").exists()


def test_a_file_held_by_any_connection_is_refused(tenant_api, tmp_path: Path) -> None:
    alpha, beta = tenant_api("alpha"), tenant_api("beta")
    path = str(tmp_path / "shared.db")
    create(alpha, name="first", results_file=path)

    for api, name in ((beta, "second"), (alpha, "second")):
        with pytest.raises(ResultsInUseError) as refused:
            create(api, name=name, results_file=path)
        assert "in use by another connection" in str(refused.value)
        assert "alpha" not in str(refused.value) and "first" not in str(refused.value)
    assert alpha.get_client_status("first").results[0].is_running

    alpha.kill("first")
    create(beta, name="second", results_file=path)


def test_a_file_a_live_worker_holds_is_refused_whoever_started_it(api, tmp_path: Path) -> None:
    path = str(tmp_path / "r.db")
    fd = lock.hold(path)  # what a provider worker of another orchestrator holds
    assert fd is not None
    try:
        with pytest.raises(ResultsInUseError):
            create(api, name="late", results_file=path)
    finally:
        os.close(fd)
    create(api, name="late", results_file=path)


# -- credentials --------------------------------------------------------------------------


def test_a_credential_nobody_kept_is_asked_for_before_anything_stops(tenant_api) -> None:
    first = tenant_api("alpha", keeps_secrets=False)
    create(first, name="keyed", api_key="k-123")
    worker = first.runtime.engine.find("keyed")  # type: ignore[attr-defined]
    assert worker.spec.secrets == {"FEEDDOCK_API_KEY": "k-123"}
    assert "k-123" not in str(worker.spec.env) + str(worker.labels)
    for client in first.registry.all():
        client.release()
        first.registry.remove(client.name)

    successor = tenant_api("alpha", keeps_secrets=False)
    with pytest.raises(ParameterError, match="api_key") as refused:
        successor.restart_connection("keyed")
    assert refused.value.field == "api_key"
    assert successor.get_client_status("keyed").results[0].is_running

    assert successor.restart_connection("keyed", api_key="k-456").results.is_running
    restarted = successor.runtime.engine.find("keyed")  # type: ignore[attr-defined]
    assert restarted.spec.secrets == {"FEEDDOCK_API_KEY": "k-456"}


def test_the_tenants_configured_credential_serves_creates_and_restarts(tenant_api) -> None:
    def configured(provider: object) -> str:
        return "from-config"

    first = tenant_api("alpha", keeps_secrets=False, credentials=configured)
    create(first, name="keyed")
    assert first.runtime.engine.find("keyed").spec.secrets == {  # type: ignore[attr-defined]
        "FEEDDOCK_API_KEY": "from-config"
    }
    for client in first.registry.all():
        client.release()
        first.registry.remove(client.name)
    successor = tenant_api("alpha", keeps_secrets=False, credentials=configured)
    assert successor.restart_connection("keyed").results.is_running
