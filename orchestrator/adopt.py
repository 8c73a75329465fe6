"""Re-adoption: a new orchestrator process takes over the containers an earlier one started.

Docker connections outlive the orchestrator process (that is the point of the Docker runtime),
so the connection's record travels with its containers, as labels:

    feeddock.connection / .role / .orchestrator   set by the runtime
    feeddock.provider, feeddock.results_file      provider name, results path
    feeddock.params                               query parameters as JSON, without secrets
    feeddock.symbols                              subscriptions when the container started
    feeddock.temp_dir                             the temp directory feeddock created, if any
    feeddock.auth_token_hash                      sha256:<salt>:<hex>; never the token itself

Both the provider and the broadcast container carry the record, so a connection whose provider
is stopped but which still broadcasts is adopted too. Secrets are read back from the container
environment only where they already are: the provider's API key (for restarts) and the
broadcast's auth token. A token presented later that matches the hash is kept in memory.

Current subscriptions: the worker prints the full list (`symbols`) after every subscribe,
unsubscribe, ready and resubscribe, so adoption takes the latest such line from the provider
container's logs (the label is the fallback). Subscriptions changed after adoption go to the
client as usual and are used by the next restart.

Containers no record explains (unreadable labels, a second container for a role, a broadcast
container whose record disagrees with its provider's) are reported with `docker rm -f` hints
and left alone: a person decides.

Not recoverable: a connection with no container at all (stopped and not broadcasting) has no
record left; its results file stays where it was.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from pydantic import SecretStr, ValidationError

from contract.config import API_KEY_ENV
from contract.status import Level, parse_line
from providers import UnknownProvider, get_provider

from . import console
from .broadcast import AUTH_TOKEN_ENV, BROADCAST_CONFIG_ENV, Broadcast
from .monitor import WorkerMonitor
from .runtime import LaunchSpec, Runtime, WorkerHandle

if TYPE_CHECKING:
    from .client import WebSocketClient
    from .registry import Registry
    from .runtime.docker import ContainerInfo, DockerRuntime

PROVIDER_LABEL = "feeddock.provider"
RESULTS_LABEL = "feeddock.results_file"
PARAMS_LABEL = "feeddock.params"
SYMBOLS_LABEL = "feeddock.symbols"
TEMP_DIR_LABEL = "feeddock.temp_dir"
TOKEN_HASH_LABEL = "feeddock.auth_token_hash"
SCHEMA_LABEL = "feeddock.schema"
SCHEMA = "1"
SYMBOL_EVENTS = frozenset({"ready", "resubscribed", "subscribe", "unsubscribe"})


# -- the record ---------------------------------------------------------------------------


def hash_token(token: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256((salt + token).encode()).hexdigest()
    return f"sha256:{salt}:{digest}"


def token_hash_matches(stored: str, token: str) -> bool:
    kind, _, rest = stored.partition(":")
    salt, _, _digest = rest.partition(":")
    if kind != "sha256" or not salt:
        return False
    return hmac.compare_digest(hash_token(token, salt), stored)


def record_labels(client: WebSocketClient) -> dict[str, str]:
    """The non-secret record of a connection, stored on each of its containers."""
    params = client.params.model_dump(mode="json", exclude={"api_key", "auth_token"})
    labels = {
        SCHEMA_LABEL: SCHEMA,
        PROVIDER_LABEL: client.provider.name,
        RESULTS_LABEL: client.results_file,
        PARAMS_LABEL: orjson.dumps(params).decode(),
        SYMBOLS_LABEL: client.symbol,
    }
    if client.location.temp_dir:
        labels[TEMP_DIR_LABEL] = client.location.temp_dir
    token_hash = client.auth_token_hash
    if token_hash is None and client.params.auth_token is not None:
        token_hash = hash_token(client.params.auth_token.get_secret_value())
        client.auth_token_hash = token_hash
    if token_hash:
        labels[TOKEN_HASH_LABEL] = token_hash
    return labels


@dataclass
class LabelledRuntime:
    """A runtime that adds the connection's record labels to every worker it starts."""

    inner: Runtime
    labels: dict[str, str]
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    def start(self, spec: LaunchSpec) -> WorkerHandle:
        return self.inner.start(
            LaunchSpec(
                role=spec.role,
                connection=spec.connection,
                env=spec.env,
                results_dir=spec.results_dir,
                labels={**self.labels, **spec.labels},
            )
        )

    def close(self) -> None:
        self.inner.close()


