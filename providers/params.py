"""Query parameters every provider accepts: the spec's standard ones, plus `url` and `api_key`."""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

TABLE_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
CONNECTION_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class WebSocketQueryParams(BaseModel):
    """Standard `create_connection` parameters (names, types and defaults as in the spec).

    Providers subclass this to add `symbol`, `asset_type`, `feed` and their own options.
    Unknown keyword arguments are refused, so a typo is reported instead of ignored.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    name: str = Field(description="Name to assign the connection; the handle for every other call.")
    auth_token: SecretStr | None = Field(
        default=None,
        description="When set, every later call and every broadcast listener must present it.",
    )
    results_file: str | None = Field(
        default=None,
        description="Absolute path of the SQLite results file. A temp file is created by default.",
    )
    save_results: bool = Field(
        default=False, description="Keep the results file after the connection is killed."
    )
    table_name: str = Field(default="records", description="SQL table that receives the records.")
    limit: int | None = Field(
        default=1000,
        ge=1,
        description="Newest records to keep in the table; None keeps every record.",
    )
    sleep_time: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="Seconds between the broadcast server's checks for new records.",
    )
    broadcast_host: str = Field(default="127.0.0.1", description="Broadcast server address.")
    broadcast_port: int = Field(default=6666, ge=1, le=65535, description="Broadcast server port.")
    start_broadcast: bool = Field(default=False, description="Start the broadcast server now.")
    restart_policy: Literal["on-failure", "no"] = Field(
        default="on-failure",
        description="Restart the provider worker and broadcast server when they stop "
        "unexpectedly ('on-failure'), or leave them stopped ('no').",
    )
    connect_kwargs: dict[str, Any] | None = Field(
        default=None,
        description="Keyword arguments for `websockets.connect()`; a dict or a JSON object string.",
    )
    url: str | None = Field(
        default=None,
        description="Connect here instead of the provider's endpoint (proxies, simulators).",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Provider credential; defaults to the environment variable <PROVIDER>_API_KEY.",
        exclude=True,
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not CONNECTION_NAME_PATTERN.match(value):
            raise ValueError(
                "must be 1-63 characters of letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("table_name")
    @classmethod
    def _check_table_name(cls, value: str) -> str:
        if not TABLE_NAME_PATTERN.match(value):
            raise ValueError(
                "must be a plain SQL identifier: a letter or '_' then letters, digits or '_'"
            )
        if value.lower().startswith("sqlite_"):
            raise ValueError("may not start with 'sqlite_': SQLite reserves those names")
        return value

    @field_validator("results_file")
    @classmethod
    def _check_results_file(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must be an absolute path")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("connect_kwargs", mode="before")
    @classmethod
    def _parse_connect_kwargs(cls, value: Any) -> Any:
        if value is None or isinstance(value, dict):
            return value
        if isinstance(value, str | bytes):
            if not value.strip():
                return None
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"is not valid JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object such as '{\"ping_interval\": 10}'")
            return parsed
        raise ValueError("must be a dict or a JSON object string")

    @field_validator("connect_kwargs")
    @classmethod
    def _check_connect_kwargs(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            orjson.dumps(value)
        except TypeError as exc:
            raise ValueError(f"must be JSON-serialisable: {exc}") from None
        return value

    def symbols(self) -> list[str]:
        """The `symbol` parameter split on commas, stripped, without duplicates."""
        raw = getattr(self, "symbol", "") or ""
        return split_symbols(raw)


def split_symbols(raw: str | list[str]) -> list[str]:
    """Split a comma-separated symbol string into unique, stripped, non-empty items."""
    items = raw if isinstance(raw, list) else raw.split(",")
    seen: dict[str, None] = {}
    for item in items:
        cleaned = item.strip()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)
