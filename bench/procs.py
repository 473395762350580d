"""Processes: the machine, the server under test, wrk and py-spy, read through /proc."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ServerSpec:
    kind: str  # "granian" or "gunicorn"
    port: int
    workers: int
    threads: int
    gunicorn_class: str = "gthread"

    def command(self) -> list[str]:
        app = "bench.wsgi:application"
        if self.kind == "granian":
            return [
                str(BIN / "granian"),
                *shlex.split(
                    "--interface wsgi --host 127.0.0.1 --no-access-log --log-level warning"
                ),
                *("--port", str(self.port), "--workers", str(self.workers)),
                *("--blocking-threads", str(self.threads), app),
            ]
        threads = ["--threads", str(self.threads)] if self.gunicorn_class == "gthread" else []
        return [
            str(BIN / "gunicorn"),
            *("--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)),
            *("--worker-class", self.gunicorn_class, *threads),
            *shlex.split("--log-level warning --backlog 2048"),
            app,
        ]


# --- the machine ----------------------------------------------------------------------------


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _output(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except FileNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = _output(
        sys.executable,
        "-c",
        "import django, granian, gunicorn, psycopg; print(f'Django {django.get_version()}, "
        "granian {granian.__version__}, gunicorn {gunicorn.__version__}, "
        "psycopg {psycopg.__version__}')",
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "wrk": _output("wrk", "--version").split(" Copyright")[0],
    }


def speed() -> float:
    """The machine's speed today: CPU seconds of 10 million Python additions, the best of
    three (machines of one kind differ from day to day; figures of two days compare only
    scaled by this)."""
    best = float("inf")
    for _ in range(3):
        began, total = time.process_time(), 0
        for n in range(10_000_000):
            total += n
        best = min(best, time.process_time() - began)
    return round(best, 3)


# --- processes -----------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(_stat(int(stat.parent.name))[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds(pids: list[int], children: bool = False) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (those still alive); with
    ``children``, those of its children that have exited and been waited for as well (an RQ
    worker's work horses, PostgreSQL's backends that have disconnected)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        mine = int(fields[11]) + int(fields[12])  # utime, stime
        reaped = int(fields[13]) + int(fields[14]) if children else 0  # cutime, cstime
        used[pid] = (mine + reaped) / ticks
    return used


def parent(pid: int) -> int:
    return int(_stat(pid)[1])


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots; a process first seen after started at 0."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def server_memory(pid: int) -> dict[str, Any]:
    workers = [peak_rss_mb(child) for child in descendants(pid)]
    return {
        "master_hwm_mb": peak_rss_mb(pid),
        "workers_hwm_mb": workers,
        "workers_hwm_total_mb": round(sum(workers), 1),
    }


# --- the server ----------------------------------------------------------------------------


@contextmanager
def running(spec: ServerSpec, env: dict[str, str], log: Path) -> Iterator[int]:
    """Start the server in its own session; yield its pid; stop it (its process group)."""
    _port_free(spec.port)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            spec.command(), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_up(proc, spec.port, log)
        yield proc.pid
    finally:
        _stop(proc)


def _port_free(port: int) -> None:
    """Refuse a port something already listens on: granian binds with SO_REUSEPORT, so a
    second server on it starts without error and the kernel shares the connections between
    the two runs (each then records the other's deliveries)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is in use (another benchmark?): choose another --port")


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stripe/", timeout=2)
        except urllib.error.HTTPError:
            return  # a 404 from Django: the site is up
        except OSError:
            time.sleep(0.2)
            continue
        return
    raise SystemExit("the server did not come up in 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- load and profiles ---------------------------------------------------------------------


def wrk(url: str, prefix: Path, seconds: int, *, threads: int, connections: int) -> dict[str, Any]:
    """Run wrk with cycle.lua over the request files ``<prefix>-<thread>.tsv``."""
    command = [
        *("wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"),
        *("--timeout", "10s", "--latency", "-s", str(HERE / "cycle.lua"), url, "--", str(prefix)),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.stderr.strip():
        result["stderr"] = done.stderr.strip()[-2000:]
    return result


def py_spy(pids: list[int], seconds: int, folder: Path, kind: str) -> list[subprocess.Popen[bytes]]:
    """py-spy on each process for ``seconds``, as raw folded stacks. ``gil``: only the thread
    holding the GIL (where Python's CPU time goes); ``wall``: every thread, idle or waiting
    included (where a request's time goes)."""
    flag = "--gil" if kind == "gil" else "--idle"
    return [
        subprocess.Popen(
            [
                *(str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration", str(seconds)),
                *("--rate", "200", "--format", "raw", "--nonblocking", flag),
                *("--output", str(folder / f"profile-{kind}-{pid}.txt")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]
