"""Secrets compared in constant time, and the salted hash that stands in for a lost token.

A connection's `auth_token` is never stored in a label or a log. What travels with its
containers is `sha256:<salt>:<hex>` (record.py), enough for a new orchestrator process to check
a token presented later without ever having seen it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def secure_equal(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def hash_token(token: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256((salt + token).encode()).hexdigest()
    return f"sha256:{salt}:{digest}"


def token_hash_matches(stored: str, token: object) -> bool:
    if not isinstance(token, str):
        return False
    kind, _, rest = stored.partition(":")
    salt, _, _digest = rest.partition(":")
    if kind != "sha256" or not salt:
        return False
    return hmac.compare_digest(hash_token(token, salt), stored)


__all__ = ["hash_token", "secure_equal", "token_hash_matches"]
