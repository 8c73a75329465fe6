"""What each worker is told at start: JSON in one environment variable, secrets apart.

The orchestrator builds these models and puts `model_dump_json()` in the worker's environment;
the worker reads them back with `from_env()`. No secret ever goes in argv, labels or the JSON:
the provider credential and the listeners' token travel apart, as contract/secrets.py says.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

WORKER_CONFIG_ENV = "FEEDDOCK_CONFIG"
MIB = 2**20
# The provider worker's frame limit (websockets' max_size) unless connect_kwargs sets one.
DEFAULT_MAX_SIZE = 16 * MIB
DEFAULT_BUFFER_BYTES = 32 * MIB
MIN_BUFFER_BYTES = 1 * MIB
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


@functools.cache
def uvicorn_parameters() -> frozenset[str]:
    """uvicorn.Config's arguments. Imported on first use: the provider worker never needs
    uvicorn, and importing it cost a fifth of the worker's start-up (~60 ms of ~350 ms)."""
    import uvicorn

    return frozenset(inspect.signature(uvicorn.Config.__init__).parameters) - {"self"}


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
    buffer_bytes: int = Field(
        default=DEFAULT_BUFFER_BYTES,
        ge=MIN_BUFFER_BYTES,
        description="Bytes of records waiting for the writer before the worker stops reading "
        "the socket (see worker_memory_limit for the container memory this needs).",
    )
    max_backlog_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="The worker stops reading while its oldest uncommitted record is older: "
        "records are committed within about twice this, and a kill -9 loses about that much.",
    )
    stall_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds the worker stops reading for a writer that makes no progress; "
        "past that it reads again and drops the oldest buffered records (counted, reported). "
        "Keep it under the connection's ping timeout (20 s), or the provider link is lost.",
    )
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
        default=0.25,
        gt=0,
        le=60,
        description="longest wait (seconds) between a commit and its read",
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
        unknown = sorted(set(value) - uvicorn_parameters())
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


# Memory of a provider worker, measured with bench/worker_memory.py (demo provider, process
# runtime): peak RSS of a worker whose writer is blocked, holding a full buffer, when one frame
# just under max_size arrives. Idle: 41 MiB. Peak (buffer MiB, max_size MiB -> MiB):
# (8, 16) -> 88, (32, 16) -> 110, (64, 16) -> 145, (32, 4) -> 89, i.e. about
# 50 MiB + 1.0 x buffer + 1.8 x max_size. The factors below round those up; a protocol whose
# frames are arrays of messages must declare `arrays_are_batches` for the frame term to hold
# (a frame parsed whole takes ~6x its size, its record models ~20x).
WORKER_BASE_BYTES = 56 * MIB
# A container is also charged for the page cache of the file it writes: what was written since
# the last checkpoint (the writer drops the clean pages of the database and of the WAL after
# each one, about every second). Measured in a container under a flood of ~80,000 records/s:
# <= 41 MiB.
PAGE_CACHE_BYTES = 48 * MIB
BUFFER_FACTOR = 1.1  # resident bytes per byte of `buffer_bytes` (rows, chunks, allocator)
FRAME_FACTOR = 3.0  # resident bytes per byte of `max_size` (socket reads, frame copies)
HEADROOM = 1.25


def worker_memory_limit(
    buffer_bytes: int = DEFAULT_BUFFER_BYTES, max_size: int = DEFAULT_MAX_SIZE
) -> int:
    """The container memory limit (bytes) under which no input within `max_size` can get a
    provider worker OOM-killed: the measured peak for this buffer and frame bound, plus
    HEADROOM, rounded up to a MiB. Defaults: the worker's defaults.
    """
    if buffer_bytes < MIN_BUFFER_BYTES or max_size < 1:
        raise ValueError(
            f"buffer_bytes must be >= {MIN_BUFFER_BYTES} and max_size >= 1 "
            f"(got {buffer_bytes}, {max_size})"
        )
    fixed = WORKER_BASE_BYTES + PAGE_CACHE_BYTES
    need = fixed + BUFFER_FACTOR * buffer_bytes + FRAME_FACTOR * max_size
    return math.ceil(need * HEADROOM / MIB) * MIB


__all__ = [
    "API_KEY_ENV",
    "AUTH_TOKEN_ENV",
    "BROADCAST_CONFIG_ENV",
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_MAX_SIZE",
    "MIB",
    "MIN_BUFFER_BYTES",
    "RESERVED_UVICORN_KWARGS",
    "WORKER_CONFIG_ENV",
    "BroadcastConfig",
    "SymbolChange",
    "WorkerConfig",
    "worker_memory_limit",
]
