"""`python -m broadcast_image`: serve one results table to listeners, configured from the env."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from provider_image.report import Reporter

from .config import BroadcastConfig
from .server import EXIT_CONFIG, run


def main() -> int:
    reporter = Reporter("BROADCAST")
    try:
        config, token = BroadcastConfig.from_env()
    except (ValueError, ValidationError) as exc:
        reporter.error("config_error", f"Invalid broadcast configuration: {exc}")
        return EXIT_CONFIG
    return asyncio.run(run(config, token, reporter))


if __name__ == "__main__":
    sys.exit(main())
