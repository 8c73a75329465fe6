"""An in-memory runtime for fast tests of the orchestrator itself.

Fake workers speak the real worker contract (contract/): they read their configuration from
the environment they are given, print real status lines, and parse real stdin commands. A
`FakeEngine` plays the part of a Docker engine shared by several orchestrator processes: two
`FakeRuntime`s over one engine see each other's surviving workers, which is what adoption
needs. Tests steer the workers through the engine (`crash`, `refuse`, ...).

    engine = FakeEngine()
    api = WebSocketsAPI(runtime=FakeRuntime(engine, survives_exit=True))
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from contract.commands import CommandError, parse_command
from contract.config import BroadcastConfig, WorkerConfig
from contract.status import Level, format_line

from ..errors import RuntimeUnavailableError
from ..record import CONNECTION_LABEL, INSTANCE_LABEL, ROLE_LABEL, TENANT_LABEL, tenant_of
from ..tenant import DEFAULT_TENANT
from .base import (
    LaunchSpec,
    RuntimeOptions,
    SurvivingWorker,
    WorkerSink,
    WorkerState,
    worker_name,
)

EXIT_UNAUTHORIZED = 3
EXIT_PORT_IN_USE = 5


class _NullSink:
    def on_line(self, line: str) -> None:
        pass

    def on_exit(self, state: WorkerState) -> None:
        pass

    def on_problem(self, message: str | None) -> None:
        pass


@dataclass(eq=False)
class FakeWorker:
    """One fake worker: its spec, its output so far, its subscriptions, its state."""

    id: str
    name: str
    spec: LaunchSpec
    labels: dict[str, str]
    engine: FakeEngine
    sink: WorkerSink = field(default_factory=_NullSink)
    lines: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # stdin lines, as written
    symbols: list[str] = field(default_factory=list)
    running: bool = True
    exit_code: int | None = None
    oom_killed: bool = False
    port: int | None = None

    @property
    def role(self) -> str:
        return self.spec.role

    def emit(self, level: Level, event: str, message: str, **data: object) -> None:
        role = "PROVIDER" if self.role == "provider" else "BROADCAST"
        line = format_line(role, level, event, message, **data)
        self.lines.append(line)
        self.sink.on_line(line)

    def report_stats(self, **figures: object) -> None:
        """Print a `stats` line as real workers do every few seconds (the test picks the counts)."""
        self.emit(Level.INFO, "stats", "counters", **figures)

    def exit(self, code: int, *, oom: bool = False) -> None:
        if not self.running:
            return
        self.running, self.exit_code, self.oom_killed = False, code, oom
        self.engine.release_port(self)
        self.sink.on_exit(self.state())

    def state(self) -> WorkerState:
        return WorkerState(
            running=self.running, exit_code=self.exit_code, oom_killed=self.oom_killed
        )

    # -- behaviour ------------------------------------------------------------------------

    def boot(self) -> None:
        if self.role == "provider":
            self._boot_provider()
        else:
            self._boot_broadcast()

    def _boot_provider(self) -> None:
        if self.spec.connection in self.engine.crash_on_start:
            self.exit(1)
            return
        config = WorkerConfig.model_validate_json(self.spec.env[WorkerConfig.ENV])
        raw = config.symbols
        if raw is None:
            raw = [s for s in str(config.params.get("symbol", "")).split(",") if s.strip()]
        self.symbols = list(dict.fromkeys(s.strip().upper() for s in raw))
        for change in config.changes:
            self._change(change.action, change.symbols)
        self.emit(Level.INFO, "connected", "WebSocket connection established.")
        refusal = self.engine.refusals.get(self.spec.connection)
        if refusal is not None:
            self.emit(Level.ERROR, "unauthorized", f"UnauthorizedError -> {refusal}")
            self.exit(EXIT_UNAUTHORIZED)
            return
        if self.spec.connection in self.engine.never_ready:
            return
        self.emit(Level.INFO, "authorized", "Authorization: Success")
        symbols = ",".join(self.symbols)
        self.emit(Level.INFO, "ready", f"Streaming: {symbols}", symbols=symbols)

    def _boot_broadcast(self) -> None:
        config = BroadcastConfig.model_validate_json(self.spec.env[BroadcastConfig.ENV])
        if not self.engine.take_port(self, config.port):
            message = f"Port {config.port} on {config.host} is already in use"
            self.emit(Level.ERROR, "port_in_use", message, host=config.host, port=config.port)
            self.exit(EXIT_PORT_IN_USE)
            return
        self.emit(
            Level.INFO,
            "listening",
            f"Stream results from {config.address}",
            address=config.address,
        )

    def _change(self, action: str, symbols: Sequence[str]) -> tuple[list[str], list[str]]:
        wanted = list(dict.fromkeys(s.strip().upper() for s in symbols))
        if action == "subscribe":
            changed = [s for s in wanted if s not in self.symbols]
            self.symbols += changed
        else:
            changed = [s for s in wanted if s in self.symbols]
            self.symbols = [s for s in self.symbols if s not in changed]
        return changed, wanted

    def command(self, line: str) -> None:
        self.received.append(line)
        try:
            command = parse_command(line)
        except CommandError as exc:
            self.emit(Level.ERROR, "bad_command", f"Ignored command: {exc}")
            return
        changed, wanted = self._change(command.action, command.symbols)
        self.emit(
            Level.INFO,
            command.action,
            f"{command.action}: {','.join(changed) or '(no change)'}",
            id=command.id,
            changed=changed,
            unchanged=[s for s in wanted if s not in changed],
            symbols=",".join(self.symbols),
        )

    def terminate(self) -> None:
        if self.running:
            self.emit(Level.INFO, "stopped", "Disconnected.", exit_code=0)
            self.exit(0)


class FakeEngine:
    """The shared state of fake workers (what a Docker engine would hold)."""

    def __init__(self) -> None:
        self.workers: dict[str, FakeWorker] = {}
        self.refusals: dict[str, str] = {}  # connection -> the provider's refusal
        self.never_ready: set[str] = set()  # connections whose worker never gets ready
        self.crash_on_start: set[str] = set()  # connections whose worker dies at once
        self.down = False  # an engine that does not answer
        self.refused_calls = 0  # calls made while it was down
        self._ports: dict[int, FakeWorker] = {}
        self._ids = itertools.count(1)
        self.lock = threading.RLock()

    def new_id(self) -> str:
        return f"{next(self._ids):064x}"

    def take_port(self, worker: FakeWorker, port: int) -> bool:
        with self.lock:
            holder = self._ports.get(port)
            if holder is not None and holder.running:
                return False
            self._ports[port] = worker
            worker.port = port
            return True

    def release_port(self, worker: FakeWorker) -> None:
        with self.lock:
            if worker.port is not None and self._ports.get(worker.port) is worker:
                del self._ports[worker.port]

    def running(self, role: str | None = None) -> list[FakeWorker]:
        with self.lock:
            return [w for w in self.workers.values() if w.running and role in (None, w.role)]

    def find(self, connection: str, role: str = "provider") -> FakeWorker:
        with self.lock:
            for worker in reversed(list(self.workers.values())):
                if worker.spec.connection == connection and worker.role == role:
                    return worker
        raise LookupError(f"no fake {role} worker for {connection!r}")

    def crash(self, connection: str, code: int = 137, *, oom: bool = False) -> None:
        """The worker dies without a word (kill -9, or the OOM killer)."""
        self.find(connection).exit(code, oom=oom)


class FakeHandle:
    def __init__(self, worker: FakeWorker, runtime: FakeRuntime) -> None:
        self.worker = worker
        self._runtime = runtime

    @property
    def id(self) -> str:
        return self.worker.id

    def send(self, line: str) -> None:
        if not self.worker.running:
            raise BrokenPipeError(f"fake worker {self.worker.name} is not running")
        self.worker.command(line)

    def state(self) -> WorkerState:
        return self.worker.state()

    def stop(self, timeout: float) -> WorkerState:
        self.worker.terminate()
        if self._runtime.survives_exit:  # like containers: stopped workers are removed
            with self._runtime.engine.lock:
                self._runtime.engine.workers.pop(self.worker.id, None)
        return self.worker.state()

    def release(self) -> None:
        if self._runtime.survives_exit:
            self.worker.sink = _NullSink()
        else:
            self.stop(0)


class FakeRuntime:
    """A runtime over a `FakeEngine`; `survives_exit=True` behaves like Docker."""

    name = "fake"

    def __init__(
        self,
        engine: FakeEngine | None = None,
        *,
        survives_exit: bool = False,
        instance: str = "default",
        tenant: str = DEFAULT_TENANT,
        keeps_secrets: bool = True,
    ) -> None:
        self.engine = engine or FakeEngine()
        self.survives_exit = survives_exit
        self.instance = instance
        self.tenant = tenant
        # False plays the Docker runtime, which hands secrets over and keeps no copy.
        self.keeps_secrets = keeps_secrets
        self.options = RuntimeOptions()
        self.closed = False

    def _ours(self, labels: dict[str, str]) -> bool:
        return labels.get(INSTANCE_LABEL) == self.instance and tenant_of(labels) == self.tenant

    def reconfigure(self, options: RuntimeOptions) -> None:
        self.options = options

    def _check_engine(self) -> None:
        if self.engine.down:
            self.engine.refused_calls += 1
            raise RuntimeUnavailableError("The fake engine is down.")

    def start(self, spec: LaunchSpec, sink: WorkerSink) -> FakeHandle:
        self._check_engine()
        labels = {
            **spec.labels,
            CONNECTION_LABEL: spec.connection,
            ROLE_LABEL: spec.role,
            INSTANCE_LABEL: self.instance,
            TENANT_LABEL: self.tenant,
        }
        worker = FakeWorker(
            id=self.engine.new_id(),
            name=worker_name(self.tenant, spec.connection, spec.role),
            spec=spec,
            labels=labels,
            engine=self.engine,
            sink=sink,
        )
        with self.engine.lock:
            self.engine.workers[worker.id] = worker
        worker.boot()
        return FakeHandle(worker, self)

    def list_workers(self) -> Sequence[SurvivingWorker]:
        self._check_engine()
        if not self.survives_exit:
            return []
        with self.engine.lock:
            workers = list(self.engine.workers.values())
        return [
            SurvivingWorker(id=w.id, name=w.name, labels=dict(w.labels), state=w.state())
            for w in workers
            if self._ours(w.labels)
        ]

    def _worker(self, worker: SurvivingWorker) -> FakeWorker:
        with self.engine.lock:
            return self.engine.workers[worker.id]

    def attach(self, worker: SurvivingWorker, sink: WorkerSink) -> FakeHandle:
        fake = self._worker(worker)
        fake.sink = sink
        return FakeHandle(fake, self)

    def history(self, worker: SurvivingWorker) -> list[str]:
        return list(self._worker(worker).lines)

    def secrets(self, worker: SurvivingWorker) -> dict[str, str]:
        return dict(self._worker(worker).spec.secrets) if self.keeps_secrets else {}

    def remove_connection(self, connection: str) -> list[str]:
        with self.engine.lock:
            doomed = [
                w
                for w in self.engine.workers.values()
                if w.spec.connection == connection and self._ours(w.labels)
            ]
            for worker in doomed:
                worker.exit(137)
                del self.engine.workers[worker.id]
        return [worker.name for worker in doomed]

    def close(self) -> None:
        self.closed = True


__all__ = ["FakeEngine", "FakeHandle", "FakeRuntime", "FakeWorker"]
