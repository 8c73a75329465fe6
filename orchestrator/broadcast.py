"""The orchestrator's side of a connection's broadcast server (started through the runtime)."""

from __future__ import annotations

import errno
import socket
from typing import Any

import orjson

from .errors import ParameterError, PortInUseError, WorkerError
from .monitor import WorkerMonitor
from .runtime import LaunchSpec, Runtime, WorkerHandle

BROADCAST_CONFIG_ENV = "FEEDDOCK_BROADCAST_CONFIG"
AUTH_TOKEN_ENV = "FEEDDOCK_AUTH_TOKEN"
READY_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
RESERVED_UVICORN_KWARGS = frozenset({"app", "host", "port", "fd", "uds"})


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


class Broadcast:
    """One running broadcast server for a connection's results file."""

    def __init__(self, handle: WorkerHandle, monitor: WorkerMonitor, address: str) -> None:
        self.handle = handle
        self.monitor = monitor
        self.address = address

    @property
    def is_running(self) -> bool:
        return self.handle.is_running()

    @classmethod
    def start(
        cls,
        runtime: Runtime,
        *,
        connection: str,
        results_file: str,
        results_dir: str,
        table_name: str,
        host: str,
        port: int,
        sleep_time: float,
        auth_token: str | None,
        uvicorn_kwargs: dict[str, Any] | None,
        exit_on_stdin_eof: bool,
    ) -> Broadcast:
        kwargs = dict(uvicorn_kwargs or {})
        reserved = sorted(RESERVED_UVICORN_KWARGS & set(kwargs))
        if reserved:
            raise ParameterError(
                f"Invalid parameters: 'uvicorn_kwargs' may not set {', '.join(reserved)}; "
                "use the host and port parameters.",
                field="uvicorn_kwargs",
            )
        ensure_port_free(host, port)
        config = {
            "results_file": results_file,
            "table_name": table_name,
            "host": host,
            "port": port,
            "sleep_time": sleep_time,
            "uvicorn_kwargs": kwargs,
            "exit_on_stdin_eof": exit_on_stdin_eof,
        }
        env = {BROADCAST_CONFIG_ENV: orjson.dumps(config).decode()}
        if auth_token:
            env[AUTH_TOKEN_ENV] = auth_token
        spec = LaunchSpec(role="broadcast", connection=connection, env=env, results_dir=results_dir)
        handle = runtime.start(spec)
        monitor = WorkerMonitor(handle).start()
        event = monitor.wait_event(
            lambda e: e["event"] in ("listening", "port_in_use", "fatal", "config_error"),
            READY_TIMEOUT_SECONDS,
        )
        if event is not None and event["event"] == "listening":
            return cls(handle, monitor, str(event.get("address")))
        handle.stop(STOP_TIMEOUT_SECONDS)
        monitor.join()
        if event is not None and event["event"] == "port_in_use":
            raise PortInUseError(str(event.get("message")))
        reason = monitor.last_error or (event.message if event else "") or "no answer"
        raise WorkerError(f"The broadcast server for {connection!r} did not start: {reason}")

    def stop(self) -> None:
        self.handle.stop(STOP_TIMEOUT_SECONDS)
        self.monitor.join()  # the server itself says "Stopped broadcasting to: ..."
