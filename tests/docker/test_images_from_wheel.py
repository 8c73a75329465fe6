"""`feeddock images build` from a wheel installed in a fresh venv outside the checkout.

The wheel is this tree's (scripts/wheelhouse.sh builds it into .cache/wheelhouse, with its
dependencies, which the fresh venv installs offline). From that venv, with no checkout in
sight, `feeddock images build` packs the installed version into both images (on this test's
own tag), and the demo streams on the Docker runtime with them. Everything is removed after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import SESSION_INSTANCE, need_docker
from ..helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"

pytestmark = pytest.mark.docker

DEMO = """
import json, sys
from pathlib import Path
import orchestrator
from orchestrator import obb
from orchestrator.rest.dashboard import ASSETS
from providers.demo.simulator import DemoSimulator
from websockets.sync.client import connect

port = int(sys.argv[1])
market = DemoSimulator(rate=100).start()
api = obb.websockets
status = api.create_connection(
    provider="demo", name="ops_wheel1", symbol="aapl", url=market.url,
    start_broadcast=True, broadcast_port=port,
).results
records = []
with connect(f"ws://127.0.0.1:{port}") as listener:
    while len(records) < 3:
        records += [json.loads(line) for line in str(listener.recv(timeout=30)).splitlines()]
api.kill("ops_wheel1")
market.stop()
print(json.dumps({
    "module": orchestrator.__file__,
    "runtime": api.runtime.name,
    "provider": status.provider_pid,
    "symbols": sorted({r["symbol"] for r in records}),
    "dashboard": sorted(p.name for p in ASSETS.iterdir()),
}))
"""


def run(*args: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> tuple[str, str]:
    """stdout and stderr of a command that must succeed."""
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, f"{args[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout, done.stderr


@pytest.fixture
def tag() -> Iterator[str]:
    need_docker()
    chosen = f"ops-wheel-{uuid.uuid4().hex[:8]}"
    yield chosen
    for role in ("provider", "broadcast"):
        subprocess.run(["docker", "rmi", f"feeddock-{role}:{chosen}"], capture_output=True)


def test_an_installed_wheel_builds_both_images_and_streams_the_demo(tmp_path: Path, tag: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDDOCK_", "VIRTUAL_ENV"))}
    base = (
        os.environ.get("FEEDDOCK_BASE_IMAGE")
        or run(str(ROOT / "scripts" / "base-image.sh"), cwd=ROOT, env=env)[0].split()[-1]
    )
    run("bash", str(ROOT / "scripts" / "wheelhouse.sh"), cwd=ROOT, env=env)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path, env=env)
    run(
        str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(WHEELHOUSE),
        "feeddock", cwd=tmp_path, env=env,
    )  # fmt: skip

    # Dependencies for the images come from the same wheelhouse (pip's PIP_FIND_LINKS).
    build_env = {
        **env,
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_NO_INDEX": "1",
        "FEEDDOCK_CACHE_DIR": str(tmp_path / "cache"),
    }
    output = "".join(
        run(
            str(venv / "bin" / "feeddock"), "images", "build", "--tag", tag, "--base-image", base,
            cwd=tmp_path, env=build_env,
        )
    )  # fmt: skip
    assert "[images] no source checkout: building from the installed feeddock" in output
    assert "feeddock-0.1.0-py3-none-any.whl: packed from the installed files" in output
    assert "Step 1/" in output  # docker build progress is shown
    assert f"Built: feeddock-provider:{tag}, feeddock-broadcast:{tag}" in output

    demo_env = {
        **env,
        "FEEDDOCK_RUNTIME": "docker",
        "FEEDDOCK_INSTANCE": SESSION_INSTANCE,
        "FEEDDOCK_PROVIDER_IMAGE": f"feeddock-provider:{tag}",
        "FEEDDOCK_BROADCAST_IMAGE": f"feeddock-broadcast:{tag}",
        "FEEDDOCK_QUIET": "1",
    }
    printed, _ = run(
        str(venv / "bin" / "python"), "-c", DEMO, str(free_port()), cwd=tmp_path, env=demo_env
    )
    result = json.loads(printed.strip().splitlines()[-1])
    assert result["module"].startswith(str(venv))  # the installed package, not the checkout
    assert result["runtime"] == "docker" and isinstance(result["provider"], str)
    assert result["symbols"] == ["AAPL"]
    assert result["dashboard"] == ["dashboard.css", "dashboard.js", "index.html"]  # package data
