"""The Swarm runtime: each worker the task of a one-replica service (see runtime.py)."""

from .config import CONFIG_ENV, SwarmConfig
from .runtime import SwarmRuntime

__all__ = ["CONFIG_ENV", "SwarmConfig", "SwarmRuntime"]
