"""Re-adoption: a new orchestrator process takes over the workers an earlier one started.

Workers that outlive their orchestrator (Docker containers) carry their connection's record as
labels (record.py). Adoption groups this instance's surviving workers by connection and role,
rebuilds a `WebSocketClient` for each connection the registry does not know, and reports every
worker no record explains (unreadable labels, a second worker for a role, a broadcast whose
record disagrees with its provider's) with `docker` hints: a person decides about those.

Current subscriptions: the worker prints the full list (`symbols`) after every subscribe,
unsubscribe, ready and resubscribe, so adoption takes the latest such line of the provider's
output (the label, written at start, is the fallback).

Secrets come back only from where the runtime keeps them (`runtime.secrets`; the Docker
runtime keeps none): the provider credential for restarts, the listeners' token for the
broadcast server's. Otherwise the credential comes from the tenant's configuration
(`credentials`), and a connection that had one the successor cannot find asks for `api_key`
when it restarts. A token presented later that matches the record's hash is kept in memory
(client.accepts_token).

Only the runtime's tenant's workers are listed (runtime/base.py), so adoption and its orphan
reports never reach another tenant's containers.

Not recoverable: a connection with no worker at all (stopped and not broadcasting) has no
record left; its results file stays where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import SecretStr, ValidationError

from contract.config import API_KEY_ENV, AUTH_TOKEN_ENV
from contract.status import Level, parse_line
from providers import Provider, UnknownProvider, get_provider

from . import console
from .broadcast import BroadcastServer
from .client import WebSocketClient
from .monitor import FATAL_EVENTS
from .provider_worker import ProviderWorker
from .record import CONNECTION_LABEL, ROLE_LABEL, ConnectionRecord, RecordError
from .results import ResultsLocation
from .runtime import Runtime, SurvivingWorker
from .tokens import token_hash_matches

Unexplained = tuple[SurvivingWorker, str]
Credentials = Callable[[Provider], str | None]


class AdoptionError(Exception):
    pass


@dataclass
class Found:
    """One connection's surviving workers, by role."""

    name: str
    provider: SurvivingWorker | None = None
    broadcast: SurvivingWorker | None = None
    extra: list[SurvivingWorker] = field(default_factory=list)


def group(workers: Iterable[SurvivingWorker]) -> tuple[dict[str, Found], list[SurvivingWorker]]:
    found: dict[str, Found] = {}
    stray: list[SurvivingWorker] = []
    for worker in workers:
        name = worker.labels.get(CONNECTION_LABEL, "")
        role = worker.labels.get(ROLE_LABEL)
        if not name or role not in ("provider", "broadcast"):
            stray.append(worker)
            continue
        entry = found.setdefault(name, Found(name))
        if role == "provider" and entry.provider is None:
            entry.provider = worker
        elif role == "broadcast" and entry.broadcast is None:
            entry.broadcast = worker
        else:
            entry.extra.append(worker)
    return found, stray


def report(unexplained: Iterable[Unexplained]) -> None:
    for worker, reason in unexplained:
        console.show(
            f"feeddock WARNING: {worker.name} ({worker.id[:12]}) is not adopted: {reason}. "
            f"Inspect it with `docker logs {worker.name}`; remove it with "
            f"`docker rm -f {worker.name}`."
        )


def adopt(
    runtime: Runtime,
    known: dict[str, WebSocketClient],
    credentials: Credentials = Provider.credential_from_env,
) -> list[WebSocketClient]:
    """Clients for this instance's surviving workers that `known` does not hold."""
    found, stray = group(runtime.list_workers())
    unexplained: list[Unexplained] = [
        (worker, "its labels name no feeddock connection and role") for worker in stray
    ]
    adopted: list[WebSocketClient] = []
    for name, entry in sorted(found.items()):
        unexplained += [
            (worker, f"a second {worker.labels.get(ROLE_LABEL)} worker of {name!r}")
            for worker in entry.extra
        ]
        existing = known.get(name)
        if existing is not None:
            ours = {existing.provider_pid, existing.broadcast_pid}
            unexplained += [
                (worker, f"connection {name!r} already runs elsewhere here")
                for worker in (entry.provider, entry.broadcast)
                if worker is not None and worker.state.running and worker.id not in ours
            ]
            continue
        try:
            client, rejected = rebuild(runtime, entry, credentials)
        except AdoptionError as exc:
            unexplained += [(w, str(exc)) for w in (entry.provider, entry.broadcast) if w]
            continue
        unexplained += rejected
        adopted.append(client)
        running = "running" if client.is_running else "stopped"
        console.show(
            f"Adopted connection {name!r} ({client.provider.name}, {running}"
            + (f", broadcasting to {client.broadcast_address}" if client.is_broadcasting else "")
            + ")"
        )
    report(unexplained)
    return adopted


