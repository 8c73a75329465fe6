"""Turning bad arguments into `ParameterError`s that name the field and what it accepts."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from providers import Provider, UnknownProvider, WebSocketQueryParams, get_provider

from .errors import ParameterError, UnknownProviderError


def parameter_error(exc: ValidationError, model: type[WebSocketQueryParams]) -> ParameterError:
    """Turn pydantic's report into one message naming each bad field and what it accepts."""
    problems: list[str] = []
    first_field: str | None = None
    allowed: list[str] | None = None
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        first_field = first_field or field or None
        context = error.get("ctx") or {}
        if error["type"] == "extra_forbidden":
            names = ", ".join(sorted(model.model_fields))
            problems.append(f"unknown parameter {field!r}. Allowed parameters: {names}")
            continue
        if error["type"] == "missing":
            problems.append(f"{field!r} is required")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if allowed is None and context.get("allowed"):
            allowed = [str(item) for item in context["allowed"]]
        elif allowed is None and context.get("expected"):
            expected = str(context["expected"]).replace(" or ", ",")
            allowed = [item.strip(" '") for item in expected.split(",")]
        shown = error.get("input")
        shown_text = "" if shown is None or isinstance(shown, dict) else f" (got {shown!r})"
        if field:
            problems.append(f"{field!r} {message[0].lower() + message[1:]}{shown_text}")
        else:  # a check across several parameters: its message names them
            problems.append(message)
    return ParameterError(
        "Invalid parameters: " + "; ".join(problems) + ".", field=first_field, allowed=allowed
    )


def load_provider(name: object) -> Provider:
    if not isinstance(name, str):
        raise ParameterError("'provider' must be a string.", field="provider")
    try:
        return get_provider(name)
    except UnknownProvider as exc:
        raise UnknownProviderError(name, exc.available) from None


def validate_params(provider: Provider, arguments: dict[str, Any]) -> WebSocketQueryParams:
    try:
        return provider.params.model_validate(arguments)
    except ValidationError as exc:
        raise parameter_error(exc, provider.params) from None


def parse_json_object(field: str, value: dict[str, Any] | str | None) -> dict[str, Any] | None:
    """Accept a dict or a JSON object string (as the REST API and CLI pass them)."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value) if value.strip() else None
        except orjson.JSONDecodeError as exc:
            raise ParameterError(
                f"Invalid parameters: {field!r} is not valid JSON: {exc}.", field=field
            ) from None
        if parsed is None or isinstance(parsed, dict):
            return parsed
    raise ParameterError(
        f"Invalid parameters: {field!r} must be a dict or a JSON object string.", field=field
    )


def check_port(port: object) -> None:
    if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
        raise ParameterError(
            "Invalid parameters: 'port' must be an integer from 1 to 65535.", field="port"
        )


def check_symbol(symbol: object) -> None:
    if not isinstance(symbol, str) or not symbol.strip(" ,"):
        raise ParameterError(
            "Invalid parameters: 'symbol' must name at least one symbol, e.g. 'aapl,msft'.",
            field="symbol",
        )


__all__ = [
    "check_port",
    "check_symbol",
    "load_provider",
    "parameter_error",
    "parse_json_object",
    "validate_params",
]
