"""Swarm runtime: each worker is the task of a one-replica service, followed on its node.

    start(spec) ──> node: where the connection already lives, else placement.py
                └─> create service feeddock_<tenant>_0<name>-<role>  (services.py; pinned to
                    the node, restart policy none, labels on the service and its container)
                └─> wait for its task's container ──> DockerHandle (docker/handle.py)
                    through that node's engine: attach, catch up from its log, follow
                └─> the secrets line on its stdin (that attach connection), when it has secrets

What is shared with the Docker runtime: the container's description (docker/workload.py:
image, labels, environment, user, results mount, limits, healthcheck off) and everything that
follows a running container (the attach stream mux, the event watcher, the handle: output,
exit, stdin, stop). Only making, finding and removing services is Swarm's own.

- Tenants. As with Docker: one runtime per tenant, the tenant in every service name
  (services.py `service_name`: Swarm refuses `worker_name`'s dots) and label
  (`feeddock.tenant`); services are listed, adopted and removed for this tenant and instance
  only, and a name held by anyone else's service is never taken. Placement honours the
  tenant's constraints (FEEDDOCK_SWARM_CONFIG `constraints`); limits come from its options.
- Secrets. Never in the service spec: the task's environment says FEEDDOCK_SECRETS=stdin and
  the runtime writes the secrets line as the first bytes on the attach connection to the task's
  container (`DockerHandle.hand_secrets`), exactly like the Docker runtime. No copy is kept.

- Node. A connection's provider and broadcast run on one node, beside its SQLite file (WAL
  needs one host). The first worker of a connection is placed (placement.py); later ones,
  including restarts, go where the connection already lives (its services' `feeddock.node`
  label, or this runtime's memory of it).
- Restarts. Swarm never restarts a task (restart policy none): a restarted task would be a
  new container nobody attached to. The orchestrator's supervision decides, and a restart is
  a new service of the same name once the old one is removed.
- Ids. A worker's id (`provider_pid`, `broadcast_pid`) is its task's container id.
- Stop. The task's container is stopped through its node's engine (SIGTERM: the worker
  flushes and exits 0); once the sink has its last lines the service is removed, and the
  container with it.
- Results. The results directory is bind-mounted from the node's own disk: it must exist
  there (feeddock's temp directories are made on the orchestrator's host, which is the
  manager's node in a single-node swarm; see docs/scaling.md for more nodes).
- Network. Host networking on the node: `broadcast_host:broadcast_port` is an address of the
  node that runs the broadcast server. A tenant network is refused (`reconfigure`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from docker.errors import APIError, NotFound

from ...errors import ParameterError, RuntimeUnavailableError, StateError
from ...record import CONNECTION_LABEL, INSTANCE_LABEL, ROLE_LABEL, TENANT_LABEL, tenant_of
from ...tenant import DEFAULT_TENANT
from ..base import LaunchSpec, RuntimeOptions, SurvivingWorker, WorkerSink
from ..docker.engine import BUILD_COMMAND, ENGINE_ERRORS, Engine
from ..docker.handle import ATTACH_ERRORS, DockerHandle
from ..docker.workload import IMAGE_ENV, ContainerSettings
from .config import SwarmConfig
from .placement import Node, choose
from .services import (
    NEVER_RAN,
    NODE_LABEL,
    STARTING,
    container_of,
    latest_task,
    service_name,
    task_state,
    task_template,
)

TASK_START_SECONDS = 60.0
TASK_POLL_SECONDS = 0.05


def _host_network_only(network: str | None) -> None:
    if network not in (None, "host"):
        raise ParameterError(
            f"The swarm runtime runs workers on the host network of their node; "
            f"network {network!r} is not supported.",
            field="network",
            allowed=["host"],
        )


@dataclass
class SwarmRuntime(ContainerSettings):
    """Starts workers as Swarm services. See the module docstring."""

    config: SwarmConfig = field(default_factory=SwarmConfig.from_env)
    name: str = field(default="swarm", init=False)
    survives_exit: bool = field(default=True, init=False)
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12], init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        _host_network_only(self.network)
        self.manager = Engine(endpoint=self.config.manager_endpoint())
        self._engines: dict[str, Engine] = {}
        self._homes: dict[str, str] = {}  # connection -> node id
        self._lock = threading.Lock()
        self._local_node: str | None = None

    def reconfigure(self, options: RuntimeOptions) -> None:
        _host_network_only(options.network)
        super().reconfigure(options)

    # -- the swarm and its nodes ----------------------------------------------------------

    def connect(self) -> None:
        """RuntimeUnavailableError unless the manager endpoint is a swarm manager."""
        try:
            swarm = self.manager.api.info().get("Swarm") or {}
        except ENGINE_ERRORS as exc:
            raise self.manager.unavailable(exc) from None
        if not swarm.get("ControlAvailable"):
            raise RuntimeUnavailableError(
                f"The Docker engine at {self.manager.base_url} is not a swarm manager "
                f"(swarm state {swarm.get('LocalNodeState') or 'unknown'}). Run `docker swarm "
                "init` there, or point FEEDDOCK_SWARM_CONFIG's manager at a manager."
            )
        self._local_node = str(swarm.get("NodeID"))

    def _nodes(self) -> list[Node]:
        try:
            return [Node.from_api(raw) for raw in self.manager.api.nodes()]
        except ENGINE_ERRORS as exc:
            raise self.manager.unavailable(exc) from None

    def _reachable(self, node: Node) -> bool:
        if self._local_node is None:
            self.connect()
        return node.id == self._local_node or (
            self.config.node_endpoint(node.id, node.hostname) is not None
        )

    def engine_of(self, node_id: str) -> Engine:
        """The engine of the node that runs a task (the manager's own, or configured)."""
        with self._lock:
            engine = self._engines.get(node_id)
        if engine is not None:
            return engine
        if self._local_node is None:
            self.connect()
        if node_id == self._local_node:
            engine = self.manager
        else:
            hostname = next((n.hostname for n in self._nodes() if n.id == node_id), node_id)
            endpoint = self.config.node_endpoint(node_id, hostname)
            if endpoint is None:
                raise RuntimeUnavailableError(
                    f"No Docker endpoint is configured for swarm node {hostname} ({node_id}); "
                    "add it to `nodes` in FEEDDOCK_SWARM_CONFIG."
                )
            engine = Engine(endpoint=endpoint)
        with self._lock:
            return self._engines.setdefault(node_id, engine)

    def missing_images(self) -> list[str]:
        """Images the manager's node lacks (every node needs them: load or pull them there)."""
        return self.manager.missing_images(list(self.images.values()))

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in {id(e): e for e in [*engines, self.manager]}.values():
            engine.close()

    # -- services -------------------------------------------------------------------------

    def _services(self, *labels: str) -> list[dict[str, Any]]:
        """This tenant's services of this instance (with `labels` too)."""
        filters = [f"{INSTANCE_LABEL}={self.instance}", *labels]
        if self.tenant != DEFAULT_TENANT:  # `default` also owns services with no tenant label
            filters.append(f"{TENANT_LABEL}={self.tenant}")
        try:
            found: list[dict[str, Any]] = self.manager.api.services(filters={"label": filters})
        except ENGINE_ERRORS as exc:
            raise self.manager.unavailable(exc) from None
        return [s for s in found if tenant_of(s["Spec"].get("Labels") or {}) == self.tenant]

    def _home(self, spec: LaunchSpec) -> str:
        """The node of the connection (sticky: its results file is there), else placement's."""
        with self._lock:
            known = self._homes.get(spec.connection)
        if known:
            return known
        for service in self._services(f"{CONNECTION_LABEL}={spec.connection}"):
            node = (service["Spec"].get("Labels") or {}).get(NODE_LABEL)
            if node:
                return self._remember(spec.connection, node)
        constraints = self.config.constraints.get(self.tenant, [])
        try:
            everywhere = self.manager.api.services(filters={"label": f"{ROLE_LABEL}=provider"})
        except ENGINE_ERRORS as exc:
            raise self.manager.unavailable(exc) from None
        placed = Counter(
            str((s["Spec"].get("Labels") or {}).get(NODE_LABEL, "")) for s in everywhere
        )
        node = choose(self._nodes(), constraints, placed, self._reachable)
        if node is None:
            raise RuntimeUnavailableError(
                "No swarm node can take the connection: none is ready, active, reachable "
                f"(FEEDDOCK_SWARM_CONFIG nodes) and meets {constraints or 'no constraint'}."
            )
        return self._remember(spec.connection, node.id)

    def _remember(self, connection: str, node: str) -> str:
        with self._lock:
            self._homes[connection] = node
        return node

    def start(self, spec: LaunchSpec, sink: WorkerSink) -> DockerHandle:
        image = self.images[spec.role]
        if image in self.missing_images():
            raise RuntimeUnavailableError(
                f"The Docker image {image} is missing. Build it with `{BUILD_COMMAND}` "
                f"(or set {IMAGE_ENV[spec.role]} to an image that exists) on every node."
            )
        node = self._home(spec)
        name = service_name(self.tenant, spec.connection, spec.role)
        work = self.describe(spec)
        work = dataclasses.replace(work, labels={**work.labels, NODE_LABEL: node})
        template = task_template(work, node, self.config.constraints.get(self.tenant, []))
        self._clear_service(name, spec.connection)
        try:
            created = self.manager.api.create_service(template, name=name, labels=work.labels)
        except APIError as exc:
            if exc.status_code == 409:
                raise StateError(
                    f"A swarm service named {name} already exists; another orchestrator is "
                    f"creating it. Remove it with `docker service rm {name}` if it is stale."
                ) from None
            raise self.manager.unavailable(exc) from None
        except ENGINE_ERRORS as exc:
            raise self.manager.unavailable(exc) from None
        service = str(created["ID"])
        try:
            container = self._wait_for_container(service, name, node)
            engine = self.engine_of(node)
            handle = self._handle(engine, container, name, sink, service)
            handle.open(catch_up=True)
        except RuntimeUnavailableError:
            self._remove_service(service, None, None)
            raise
        except ATTACH_ERRORS as exc:
            self._remove_service(service, None, None)
            raise RuntimeUnavailableError(f"Swarm could not start {name}: {exc}") from None
        if spec.secrets:
            handle.hand_secrets(spec.secrets)  # the worker waits for them before anything
        return handle

    def _wait_for_container(self, service: str, name: str, node: str) -> str:
        """The container of the service's task, once the node has made it."""
        deadline = time.monotonic() + TASK_START_SECONDS
        state, error = "none", ""
        while time.monotonic() < deadline:
            try:
                task = latest_task(self.manager.api.tasks(filters={"service": service}))
            except ENGINE_ERRORS as exc:
                raise self.manager.unavailable(exc) from None
            if task is not None:
                status = task.get("Status") or {}
                state, error = str(status.get("State")), str(status.get("Err") or "")
                container = container_of(task)
                if container and state not in STARTING:
                    return container
                if state in NEVER_RAN or (state not in STARTING and not container):
                    break
            time.sleep(TASK_POLL_SECONDS)
        raise RuntimeUnavailableError(
            f"Swarm could not start {name} on node {node}: task {state}"
            + (f": {error}" if error else f" after {TASK_START_SECONDS:g} s")
        )

    def _handle(
        self, engine: Engine, container: str, name: str, sink: WorkerSink, service: str
    ) -> DockerHandle:
        watcher = engine.watcher([f"{INSTANCE_LABEL}={self.instance}"])
        return DockerHandle(
            engine,
            watcher,
            container,
            name,
            sink,
            remove=lambda container_id: self._remove_service(service, engine, container_id),
        )

    def _clear_service(self, name: str, connection: str) -> None:
        """Remove this instance's service of that name whose task has ended; refuse anything
        else (the Docker runtime's `_clear_name` rules). The refusal never says whose service
        it is unless it is this tenant's."""
        try:
            found = self.manager.api.inspect_service(name)
            tasks = self.manager.api.tasks(filters={"service": found["ID"]})
        except NotFound:
            return
        except ENGINE_ERRORS as exc:
            raise self.manager.unavailable(exc) from None
        labels = found["Spec"].get("Labels") or {}
        if labels.get(CONNECTION_LABEL) != connection or tenant_of(labels) != self.tenant:
            raise StateError(
                f"A swarm service named {name} exists that feeddock did not start for this "
                f"tenant; rename or remove it (`docker service rm {name}`)."
            )
        owner = labels.get(INSTANCE_LABEL, "unknown")
        if task_state(latest_task(tasks)).running:
            raise StateError(
                f"Swarm service {name} is already running (orchestrator instance {owner!r}). "
                f"Kill that connection, or remove it with `docker service rm {name}`."
            )
        if owner != self.instance:
            raise StateError(
                f"Swarm service {name} (stopped) belongs to orchestrator instance {owner!r}, "
                f"which re-adopts it; kill the connection there, or `docker service rm {name}`."
            )
        self._remove_service(str(found["ID"]), None, None)

    def _remove_service(self, service: str, engine: Engine | None, container: str | None) -> None:
        """Remove the service (404: gone is fine), and its container at once on its node
        (Swarm would remove it later: its name and memory are freed now)."""
        try:
            self.manager.api.remove_service(service)
        except NotFound:
            pass
        except ENGINE_ERRORS as exc:
            raise self.manager.unavailable(exc) from None
        if engine is not None and container is not None:
            with contextlib.suppress(NotFound, *ENGINE_ERRORS):
                engine.api.remove_container(container, force=True)

    # -- surviving workers ----------------------------------------------------------------

    def _find(self, connection: str | None = None) -> list[tuple[SurvivingWorker, str]]:
        """This instance's workers (of one connection) and their services' ids."""
        label = f"{CONNECTION_LABEL}={connection}" if connection else CONNECTION_LABEL
        workers = []
        for service in self._services(label):
            try:
                task = latest_task(self.manager.api.tasks(filters={"service": service["ID"]}))
            except ENGINE_ERRORS as exc:
                raise self.manager.unavailable(exc) from None
            labels = dict(service["Spec"].get("Labels") or {})
            if labels.get(NODE_LABEL) and CONNECTION_LABEL in labels:
                self._remember(labels[CONNECTION_LABEL], labels[NODE_LABEL])
            worker = SurvivingWorker(
                id=(task and container_of(task)) or str(service["ID"]),
                name=str(service["Spec"]["Name"]),
                labels=labels,
                state=task_state(task),
            )
            workers.append((worker, str(service["ID"])))
        return workers

    def list_workers(self) -> Sequence[SurvivingWorker]:
        return [worker for worker, _ in self._find()]

    def attach(self, worker: SurvivingWorker, sink: WorkerSink) -> DockerHandle:
        node = worker.labels.get(NODE_LABEL, "")
        engine = self.engine_of(node)
        service = worker.name  # the API takes a service's name wherever it takes its id
        handle = self._handle(engine, worker.id, worker.name, sink, service)
        try:
            handle.open(adopted=True)
        except ATTACH_ERRORS as exc:
            handle.release()
            raise engine.unavailable(exc) from None
        return handle

    def history(self, worker: SurvivingWorker) -> list[str]:
        engine = self.engine_of(worker.labels.get(NODE_LABEL, ""))
        try:
            raw: bytes = engine.api.logs(worker.id, stream=False, timestamps=False)
        except NotFound:
            return []
        except ENGINE_ERRORS as exc:
            raise engine.unavailable(exc) from None
        return raw.decode("utf-8", errors="replace").splitlines()

    def secrets(self, worker: SurvivingWorker) -> dict[str, str]:
        """None are kept: they went to the worker's stdin only (a successor restarting the
        connection takes them from the tenant's configuration, or asks)."""
        return {}

    def remove_connection(self, connection: str) -> list[str]:
        """Remove every service of a connection (kill's final sweep); returns their names."""
        removed = []
        for worker, service in self._find(connection):
            node = worker.labels.get(NODE_LABEL, "")
            try:
                engine: Engine | None = self.engine_of(node)
            except RuntimeUnavailableError:
                engine = None  # its node is unreachable: Swarm removes the container later
            self._remove_service(service, engine, worker.id)
            removed.append(worker.name)
        with self._lock:
            self._homes.pop(connection, None)
        return removed


__all__ = ["SwarmRuntime"]
