"""The web dashboard at `/`: static files shipped in the package (orchestrator/dashboard/).

No build step and nothing from a CDN: one HTML page, one script, one stylesheet. The page holds
no data; its script reads the REST API with the key the user types (see dashboard.js).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent.parent / "dashboard"


def install_dashboard(app: FastAPI) -> None:
    """Serve the page at `/` and its assets under `/dashboard/`."""
    app.mount("/dashboard", StaticFiles(directory=ASSETS), name="dashboard")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(ASSETS / "index.html", headers={"Cache-Control": "no-cache"})


__all__ = ["ASSETS", "install_dashboard"]
