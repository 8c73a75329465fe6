"""The tenants file (FEEDDOCK_TENANTS_FILE): keys, quotas and settings of each tenant.

    [server]                              # optional
    results_root = "/var/lib/feeddock"    # a tenant's results root defaults to <this>/<id>
    allow_url = true                      # may callers give `url` (default for every tenant)

    [admin]                               # optional
    api_key_sha256 = "<64 hex>"           # reads every tenant's status, kills any connection

    [tenants.alpha]
    api_key_sha256 = ["<64 hex>", "<64 hex>"]  # SHA-256 of each key: the file holds no key
    max_connections = 10                  # 429 past it (default 100)
    providers = ["demo", "polygon"]       # allowed providers (default: every installed one)
    memory = "256m"                       # per container, Docker runtime (default: the env's)
    cpus = 0.5
    pids = 128
    results_root = "/var/lib/feeddock/alpha"
    network = "feeddock-alpha"            # its containers join this Docker network
    allow_url = false

    [tenants.alpha.credentials]           # so callers need not send api_key
    polygon = { env = "ALPHA_POLYGON_KEY" }
    fmp = { file = "/run/secrets/alpha_fmp" }
    demo = "the key itself"

A file that does not parse, or breaks a rule, is refused with its line and field named
(`TenantsFileError`). Two tenants (or a tenant and the admin) may not share a key, and no
tenant's results root may contain another's.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from providers import Provider, available_providers

from ..errors import ParameterError
from ..results import RESULTS_ROOT_ENV
from ..runtime import RuntimeOptions
from ..tenant import TENANT_PATTERN

DEFAULT_BASE_ROOT = "/var/lib/feeddock"
HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
MEMORY = re.compile(r"^[0-9]+[bkmgBKMG]?$")
NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TenantsFileError(ParameterError):
    """The tenants file is malformed; the message names its line and field."""


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _digests(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) and HEX_DIGEST.match(i) for i in items):
        raise ValueError("must be a SHA-256 hex digest (64 hex digits) or a non-empty list of them")
    return tuple(i.lower() for i in items)


def _check_providers(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(available_providers()))
    if unknown:
        raise ValueError(
            f"names unknown providers {', '.join(unknown)}; installed providers: "
            f"{', '.join(available_providers())}"
        )
    return names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    results_root: str | None = None
    allow_url: bool = True


class AdminConfig(_Strict):
    api_key_sha256: tuple[str, ...]

    @field_validator("api_key_sha256", mode="before")
    @classmethod
    def _key_digests(cls, value: Any) -> tuple[str, ...]:
        return _digests(value)


class TenantConfig(_Strict):
    api_key_sha256: tuple[str, ...]
    max_connections: int = Field(default=100, ge=0)
    providers: list[str] | None = None
    memory: str | None = None
    cpus: float | None = Field(default=None, gt=0)
    pids: int | None = Field(default=None, ge=1)
    results_root: str | None = None
    network: str | None = None
    allow_url: bool | None = None
    credentials: dict[str, Any] = Field(default_factory=dict)

    @field_validator("api_key_sha256", mode="before")
    @classmethod
    def _key_digests(cls, value: Any) -> tuple[str, ...]:
        return _digests(value)

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_providers(value)

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not MEMORY.match(value):
            raise ValueError("must be a size such as '256m', '1g' or a number of bytes")
        return value

    @field_validator("network")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        if value is not None and not NETWORK_NAME.match(value):
            raise ValueError("must be a Docker network name (letters, digits, '_', '.', '-')")
        return value

    @field_validator("results_root")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_absolute():
            raise ValueError("must be an absolute path")
        return value


class TenantsFile(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    admin: AdminConfig | None = None
    tenants: dict[str, TenantConfig]


@dataclass(frozen=True)
class TenantSpec:
    """One tenant as the server runs it (defaults filled in)."""

    id: str
    digests: frozenset[str]
    max_connections: int
    providers: list[str] | None
    results_root: str
    allow_url: bool
    options: RuntimeOptions
    credentials: dict[str, Any]

    def credential(self, provider: Provider) -> str | None:
        """The tenant's credential for `provider`, read now (env and files may change)."""
        source = self.credentials.get(provider.name)
        if source is None or isinstance(source, str):
            return source
        kind, where = next(iter(source.items()))
        try:
            value = os.environ[where] if kind == "env" else Path(where).read_text()
        except (KeyError, OSError):
            raise ParameterError(
                f"This tenant's credential for {provider.name} is configured but cannot be "
                "read on the server; give api_key, or ask the server's operator.",
                field="api_key",
            ) from None
        return value.strip() or None


@dataclass(frozen=True)
class Tenants:
    """The whole file: every tenant, and the admin's key digests."""

    tenants: dict[str, TenantSpec]
    admin: frozenset[str]


