"""Docker runtime: each worker runs in its own container.

    start(spec) ──> create feeddock.<tenant>.<connection>-<role>  (labels, env, mount, limits)
                └─> attach (DockerHandle, handle.py) ──> start
                └─> the secrets line on its stdin (that attach connection), when it has secrets

Tenants. Each runtime serves one tenant (`tenant`, FEEDDOCK_TENANT): the tenant is in every
container's name (runtime/base.py `worker_name`) and label (`feeddock.tenant`), and
`list_workers` / `remove_connection` see only the tenant's containers of this orchestrator
instance (FEEDDOCK_INSTANCE). Containers made before tenants existed have no tenant label and
belong to `default`. A name held by a container of another tenant, or by a stopped container
of another instance, is never taken: the create is refused.

Stdin. Containers are created detached with `stdin_open=True` and no tty, so the engine keeps
stdin open (`OpenStdin: true`) and never closes it after an attach ends (`StdinOnce: false`).
docker-py's create with the default `detach=False` would set StdinOnce and the worker would see
EOF after the first subscribe.

Results directory and users. The results file's directory is bind-mounted at the same path, so
paths in labels and configs mean the same on the host and in the container. The container runs
as the uid:gid that can write that directory (SQLite also creates `-wal` and `-shm` beside the
file):
  - orchestrator not root: its own uid:gid, exactly like the process runtime;
  - orchestrator root, feeddock-created temp directory (`tempfile.mkdtemp`, root 0700): the
    directory and its files are chowned to the image's user (10001:10001), which runs them;
  - orchestrator root, a directory the user chose: its owner's uid:gid; when that is root, the
    container runs as root with every capability dropped and no-new-privileges, so it can only
    write what root owns in the mounted directory (a non-root uid could not write it at all).
Every container also runs with `cap_drop=ALL` and `no-new-privileges`.

Secrets (`spec.secrets`) never reach the container's configuration: its environment only says
FEEDDOCK_SECRETS=stdin, and the runtime writes the secrets line (contract/commands.py) right
after the start as the first bytes on the attach connection opened before it
(`DockerHandle.hand_secrets`: the handle is nobody else's yet, so no command comes first).
Nothing in `docker inspect`, the labels, the arguments or the logs holds them, and no copy is
kept: `secrets()` recovers only those of containers made before this (which held them in
their environment).

Network. Host networking unless the tenant names a network (network.py: created when
missing, never removed; a broadcast server there publishes `broadcast_host:broadcast_port`).

Health. The images' HEALTHCHECKs are turned off for the containers made here (and so is the
provider's heartbeat file they read): each check is an exec into the container, 0.09-0.13 s
of CPU for the engine, containerd, runc and the check, so at 600 containers (400 connections,
half broadcasting) they alone took two cores.
The orchestrator already knows each worker's health from its status lines and its exit.
FEEDDOCK_DOCKER_HEALTHCHECK=<seconds> keeps the images' checks at that interval.

Threads and engine calls. docker-py is synchronous; the orchestrator API is synchronous too,
so plain calls are right here, and code on an asyncio loop must call this runtime through
`asyncio.to_thread`. Whatever the number of containers, following them takes three threads
per engine (handle.py): one reads every attach stream, one follows the event stream, a few
make the engine calls those two need. A start is three engine calls (create, attach, start;
the name's holder is inspected only when the create meets a conflict); stopping is two (stop,
remove), plus an inspect.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from docker.errors import APIError, NotFound

from contract.config import API_KEY_ENV, AUTH_TOKEN_ENV

from ...errors import RuntimeUnavailableError, StateError
from ...record import CONNECTION_LABEL, INSTANCE_LABEL, TENANT_LABEL, tenant_of
from ...tenant import DEFAULT_TENANT
from ..base import LaunchSpec, Role, SurvivingWorker, WorkerSink, WorkerState, worker_name
from .engine import BUILD_COMMAND, ENGINE_ERRORS, Engine
from .handle import ATTACH_ERRORS, DockerHandle, state_of
from .network import ensure_network, published_broadcast
from .workload import IMAGE_ENV, LOG_OPTIONS, ContainerSettings, Limits, Workload, run_as


def container_name(tenant: str, connection: str, role: Role) -> str:
    """`feeddock.<tenant>.<connection>-<role>`; no two tenants' names meet (base.worker_name)."""
    return worker_name(tenant, connection, role)


