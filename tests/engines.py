"""A private Docker engine for tests that must stop and start an engine.

It is a second `dockerd` with its own socket, data root, exec root (and so its own
containerd), started with the same network flags as the machine's engine (`--bridge=none
--iptables=false`), so stopping it never touches the engine the rest of the suite uses.
Containers on host networking share the machine's loopback, like those of the main engine.
The feeddock images are copied in from the main engine (`docker save | docker load`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ENGINE_READY_SECONDS = 60.0


class PrivateEngine:
    def __init__(self, images: list[str]) -> None:
        self.images = images
        self.directory = Path(tempfile.mkdtemp(prefix="feeddock-engine-", dir="/var/tmp"))
        self.socket = self.directory / "docker.sock"
        self.url = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self.directory / "dockerd.log"

    def docker(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["docker", "-H", self.url, *args], capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        flags = [
            "--bridge=none",
            "--iptables=false",
            f"--data-root={self.directory / 'root'}",
            f"--exec-root={self.directory / 'exec'}",
            f"--pidfile={self.directory / 'docker.pid'}",
            f"--host={self.url}",
        ]
        help_text = subprocess.run(["dockerd", "--help"], capture_output=True, text=True).stdout
        if "--ip6tables" in help_text:
            flags.append("--ip6tables=false")
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                ["dockerd", *flags], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + ENGINE_READY_SECONDS
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the private dockerd did not start: {self.tail()}")
            time.sleep(0.2)

    def answers(self) -> bool:
        probe = ["docker", "-H", self.url, "version", "--format", "{{.Server.Version}}"]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    def load_images(self) -> None:
        saved = subprocess.Popen(["docker", "save", *self.images], stdout=subprocess.PIPE)
        assert saved.stdout is not None
        loaded = subprocess.run(
            ["docker", "-H", self.url, "load"], stdin=saved.stdout, capture_output=True
        )
        saved.stdout.close()  # a load that stopped early must not leave save blocked
        saved.wait()
        if loaded.returncode != 0 or saved.returncode != 0:
            raise AssertionError(f"loading images failed: {loaded.stderr.decode()[-500:]}")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops an engine: it stops its containers first."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def destroy(self) -> None:
        """Remove every container, stop the engine and delete its directories."""
        if self._process is not None:
            ids = self.docker("ps", "-aq", check=False).split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            self.stop()
        # An engine that died uncleanly can leave mounts under its data root.
        mounts = Path("/proc/mounts").read_text().splitlines()
        for line in reversed(mounts):
            target = line.split()[1]
            if target.startswith(str(self.directory)):
                subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def docker_daemon_available() -> bool:
    return shutil.which("dockerd") is not None and os.geteuid() == 0
