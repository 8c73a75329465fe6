"""A connection's results file, from the orchestrator's side: where it is, and its reads.

The SQL is the contract's (contract/results.py); here SQLite problems become the exception
tree's `ResultsError`s, and temp locations are created and removed.

Results roots. A tenant may have a results root (`WebSocketsAPI(results_root=...)`, a tenants
file's `results_root`, or FEEDDOCK_RESULTS_ROOT): its temp results are made inside it, and a
`results_file` that resolves outside it (symbolic links followed) is refused.

Held files. A results file belongs to one connection at a time, whatever its tenant: `HOLDS`
knows the files this process's connections hold (every tenant's `WebSocketsAPI`), and the
provider worker's lock (contract/lock.py) those of workers anywhere on the machine. A file
held either way is refused with `ResultsInUseError`, which never says by whom.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson

from contract import lock
from contract import results as store
from providers import WebSocketData

from .errors import ParameterError, ResultsInUseError, results_failure

T = TypeVar("T")
RESULTS_ROOT_ENV = "FEEDDOCK_RESULTS_ROOT"


def inside_root(results_file: str, root: str) -> Path:
    """`results_file` resolved (symbolic links followed), or a ParameterError if outside."""
    base = Path(root).resolve()
    resolved = Path(results_file).resolve()
    if base not in resolved.parents:
        raise ParameterError(
            f"Invalid parameters: 'results_file' must be inside {base} on this server.",
            field="results_file",
        )
    return resolved


class Holds:
    """The results files held by this process's connections, by resolved path."""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def key(path: str) -> str:
        return os.path.realpath(path)

    def claim(self, path: str) -> None:
        """Hold `path` for a new connection, or refuse it if anyone holds it."""
        key = self.key(path)
        with self._lock:
            if key in self._paths or lock.is_held(path):
                raise ResultsInUseError(
                    f"The results file {path} is in use by another connection; choose another "
                    "results_file."
                )
            self._paths.add(key)

    def keep(self, path: str) -> None:
        """Hold `path` for a connection that already writes it (adoption)."""
        with self._lock:
            self._paths.add(self.key(path))

    def release(self, path: str) -> None:
        with self._lock:
            self._paths.discard(self.key(path))

    def __contains__(self, path: str) -> bool:
        with self._lock:
            return self.key(path) in self._paths


HOLDS = Holds()


@dataclass(frozen=True)
class ResultsLocation:
    path: str
    table: str = "records"
    # A directory feeddock created for a temp results file; removed with the file.
    temp_dir: str | None = None
    # False when the file existed before the connection: feeddock never deletes such a file.
    created: bool = True

    @property
    def directory(self) -> str:
        return str(Path(self.path).parent)

    @classmethod
    def allocate(
        cls, name: str, results_file: str | None, table: str, *, root: str | None = None
    ) -> ResultsLocation:
        """The user's `results_file`, or a new temp directory for this connection.

        With a `root`, both are inside it (module docstring).
        """
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        if results_file:
            path = inside_root(results_file, root) if root is not None else Path(results_file)
            if path.is_dir():
                raise ParameterError(
                    f"Invalid parameters: 'results_file' {str(path)!r} is a directory; "
                    "give a file path.",
                    field="results_file",
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            return cls(str(path), table, created=not path.exists())
        temp_dir = tempfile.mkdtemp(prefix=f"feeddock-{name}-", dir=root)
        return cls(str(Path(temp_dir) / "results.db"), table, temp_dir=temp_dir)

    # -- reads and changes ----------------------------------------------------------------

    def _translated(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except store.ResultsError as exc:
            raise results_failure(exc) from None

    def prepare(self) -> None:
        self._translated(lambda: store.prepare(self.path, self.table))

    def messages(self, *, last: int | None = None) -> list[str]:
        return self._translated(lambda: store.read_messages(self.path, self.table, last=last))

    async def messages_async(self, *, last: int | None = None) -> list[str]:
        try:
            return await store.read_messages_async(self.path, self.table, last=last)
        except store.ResultsError as exc:
            raise results_failure(exc) from None

    def records(self, model: type[WebSocketData]) -> list[WebSocketData]:
        return [model.model_validate_json(message) for message in self.messages()]

    def clear(self) -> int:
        return self._translated(lambda: store.clear(self.path, self.table))

    # -- the subscriptions of a stopped connection ----------------------------------------
    # A running worker reports its subscriptions in its output, and a container's labels
    # hold them as they were at its start. Once the provider worker is stopped (and its
    # container removed) only this small file, beside the results, still knows them, so
    # another orchestrator process can restart the connection as it was.

    @property
    def subscriptions_path(self) -> Path:
        return Path(self.path + "-subscriptions")

    def save_subscriptions(self, symbols: list[str], pending: list[dict[str, object]]) -> None:
        temp = self.subscriptions_path.with_name(f"{self.subscriptions_path.name}.{os.getpid()}")
        with contextlib.suppress(OSError):  # best effort: a full disk must not stop a stop
            temp.write_bytes(orjson.dumps({"symbols": symbols, "pending": pending}))
            temp.replace(self.subscriptions_path)

    def load_subscriptions(self) -> tuple[list[str], list[dict[str, object]]] | None:
        try:
            saved = orjson.loads(self.subscriptions_path.read_bytes())
            return list(saved["symbols"]), list(saved["pending"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            return None

    def discard(self) -> bool:
        """Remove the file unless the user brought it; True when it was removed."""
        if not self.created:
            return False
        store.remove_files(self.path)
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return True


__all__ = ["HOLDS", "RESULTS_ROOT_ENV", "Holds", "ResultsLocation", "inside_root"]