def _record(worker: SurvivingWorker) -> ConnectionRecord:
    try:
        return ConnectionRecord.from_labels(worker.labels)
    except RecordError as exc:
        raise AdoptionError(str(exc)) from None


def latest_symbols(lines: Iterable[str]) -> list[str] | None:
    """The subscriptions the worker last reported (`symbols` in its status lines)."""
    latest = None
    for line in lines:
        status = parse_line(line) if '"symbols"' in line else None
        if status is not None and isinstance(status.get("symbols"), str):
            latest = str(status.get("symbols"))
    return None if latest is None else [s for s in latest.split(",") if s]


def ended_for_good(lines: Sequence[str]) -> bool:
    """Whether the worker's output shows a final refusal (never retried)."""
    for line in lines:
        status = parse_line(line)
        if status is not None and status.event in FATAL_EVENTS:
            return True
    return False


def last_error(lines: Sequence[str], worker: SurvivingWorker) -> str | None:
    """Why a stopped worker stopped: its own last error line, else what the runtime says."""
    if worker.state.oom_killed:
        return worker.state.describe()
    message = None
    for line in lines:
        status = parse_line(line)
        if status is not None and status.level == Level.ERROR and status.message:
            message = status.message
    return message or worker.state.describe()


def rebuild(
    runtime: Runtime, entry: Found, credentials: Credentials = Provider.credential_from_env
) -> tuple[WebSocketClient, list[Unexplained]]:
    rejected: list[Unexplained] = []
    source = entry.provider or entry.broadcast
    assert source is not None
    record = _record(source)
    broadcast = entry.broadcast
    if entry.provider is not None and broadcast is not None:
        try:
            consistent = _record(broadcast).same_connection(record)
        except AdoptionError:
            consistent = False
        if not consistent:
            rejected.append((broadcast, "its record disagrees with its provider worker's"))
            broadcast = None
    try:
        provider = get_provider(record.provider)
    except UnknownProvider:
        raise AdoptionError(f"provider {record.provider!r} is not installed here") from None

    token = runtime.secrets(broadcast).get(AUTH_TOKEN_ENV) if broadcast else None
    if token and not (record.token_hash and token_hash_matches(record.token_hash, token)):
        token = None
    try:
        params = provider.params.model_validate(
            {**record.params, "auth_token": SecretStr(token) if token else None}
        )
    except ValidationError as exc:
        raise AdoptionError(f"its parameters no longer validate: {exc}") from None

    symbols = list(record.symbols)
    worker, error, api_key, final = None, None, None, False
    if entry.provider is not None:
        history = runtime.history(entry.provider)
        symbols = latest_symbols(history) or symbols
        api_key = runtime.secrets(entry.provider).get(API_KEY_ENV)
        if entry.provider.state.running:
            worker = ProviderWorker.adopt(runtime, entry.provider, record.name)
        else:
            error = last_error(history, entry.provider)
            final = ended_for_good(history)
    server = None
    if broadcast is not None and broadcast.state.running:
        server = BroadcastServer.adopt(runtime, broadcast)
    client = WebSocketClient(
        provider=provider,
        params=params,
        api_key=api_key or credentials(provider),
        runtime=runtime,
        location=ResultsLocation(
            record.results_file,
            params.table_name,
            temp_dir=record.temp_dir,
            created=record.results_created,
        ),
        token_hash=record.token_hash,
        symbols=symbols,
        worker=worker,
        broadcast=server,
        last_error=error,
        credential_lost=record.has_credential,
    )
    if entry.provider is None:
        client.restore_subscriptions()  # stopped on purpose: its last subscriptions
    if entry.provider is not None and not entry.provider.state.running:
        # feeddock removes the containers it stops, so this one ended on its own, unwatched:
        # supervision treats it as if it had just died.
        client.recover(error or "it stopped while no orchestrator watched", final=final)
    return client, rejected


__all__ = ["adopt", "group", "last_error", "latest_symbols", "rebuild"]
