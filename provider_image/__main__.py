"""`python -m provider_image`: run one provider worker configured from the environment."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from providers import UnknownProvider

from .config import WorkerConfig
from .report import Reporter
from .worker import EXIT_CONFIG, Worker


def main() -> int:
    reporter = Reporter("PROVIDER")
    try:
        config, api_key = WorkerConfig.from_env()
        worker = Worker(config, api_key, reporter)
    except (ValueError, ValidationError, UnknownProvider) as exc:
        reporter.error("config_error", f"Invalid worker configuration: {exc}")
        return EXIT_CONFIG
    return asyncio.run(worker.run())


if __name__ == "__main__":
    sys.exit(main())
