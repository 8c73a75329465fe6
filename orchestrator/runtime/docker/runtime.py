"""Docker runtime: each worker runs in its own container.

    start(spec) ──> create feeddock.<tenant>.<connection>-<role>  (labels, env, mount, limits)
                └─> start ──> DockerHandle (handle.py) following its logs
                └─> the secrets line on its stdin, when it has secrets

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
FEEDDOCK_SECRETS=stdin, and the runtime writes the secrets line (contract/commands.py) to its
stdin right after the start, through the attach socket. Nothing in `docker inspect`, the
labels, the arguments or the logs holds them, and no copy is kept: `secrets()` recovers only
those of containers made before this (which held them in their environment).

Network. Host networking unless the tenant names a network (network.py: created when
missing, never removed; a broadcast server there publishes `broadcast_host:broadcast_port`).

Threads. docker-py is synchronous. The orchestrator API is synchronous too and each handle
follows its container's logs in its own thread, so plain calls are right here; code on an
asyncio loop must call this runtime through `asyncio.to_thread`. Each follower and each attach
socket pins one HTTP connection, so the client's pool is sized for many containers.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docker.errors import APIError, NotFound

from contract.commands import encode_secrets
from contract.config import API_KEY_ENV, AUTH_TOKEN_ENV
from contract.results import COMPANION_SUFFIXES
from contract.secrets import SECRETS_SOURCE_ENV, STDIN

from ...errors import ParameterError, RuntimeUnavailableError, StateError
from ...record import (
    CONNECTION_LABEL,
    INSTANCE_LABEL,
    RESULTS_LABEL,
    ROLE_LABEL,
    TEMP_DIR_LABEL,
    TENANT_LABEL,
    tenant_of,
)
from ...tenant import DEFAULT_TENANT, tenant_from_env
from ..base import LaunchSpec, Role, RuntimeOptions, SurvivingWorker, WorkerSink, worker_name
from .engine import BUILD_COMMAND, ENGINE_ERRORS, Engine
from .handle import DockerHandle, state_of
from .network import ensure_network, published_broadcast

INSTANCE_ENV = "FEEDDOCK_INSTANCE"
NETWORK_ENV = "FEEDDOCK_DOCKER_NETWORK"
MEMORY_ENV = "FEEDDOCK_DOCKER_MEMORY"
CPUS_ENV = "FEEDDOCK_DOCKER_CPUS"
PIDS_ENV = "FEEDDOCK_DOCKER_PIDS"
IMAGE_ENV: dict[Role, str] = {
    "provider": "FEEDDOCK_PROVIDER_IMAGE",
    "broadcast": "FEEDDOCK_BROADCAST_IMAGE",
}
DEFAULT_IMAGES: dict[Role, str] = {
    "provider": "feeddock-provider:latest",
    "broadcast": "feeddock-broadcast:latest",
}
IMAGE_USER = (10001, 10001)  # the `feeddock` user the Dockerfiles create
LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}


def container_name(tenant: str, connection: str, role: Role) -> str:
    """`feeddock.<tenant>.<connection>-<role>`; no two tenants' names meet (base.worker_name)."""
    return worker_name(tenant, connection, role)


@dataclass(frozen=True)
class Limits:
    """Per-container resource limits (FEEDDOCK_DOCKER_MEMORY / _CPUS / _PIDS)."""

    memory: str = "256m"
    cpus: float = 1.0
    pids: int = 256

    @classmethod
    def from_env(cls) -> Limits:
        try:
            return cls(
                memory=os.environ.get(MEMORY_ENV) or cls.memory,
                cpus=float(os.environ.get(CPUS_ENV) or cls.cpus),
                pids=int(os.environ.get(PIDS_ENV) or cls.pids),
            )
        except ValueError as exc:
            raise ParameterError(
                f"Invalid Docker limits in {CPUS_ENV}/{PIDS_ENV}: {exc}.", field=CPUS_ENV
            ) from None