# -- reading --------------------------------------------------------------------------------


def credential_problem(source: Any) -> str | None:
    """What is wrong with one `credentials` entry, or None."""
    if isinstance(source, str) and source:
        return None
    if isinstance(source, dict) and len(source) == 1:
        ((kind, where),) = source.items()
        if kind == "env" and isinstance(where, str) and ENV_NAME.match(where):
            return None
        if kind == "file" and isinstance(where, str) and Path(where).is_absolute():
            return None
    return 'must be the credential, { env = "NAME" } or { file = "/absolute/path" }'


def _key_path(raw: str) -> list[str]:
    """A TOML dotted key or table name as its parts (quoted parts may hold dots)."""
    parts, current, quote = [], "", ""
    for char in raw.strip():
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def line_of(text: str, loc: tuple[str, ...]) -> int | None:
    """The line of `text` that sets `loc` (or the closest enclosing key or table)."""
    header: list[str] = []
    best: tuple[int, int] | None = None  # (matched length, line)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            header = _key_path(stripped.strip("[]"))
            path = header
        elif "=" in stripped:
            path = header + _key_path(stripped.split("=", 1)[0])
        else:
            continue
        if tuple(path) == loc[: len(path)] and (best is None or len(path) > best[0]):
            best = (len(path), number)
    return None if best is None else best[1]


def _fail(path: Path, text: str, loc: tuple[str, ...], message: str) -> TenantsFileError:
    line = line_of(text, loc)
    field = ".".join(loc)
    where = f"{path}, line {line}" if line else str(path)
    return TenantsFileError(f"Tenants file {where}: {field}: {message}.", field=field)


def _parsed(path: Path, text: str) -> TenantsFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TenantsFileError(
            f"Tenants file {path}: not valid TOML: {exc}.", field="tenants file"
        ) from None
    try:
        return TenantsFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        raise _fail(path, text, loc, message) from None


def load_tenants(path: str | Path) -> Tenants:
    """Read and check the tenants file; `TenantsFileError` names the line and field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TenantsFileError(
            f"Cannot read the tenants file {path}: {exc.strerror}.", field="FEEDDOCK_TENANTS_FILE"
        ) from None
    parsed = _parsed(path, text)
    if not parsed.tenants:
        raise _fail(path, text, ("tenants",), "name at least one tenant ([tenants.<id>])")
    base = parsed.server.results_root or os.environ.get(RESULTS_ROOT_ENV) or DEFAULT_BASE_ROOT
    owners: dict[str, tuple[str, ...]] = {}
    if parsed.admin is not None:
        owners.update(dict.fromkeys(parsed.admin.api_key_sha256, ("admin", "api_key_sha256")))
    specs: dict[str, TenantSpec] = {}
    for tenant_id, config in parsed.tenants.items():
        here = ("tenants", tenant_id)
        if not TENANT_PATTERN.match(tenant_id):
            raise _fail(path, text, here, "a tenant id is 1 to 40 letters, digits, '-' or '_'")
        for provider, source in config.credentials.items():
            where = (*here, "credentials", provider)
            if provider not in available_providers():
                raise _fail(path, text, where, "not an installed provider")
            problem = credential_problem(source)
            if problem is not None:
                raise _fail(path, text, where, problem)
        for digest in config.api_key_sha256:
            if digest in owners:
                other = ".".join(owners[digest][:-1])
                raise _fail(path, text, (*here, "api_key_sha256"), f"same key as {other}")
            owners[digest] = (*here, "api_key_sha256")
        specs[tenant_id] = TenantSpec(
            id=tenant_id,
            digests=frozenset(config.api_key_sha256),
            max_connections=config.max_connections,
            providers=config.providers,
            results_root=str(Path(config.results_root or Path(base) / tenant_id).resolve()),
            allow_url=parsed.server.allow_url if config.allow_url is None else config.allow_url,
            options=RuntimeOptions(
                network=config.network, memory=config.memory, cpus=config.cpus, pids=config.pids
            ),
            credentials=dict(config.credentials),
        )
    for outer in specs.values():
        for inner in specs.values():
            root, nested = Path(outer.results_root), Path(inner.results_root)
            if inner.id != outer.id and (root == nested or root in nested.parents):
                raise _fail(
                    path,
                    text,
                    ("tenants", inner.id, "results_root"),
                    f"{nested} is inside tenant {outer.id}'s results root {root}",
                )
    admin = parsed.admin.api_key_sha256 if parsed.admin is not None else ()
    return Tenants(tenants=specs, admin=frozenset(admin))


__all__ = [
    "TenantSpec",
    "Tenants",
    "TenantsFileError",
    "key_digest",
    "line_of",
    "load_tenants",
]
