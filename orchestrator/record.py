"""A connection's record: what a new orchestrator process needs to take it over.

Docker connections outlive the process that created them, so the record travels with the
containers, as labels (the only place label names are spelled):

    feeddock.connection / .role / .orchestrator   set by the runtime for every worker
    feeddock.tenant                               set by the runtime for every worker; a
                                                  worker without it (made before tenants
                                                  existed) belongs to the `default` tenant
    feeddock.provider, feeddock.results_file      provider name, results path
    feeddock.params                               query parameters as JSON, without secrets
    feeddock.symbols                              subscriptions when the container started
    feeddock.temp_dir                             the temp directory feeddock created, if any
    feeddock.results_created                      "1" when feeddock created the results file
    feeddock.auth_token_hash                      sha256:<salt>:<hex>; never the token itself
    feeddock.credential                           "1" when the provider worker was given a
                                                  credential (never the credential itself)
    feeddock.broadcast_address                    ws://host:port (broadcast containers)
    feeddock.broadcast_config                     its configuration, to restart it (no secret)
    feeddock.schema                               the version of this encoding
    feeddock.network                              on a Docker network feeddock created: the
                                                  tenant it was created for
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .tenant import DEFAULT_TENANT

CONNECTION_LABEL = "feeddock.connection"
ROLE_LABEL = "feeddock.role"
INSTANCE_LABEL = "feeddock.orchestrator"
TENANT_LABEL = "feeddock.tenant"
CREDENTIAL_LABEL = "feeddock.credential"
NETWORK_LABEL = "feeddock.network"
PROVIDER_LABEL = "feeddock.provider"
RESULTS_LABEL = "feeddock.results_file"
PARAMS_LABEL = "feeddock.params"
SYMBOLS_LABEL = "feeddock.symbols"
TEMP_DIR_LABEL = "feeddock.temp_dir"
CREATED_LABEL = "feeddock.results_created"
TOKEN_HASH_LABEL = "feeddock.auth_token_hash"
ADDRESS_LABEL = "feeddock.broadcast_address"
CONFIG_LABEL = "feeddock.broadcast_config"
SCHEMA_LABEL = "feeddock.schema"
IMAGE_LABEL = "feeddock.image"
SCHEMA = "1"


def tenant_of(labels: dict[str, str]) -> str:
    """The tenant a worker belongs to (workers from before tenants existed: `default`)."""
    return labels.get(TENANT_LABEL) or DEFAULT_TENANT


class RecordError(ValueError):
    """Labels that do not hold a readable connection record."""


@dataclass(frozen=True)
class ConnectionRecord:
    name: str
    provider: str
    params: dict[str, Any]
    symbols: tuple[str, ...]
    results_file: str
    temp_dir: str | None = None
    token_hash: str | None = None
    # Whether feeddock created the results file (it never deletes one the user brought).
    results_created: bool = False
    # Whether the provider worker had a credential: a successor that cannot recover it asks.
    has_credential: bool = False

    def labels(self) -> dict[str, str]:
        labels = {
            SCHEMA_LABEL: SCHEMA,
            CONNECTION_LABEL: self.name,
            PROVIDER_LABEL: self.provider,
            RESULTS_LABEL: self.results_file,
            PARAMS_LABEL: orjson.dumps(self.params).decode(),
            SYMBOLS_LABEL: ",".join(self.symbols),
        }
        if self.temp_dir:
            labels[TEMP_DIR_LABEL] = self.temp_dir
        labels[CREATED_LABEL] = "1" if self.results_created else "0"
        if self.token_hash:
            labels[TOKEN_HASH_LABEL] = self.token_hash
        if self.has_credential:
            labels[CREDENTIAL_LABEL] = "1"
        return labels

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> ConnectionRecord:
        if labels.get(SCHEMA_LABEL) != SCHEMA:
            raise RecordError(f"record schema {labels.get(SCHEMA_LABEL)!r} is not {SCHEMA!r}")
        try:
            params = orjson.loads(labels[PARAMS_LABEL])
            name, provider = labels[CONNECTION_LABEL], labels[PROVIDER_LABEL]
            results_file = labels[RESULTS_LABEL]
        except (KeyError, orjson.JSONDecodeError) as exc:
            raise RecordError(f"unreadable connection record ({exc})") from None
        if not isinstance(params, dict):
            raise RecordError("unreadable connection record (params is not an object)")
        symbols = tuple(s for s in labels.get(SYMBOLS_LABEL, "").split(",") if s)
        return cls(
            name=name,
            provider=provider,
            params=params,
            symbols=symbols,
            results_file=results_file,
            temp_dir=labels.get(TEMP_DIR_LABEL) or None,
            token_hash=labels.get(TOKEN_HASH_LABEL) or None,
            # Records from before this label: only a temp file is known to be ours.
            results_created=labels.get(CREATED_LABEL) == "1" or bool(labels.get(TEMP_DIR_LABEL)),
            has_credential=labels.get(CREDENTIAL_LABEL) == "1",
        )

    def same_connection(self, other: ConnectionRecord) -> bool:
        """Both describe one connection (symbols may differ: they change while it runs)."""
        return (self.name, self.provider, self.params, self.results_file) == (
            other.name,
            other.provider,
            other.params,
            other.results_file,
        )


__all__ = [
    "ADDRESS_LABEL",
    "CONFIG_LABEL",
    "CONNECTION_LABEL",
    "CREATED_LABEL",
    "CREDENTIAL_LABEL",
    "IMAGE_LABEL",
    "INSTANCE_LABEL",
    "NETWORK_LABEL",
    "PARAMS_LABEL",
    "PROVIDER_LABEL",
    "RESULTS_LABEL",
    "ROLE_LABEL",
    "SCHEMA",
    "SCHEMA_LABEL",
    "SYMBOLS_LABEL",
    "TEMP_DIR_LABEL",
    "TENANT_LABEL",
    "TOKEN_HASH_LABEL",
    "ConnectionRecord",
    "RecordError",
    "tenant_of",
]
