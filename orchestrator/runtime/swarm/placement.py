"""Which node a new connection goes to: the fewest connections among the nodes allowed.

A node is allowed when it is ready and active, meets every placement constraint of the
connection's tenant, and has an engine the orchestrator can reach (the manager's own node, or
one in the configuration's `nodes`). Load is the number of feeddock provider services placed
on the node (any orchestrator's: they share its CPU). Ties go to the lowest hostname, so the
choice is repeatable. The constraints are also given to Swarm, which checks them again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ...errors import ParameterError

OPERATORS = ("==", "!=")


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    role: str
    labels: dict[str, str]
    engine_labels: dict[str, str]
    ready: bool

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Node:
        spec = raw.get("Spec") or {}
        description = raw.get("Description") or {}
        engine = description.get("Engine") or {}
        return cls(
            id=str(raw["ID"]),
            hostname=str(description.get("Hostname") or ""),
            role=str(spec.get("Role") or ""),
            labels=dict(spec.get("Labels") or {}),
            engine_labels=dict(engine.get("Labels") or {}),
            ready=(raw.get("Status") or {}).get("State") == "ready"
            and spec.get("Availability") == "active",
        )

    def attribute(self, name: str) -> str | None:
        if name.startswith("node.labels."):
            return self.labels.get(name.removeprefix("node.labels."))
        if name.startswith("engine.labels."):
            return self.engine_labels.get(name.removeprefix("engine.labels."))
        return {"node.id": self.id, "node.hostname": self.hostname, "node.role": self.role}.get(
            name
        )


def parse(constraint: str) -> tuple[str, str, str]:
    for operator in OPERATORS:
        name, found, value = constraint.partition(operator)
        if found:
            return name.strip(), operator, value.strip()
    raise ParameterError(
        f"Invalid placement constraint {constraint!r}: use <attribute>==<value> or "
        "<attribute>!=<value> (node.labels.<key>, node.hostname, node.id, node.role, "
        "engine.labels.<key>).",
        field="constraints",
        allowed=list(OPERATORS),
    )


def meets(node: Node, constraints: Iterable[str]) -> bool:
    for constraint in constraints:
        name, operator, value = parse(constraint)
        actual = node.attribute(name)
        if (actual == value) != (operator == "=="):
            return False
    return True


def choose(
    nodes: Iterable[Node],
    constraints: list[str],
    placed: Counter[str],
    reachable: Callable[[Node], bool],
) -> Node | None:
    """The allowed node with the fewest connections (`placed`: node id -> connections)."""
    allowed = [n for n in nodes if n.ready and meets(n, constraints) and reachable(n)]
    if not allowed:
        return None
    return min(allowed, key=lambda n: (placed[n.id], n.hostname, n.id))


__all__ = ["Node", "choose", "meets", "parse"]
