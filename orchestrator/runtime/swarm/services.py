"""A worker as a one-replica Swarm service: its name, its spec, and its task's state."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from docker.types import (
    ContainerSpec,
    DriverConfig,
    Healthcheck,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    Resources,
    RestartPolicy,
    TaskTemplate,
)
from docker.utils import parse_bytes

from ..base import Role, WorkerState
from ..docker.workload import LOG_OPTIONS, Workload

# Task states before its container runs, and those of a task that will never run.
STARTING = frozenset(
    {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
)
NEVER_RAN = frozenset({"rejected", "orphaned", "remove"})
NODE_LABEL = "feeddock.node"


def service_name(connection: str, role: Role, tenant: str = "default") -> str:
    """A DNS name component (Swarm's rule): a readable part of the connection name and a
    digest of the whole tenant and name, so distinct connections never share a name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", connection.lower()).strip("-")[:32] or "connection"
    digest = hashlib.sha256(f"{tenant}\0{connection}".encode()).hexdigest()[:8]
    return f"feeddock-{slug}-{digest}-{role}"


def task_template(work: Workload, node_id: str, constraints: list[str]) -> TaskTemplate:
    """The task of `work`, pinned to one node, never restarted by Swarm (the orchestrator's
    supervision decides), stdin open for commands, the results directory bind-mounted."""
    container = ContainerSpec(
        work.image,
        env=[f"{key}={value}" for key, value in work.environment.items()],
        labels=work.labels,
        user=work.user,
        open_stdin=True,
        tty=False,
        mounts=[Mount(target=work.results_dir, source=work.results_dir, type="bind")],
        healthcheck=Healthcheck(**work.healthcheck),
        cap_drop=["ALL"],
    )
    return TaskTemplate(
        container,
        restart_policy=RestartPolicy(condition="none"),
        placement=Placement(constraints=[f"node.id=={node_id}", *constraints]),
        resources=Resources(
            cpu_limit=int(work.limits.cpus * 1e9), mem_limit=parse_bytes(work.limits.memory)
        ),
        networks=[NetworkAttachmentConfig("host")],
        log_driver=DriverConfig("json-file", LOG_OPTIONS),
    )


def latest_task(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A one-replica service's current task (the newest; older ones linger as history)."""
    return max(tasks, key=lambda task: str(task.get("CreatedAt", "")), default=None)


def container_of(task: dict[str, Any]) -> str | None:
    status = task.get("Status") or {}
    found = (status.get("ContainerStatus") or {}).get("ContainerID")
    return str(found) if found else None


def task_state(task: dict[str, Any] | None) -> WorkerState:
    if task is None:
        return WorkerState(running=False, error="the service has no task")
    status = task.get("Status") or {}
    state = str(status.get("State", ""))
    if state == "running" or state in STARTING:
        return WorkerState(running=True)
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    if state in ("complete", "failed", "shutdown") and isinstance(code, int):
        return WorkerState(running=False, exit_code=code)
    return WorkerState(running=False, error=f"task {state}: {status.get('Err') or 'no error'}")


__all__ = [
    "NEVER_RAN",
    "NODE_LABEL",
    "STARTING",
    "container_of",
    "latest_task",
    "service_name",
    "task_state",
    "task_template",
]
