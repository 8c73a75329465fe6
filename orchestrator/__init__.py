"""feeddock orchestrator: the Python API, REST API, CLI and runtimes.

from orchestrator import obb
conn = obb.websockets.create_connection(provider="demo", name="demo", symbol="aapl")
"""

from .api import WebSocketsAPI, obb
from .client import WebSocketClient
from .errors import (
    AuthTokenError,
    ConnectionExistsError,
    ConnectionNotFoundError,
    FeeddockError,
    ParameterError,
    PortInUseError,
    ProviderError,
    RuntimeUnavailableError,
    StateError,
    SymbolError,
    UnauthorizedError,
    UnknownProviderError,
    WorkerError,
)
from .listen import alisten, listen
from .models import OBBject, WebSocketConnectionStatus

__all__ = [
    "AuthTokenError",
    "ConnectionExistsError",
    "ConnectionNotFoundError",
    "FeeddockError",
    "OBBject",
    "ParameterError",
    "PortInUseError",
    "ProviderError",
    "RuntimeUnavailableError",
    "StateError",
    "SymbolError",
    "UnauthorizedError",
    "UnknownProviderError",
    "WebSocketClient",
    "WebSocketConnectionStatus",
    "WebSocketsAPI",
    "WorkerError",
    "alisten",
    "listen",
    "obb",
]