@dataclass
class DockerRuntime:
    """Starts workers as containers. See the module docstring for users, stdin and threads."""

    instance: str = field(default_factory=lambda: os.environ.get(INSTANCE_ENV) or "default")
    tenant: str = field(default_factory=tenant_from_env)
    network: str | None = field(default_factory=lambda: os.environ.get(NETWORK_ENV) or None)
    limits: Limits = field(default_factory=Limits.from_env)
    images: dict[Role, str] = field(
        default_factory=lambda: {
            role: os.environ.get(IMAGE_ENV[role]) or DEFAULT_IMAGES[role] for role in IMAGE_ENV
        }
    )
    engine: Engine = field(default_factory=Engine, repr=False)
    name: str = field(default="docker", init=False)
    # Docker connections outlive the orchestrator process: at exit it only releases them.
    survives_exit: bool = field(default=True, init=False)
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12], init=False)
    # What `reconfigure` falls back to for options left unset: the construction's values.
    _defaults: tuple[str | None, Limits] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._defaults = (self.network, self.limits)

    def reconfigure(self, options: RuntimeOptions) -> None:
        network, limits = self._defaults
        self.network = options.network or network
        self.limits = Limits(
            memory=options.memory or limits.memory,
            cpus=options.cpus or limits.cpus,
            pids=options.pids or limits.pids,
        )

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
        self._clear_name(name)
        labels = {
            **spec.labels,
            CONNECTION_LABEL: spec.connection,
            ROLE_LABEL: spec.role,
            INSTANCE_LABEL: self.instance,
            TENANT_LABEL: self.tenant,
        }
        environment = dict(spec.env)
        ports: dict[int, tuple[str, int]] = {}  # container port -> (host address, host port)
        network = self.network
        if network is not None:
            ensure_network(self.engine.api, network, self.tenant)
            if spec.role == "broadcast":
                environment, ports = published_broadcast(spec)
        if spec.secrets:
            environment[SECRETS_SOURCE_ENV] = STDIN  # the values follow on stdin
        user = run_as(spec.results_dir, spec.labels.get(TEMP_DIR_LABEL), spec.labels)
        api = self.engine.api
        try:
            host_config = api.create_host_config(
                network_mode=network or "host",
                binds={spec.results_dir: {"bind": spec.results_dir, "mode": "rw"}},
                port_bindings=ports or None,
                mem_limit=self.limits.memory,
                memswap_limit=self.limits.memory,
                nano_cpus=int(self.limits.cpus * 1e9),
                pids_limit=self.limits.pids,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                log_config={"Type": "json-file", "Config": LOG_OPTIONS},
            )
            created = api.create_container(
                image,
                name=name,
                environment=environment,
                labels=labels,
                user=user,
                ports=list(ports) or None,
                stdin_open=True,
                tty=False,
                detach=True,  # without it docker-py sets StdinOnce: EOF after one attach
                host_config=host_config,
            )
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
        try:
            api.start(container_id)
        except ENGINE_ERRORS as exc:
            self.remove(container_id)
            raise RuntimeUnavailableError(f"Docker could not start {name}: {exc}") from None
        handle = DockerHandle(self.engine, container_id, name, sink, remove=self.remove)
        if spec.secrets:
            try:
                handle.send(encode_secrets(spec.secrets))
            except BrokenPipeError as exc:
                handle.stop(1.0)
                raise RuntimeUnavailableError(
                    f"Docker could not hand {name} its secrets: {exc}"
                ) from None
        return handle

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
        """This tenant's containers of this instance (of one connection, when given)."""
        filters = [f"{INSTANCE_LABEL}={self.instance}"]
        filters.append(f"{CONNECTION_LABEL}={connection}" if connection else CONNECTION_LABEL)
        if self.tenant != DEFAULT_TENANT:  # `default` also owns containers with no tenant label
            filters.append(f"{TENANT_LABEL}={self.tenant}")
        api = self.engine.api
        try:
            found = api.containers(all=True, filters={"label": filters})
            workers = []
            for summary in found:
                try:
                    details = api.inspect_container(summary["Id"])
                except NotFound:
                    continue
                if tenant_of(details["Config"].get("Labels") or {}) != self.tenant:
                    continue
                workers.append(
                    SurvivingWorker(
                        id=str(details["Id"]),
                        name=str(details["Name"]).lstrip("/"),
                        labels=dict(details["Config"].get("Labels") or {}),
                        state=state_of(details["State"]),
                    )
                )
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable(exc) from None
        return workers

    def list_workers(self) -> Sequence[SurvivingWorker]:
        return self._find()

    def attach(self, worker: SurvivingWorker, sink: WorkerSink) -> DockerHandle:
        return DockerHandle(
            self.engine, worker.id, worker.name, sink, remove=self.remove, since=time.time()
        )

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


def run_as(results_dir: str, temp_dir: str | None, labels: dict[str, str]) -> str:
    """The uid:gid a container runs as, making the results directory writable (module doc)."""
    directory = Path(results_dir)
    if os.geteuid() != 0:
        return f"{os.geteuid()}:{os.getegid()}"
    info = directory.stat()
    if temp_dir and Path(temp_dir) == directory and info.st_uid == 0:
        uid, gid = IMAGE_USER
        os.chown(directory, uid, gid)
    else:
        uid, gid = info.st_uid, info.st_gid
    # Files root created beside the database (by prepare() or a read while the worker was
    # stopped) must belong to the container's user too.
    results_file = labels.get(RESULTS_LABEL)
    if results_file and Path(results_file).parent == directory:
        for suffix in COMPANION_SUFFIXES:
            path = Path(results_file + suffix)
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_uid != uid:
                    os.chown(path, uid, gid)
    return f"{uid}:{gid}"


__all__ = ["DockerRuntime", "Limits", "container_name", "run_as"]
