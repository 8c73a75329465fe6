"""What a worker's container is, whichever Docker API makes it.

The Docker runtime creates it as a container; the Swarm runtime as the task of a one-replica
service. Both start from the same `Workload` (image, labels, environment, user, results
mount, limits, healthcheck), described here from a `LaunchSpec` by the settings both share
(`ContainerSettings`: tenant, instance, images, limits, network, healthcheck), so the two
backends differ only in the API calls that make and find their containers.

Secrets are not part of a workload: its environment says FEEDDOCK_SECRETS=stdin when the spec
has any, and the runtime writes them on the container's attached stdin once it runs
(`DockerHandle.hand_secrets`), so nothing an engine shows (`docker inspect`, a service spec)
holds them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.config import MIB, worker_memory_limit
from contract.results import COMPANION_SUFFIXES
from contract.secrets import SECRETS_SOURCE_ENV, STDIN

from ...errors import ParameterError
from ...record import (
    CONNECTION_LABEL,
    INSTANCE_LABEL,
    RESULTS_LABEL,
    ROLE_LABEL,
    TEMP_DIR_LABEL,
    TENANT_LABEL,
)
from ...tenant import tenant_from_env
from ..base import LaunchSpec, Role, RuntimeOptions

INSTANCE_ENV = "FEEDDOCK_INSTANCE"
NETWORK_ENV = "FEEDDOCK_DOCKER_NETWORK"
MEMORY_ENV = "FEEDDOCK_DOCKER_MEMORY"
# The default container memory: what a provider worker with its default buffer and frame bound
# was measured to need at its peak (bench/worker_memory.py), so that no in-spec input gets it
# OOM-killed; never below the 256 MiB the project has always given.
DEFAULT_MEMORY = f"{max(256, worker_memory_limit() // MIB)}m"
CPUS_ENV = "FEEDDOCK_DOCKER_CPUS"
PIDS_ENV = "FEEDDOCK_DOCKER_PIDS"
HEALTHCHECK_ENV = "FEEDDOCK_DOCKER_HEALTHCHECK"
# Read by the provider worker; empty: no heartbeat file (only the image's HEALTHCHECK reads it).
HEARTBEAT_ENV = "FEEDDOCK_HEARTBEAT_FILE"
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


def healthcheck_from_env() -> dict[str, Any]:
    """The healthcheck containers get: none, or the image's own every N seconds."""
    raw = (os.environ.get(HEALTHCHECK_ENV) or "off").strip().lower()
    if raw in ("off", "none", "0"):
        return {"test": ["NONE"]}
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ParameterError(
            f"Invalid {HEALTHCHECK_ENV}={raw!r}: use off (the default) or an interval in "
            "seconds for the images' own HEALTHCHECK.",
            field=HEALTHCHECK_ENV,
        )
    return {"interval": int(seconds * 1e9)}


@dataclass(frozen=True)
class Limits:
    """Per-container resource limits (FEEDDOCK_DOCKER_MEMORY / _CPUS / _PIDS)."""

    memory: str = DEFAULT_MEMORY
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


@dataclass(frozen=True)
class Workload:
    """One worker's container, before an engine makes it."""

    role: Role
    connection: str
    image: str
    labels: dict[str, str]
    environment: dict[str, str]
    user: str
    results_dir: str  # bind-mounted at the same path
    limits: Limits
    healthcheck: dict[str, Any]


@dataclass
class ContainerSettings:
    """What the Docker and Swarm runtimes share: whose workers, which images, how big."""

    instance: str = field(default_factory=lambda: os.environ.get(INSTANCE_ENV) or "default")
    tenant: str = field(default_factory=tenant_from_env)
    network: str | None = field(default_factory=lambda: os.environ.get(NETWORK_ENV) or None)
    limits: Limits = field(default_factory=Limits.from_env)
    images: dict[Role, str] = field(
        default_factory=lambda: {
            role: os.environ.get(IMAGE_ENV[role]) or DEFAULT_IMAGES[role] for role in IMAGE_ENV
        }
    )
    healthcheck: dict[str, Any] = field(default_factory=healthcheck_from_env)
    # What `reconfigure` falls back to for options left unset: the construction's values.
    _defaults: tuple[str | None, Limits] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._defaults = (self.network, self.limits)

    def reconfigure(self, options: RuntimeOptions) -> None:
        """The tenant's network and limits for the workers started from now on."""
        network, limits = self._defaults
        self.network = options.network or network
        self.limits = Limits(
            memory=options.memory or limits.memory,
            cpus=options.cpus or limits.cpus,
            pids=options.pids or limits.pids,
        )

    def describe(self, spec: LaunchSpec) -> Workload:
        """The container of `spec`: its labels, environment and user (run_as)."""
        labels = {
            **spec.labels,
            CONNECTION_LABEL: spec.connection,
            ROLE_LABEL: spec.role,
            INSTANCE_LABEL: self.instance,
            TENANT_LABEL: self.tenant,
        }
        environment = dict(spec.env)
        if spec.secrets:
            environment[SECRETS_SOURCE_ENV] = STDIN  # the values follow on stdin
        if "test" in self.healthcheck:  # checks off: nobody reads the heartbeat file
            environment[HEARTBEAT_ENV] = ""
        return Workload(
            role=spec.role,
            connection=spec.connection,
            image=self.images[spec.role],
            labels=labels,
            environment=environment,
            user=run_as(spec.results_dir, spec.labels.get(TEMP_DIR_LABEL), spec.labels),
            results_dir=spec.results_dir,
            limits=self.limits,
            healthcheck=self.healthcheck,
        )


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


__all__ = [
    "DEFAULT_IMAGES",
    "HEARTBEAT_ENV",
    "IMAGE_ENV",
    "LOG_OPTIONS",
    "ContainerSettings",
    "Limits",
    "Workload",
    "healthcheck_from_env",
    "run_as",
]