def adopted_token_matches(client: WebSocketClient, auth_token: str | None) -> bool:
    """Token check for a connection whose token is known only by its hash."""
    stored = client.auth_token_hash
    if stored is None:
        return True
    if not isinstance(auth_token, str) or not token_hash_matches(stored, auth_token):
        return False
    # The caller proved it knows the token: keep it for the broadcast server's restarts.
    client.params = client.params.model_copy(update={"auth_token": SecretStr(auth_token)})
    return True


# -- adoption -----------------------------------------------------------------------------


class Adopter(Protocol):
    """What adoption needs from a runtime (the Docker runtime has it)."""

    def list_containers(self, connection: str | None = None) -> list[ContainerInfo]: ...


class AdoptionError(Exception):
    pass


@dataclass
class Found:
    """One connection's containers, by role."""

    name: str
    provider: ContainerInfo | None = None
    broadcast: ContainerInfo | None = None
    extra: list[ContainerInfo] = field(default_factory=list)


def group(containers: Iterable[ContainerInfo]) -> tuple[dict[str, Found], list[ContainerInfo]]:
    found: dict[str, Found] = {}
    stray: list[ContainerInfo] = []
    for info in containers:
        name = info.labels.get("feeddock.connection", "")
        role = info.labels.get("feeddock.role")
        if not name or role not in ("provider", "broadcast"):
            stray.append(info)
            continue
        entry = found.setdefault(name, Found(name))
        if getattr(entry, role) is None:
            setattr(entry, role, info)
        else:
            entry.extra.append(info)
    return found, stray


def report(containers: Iterable[tuple[ContainerInfo, str]]) -> None:
    for info, reason in containers:
        console.show(
            f"feeddock WARNING: container {info.name} ({info.id[:12]}) is not adopted: {reason}. "
            f"Inspect it with `docker logs {info.name}`; remove it with `docker rm -f {info.name}`."
        )


def adopt(registry: Registry, runtime: Runtime) -> list[str]:
    """Rebuild clients for this instance's containers that the registry does not know."""
    if not hasattr(runtime, "list_containers"):
        return []
    docker_runtime: DockerRuntime = runtime  # type: ignore[assignment]
    found, stray = group(docker_runtime.list_containers())
    unexplained = [(info, "its labels name no feeddock connection and role") for info in stray]
    adopted: list[str] = []
    known = {client.name: client for client in registry.all()}
    for name, entry in sorted(found.items()):
        unexplained += [(info, f"a second {info.labels.get('feeddock.role')} container of {name!r}")
                        for info in entry.extra]  # fmt: skip
        existing = known.get(name)
        if existing is not None:
            ours = {existing.provider_pid, existing.broadcast_pid}
            for info in (entry.provider, entry.broadcast):
                if info is not None and info.running and info.id not in ours:
                    unexplained.append((info, f"connection {name!r} already runs elsewhere here"))
            continue
        try:
            client, rejected = rebuild(docker_runtime, entry)
        except AdoptionError as exc:
            unexplained += [(info, str(exc)) for info in (entry.provider, entry.broadcast) if info]
            continue
        unexplained += rejected
        registry.add(client)
        adopted.append(name)
        running = "running" if client.is_running else "stopped"
        console.show(
            f"Adopted connection {name!r} ({client.provider.name}, {running}"
            + (f", broadcasting to {client.broadcast_address}" if client.is_broadcasting else "")
            + ")"
        )
    report(unexplained)
    return adopted


def _record(info: ContainerInfo) -> tuple[str, dict[str, Any]]:
    labels = info.labels
    if labels.get(SCHEMA_LABEL) != SCHEMA:
        raise AdoptionError(f"record schema {labels.get(SCHEMA_LABEL)!r} is not {SCHEMA!r}")
    try:
        params = orjson.loads(labels[PARAMS_LABEL])
        return labels[PROVIDER_LABEL], params
    except (KeyError, orjson.JSONDecodeError) as exc:
        raise AdoptionError(f"unreadable connection record ({exc})") from None


def latest_symbols(lines: Iterable[str]) -> str | None:
    """The subscriptions the worker last reported (`symbols` in its status lines)."""
    latest = None
    for line in lines:
        if '"symbols"' not in line:
            continue
        event = parse_line(line)
        if event and event.get("event") in SYMBOL_EVENTS and isinstance(event.get("symbols"), str):
            latest = event["symbols"]
    return latest


