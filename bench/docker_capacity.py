"""Docker density: create_connection latency and what each connection costs, 100 to 400.

Every connection is a real provider container (Docker runtime, host network) streaming one
symbol at 1 message/s from one demo-market simulator (a process of its own, so its CPU is not
counted as ours); every other connection also runs a broadcast server. The ramp adds
connections up to each step (100, 200, 300, 400 by default), timing every create_connection,
then lets them settle and measures over `--window` seconds:

- CPU per connection, in % of one core, split by who spends it: the provider and broadcast
  containers (their cgroups), the engine (dockerd, containerd and every container's shim;
  less what dockerd and containerd spent before the ramp, for other users of the engine),
  and the orchestrator (this process: the runtime's threads);
- memory per connection: the containers as `docker stats` counts it (usage less inactive
  file cache) plus the shims' own memory;
- records flowing: every connection's results table grew during the window, and a listener
  connected to every broadcast server received a record;
- the whole machine's busy CPU over the window, which also holds what no process is charged
  for (the kernel's journal and block work for the workers' fsyncs, interrupts) and anything
  else running.

It stops early when a create fails or when the machine has less than 2 GiB of memory left.
Everything it starts carries feeddock.orchestrator=<bench instance> and is removed at the end,
whatever happened (results files included). Run it on a quiet machine (the load is printed).

    python bench/docker_capacity.py                          # 100, 200, 300, 400
    python bench/docker_capacity.py --steps 10,20 --window 10 --settle 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FEEDDOCK_QUIET", "1")

from orchestrator import FeeddockError, WebSocketsAPI  # noqa: E402
from orchestrator.registry import Registry  # noqa: E402
from orchestrator.runtime.docker import DockerRuntime  # noqa: E402

CLOCK = os.sysconf("SC_CLK_TCK")
MIN_AVAILABLE_BYTES = 2 << 30
MiB = 1 << 20


# -- what the machine spends ---------------------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cgroup_dir(controller: str, container: str) -> Path | None:
    """The container's cgroup directory (cgroup v1 or v2, cgroupfs or systemd driver)."""
    for candidate in (
        Path(f"/sys/fs/cgroup/{controller}/docker/{container}"),
        Path(f"/sys/fs/cgroup/{controller}/system.slice/docker-{container}.scope"),
        Path(f"/sys/fs/cgroup/docker/{container}"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope"),
    ):
        if candidate.is_dir():
            return candidate
    return None


def container_cpu_seconds(container: str) -> float:
    directory = cgroup_dir("cpuacct", container)
    if directory is None:
        return 0.0
    usage = _read(directory / "cpuacct.usage")
    if usage is not None:
        return int(usage) / 1e9
    for line in (_read(directory / "cpu.stat") or "").splitlines():  # cgroup v2
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    return 0.0


def container_memory_bytes(container: str) -> int:
    """As `docker stats` counts it: usage less the inactive file cache."""
    directory = cgroup_dir("memory", container)
    if directory is None:
        return 0
    usage = _read(directory / "memory.usage_in_bytes") or _read(directory / "memory.current")
    stats = dict(
        line.split() for line in (_read(directory / "memory.stat") or "").splitlines() if line
    )
    inactive = int(stats.get("total_inactive_file", stats.get("inactive_file", 0)))
    return max(0, int(usage or 0) - inactive)


def process_cpu_seconds(pid: int) -> float:
    """User + system time of a process and of its children it waited for (runc, for shims)."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return 0.0
    fields = stat.rsplit(") ", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / CLOCK


def process_anon_bytes(pid: int) -> int:
    for line in (_read(Path(f"/proc/{pid}/status")) or "").splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def engine_processes() -> dict[str, list[int]]:
    """dockerd, containerd, and the shim of every container (by container id)."""
    found: dict[str, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = (_read(Path(f"/proc/{entry}/cmdline")) or "").split("\0")
        program = os.path.basename(argv[0]) if argv else ""
        if program == "containerd-shim-runc-v2" and "-id" in argv:
            found.setdefault(argv[argv.index("-id") + 1], []).append(int(entry))
        elif program in ("dockerd", "containerd"):
            found.setdefault(program, []).append(int(entry))
    return found


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent not idle (kernel threads and interrupts included)."""
    fields = [int(v) for v in (_read(Path("/proc/stat")) or "cpu 0").splitlines()[0].split()[1:]]
    idle = sum(fields[3:5])  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK


@dataclass
class Sample:
    at: float
    containers: dict[str, float]
    processes: dict[str, float]
    machine: float


def sample(containers: list[str], processes: dict[str, list[int]]) -> Sample:
    return Sample(
        time.monotonic(),
        {c: container_cpu_seconds(c) for c in containers},
        {key: sum(process_cpu_seconds(p) for p in pids) for key, pids in processes.items()},
        machine_busy_seconds(),
    )


# -- the connections -----------------------------------------------------------------------


@dataclass
class Connection:
    name: str
    results_file: str
    provider: str
    broadcast: str | None = None
    address: str | None = None


@dataclass
class Ramp:
    api: WebSocketsAPI
    market: str
    prefix: str
    connections: list[Connection] = field(default_factory=list)
    create_seconds: list[float] = field(default_factory=list)

    def add(self) -> None:
        index = len(self.connections)
        broadcast = index % 2 == 0
        extra: dict[str, object] = {}
        if broadcast:
            extra = {"start_broadcast": True, "broadcast_port": free_port()}
        started = time.perf_counter()
        status = self.api.create_connection(
            provider="demo", name=f"{self.prefix}{index}", symbol="aapl", api_key="k",
            url=self.market, limit=1000, **extra,
        ).results  # fmt: skip
        self.create_seconds.append(time.perf_counter() - started)
        self.connections.append(
            Connection(
                status.name,
                str(status.results_file),
                str(status.provider_pid),
                str(status.broadcast_pid) if broadcast else None,
                status.broadcast_address,
            )
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def max_id(path: str) -> int:
    with sqlite3.connect(path, timeout=10) as connection:
        return int(connection.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])


async def listeners_get_records(addresses: list[str], seconds: float) -> int:
    """How many broadcast servers sent a record to a fresh listener within `seconds`."""
    limit = asyncio.Semaphore(50)

    async def one(address: str) -> bool:
        async with limit:
            try:
                async with websockets.connect(address, open_timeout=seconds) as listener:
                    await asyncio.wait_for(listener.recv(), seconds)
                return True
            except (OSError, TimeoutError, websockets.WebSocketException):
                return False

    return sum(await asyncio.gather(*(one(a) for a in addresses)))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def engine_baseline(window: float) -> float:
    """dockerd + containerd CPU (cores) before any connection: other users of the engine."""
    found = engine_processes()
    processes = {"engine": found.get("dockerd", []) + found.get("containerd", [])}
    first = sample([], processes)
    time.sleep(window)
    last = sample([], processes)
    return (last.processes["engine"] - first.processes["engine"]) / (last.at - first.at)


def measure(ramp: Ramp, window: float, bench_pid: int, simulator_pid: int, baseline: float) -> str:
    providers = [c.provider for c in ramp.connections]
    broadcasts = [c.broadcast for c in ramp.connections if c.broadcast]
    found = engine_processes()
    shims = [pid for c in providers + broadcasts for pid in found.get(c, [])]
    processes = {
        "engine": found.get("dockerd", []) + found.get("containerd", []),
        "shims": shims,
        "orchestrator": [bench_pid],
        "simulator": [simulator_pid],
    }
    rows_before = {c.name: max_id(c.results_file) for c in ramp.connections}
    first = sample(providers + broadcasts, processes)
    time.sleep(window)
    last = sample(providers + broadcasts, processes)
    elapsed = last.at - first.at
    flowing = sum(max_id(c.results_file) > rows_before[c.name] for c in ramp.connections)
    heard = asyncio.run(
        listeners_get_records([str(c.address) for c in ramp.connections if c.address], 10.0)
    )

    def cpu(containers: list[str]) -> float:
        spent = sum(last.containers[c] - first.containers[c] for c in containers)
        return spent / elapsed / max(1, len(containers)) * 100

    def share(key: str) -> float:
        spent = (last.processes[key] - first.processes[key]) / elapsed
        if key == "engine":  # what the engine spent for others before the ramp began
            spent = max(0.0, spent - baseline)
        return spent / len(providers) * 100

    memory = sum(container_memory_bytes(c) for c in providers + broadcasts)
    memory += sum(process_anon_bytes(pid) for pid in shims)
    count = len(ramp.connections)
    total_cpu = (
        cpu(providers) * len(providers) / count
        + cpu(broadcasts) * len(broadcasts) / count
        + share("engine")
        + share("shims")
        + share("orchestrator")
    )
    return (
        f"{count:5d} | {flowing}/{count} rows, {heard}/{len(broadcasts)} listeners | "
        f"provider {cpu(providers):.2f} %, broadcast {cpu(broadcasts):.2f} %, "
        f"engine {share('engine') + share('shims'):.2f} %, orchestrator "
        f"{share('orchestrator'):.2f} % -> {total_cpu:.2f} % per connection | "
        f"{memory / count / MiB:.1f} MiB per connection | simulator "
        f"{share('simulator') * count / 100:.2f} cores, whole machine "
        f"{(last.machine - first.machine) / elapsed:.2f} cores busy"
    )


def docker_stats(containers: list[str]) -> str:
    columns = "{{.Name}} {{.CPUPerc}} {{.MemUsage}}"
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", columns, *containers],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or out.stderr.strip()


def run_containers(instance: str) -> list[str]:
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=feeddock.orchestrator={instance}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()


def cleanup(instance: str) -> None:
    """Remove every container of this run, and the temp results they name (interrupted runs).

    Listed again after each pass: on a host this loaded a `docker rm -f` can fail for some
    (a VM paused under it left ten behind once), and what is left is said.
    """
    found = run_containers(instance)
    if not found:
        return
    temp_dirs = subprocess.run(
        ["docker", "inspect", "-f", '{{index .Config.Labels "feeddock.temp_dir"}}', *found],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    for _ in range(3):
        for start in range(0, len(found), 50):  # in batches: one `docker rm` per 50 containers
            subprocess.run(["docker", "rm", "-f", *found[start : start + 50]], capture_output=True)
        found = run_containers(instance)
        if not found:
            break
    if found:
        print(f"could not remove {len(found)} containers: docker rm -f {' '.join(found)}")
    for temp_dir in temp_dirs:
        if "/feeddock-" in temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def available_bytes() -> int:
    for line in (_read(Path("/proc/meminfo")) or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def start_simulator(rate: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "providers.demo.simulator", "--port", "0", "--rate", str(rate),
         "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise SystemExit(f"the demo simulator did not start: {line!r}")
    return process, line.removeprefix("listening on ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100,200,300,400", help="connection counts")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per connection")
    parser.add_argument("--settle", type=float, default=20, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=30, help="seconds measured per step")
    args = parser.parse_args()
    steps = [int(step) for step in args.steps.split(",")]

    run = uuid.uuid4().hex[:6]
    instance, prefix = f"bench-{run}", f"cap{run}-"
    runtime = DockerRuntime(instance=instance)
    api = WebSocketsAPI(Registry(), runtime=runtime)
    simulator, url = start_simulator(args.rate)
    ramp = Ramp(api, url, prefix)
    try:
        print(
            f"docker {runtime.engine.version()}, {os.cpu_count()} CPUs, "
            f"{available_bytes() / (1 << 30):.1f} GiB available, per container: "
            f"{runtime.limits}; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        baseline = engine_baseline(args.window)
        print(
            f"engine CPU before the ramp (others' use, subtracted below): {baseline:.3f} cores",
            flush=True,
        )
        print("conns | records | CPU per connection | memory | create p50 / p99", flush=True)
        for target in steps:
            created_from = len(ramp.create_seconds)
            try:
                while len(ramp.connections) < target:
                    if available_bytes() < MIN_AVAILABLE_BYTES:
                        print(f"stopped at {len(ramp.connections)}: under 2 GiB available")
                        return 1
                    ramp.add()
            except FeeddockError as exc:
                print(f"create_connection failed at {len(ramp.connections)}: {exc}")
                return 1
            times = ramp.create_seconds[created_from:]
            latency = (
                f"create p50 {statistics.median(times):.2f} s, p99 {percentile(times, 0.99):.2f} s"
            )
            time.sleep(args.settle)
            row = measure(ramp, args.window, os.getpid(), simulator.pid, baseline)
            print(f"{row} | {latency} | load {os.getloadavg()[0]:.2f}", flush=True)
        sample_ids = [ramp.connections[0].provider, str(ramp.connections[0].broadcast)]
        print(f"docker stats, first connection:\n{docker_stats(sample_ids)}")
        return 0
    finally:
        # Let go of every connection first (no supervision may restart what is removed),
        # then remove the containers in bulk: stopping 600 one by one takes minutes.
        api.close_at_exit()
        runtime.close()
        cleanup(instance)
        simulator.terminate()
        simulator.wait(10)
        for leftover in Path(tempfile.gettempdir()).glob(f"feeddock-{prefix}*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a create interrupted by Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
