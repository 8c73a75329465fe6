"""Where workers' status lines are shown to the user (stderr by default).

Lines go through the `feeddock` logger, so an application can redirect or silence them with
the standard `logging` configuration; FEEDDOCK_QUIET=1 silences the default handler.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger("feeddock")


def _install_default_handler() -> None:
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def show(line: str, level: int = logging.INFO) -> None:
    """Show one human-readable status line."""
    if os.environ.get("FEEDDOCK_QUIET", "").lower() in ("1", "true", "yes"):
        return
    _install_default_handler()
    logger.log(level, line)
