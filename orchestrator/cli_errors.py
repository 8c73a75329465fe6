"""How every `feeddock` command ends when something is refused: one line, one exit code.

The exit code depends only on the exception's class (the same classes the REST API maps to
HTTP statuses, and that the REST client raises again from a server's error body):

    0  success
    1  unexpected failure (a bug, or the server's 500 InternalError)
    2  bad input: usage, a bad parameter or symbol, an unknown provider
    3  no such connection
    4  auth: the connection's auth_token or the server's API key is missing or wrong
    5  conflict: name taken, wrong state, port in use, results file locked, server full
    6  the provider refused the credentials, or a worker failed or was not ready in time
    7  unavailable: no server or Docker engine answers, results file or disk unusable
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from .errors import (
    AuthTokenError,
    CapacityError,
    ConnectionExistsError,
    ConnectionNotFoundError,
    FeeddockError,
    ParameterError,
    PortInUseError,
    ProviderError,
    ResultsError,
    ResultsLockedError,
    RuntimeUnavailableError,
    StateError,
    SymbolError,
)

OK, FAILURE, BAD_INPUT, NOT_FOUND, AUTH, CONFLICT, PROVIDER, UNAVAILABLE = range(8)
# Looked up along the exception's class hierarchy: the most specific class wins.
EXIT_CODES: dict[type[FeeddockError], int] = {
    FeeddockError: FAILURE,
    ParameterError: BAD_INPUT,
    SymbolError: BAD_INPUT,
    ConnectionNotFoundError: NOT_FOUND,
    AuthTokenError: AUTH,
    ConnectionExistsError: CONFLICT,
    StateError: CONFLICT,
    PortInUseError: CONFLICT,
    ResultsLockedError: CONFLICT,
    CapacityError: CONFLICT,
    ProviderError: PROVIDER,
    ResultsError: UNAVAILABLE,
    RuntimeUnavailableError: UNAVAILABLE,
}
HELP = (
    "Exit codes: 0 ok, 1 unexpected failure, 2 bad input, 3 no such connection, 4 auth "
    "(token or API key), 5 conflict (name taken, wrong state, port in use, server full), "
    "6 provider or worker failed, 7 server, Docker or results file unavailable."
)
errors = Console(stderr=True, highlight=False)


def exit_code(exc: FeeddockError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return FAILURE


def fail(exc: FeeddockError, *, one_line: bool = True) -> typer.Exit:
    """Print `Error: <what was wrong>` on stderr; return the Exit to raise."""
    message = " ".join(str(exc).split()) if one_line else str(exc)
    errors.print(f"[bold red]Error:[/] {escape(message)}", markup=True, soft_wrap=True)
    return typer.Exit(code=exit_code(exc))


def warn(message: str) -> None:
    errors.print(f"[yellow]Warning:[/] {escape(message)}", markup=True, soft_wrap=True)


__all__ = ["EXIT_CODES", "HELP", "exit_code", "fail", "warn"]
