"""Where the CLI's connection commands act: a running `feeddock serve`, or the local engine.

    --server URL (FEEDDOCK_SERVER)  -> Remote: the REST API (rest_client.py)
    no server                       -> Local: the Python API over the Docker runtime

Local works because Docker connections outlive the process that created them: each command
builds a fresh `WebSocketsAPI`, which re-adopts this instance's containers (FEEDDOCK_INSTANCE)
by their labels, acts, and lets go of them when it exits. The process runtime cannot serve a
command line: its workers are children of the process that started them and end with it, so a
connection created by one `feeddock` command would be gone before the next. Without Docker,
run `feeddock serve` and use `--server`.

Both backends answer in the REST API's JSON shapes (a status is a dict), so the commands print
one thing one way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, Protocol

import orjson

from .errors import ConnectionNotFoundError, ParameterError, RuntimeUnavailableError
from .record import CONNECTION_LABEL, ROLE_LABEL
from .rest_client import RestClient
from .runtime import RUNTIME_ENV

FOLLOW_POLL_SECONDS = 0.5
NO_SERVER_HINT = "or give --server URL (FEEDDOCK_SERVER) of a running `feeddock serve`"
PROCESS_RUNTIME_REFUSAL = (
    "FEEDDOCK_RUNTIME=process cannot serve the command line: process workers end with the "
    "command that started them. Run `feeddock serve` and give its address with --server "
    "(FEEDDOCK_SERVER), or use the Docker runtime."
)
SIMULATOR_REFUSAL = (
    "The {provider} market's built-in simulator runs inside the process that creates the "
    "connection, and this command exits at once. Give --url of a simulator you run yourself "
    "(python -m {module} --port 8765), or create it through a server (--server)."
)

Answer = dict[str, Any]  # the OBBject as JSON: results, warnings, ...
Status = dict[str, Any]


class Backend(Protocol):
    where: str

    def statuses(self, name: str = "all") -> list[Status]: ...

    def create(self, provider: str, name: str, params: dict[str, Any]) -> Answer: ...

    def act(self, action: str, name: str, **params: Any) -> Answer:
        """subscribe, unsubscribe, stop_connection, restart_connection, start_broadcasting,
        stop_broadcasting or kill, with the REST API's parameters."""

    def results(self, name: str, tail: int | None) -> list[dict[str, Any]]: ...

    def logs(self, name: str, role: str, tail: int | None, follow: bool) -> Iterator[str]: ...

    def close(self) -> None: ...


class Remote:
    """A running `feeddock serve`."""

    def __init__(self, server: str, api_key: str | None, auth_token: str | None) -> None:
        self.client = RestClient(server, api_key=api_key, auth_token=auth_token)
        self.where = f"server {self.client.server}"

    def statuses(self, name: str = "all") -> list[Status]:
        return list(self.client.get_client_status(name)["results"])

    def create(self, provider: str, name: str, params: dict[str, Any]) -> Answer:
        answer: Answer = self.client.create_connection(
            {"provider": provider, "name": name, **params}
        )
        return answer

    def act(self, action: str, name: str, **params: Any) -> Answer:
        answer: Answer = getattr(self.client, action)(name, **params)
        return answer

    def results(self, name: str, tail: int | None) -> list[dict[str, Any]]:
        # The API returns every stored record (at most `limit`, 1000 by default).
        records = list(self.client.get_results(name)["results"])
        return records[-tail:] if tail else records

    def logs(self, name: str, role: str, tail: int | None, follow: bool) -> Iterator[str]:
        answer = self.client.logs(name, role, tail, None)
        yield from answer["lines"]
        while follow:
            time.sleep(FOLLOW_POLL_SECONDS)  # the REST API has no push: poll for new lines
            answer = self.client.logs(name, role, None, answer["next"])
            yield from answer["lines"]

    def close(self) -> None:
        self.client.close()


class Local:
    """The Python API over this machine's Docker engine (connections re-adopted by label)."""

    def __init__(self, auth_token: str | None) -> None:
        from .api import WebSocketsAPI  # lazily: a remote command needs none of this

        if (os.environ.get(RUNTIME_ENV) or "auto").strip().lower() == "process":
            raise RuntimeUnavailableError(PROCESS_RUNTIME_REFUSAL)
        from .runtime.docker import DockerRuntime

        runtime = DockerRuntime()
        try:
            runtime.connect()
        except RuntimeUnavailableError as exc:
            raise RuntimeUnavailableError(f"{exc} ({NO_SERVER_HINT})") from None
        # Adoption and the adopted workers' lines would otherwise be echoed on every command.
        os.environ["FEEDDOCK_QUIET"] = "1"
        self.runtime = runtime
        self.api = WebSocketsAPI(runtime=runtime)
        self.token = auth_token
        self.where = f"Docker engine, instance {runtime.instance!r}"

    def statuses(self, name: str = "all") -> list[Status]:
        found = self.api.get_client_status(name, self.token).results
        rows = []
        for status in found:
            row = status.model_dump(mode="json")
            if "last_error" not in row:  # until the status carries it itself
                row["last_error"] = self.api.get_client(status.name, self.token).results.last_error
            rows.append(row)
        return rows

    def create(self, provider: str, name: str, params: dict[str, Any]) -> Answer:
        from .validation import load_provider

        spec = load_provider(provider)
        if spec.simulated_by_default and not params.get("url"):
            raise ParameterError(
                SIMULATOR_REFUSAL.format(provider=provider, module=spec.simulator),
                field="url",
            )
        return _plain(self.api.create_connection(provider, name, **params))

    def act(self, action: str, name: str, **params: Any) -> Answer:
        method = getattr(self.api, action)
        return _plain(method(name, auth_token=self.token, **params))

    def results(self, name: str, tail: int | None) -> list[dict[str, Any]]:
        location = self.api.results_location(name, self.token)
        return [orjson.loads(message) for message in location.messages(last=tail or None)]

    def logs(self, name: str, role: str, tail: int | None, follow: bool) -> Iterator[str]:
        self.api.get_client(name, self.token)  # the connection exists and the token opens it
        workers = [
            w
            for w in self.runtime.list_workers()
            if w.labels.get(CONNECTION_LABEL) == name and w.labels.get(ROLE_LABEL) == role
        ]
        if not workers:
            raise ConnectionNotFoundError(f"Connection {name!r} has no {role} container.")
        api: Any = self.runtime.engine.api
        stream = api.logs(
            workers[0].id, stream=True, follow=follow, tail="all" if tail is None else tail
        )
        pending = b""
        for chunk in stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Let go of the adopted containers; they keep running (exit hooks do the same)."""
        self.api.close_at_exit()
        self.runtime.close()


def _plain(answer: Any) -> Answer:
    results = answer.results
    if hasattr(results, "model_dump"):
        results = results.model_dump(mode="json")
    return {"results": results, "warnings": answer.warnings, "provider": answer.provider}


def open_backend(server: str | None, api_key: str | None, auth_token: str | None) -> Backend:
    if server:
        return Remote(server, api_key, auth_token)
    return Local(auth_token)


__all__ = ["Backend", "Local", "Remote", "open_backend"]