@dataclass
class DockerRuntime(ContainerSettings):
    """Starts workers as containers. See the module docstring for users, stdin and threads."""

    engine: Engine = field(default_factory=Engine, repr=False)
    name: str = field(default="docker", init=False)
    # Docker connections outlive the orchestrator process: at exit it only releases them.
    survives_exit: bool = field(default=True, init=False)
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12], init=False)

    @property
    def api(self) -> object:
        return self.engine.api

    def connect(self) -> None:
        """Connect now: RuntimeUnavailableError when no engine answers."""
        self.engine.client  # noqa: B018

    def missing_images(self) -> list[str]:
        return self.engine.missing_images(list(self.images.values()))

    def close(self) -> None:
        self.engine.close()

    # -- workers --------------------------------------------------------------------------

    def start(self, spec: LaunchSpec, sink: WorkerSink) -> DockerHandle:
        image = self.images[spec.role]
        if image in self.missing_images():
            raise RuntimeUnavailableError(
                f"The Docker image {image} is missing. Build it with `{BUILD_COMMAND}` "
                f"(or set {IMAGE_ENV[spec.role]} to an image that exists)."
            )
        name = container_name(self.tenant, spec.connection, spec.role)
        work, ports = self._networked(spec, self.describe(spec))
        api = self.engine.api
        try:
            host_config = api.create_host_config(
                network_mode=self.network or "host",
                binds={work.results_dir: {"bind": work.results_dir, "mode": "rw"}},
                port_bindings=ports or None,
                mem_limit=work.limits.memory,
                memswap_limit=work.limits.memory,
                nano_cpus=int(work.limits.cpus * 1e9),
                pids_limit=work.limits.pids,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                log_config={"Type": "json-file", "Config": LOG_OPTIONS},
            )
            options: dict[str, Any] = {
                "name": name,
                "environment": work.environment,
                "labels": work.labels,
                "user": work.user,
                "ports": list(ports) or None,
                "stdin_open": True,
                "tty": False,
                "detach": True,  # without it docker-py sets StdinOnce: EOF after one attach
                "healthcheck": work.healthcheck,
                "host_config": host_config,
            }
            try:
                created = api.create_container(work.image, **options)
            except APIError as exc:
                if exc.status_code != 409:
                    raise
                self._clear_name(name)  # refused unless a stopped container of ours holds it
                created = api.create_container(work.image, **options)
        except APIError as exc:
            if exc.status_code == 409:
                raise StateError(
                    f"A container named {name} already exists; another orchestrator is "
                    f"creating it. Remove it with `docker rm -f {name}` if it is stale."
                ) from None
            raise self.engine.unavailable(exc) from None
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable(exc) from None
        container_id = str(created["Id"])
        handle = self._handle(container_id, name, sink)
        try:
            handle.open()  # before the start: no line is missed, and stdin is ours first
            api.start(container_id)
        except ATTACH_ERRORS as exc:
            handle.release()
            self.remove(container_id)
            raise RuntimeUnavailableError(f"Docker could not start {name}: {exc}") from None
        if spec.secrets:
            handle.hand_secrets(spec.secrets)
        return handle

    def _networked(
        self, spec: LaunchSpec, work: Workload
    ) -> tuple[Workload, dict[int, tuple[str, int]]]:
        """On the tenant's network (made when missing), a broadcast server listens on every
        address of its container and the host publishes `broadcast_host:broadcast_port`:
        the workload and its port bindings (container port -> host address, host port)."""
        if self.network is None:
            return work, {}
        ensure_network(self.engine.api, self.network, self.tenant)
        if spec.role != "broadcast":
            return work, {}
        environment, ports = published_broadcast(spec)
        return dataclasses.replace(work, environment={**work.environment, **environment}), ports

    def _handle(self, container_id: str, name: str, sink: WorkerSink) -> DockerHandle:
        watcher = self.engine.watcher([f"{INSTANCE_LABEL}={self.instance}"])
        return DockerHandle(self.engine, watcher, container_id, name, sink, remove=self.remove)

    def _clear_name(self, name: str) -> None:
        """Remove this instance's stopped container holding `name`; refuse anything else.

        The refusal never says whose container it is unless it is this tenant's.
        """
        try:
            found = self.engine.api.inspect_container(name)
        except NotFound:
            return
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable(exc) from None
        labels = found["Config"].get("Labels") or {}
        if CONNECTION_LABEL not in labels or tenant_of(labels) != self.tenant:
            raise StateError(
                f"A container named {name} exists that feeddock did not start for this "
                f"tenant; rename or remove it (`docker rm -f {name}`)."
            )
        owner = labels.get(INSTANCE_LABEL, "unknown")
        if found["State"].get("Running"):
            raise StateError(
                f"Container {name} is already running (orchestrator instance {owner!r}). "
                f"Kill that connection, or remove the container with `docker rm -f {name}`."
            )
        if owner != self.instance:
            raise StateError(
                f"Container {name} (stopped) belongs to orchestrator instance {owner!r}, which "
                f"re-adopts it; kill the connection there, or `docker rm -f {name}`."
            )
        self.remove(str(found["Id"]))

    def remove(self, container_id: str) -> None:
        """Force-remove a container; 404 (gone) and 409 (removal in progress) are fine."""
        try:
            self.engine.api.remove_container(container_id, force=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:
                raise self.engine.unavailable(exc) from None
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable(exc) from None

    # -- surviving workers ----------------------------------------------------------------

    def _find(self, connection: str | None = None) -> list[SurvivingWorker]:
        """This tenant's containers of this instance (of one connection): one list call, and
        an inspect for each stopped one (the list does not say how it ended)."""
        filters = [f"{INSTANCE_LABEL}={self.instance}"]
        filters.append(f"{CONNECTION_LABEL}={connection}" if connection else CONNECTION_LABEL)
        if self.tenant != DEFAULT_TENANT:  # `default` also owns containers with no tenant label
            filters.append(f"{TENANT_LABEL}={self.tenant}")
        api = self.engine.api
        try:
            found = api.containers(all=True, filters={"label": filters})
            workers = []
            for summary in found:
                labels = dict(summary.get("Labels") or {})
                if tenant_of(labels) != self.tenant:  # `default`: another tenant's label
                    continue
                state = WorkerState(running=True)
                if summary.get("State") != "running":
                    try:
                        state = state_of(api.inspect_container(summary["Id"])["State"])
                    except NotFound:
                        continue
                names = summary.get("Names") or [str(summary["Id"])]
                workers.append(
                    SurvivingWorker(
                        id=str(summary["Id"]),
                        name=str(names[0]).lstrip("/"),
                        labels=labels,
                        state=state,
                    )
                )
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable(exc) from None
        return workers

    def list_workers(self) -> Sequence[SurvivingWorker]:
        return self._find()

    def attach(self, worker: SurvivingWorker, sink: WorkerSink) -> DockerHandle:
        handle = self._handle(worker.id, worker.name, sink)
        try:
            handle.open(adopted=True)
        except ATTACH_ERRORS as exc:
            handle.release()
            raise self.engine.unavailable(exc) from None
        return handle

    def history(self, worker: SurvivingWorker) -> list[str]:
        try:
            raw: bytes = self.engine.api.logs(worker.id, stream=False, timestamps=False)
        except NotFound:
            return []
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable(exc) from None
        return raw.decode("utf-8", errors="replace").splitlines()

    def secrets(self, worker: SurvivingWorker) -> dict[str, str]:
        """Nothing for the containers this runtime makes: their secrets went to stdin only.

        Containers made before secrets moved to stdin held them in their environment; those
        are recovered, so that such a connection still restarts after an upgrade.
        """
        try:
            entries = self.engine.api.inspect_container(worker.id)["Config"].get("Env") or []
        except NotFound:
            return {}
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable(exc) from None
        environment = dict(entry.partition("=")[::2] for entry in entries)
        return {
            key: environment[key] for key in (API_KEY_ENV, AUTH_TOKEN_ENV) if key in environment
        }

    def remove_connection(self, connection: str) -> list[str]:
        """Remove every container of a connection (kill's final sweep); returns their names."""
        removed = []
        for worker in self._find(connection):
            self.remove(worker.id)
            removed.append(worker.name)
        return removed


__all__ = ["DockerRuntime", "Limits", "container_name", "run_as"]  # Limits, run_as: workload.py
