"""`python -m provider_image`: run one provider worker configured from the environment."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from contract.config import API_KEY_ENV, WorkerConfig
from contract.lock import hold
from contract.secrets import load_secrets
from contract.status import Reporter
from providers import UnknownProvider

from .worker import EXIT_CONFIG, Worker

EXIT_RESULTS_IN_USE = 7


def main() -> int:
    reporter = Reporter("PROVIDER")
    try:
        config = WorkerConfig.from_env()
        api_key = load_secrets((API_KEY_ENV,)).get(API_KEY_ENV)  # before anything else
        # Held until the process ends: no other connection writes this file meanwhile.
        if hold(config.results_file) is None:
            reporter.error(
                "results_in_use",
                f"The results file {config.results_file} is in use by another connection.",
            )
            return EXIT_RESULTS_IN_USE
        worker = Worker(config, api_key, reporter)
    except (OSError, ValueError, ValidationError, UnknownProvider) as exc:
        reporter.error("config_error", f"Invalid worker configuration: {exc}")
        return EXIT_CONFIG
    return asyncio.run(worker.run())


if __name__ == "__main__":
    sys.exit(main())
