"""One exception tree for everything feeddock refuses or fails at.

    FeeddockError
    ├── ParameterError (ValueError)        a bad argument: names the field and what is allowed
    │   └── UnknownProviderError           lists the installed providers
    ├── ConnectionExistsError              the name is taken
    ├── ConnectionNotFoundError (LookupError)
    ├── AuthTokenError (PermissionError)   the connection's auth_token is missing or wrong
    ├── SymbolError                        a subscribe/unsubscribe the connection cannot apply
    ├── StateError                         the call does not fit the connection's state
    ├── PortInUseError                     the broadcast port is taken
    ├── ProviderError                      the provider side failed
    │   ├── UnauthorizedError              the provider refused the credentials
    │   └── WorkerError                    a worker exited or did not become ready
    └── RuntimeUnavailableError            the selected runtime (e.g. Docker) cannot be used

Each translates to one HTTP status in the REST API (`http_status`).
"""

from __future__ import annotations

from collections.abc import Sequence


class FeeddockError(Exception):
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ParameterError(FeeddockError, ValueError):
    http_status = 422

    def __init__(
        self, message: str, *, field: str | None = None, allowed: Sequence[str] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.allowed = list(allowed) if allowed is not None else None


class UnknownProviderError(ParameterError):
    http_status = 400

    def __init__(self, name: str, available: Sequence[str]) -> None:
        super().__init__(
            f"Unknown provider {name!r}. Available providers: {', '.join(available)}.",
            field="provider",
            allowed=available,
        )


class ConnectionExistsError(FeeddockError):
    http_status = 409


class ConnectionNotFoundError(FeeddockError, LookupError):
    http_status = 404


class AuthTokenError(FeeddockError, PermissionError):
    http_status = 401


class SymbolError(FeeddockError, ValueError):
    http_status = 400


class StateError(FeeddockError):
    http_status = 409


class PortInUseError(FeeddockError):
    http_status = 409


class ProviderError(FeeddockError):
    http_status = 502


class UnauthorizedError(ProviderError):
    http_status = 502


class WorkerError(ProviderError):
    http_status = 502


class RuntimeUnavailableError(FeeddockError):
    http_status = 503


__all__ = [
    "AuthTokenError",
    "ConnectionExistsError",
    "ConnectionNotFoundError",
    "FeeddockError",
    "ParameterError",
    "PortInUseError",
    "ProviderError",
    "RuntimeUnavailableError",
    "StateError",
    "SymbolError",
    "UnauthorizedError",
    "UnknownProviderError",
    "WorkerError",
]
