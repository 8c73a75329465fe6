"""The orchestrator's side of a connection's broadcast server (started through the runtime)."""

from __future__ import annotations

import errno
import socket

from pydantic import ValidationError

from contract.config import AUTH_TOKEN_ENV, BroadcastConfig

from .errors import ParameterError, PortInUseError, WorkerError
from .monitor import WorkerMonitor
from .record import ADDRESS_LABEL, CONFIG_LABEL
from .runtime import LaunchSpec, Runtime, SurvivingWorker, WorkerHandle

READY_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
READY_EVENTS = ("listening", "port_in_use", "fatal", "config_error")


def ensure_port_free(host: str, port: int) -> None:
    """Fail early, with the port's name, when something already listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"Port {port} on {host} is already in use; choose another broadcast port."
                ) from None
            raise ParameterError(
                f"Invalid parameters: cannot listen on {host}:{port}: {exc.strerror}.",
                field="host",
            ) from None


def broadcast_config(**fields: object) -> BroadcastConfig:
    """The broadcast server's configuration; a bad `uvicorn_kwargs` names itself."""
    try:
        return BroadcastConfig.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else None
        message = error["msg"].removeprefix("Value error, ")
        raise ParameterError(f"Invalid parameters: {message}.", field=field) from None


class BroadcastServer:
    """One running broadcast server for a connection's results file."""

    def __init__(
        self,
        handle: WorkerHandle,
        monitor: WorkerMonitor,
        address: str,
        config: BroadcastConfig | None = None,
    ) -> None:
        self.handle = handle
        self.monitor = monitor
        self.address = address
        self.config = config  # what it was started with (to start it again)

    @property
    def id(self) -> int | str:
        return self.handle.id

    @property
    def is_running(self) -> bool:
        return not self.monitor.exited

    @classmethod
    def adopt(cls, runtime: Runtime, worker: SurvivingWorker) -> BroadcastServer:
        monitor = WorkerMonitor()
        handle = runtime.attach(worker, monitor)
        address = worker.labels.get(ADDRESS_LABEL) or "ws://127.0.0.1:6666"
        try:
            config = BroadcastConfig.model_validate_json(worker.labels.get(CONFIG_LABEL, ""))
        except ValidationError:
            config = None  # a container from before this label: it cannot be restarted
        return cls(handle, monitor, address, config)

    def stop(self) -> None:
        self.handle.stop(STOP_TIMEOUT_SECONDS)  # the server says "Stopped broadcasting to: ..."

    def release(self) -> None:
        self.handle.release()


class BroadcastLaunch:
    """A broadcast server started and not yet listening: `ready()` waits for it, `abandon()`
    stops it. Apart so that a connection can start its provider meanwhile (the server needs
    nothing from the provider: it waits for the results file's rows)."""

    def __init__(
        self,
        runtime: Runtime,
        config: BroadcastConfig,
        *,
        connection: str,
        results_dir: str,
        auth_token: str | None,
        labels: dict[str, str],
    ) -> None:
        ensure_port_free(config.host, config.port)
        spec = LaunchSpec(
            role="broadcast",
            connection=connection,
            env=config.environment(),
            results_dir=results_dir,
            labels={
                **labels,
                ADDRESS_LABEL: config.address,
                CONFIG_LABEL: config.model_dump_json(),
            },
            secrets={AUTH_TOKEN_ENV: auth_token} if auth_token else {},
        )
        self.config = config
        self.connection = connection
        self.monitor = WorkerMonitor()
        self.handle = runtime.start(spec, self.monitor)

    def ready(self) -> BroadcastServer:
        """The server once it listens; stopped, and the reason raised, when it cannot."""
        event = self.monitor.wait_event(lambda s: s.event in READY_EVENTS, READY_TIMEOUT_SECONDS)
        if event is not None and event.event == "listening":
            address = str(event.get("address") or self.config.address)
            return BroadcastServer(self.handle, self.monitor, address, self.config)
        self.abandon()
        if event is not None and event.event == "port_in_use":
            raise PortInUseError(event.message)
        reason = self.monitor.last_error or (event.message if event else "") or "no answer"
        raise WorkerError(f"The broadcast server for {self.connection!r} did not start: {reason}")

    def abandon(self) -> None:
        self.handle.stop(STOP_TIMEOUT_SECONDS)


__all__ = ["BroadcastLaunch", "BroadcastServer", "broadcast_config", "ensure_port_free"]
