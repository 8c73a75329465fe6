"""`feeddock images build|list|remove`, on a test-only tag that the test removes."""

from __future__ import annotations

import subprocess
import uuid

from typer.testing import CliRunner

from orchestrator.cli_images import images_app

from ..conftest import need_docker
from .conftest import docker


def test_images_build_list_and_remove_a_tag():
    need_docker()
    tag = f"pytest-{uuid.uuid4().hex[:8]}"
    reference = f"feeddock-provider:{tag}"
    runner = CliRunner()
    try:
        built = runner.invoke(images_app, ["build", "--role", "provider", "--tag", tag])
        assert built.exit_code == 0, built.output
        assert "[images] docker build -t " + reference in built.output
        assert "Step 1/" in built.output  # progress is shown
        assert f"Built: {reference}" in built.output
        inspected = docker(
            "image", "inspect", "-f", "{{.Config.User}} {{.Config.StopSignal}}", reference
        )
        assert inspected.split() == ["10001:10001", "SIGTERM"]

        listed = runner.invoke(images_app, ["list"])
        assert listed.exit_code == 0 and "provider" in listed.output

        removed = runner.invoke(images_app, ["remove", reference])
        assert removed.exit_code == 0 and f"Removed {reference}" in removed.output
        again = runner.invoke(images_app, ["remove", reference])
        assert f"Not present: {reference}" in again.output
    finally:
        subprocess.run(["docker", "image", "rm", reference], capture_output=True, check=False)


def test_unknown_role_is_refused_with_the_allowed_values():
    result = CliRunner().invoke(images_app, ["build", "--role", "nope"])
    assert result.exit_code == 2
    assert "Allowed values: provider, broadcast" in result.output
