"""The REST API (`feeddock serve`): FastAPI over the Python API."""

from .app import PREFIX, create_app
from .settings import SAFE_CONNECT_KWARGS, Settings

__all__ = ["PREFIX", "SAFE_CONNECT_KWARGS", "Settings", "create_app"]
