"""Placement (least connections, tenant constraints), service names and the swarm config."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from orchestrator import ParameterError
from orchestrator.runtime.swarm import SwarmConfig
from orchestrator.runtime.swarm.placement import Node, choose, meets
from orchestrator.runtime.swarm.services import service_name, task_state


def node(id: str, hostname: str, ready: bool = True, **labels: str) -> Node:
    return Node(id, hostname, "worker", labels, {}, ready)


NODES = [
    node("n1", "alpha", tier="gold"),
    node("n2", "beta", tier="silver"),
    node("n3", "gamma", ready=False, tier="gold"),
]


def test_the_node_with_fewest_connections_wins_and_ties_go_by_hostname():
    everywhere = lambda n: True  # noqa: E731
    assert choose(NODES, [], Counter(), everywhere).id == "n1"
    assert choose(NODES, [], Counter({"n1": 3, "n2": 1}), everywhere).id == "n2"
    # n3 has no connection but is not ready.
    assert choose(NODES, [], Counter({"n1": 3, "n2": 3}), everywhere).id == "n1"


def test_tenant_constraints_and_reachability_narrow_the_choice():
    placed = Counter({"n1": 9})
    assert choose(NODES, ["node.labels.tier==gold"], placed, lambda n: True).id == "n1"
    assert choose(NODES, ["node.labels.tier!=gold"], placed, lambda n: True).id == "n2"
    assert choose(NODES, ["node.hostname==beta"], placed, lambda n: n.id != "n2") is None
    assert meets(NODES[0], ["node.id==n1", "node.role==worker", "node.labels.zone!=eu"])


def test_a_constraint_without_an_operator_is_refused_naming_the_forms():
    with pytest.raises(ParameterError, match=r"<attribute>==<value> or <attribute>!=<value>"):
        meets(NODES[0], ["node.labels.tier=gold"])


DNS_LABEL = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")  # swarmkit's rule for names


def test_service_names_are_dns_labels_that_never_meet_across_tenants_or_connections():
    tenants = ["default", "acme", "Acme", "ac_me", "ac-me", "a", "a_0b", "x" * 40]
    connections = ["demo", "Demo", "de.mo", "de_mo", "de-mo", "b", "0b_b", "_1", "n" * 63]
    names = {
        (tenant, connection, role): service_name(tenant, connection, role)
        for tenant in tenants
        for connection in connections
        for role in ("provider", "broadcast")
    }
    # Swarm compares service names without case: they must differ in more than case.
    assert len({name.lower() for name in names.values()}) == len(names)
    for name in names.values():
        assert DNS_LABEL.match(name) and len(name) <= 63, name
    assert names["acme", "de.mo", "provider"] == "feeddock_acme_0de_1mo-provider"
    assert names["Acme", "demo", "broadcast"] == "feeddock__acme_0demo-broadcast"
    long = names["x" * 40, "n" * 63, "broadcast"]
    assert long.startswith("feeddock-nnnnnnnnnnn-") and len(long) == 63


def test_task_states_become_worker_states_like_containers():
    running = {"Status": {"State": "running", "ContainerStatus": {"ContainerID": "c"}}}
    assert task_state(running).running
    killed = {"Status": {"State": "failed", "Err": "task: non-zero exit (137)",
                         "ContainerStatus": {"ContainerID": "c", "ExitCode": 137}}}  # fmt: skip
    assert task_state(killed).describe() == "worker exited with code 137"
    rejected = {"Status": {"State": "rejected", "Err": "bind source path does not exist"}}
    assert task_state(rejected).describe() == "task rejected: bind source path does not exist"


def test_the_config_comes_inline_or_from_a_file_and_bad_keys_are_named(tmp_path, monkeypatch):
    inline = {
        "nodes": {"beta": {"url": "tcp://10.0.0.2:2376", "tls": {"ca_cert": "/ca.pem"}}},
        "constraints": {"acme": ["node.role==worker"]},
    }
    monkeypatch.setenv("FEEDDOCK_SWARM_CONFIG", json.dumps(inline))
    config = SwarmConfig.from_env()
    endpoint = config.node_endpoint("n2", "beta")
    assert endpoint is not None and endpoint.url == "tcp://10.0.0.2:2376"
    assert endpoint.tls is not None and endpoint.tls.ca_cert == "/ca.pem"
    assert config.node_endpoint("n1", "alpha") is None

    path = tmp_path / "swarm.json"
    path.write_text('{"nodez": {}}')
    monkeypatch.setenv("FEEDDOCK_SWARM_CONFIG", str(path))
    with pytest.raises(ParameterError, match="Invalid FEEDDOCK_SWARM_CONFIG at nodez"):
        SwarmConfig.from_env()
    monkeypatch.setenv("FEEDDOCK_SWARM_CONFIG", '{"nodes": {"x": {"url": "ssh://h"}}}')
    with pytest.raises(ParameterError, match="Unsupported Docker endpoint 'ssh://h'"):
        SwarmConfig.from_env().node_endpoint("x", "x")
