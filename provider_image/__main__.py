"""`python -m provider_image`: run one provider worker configured from the environment."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from contract.config import API_KEY_ENV, WorkerConfig, worker_secret
from contract.status import Reporter
from providers import UnknownProvider

from .worker import EXIT_CONFIG, Worker


def main() -> int:
    reporter = Reporter("PROVIDER")
    try:
        config = WorkerConfig.from_env()
        api_key = worker_secret(None, API_KEY_ENV)
        worker = Worker(config, api_key, reporter)
    except (ValueError, ValidationError, UnknownProvider) as exc:
        reporter.error("config_error", f"Invalid worker configuration: {exc}")
        return EXIT_CONFIG
    return asyncio.run(worker.run())


if __name__ == "__main__":
    sys.exit(main())
