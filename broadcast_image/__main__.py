"""`python -m broadcast_image`: serve one results table to listeners, configured from the env."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from contract.config import AUTH_TOKEN_ENV, BroadcastConfig
from contract.secrets import load_secrets
from contract.status import Reporter

from .server import EXIT_CONFIG, run


def main() -> int:
    reporter = Reporter("BROADCAST")
    try:
        config = BroadcastConfig.from_env()
        token = load_secrets((AUTH_TOKEN_ENV,)).get(AUTH_TOKEN_ENV)
    except (ValueError, ValidationError) as exc:
        reporter.error("config_error", f"Invalid broadcast configuration: {exc}")
        return EXIT_CONFIG
    return asyncio.run(run(config, token, reporter))


if __name__ == "__main__":
    sys.exit(main())
