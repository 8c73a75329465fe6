"""A small client for a running `feeddock serve`: what the CLI uses with `--server`.

Each method is one REST call and returns the response body as plain JSON. A refusal comes back
as the server's error body `{"error", "detail", "field", "allowed"}`; `error` is the name of
the exception class that refused (orchestrator/errors.py), so the client raises that same
class here and the CLI treats a remote refusal exactly like a local one. A server that cannot
be reached raises `RuntimeUnavailableError`, naming the address.
"""

from __future__ import annotations

from typing import Any

import httpx

from . import errors
from .errors import FeeddockError, ParameterError, RuntimeUnavailableError

PREFIX = "/api/v1/websockets"
# Creating and restarting wait for the provider (FEEDDOCK_CONNECT_TIMEOUT, 30 s by default).
TIMEOUT = httpx.Timeout(10.0, read=120.0)


class ServerError(FeeddockError):
    """The server failed unexpectedly (its 500 InternalError), or answered something else."""


def refusal(response: httpx.Response) -> FeeddockError:
    """The exception a server's error response stands for."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return ServerError(f"The server answered {response.status_code}: {response.text[:200]}")
    name, detail = body["error"], str(body.get("detail") or body["error"])
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, ParameterError):
        if cls is errors.UnknownProviderError:  # its constructor builds the message itself
            return ParameterError(detail, field="provider", allowed=body.get("allowed"))
        return cls(detail, field=body.get("field"), allowed=body.get("allowed"))
    if isinstance(cls, type) and issubclass(cls, FeeddockError):
        return cls(detail)
    return ServerError(detail)


class RestClient:
    """Calls one feeddock server; `api_key` goes in X-API-Key, `auth_token` in X-Auth-Token."""

    def __init__(
        self, server: str, *, api_key: str | None = None, auth_token: str | None = None
    ) -> None:
        self.server = server.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        if auth_token:
            headers["X-Auth-Token"] = auth_token
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = self._http.request(method, path, **options)
        except httpx.InvalidURL as exc:
            raise ParameterError(
                f"Invalid server address {self.server!r}: {exc}.", field="server"
            ) from None
        except httpx.HTTPError as exc:
            raise RuntimeUnavailableError(
                f"Cannot reach the feeddock server at {self.server}: {exc or type(exc).__name__}."
            ) from None
        if response.status_code >= 400:
            raise refusal(response)
        try:
            return response.json()
        except ValueError:
            raise ServerError(f"The server at {self.server} did not answer JSON.") from None

    def _get(self, endpoint: str, **params: Any) -> Any:
        return self.request("GET", f"{PREFIX}/{endpoint}", params=_present(params))

    def _post(self, endpoint: str, **params: Any) -> Any:
        return self.request("POST", f"{PREFIX}/{endpoint}", params=_present(params))

    # -- the spec's endpoints -----------------------------------------------------------------

    def create_connection(self, body: dict[str, Any]) -> Any:
        return self.request("POST", f"{PREFIX}/create_connection", json=body)

    def get_client_status(self, name: str = "all") -> Any:
        return self._get("get_client_status", name=name)

    def get_results(self, name: str) -> Any:
        return self._get("get_results", name=name)

    def subscribe(self, name: str, symbol: str) -> Any:
        return self._post("subscribe", name=name, symbol=symbol)

    def unsubscribe(self, name: str, symbol: str) -> Any:
        return self._post("unsubscribe", name=name, symbol=symbol)

    def stop_connection(self, name: str) -> Any:
        return self._post("stop_connection", name=name)

    def restart_connection(self, name: str) -> Any:
        return self._post("restart_connection", name=name)

    def start_broadcasting(self, name: str, host: str | None, port: int | None) -> Any:
        return self._post("start_broadcasting", name=name, host=host, port=port)

    def stop_broadcasting(self, name: str) -> Any:
        return self._post("stop_broadcasting", name=name)

    def kill(self, name: str) -> Any:
        return self._post("kill", name=name)

    # -- feeddock's own -----------------------------------------------------------------------

    def logs(self, name: str, role: str, tail: int | None, after: int | None) -> Any:
        return self._get("logs", name=name, role=role, tail=tail, after=after)


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


__all__ = ["RestClient", "ServerError", "refusal"]