def last_error(lines: Iterable[str], info: ContainerInfo) -> str | None:
    message = None
    for line in lines:
        event = parse_line(line)
        if event and event.level == Level.ERROR and event.message:
            message = event.message
    if info.oom_killed:
        return "the container ran out of memory (raise FEEDDOCK_DOCKER_MEMORY)"
    if message:
        return message
    if info.error:
        return info.error
    if info.exit_code not in (None, 0):
        return f"worker exited with code {info.exit_code}"
    return None


def rebuild(
    runtime: DockerRuntime, entry: Found
) -> tuple[WebSocketClient, list[tuple[ContainerInfo, str]]]:
    from .client import ResultsLocation, WebSocketClient

    rejected: list[tuple[ContainerInfo, str]] = []
    source = entry.provider or entry.broadcast
    assert source is not None
    provider_name, params_json = _record(source)
    broadcast = entry.broadcast
    if entry.provider is not None and broadcast is not None:
        try:
            consistent = _record(broadcast) == (provider_name, params_json) and (
                broadcast.labels.get(RESULTS_LABEL) == source.labels.get(RESULTS_LABEL)
            )
        except AdoptionError:
            consistent = False
        if not consistent:
            rejected.append((broadcast, "its record disagrees with its provider container's"))
            broadcast = None
    try:
        provider = get_provider(provider_name)
    except UnknownProvider:
        raise AdoptionError(f"provider {provider_name!r} is not installed here") from None

    api_key = None
    if entry.provider is not None:
        api_key = runtime.environment(entry.provider.id).get(API_KEY_ENV) or None
    token = None
    broadcast_env: dict[str, str] = {}
    if broadcast is not None:
        broadcast_env = runtime.environment(broadcast.id)
        token = broadcast_env.get(AUTH_TOKEN_ENV) or None
    token_hash = source.labels.get(TOKEN_HASH_LABEL)
    if token and token_hash and not token_hash_matches(token_hash, token):
        token = None
    try:
        params = provider.params.model_validate({**params_json, "auth_token": token})
    except ValidationError as exc:
        raise AdoptionError(f"its parameters no longer validate: {exc}") from None
    location = ResultsLocation(source.labels[RESULTS_LABEL], source.labels.get(TEMP_DIR_LABEL))
    client = WebSocketClient(
        provider=provider,
        params=params,
        api_key=api_key or provider.credential_from_env(),
        runtime=runtime,
        location=location,
    )
    client.auth_token_hash = token_hash
    now = time.time()

    symbols = source.labels.get(SYMBOLS_LABEL, "")
    handle: WorkerHandle | None = None
    monitor: WorkerMonitor | None = None
    if entry.provider is not None:
        provider_handle = runtime.adopt(entry.provider.id, entry.provider.name, since=now)
        history = provider_handle.history()
        symbols = latest_symbols(history) or symbols
        monitor = WorkerMonitor(provider_handle)
        monitor.ready = entry.provider.running
        if not entry.provider.running:
            monitor.last_error = last_error(history, entry.provider)
        monitor.start()
        handle = provider_handle
    adopted_broadcast = None
    if broadcast is not None:
        broadcast_handle = runtime.adopt(broadcast.id, broadcast.name, since=now)
        address = _broadcast_address(broadcast_env)
        broadcast_monitor = WorkerMonitor(broadcast_handle).start()
        adopted_broadcast = Broadcast(broadcast_handle, broadcast_monitor, address)
    client.adopt_workers(
        symbols=[s for s in symbols.split(",") if s],
        handle=handle,
        monitor=monitor,
        broadcast=adopted_broadcast,
    )
    return client, rejected


def _broadcast_address(env: dict[str, str]) -> str:
    try:
        config = orjson.loads(env.get(BROADCAST_CONFIG_ENV) or "{}")
    except orjson.JSONDecodeError:
        config = {}
    host = str(config.get("host") or "127.0.0.1")
    host = f"[{host}]" if ":" in host else host
    return f"ws://{host}:{config.get('port') or 6666}"


__all__ = [
    "LabelledRuntime",
    "adopt",
    "adopted_token_matches",
    "hash_token",
    "latest_symbols",
    "record_labels",
    "token_hash_matches",
]
