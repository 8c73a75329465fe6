"""Where the swarm is and how to reach each node's engine: FEEDDOCK_SWARM_CONFIG.

The value is a JSON object, or the path of a file holding one:

    {
      "manager": {"url": "unix:///var/run/docker.sock"},
      "nodes": {
        "worker-2": {"url": "tcp://10.0.0.12:2376",
                     "tls": {"ca_cert": "/etc/feeddock/ca.pem",
                             "client_cert": "/etc/feeddock/cert.pem",
                             "client_key": "/etc/feeddock/key.pem"}}
      },
      "constraints": {"acme": ["node.labels.feeddock.tenant==acme"]}
    }

- `manager`: a manager's engine (default: the environment's, DOCKER_HOST and DOCKER_TLS_*).
  Services are created, listed and removed there.
- `nodes`: each node's own engine, by node id or hostname. A task's container is attached to
  (for its stdin and output), stopped and read through the engine of the node that runs it:
  Swarm has no attach across nodes. The manager's own node needs no entry.
- `constraints`: per tenant, placement constraints (`node.labels.<key>==<value>`, `!=`,
  `node.hostname`, `node.id`, `node.role`, `engine.labels.<key>`): that tenant's connections
  only go to nodes that meet all of them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import ParameterError
from ..docker.endpoint import Endpoint, TLSOptions

CONFIG_ENV = "FEEDDOCK_SWARM_CONFIG"


class TLSModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True


class EndpointModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    tls: TLSModel | None = None

    def endpoint(self) -> Endpoint:
        tls = TLSOptions(**self.tls.model_dump()) if self.tls else None
        return Endpoint(self.url, tls)


class SwarmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manager: EndpointModel | None = None
    nodes: dict[str, EndpointModel] = Field(default_factory=dict)
    constraints: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def from_env(cls) -> SwarmConfig:
        raw = (os.environ.get(CONFIG_ENV) or "").strip()
        if not raw:
            return cls()
        if not raw.startswith("{"):
            try:
                raw = Path(raw).read_text()
            except OSError as exc:
                raise ParameterError(
                    f"Cannot read {CONFIG_ENV} file {raw!r}: {exc.strerror}.", field=CONFIG_ENV
                ) from None
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            raise ParameterError(
                f"Invalid {CONFIG_ENV} at {where}: {error['msg']}. Allowed keys: manager, "
                "nodes (node id or hostname -> {url, tls}), constraints (tenant -> list).",
                field=CONFIG_ENV,
            ) from None

    def manager_endpoint(self) -> Endpoint:
        return self.manager.endpoint() if self.manager else Endpoint.from_env()

    def node_endpoint(self, node_id: str, hostname: str) -> Endpoint | None:
        found = self.nodes.get(node_id) or self.nodes.get(hostname)
        return found.endpoint() if found else None


__all__ = ["CONFIG_ENV", "SwarmConfig"]
