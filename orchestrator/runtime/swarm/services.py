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


PREFIX = "feeddock"
MAX_NAME = 63  # Swarm's limit: a service name is a DNS label
DIGEST_CHARS = 32  # 128 bits of SHA-256 in the names too long to spell out
SLUG_CHARS = 11


def _spelled(text: str) -> str:
    """`text` in the characters a service name may hold, one way only, whatever the case.

    Lowercase letters, digits and `-` stay; every other character is `_` and one more: `__`
    an underscore, `_1` a dot, `_<letter>` that letter in uppercase (Swarm compares service
    names without case, so `Acme` and `acme` must differ in more than case).
    """
    out = []
    for char in text:
        if char.isascii() and (char.islower() or char.isdigit() or char == "-"):
            out.append(char)
        elif char == "_":
            out.append("__")
        elif char == ".":
            out.append("_1")
        elif char.isascii() and char.isupper():
            out.append("_" + char.lower())
        else:  # tenant ids and connection names are checked before they get here
            raise ValueError(f"{char!r} cannot be part of a service name")
    return "".join(out)


def service_name(tenant: str, connection: str, role: Role) -> str:
    """The Swarm counterpart of `worker_name` (`feeddock.<tenant>.<connection>-<role>`), which
    Swarm refuses: its names are DNS labels (letters, digits, `-`, `_`; 63 at most).

        feeddock_<tenant>_0<connection>-<role>     spelled out by `_spelled`, when it fits
        feeddock-<slug>-<digest>-<role>            else: a readable part of the connection
                                                   name and 128 bits of SHA-256 of both

    No two tenants' (or connections') names meet: a spelled-out name reads back one way only
    (after `_`, a `0` ends the tenant and nothing else does; the role is a fixed suffix), the
    two forms differ in their ninth character, and long names differ in their digest. The
    runtime also checks a name's labels before it removes or replaces anything under it.
    """
    spelled = f"{PREFIX}_{_spelled(tenant)}_0{_spelled(connection)}-{role}"
    if len(spelled) <= MAX_NAME:
        return spelled
    digest = hashlib.sha256(f"{tenant}\0{connection}".encode()).hexdigest()[:DIGEST_CHARS]
    slug = re.sub(r"[^a-z0-9]+", "-", connection.lower()).strip("-")[:SLUG_CHARS].strip("-")
    return "-".join(part for part in (PREFIX, slug, digest, role) if part)


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
