"""Every error the REST API answers with: one table from exception class to HTTP status.

The body is always JSON, `{"error", "detail", "field", "allowed"}`; no message text decides a
status, and no request ends in a `500 text/plain`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..errors import (
    AuthTokenError,
    CapacityError,
    ConnectionExistsError,
    ConnectionNotFoundError,
    FeeddockError,
    ForbiddenError,
    ParameterError,
    PortInUseError,
    ProviderError,
    ResultsError,
    ResultsInUseError,
    ResultsLockedError,
    ResultsUnavailableError,
    RuntimeUnavailableError,
    StateError,
    StorageFullError,
    SymbolError,
    UnauthorizedError,
    UnknownProviderError,
    WorkerError,
    WrongAuthTokenError,
)

# Looked up along the exception's class hierarchy: the most specific class wins.
STATUS: dict[type[FeeddockError], int] = {
    FeeddockError: 500,
    ParameterError: 422,
    UnknownProviderError: 400,
    SymbolError: 400,
    AuthTokenError: 401,
    WrongAuthTokenError: 403,
    ForbiddenError: 403,
    ConnectionNotFoundError: 404,
    ConnectionExistsError: 409,
    StateError: 409,
    PortInUseError: 409,
    ResultsLockedError: 409,
    ResultsInUseError: 409,
    CapacityError: 429,
    ProviderError: 502,
    UnauthorizedError: 502,
    WorkerError: 502,
    ResultsError: 503,
    ResultsUnavailableError: 503,
    RuntimeUnavailableError: 503,
    StorageFullError: 507,
}
DOCUMENTED = sorted(set(STATUS.values()) - {500})


def status_for(exc: FeeddockError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


class ErrorBody(BaseModel):
    error: str = Field(description="Exception class, e.g. ParameterError.")
    detail: str = Field(description="What was wrong and what is allowed.")
    field: str | None = None
    allowed: list[str] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in DOCUMENTED
}


def error_response(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    body = ErrorBody(error=error, detail=detail, **extra)
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True))


async def feeddock_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FeeddockError)
    fields: dict[str, Any] = {}
    if isinstance(exc, ParameterError):
        fields = {"field": exc.field, "allowed": exc.allowed}
    return error_response(status_for(exc), type(exc).__name__, exc.message, **fields)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "header"))
        problems.append(f"{where or 'request'}: {error['msg']}")
    first = exc.errors()[0]["loc"][-1] if exc.errors() else None
    return error_response(
        422,
        "ParameterError",
        "Invalid parameters: " + "; ".join(problems) + ".",
        field=str(first) if first is not None else None,
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug, not a refusal: still JSON, with no traceback or internals in the body."""
    return error_response(
        500, "InternalError", f"The server failed unexpectedly ({type(exc).__name__})."
    )


__all__ = [
    "ERROR_RESPONSES",
    "STATUS",
    "ErrorBody",
    "error_response",
    "feeddock_error",
    "status_for",
    "unexpected_error",
    "validation_error",
]
