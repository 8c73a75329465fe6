"""What each worker is told at start: JSON in one environment variable, secrets apart.

The orchestrator builds these models and puts `model_dump_json()` in the worker's environment;
the worker reads them back with `from_env()`. No secret ever goes in argv, labels or the JSON:
the provider credential and the listeners' token travel apart, as contract/secrets.py says.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, ClassVar, Literal, Self

import uvicorn
from pydantic import BaseModel, ConfigDict, Field, field_validator

WORKER_CONFIG_ENV = "FEEDDOCK_CONFIG"
API_KEY_ENV = "FEEDDOCK_API_KEY"
BROADCAST_CONFIG_ENV = "FEEDDOCK_BROADCAST_CONFIG"
AUTH_TOKEN_ENV = "FEEDDOCK_AUTH_TOKEN"

# uvicorn.Config arguments the broadcast server sets itself: passing them would break it.
RESERVED_UVICORN_KWARGS = frozenset(
    {
        "app", "host", "port", "uds", "fd", "factory", "lifespan", "log_config", "workers",
        "reload", "reload_dirs", "reload_delay", "reload_includes", "reload_excludes", "ws",
    }
)  # fmt: skip
UVICORN_PARAMETERS = frozenset(inspect.signature(uvicorn.Config.__init__).parameters) - {"self"}


class _FromEnv(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ENV: ClassVar[str]  # the variable holding the JSON

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        raw = env.get(cls.ENV)
        if not raw:
            raise ValueError(f"{cls.ENV} is not set: it must hold the worker's JSON config")
        return cls.model_validate_json(raw)

    def environment(self) -> dict[str, str]:
        """The environment entry that carries this configuration."""
        return {self.ENV: self.model_dump_json()}


class SymbolChange(BaseModel):
    """A subscription change made while the worker was stopped, applied when it starts."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["subscribe", "unsubscribe"]
    symbols: list[str]


class WorkerConfig(_FromEnv):
    """What one provider worker needs. `params` are the provider's query parameters."""

    ENV: ClassVar[str] = WORKER_CONFIG_ENV

    provider: str
    params: dict[str, Any]
    symbols: list[str] | None = Field(
        default=None,
        description="Current subscriptions (user form); overrides params['symbol'] on restarts.",
    )
    changes: list[SymbolChange] = Field(
        default_factory=list,
        description="Changes to apply to `symbols` before connecting, in order.",
    )
    results_file: str
    table_name: str = "records"
    limit: int | None = 1000
    queue_size: int = Field(default=200_000, ge=1, description="records buffered before dropping")
    batch_size: int = Field(default=10_000, ge=1, description="records per SQLite transaction")
    exit_on_stdin_eof: bool = Field(
        default=False,
        description="Exit when stdin closes: a process worker's parent has died.",
    )


class BroadcastConfig(_FromEnv):
    """What one broadcast server needs: the results table to tail and where to serve it."""

    ENV: ClassVar[str] = BROADCAST_CONFIG_ENV

    results_file: str
    table_name: str = "records"
    host: str = "127.0.0.1"
    port: int = Field(default=6666, ge=1, le=65535)
    bind_host: str | None = Field(
        default=None,
        description="Where to listen when it differs from `host`, the address listeners use "
        "(a container on its own network listens on 0.0.0.0; the runtime publishes host:port).",
    )
    sleep_time: float = Field(
        default=0.25, gt=0, le=60, description="longest wait (seconds) between two reads"
    )
    uvicorn_kwargs: dict[str, Any] = Field(default_factory=dict)
    max_pending_records: int = Field(
        default=50_000,
        ge=1,
        description="records read but not yet handed to one listener's socket (whatever its "
        "filter) before it is closed as too slow; also the cap on `replay=`",
    )
    max_buffer_bytes: int = Field(
        default=32 * 2**20,
        ge=2**20,
        description="bytes of read records the server holds for listeners that lag behind; "
        "past it the slowest listener is closed first",
    )
    max_listeners: int = Field(
        default=100, ge=1, description="listeners at once; more are refused with HTTP 503"
    )
    max_filters: int = Field(
        default=64,
        ge=0,
        description="distinct `symbol=` filters at once; a new one past it is refused (HTTP 503)",
    )
    wake_on_commit: bool = Field(
        default=True,
        description="Watch the results file's WAL (inotify) and read as soon as a commit lands; "
        "False reads every `sleep_time` only",
    )
    stats_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="seconds between `stats` status lines while anything changes",
    )
    exit_on_stdin_eof: bool = Field(
        default=False, description="Exit when stdin closes: the orchestrator has died."
    )

    @field_validator("uvicorn_kwargs")
    @classmethod
    def _check_uvicorn_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_UVICORN_KWARGS.intersection(value))
        if reserved:
            raise ValueError(
                f"uvicorn_kwargs may not set {', '.join(reserved)}: the broadcast server sets "
                "them itself (use host/port for the address)"
            )
        unknown = sorted(set(value) - UVICORN_PARAMETERS)
        if unknown:
            raise ValueError(f"uvicorn_kwargs has unknown uvicorn.Config arguments: {unknown}")
        return value

    @property
    def listen_host(self) -> str:
        return self.bind_host or self.host

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"


__all__ = [
    "API_KEY_ENV",
    "AUTH_TOKEN_ENV",
    "BROADCAST_CONFIG_ENV",
    "RESERVED_UVICORN_KWARGS",
    "UVICORN_PARAMETERS",
    "WORKER_CONFIG_ENV",
    "BroadcastConfig",
    "SymbolChange",
    "WorkerConfig",
]
