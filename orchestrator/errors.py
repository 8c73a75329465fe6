"""One exception tree for everything feeddock refuses or fails at.

    FeeddockError
    ├── ParameterError (ValueError)        a bad argument: names the field and what is allowed
    │   └── UnknownProviderError           lists the installed providers
    ├── ConnectionExistsError              the name is taken
    ├── ConnectionNotFoundError (LookupError)
    ├── AuthTokenError (PermissionError)   the connection's auth_token is missing
    │   ├── WrongAuthTokenError            ... or does not match
    │   └── ForbiddenError                 the caller's key may not do this at all
    ├── CapacityError                      a connection cap is reached
    ├── SymbolError                        a subscribe/unsubscribe the connection cannot apply
    ├── StateError                         the call does not fit the connection's state
    ├── PortInUseError                     the broadcast port is taken
    ├── ResultsError                       the results file cannot be read or changed
    │   ├── ResultsLockedError             another connection holds its lock
    │   │   └── ResultsInUseError          another connection writes it (any tenant)
    │   ├── StorageFullError               the disk holding it is full
    │   └── ResultsUnavailableError        it cannot be opened, or is damaged
    ├── ProviderError                      the provider side failed
    │   ├── UnauthorizedError              the provider refused the credentials
    │   └── WorkerError                    a worker exited or did not become ready
    └── RuntimeUnavailableError            the selected runtime (e.g. Docker) cannot be used

The exceptions carry no transport details: the REST layer maps each class to an HTTP status
in one table (orchestrator/rest/errors.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from contract.results import Problem
from contract.results import ResultsError as StoreError


class FeeddockError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ParameterError(FeeddockError, ValueError):
    def __init__(
        self, message: str, *, field: str | None = None, allowed: Sequence[str] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.allowed = list(allowed) if allowed is not None else None


class UnknownProviderError(ParameterError):
    def __init__(self, name: str, available: Sequence[str]) -> None:
        super().__init__(
            f"Unknown provider {name!r}. Available providers: {', '.join(available)}.",
            field="provider",
            allowed=available,
        )


class ConnectionExistsError(FeeddockError):
    pass


class ConnectionNotFoundError(FeeddockError, LookupError):
    pass


class AuthTokenError(FeeddockError, PermissionError):
    pass


class WrongAuthTokenError(AuthTokenError):
    pass


class ForbiddenError(AuthTokenError):
    pass


class CapacityError(FeeddockError):
    pass


class SymbolError(FeeddockError, ValueError):
    pass


class StateError(FeeddockError):
    pass


class PortInUseError(FeeddockError):
    pass


class ResultsError(FeeddockError):
    pass


class ResultsLockedError(ResultsError):
    pass


class ResultsInUseError(ResultsLockedError):
    pass


class StorageFullError(ResultsError):
    pass


class ResultsUnavailableError(ResultsError):
    pass


class ProviderError(FeeddockError):
    pass


class UnauthorizedError(ProviderError):
    pass


class WorkerError(ProviderError):
    pass


class RuntimeUnavailableError(FeeddockError):
    pass


def results_failure(exc: StoreError) -> ResultsError:
    """The exception for a results file problem (contract.results.ResultsError)."""
    if exc.problem is Problem.LOCKED:
        return ResultsLockedError(
            f"The results file {exc.path} is locked by another program; try again shortly "
            f"({exc.detail})."
        )
    if exc.problem is Problem.FULL:
        return StorageFullError(f"The disk holding {exc.path} is full ({exc.detail}).")
    return ResultsUnavailableError(f"The results file {exc.path} cannot be used: {exc.detail}.")


__all__ = [
    "AuthTokenError",
    "CapacityError",
    "ConnectionExistsError",
    "ConnectionNotFoundError",
    "FeeddockError",
    "ForbiddenError",
    "ParameterError",
    "PortInUseError",
    "ProviderError",
    "ResultsError",
    "ResultsInUseError",
    "ResultsLockedError",
    "ResultsUnavailableError",
    "RuntimeUnavailableError",
    "StateError",
    "StorageFullError",
    "SymbolError",
    "UnauthorizedError",
    "UnknownProviderError",
    "WorkerError",
    "WrongAuthTokenError",
    "results_failure",
]
