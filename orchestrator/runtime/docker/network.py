"""A tenant's own Docker network, and how a broadcast server is reached from outside it.

A tenant may name a network (tenants file `network = "..."`, or FEEDDOCK_DOCKER_NETWORK for a
single orchestrator). Its containers join that network instead of the host's, so they share
no network namespace with the host or with other tenants. feeddock creates the network when
it is missing (a plain bridge, labelled `feeddock.network=<tenant>`) and never removes a
network: not one it found, and not one it created either (another orchestrator of the tenant
may still use it; `docker network rm` it when the tenant is gone).

Listeners: a broadcast server on such a network listens on 0.0.0.0 inside its container and
the runtime publishes `broadcast_host:broadcast_port` on the host, so listeners use the same
ws://broadcast_host:broadcast_port as with host networking. On an `--internal` network Docker
publishes nothing: listeners must then be on that network too and use the container's address
there (or its name, `feeddock.<tenant>.<connection>-broadcast`).
"""

from __future__ import annotations

from typing import Any

from docker.errors import APIError, DockerException, NotFound

from contract.config import BroadcastConfig

from ...record import NETWORK_LABEL
from ..base import LaunchSpec
from .engine import unavailable

ANY_ADDRESS = "0.0.0.0"


def ensure_network(api: Any, name: str, tenant: str) -> None:
    """Create the network `name` unless it exists (whoever made it)."""
    try:
        api.inspect_network(name)
        return
    except NotFound:
        pass
    except DockerException as exc:
        raise unavailable(exc) from None
    try:
        api.create_network(name, driver="bridge", labels={NETWORK_LABEL: tenant})
    except APIError as exc:
        if exc.status_code != 409:  # 409: another orchestrator created it a moment ago
            raise unavailable(exc) from None
    except DockerException as exc:
        raise unavailable(exc) from None


def published_broadcast(spec: LaunchSpec) -> tuple[dict[str, str], dict[int, tuple[str, int]]]:
    """A broadcast worker's environment and port bindings for a container on its own network.

    It listens on every address of its container; the host publishes the address listeners
    were given (`host:port`).
    """
    config = BroadcastConfig.model_validate_json(spec.env[BroadcastConfig.ENV])
    inside = config.model_copy(update={"bind_host": ANY_ADDRESS})
    return {**spec.env, **inside.environment()}, {config.port: (config.host, config.port)}


__all__ = ["ensure_network", "published_broadcast"]
