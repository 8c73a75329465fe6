"""The Docker runtime: one container per worker. The only package that imports `docker`."""

from .engine import BUILD_COMMAND, Engine, ImageInfo, engine_answers, unavailable
from .handle import DockerHandle
from .runtime import DockerRuntime, Limits, container_name, run_as

__all__ = [
    "BUILD_COMMAND",
    "DockerHandle",
    "DockerRuntime",
    "Engine",
    "ImageInfo",
    "Limits",
    "container_name",
    "engine_answers",
    "run_as",
    "unavailable",
]
