"""The import structure: every arrow points one way, and the workers stay apart."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "providers", "contract", "provider_image", "broadcast_image")


@cache
def module_graph() -> dict[str, set[str]]:
    """Module -> project modules it imports (lazy and TYPE_CHECKING imports included)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {
            dep
            for dep in found
            if dep in modules
            and dep != name
            and not name.startswith(dep + ".")
            and not dep.startswith(name + ".")
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                found.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_project_has_no_import_cycle() -> None:
    assert cycles(module_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def imports_of(package: str) -> set[str]:
    return {
        dep.partition(".")[0]
        for name, deps in module_graph().items()
        if name.partition(".")[0] == package
        for dep in deps
    }


def test_the_workers_share_only_the_contract() -> None:
    assert imports_of("broadcast_image") <= {"broadcast_image", "contract", "providers"}
    assert imports_of("provider_image") <= {"provider_image", "contract", "providers"}


def test_the_contract_and_providers_know_nothing_above_them() -> None:
    assert imports_of("contract") <= {"contract", "providers"}
    assert imports_of("providers") <= {"providers"}


def test_only_the_docker_runtime_imports_docker() -> None:
    importers = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                modules = (
                    [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                )
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules = [node.module]
                if any(m == "docker" or m.startswith("docker.") for m in modules):
                    importers.add(path.relative_to(ROOT).parts[:3])
    assert importers <= {("orchestrator", "runtime", "docker")}
