"""Worker configuration, read from the environment so no secret ever sits in argv."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CONFIG_ENV = "FEEDDOCK_CONFIG"
API_KEY_ENV = "FEEDDOCK_API_KEY"


class WorkerConfig(BaseModel):
    """What one provider worker needs. `params` are the provider's query parameters."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    params: dict[str, Any]
    symbols: list[str] | None = Field(
        default=None,
        description="Current subscriptions (user form); overrides params['symbol'] on restarts.",
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

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> tuple[WorkerConfig, str | None]:
        env = os.environ if environ is None else environ
        raw = env.get(CONFIG_ENV)
        if not raw:
            raise ValueError(f"{CONFIG_ENV} is not set: it must hold the worker's JSON config")
        return cls.model_validate_json(raw), env.get(API_KEY_ENV) or None
