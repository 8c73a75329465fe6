"""Tenant ids: the unit of isolation on a shared engine.

A tenant scopes everything an orchestrator does: connection names (one registry per tenant),
container names and labels (`feeddock.tenant`), results roots, adoption and orphan reports.
The Python API takes it from FEEDDOCK_TENANT (default `default`); `feeddock serve` with a
tenants file runs one `WebSocketsAPI` per tenant.

FEEDDOCK_INSTANCE is narrower: it names one orchestrator among a tenant's orchestrators, and
decides which of the tenant's surviving workers an orchestrator re-adopts. Two instances of
one tenant share its connection names (a name running under one is refused to the other, which
may name that instance: it is the same tenant's); two tenants share nothing.
"""

from __future__ import annotations

import os
import re

from .errors import ParameterError

TENANT_ENV = "FEEDDOCK_TENANT"
DEFAULT_TENANT = "default"
# No `.`: container names use it to end the tenant (runtime/base.py worker_name).
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def check_tenant(value: object, *, field: str = "tenant") -> str:
    """`value` as a tenant id, or a ParameterError naming `field` and what is allowed."""
    if not isinstance(value, str) or not TENANT_PATTERN.match(value):
        raise ParameterError(
            f"Invalid tenant id {value!r} in {field}: use 1 to 40 letters, digits, '-' or '_'.",
            field=field,
        )
    return value


def tenant_from_env() -> str:
    return check_tenant(os.environ.get(TENANT_ENV) or DEFAULT_TENANT, field=TENANT_ENV)


__all__ = ["DEFAULT_TENANT", "TENANT_ENV", "TENANT_PATTERN", "check_tenant", "tenant_from_env"]
