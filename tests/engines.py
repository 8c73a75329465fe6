"""Private Docker engines for tests: one to stop and start, and a single-node swarm.

`PrivateEngine` is a second `dockerd` with its own socket, data root, exec root (and so its
own containerd), started with the same network flags as the machine's engine (`--bridge=none
--iptables=false`), so stopping it never touches the engine the rest of the suite uses.
Containers on host networking share the machine's loopback, like those of the main engine.
The feeddock images are copied in from the main engine (`docker save | docker load`).

`SwarmEngine` runs such a dockerd inside a network namespace made for it, joined to the
machine's by a veth pair with two addresses the test chooses in 10.231.0.0/16 (a /30 that no
interface uses), and makes it a swarm manager advertising its end (`docker swarm init
--advertise-addr`). Its containers with host networking live in that namespace: they reach
the machine only at `host_address` (simulators listen there), and the machine reaches them at
`node_address`. Only those two addresses and loopback are used. Besides its unix socket the
engine listens with TLS (client certificates required) at `tls_url`, with a CA and server and
client certificates made for the run by `openssl` (`tls`: their paths), as a remote node's
engine would. Everything is removed after.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

ENGINE_READY_SECONDS = 60.0


class PrivateEngine:
    # A command the engine runs under (SwarmEngine: inside its network namespace).
    wrapper: tuple[str, ...] = ()

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
        flags += self.extra_flags()
        help_text = subprocess.run(["dockerd", "--help"], capture_output=True, text=True).stdout
        if "--ip6tables" in help_text:
            flags.append("--ip6tables=false")
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [*self.wrapper, "dockerd", *flags], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + ENGINE_READY_SECONDS
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the private dockerd did not start: {self.tail()}")
            time.sleep(0.2)

    def extra_flags(self) -> list[str]:
        return []

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


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def free_subnet() -> int:
    """An x for 10.231.x.0/30 that no interface of the machine has an address in."""
    used = ip("-o", "-4", "addr")
    choices = [x for x in range(256) if f"10.231.{x}." not in used]
    if not choices:
        raise AssertionError("no free /30 in 10.231.0.0/16")
    return random.choice(choices)


class SwarmEngine(PrivateEngine):
    """A single-node swarm in a network namespace of its own (see the module docstring)."""

    def __init__(self, images: list[str]) -> None:
        super().__init__(images)
        tag = uuid.uuid4().hex[:6]
        self.namespace = f"feeddock-swarm-{tag}"
        self.host_link, self.node_link = f"fdsw{tag}h", f"fdsw{tag}n"
        subnet = free_subnet()
        self.host_address, self.node_address = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
        self.wrapper = ("nsenter", f"--net=/var/run/netns/{self.namespace}")
        self.node_id = ""
        self.tls_url = f"tcp://{self.node_address}:2376"
        certificates = self.directory / "tls"
        self.tls = {
            "ca_cert": str(certificates / "ca.pem"),
            "client_cert": str(certificates / "client.pem"),
            "client_key": str(certificates / "client-key.pem"),
        }

    def extra_flags(self) -> list[str]:
        certificates = self.directory / "tls"
        make_certificates(certificates, self.node_address)
        return [
            "--tlsverify",
            f"--tlscacert={certificates / 'ca.pem'}",
            f"--tlscert={certificates / 'server.pem'}",
            f"--tlskey={certificates / 'server-key.pem'}",
            f"--host={self.tls_url}",
        ]

    def start(self) -> None:
        ip("netns", "add", self.namespace)
        ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.node_link,
           "netns", self.namespace)  # fmt: skip
        ip("addr", "add", f"{self.host_address}/30", "dev", self.host_link)
        ip("link", "set", self.host_link, "up")
        inside = ("-n", self.namespace)
        ip(*inside, "addr", "add", f"{self.node_address}/30", "dev", self.node_link)
        ip(*inside, "link", "set", self.node_link, "up")
        ip(*inside, "link", "set", "lo", "up")
        super().start()
        self.docker("swarm", "init", "--advertise-addr", self.node_address)
        self.node_id = self.docker("info", "--format", "{{.Swarm.NodeID}}").strip()

    def destroy(self) -> None:
        if self._process is not None:
            self.docker("swarm", "leave", "--force", check=False)
        super().destroy()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True, check=False)


def make_certificates(directory: Path, address: str) -> None:
    """A CA, a server certificate for `address` and a client certificate, valid for a day."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        done = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True)
        if done.returncode != 0:
            raise AssertionError(f"openssl {args[0]} failed: {done.stderr.strip()}")

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=feeddock test CA")  # fmt: skip
    extensions = {
        "server": [f"subjectAltName=IP:{address}", "extendedKeyUsage=serverAuth"],
        "client": ["extendedKeyUsage=clientAuth"],
    }
    for name, lines in extensions.items():
        (directory / f"{name}.ext").write_text("\n".join(lines) + "\n")
        openssl("req", *key, "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                "-subj", f"/CN=feeddock test {name}")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
                "-extfile", f"{name}.ext")  # fmt: skip


def swarm_available() -> str | None:
    """None when a swarm engine can be made here, else why not."""
    if not docker_daemon_available():
        return "a private dockerd needs the dockerd binary and root"
    missing = [tool for tool in ("ip", "nsenter", "openssl") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} missing (apt-get install iproute2 util-linux openssl)"
    return None
