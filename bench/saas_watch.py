"""Watching a run from outside: CPU seconds and resident memory of the processes under test
and of PostgreSQL's backends, and the inbox's backlog, sampled from /proc and the database."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import database, procs


def rss_mb(pid: int) -> float | None:
    """VmRSS now (None once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Group:
    """Processes of one kind (server workers, mirror workers): CPU and RSS over time."""

    name: str
    pids: list[int]
    cpu_start: dict[int, float] = field(default_factory=dict)
    cpu_last: dict[int, float] = field(default_factory=dict)
    rss: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # (t, MB)

    def sample(self, now: float, memory: bool) -> None:
        self.cpu_last.update(procs.cpu_seconds(self.pids))
        if memory:
            for pid in self.pids:
                mb = rss_mb(pid)
                if mb is not None:
                    self.rss.setdefault(pid, []).append((now, mb))

    def cpu_s(self) -> float:
        return procs.cpu_used(self.cpu_start, self.cpu_last)

    def memory(self, settle: float) -> dict[str, Any]:
        """Peak RSS per process, and its growth from the first sample after ``settle``
        seconds (start-up and the first imports are not growth) to the last."""
        peaks, growth = [], []
        for samples in self.rss.values():
            peaks.append(round(max(mb for _, mb in samples), 1))
            start = samples[0][0]
            settled = next((mb for t, mb in samples if t - start >= settle), samples[0][1])
            growth.append(round(samples[-1][1] - settled, 1))
        return {"peak_rss_mb": peaks, "rss_growth_mb": growth}


class Watch(threading.Thread):
    """Samples every ``every`` seconds until stopped: the groups, the database's backends
    (their CPU), and the largest backlog of due events."""

    def __init__(
        self, url: str, groups: list[Group], *, every: float = 0.5, memory: bool = False
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.groups, self.every, self.memory = url, groups, every, memory
        backends = Group("postgres", database.backends(url))
        backends.cpu_start = procs.cpu_seconds(backends.pids)
        self.backends = backends
        for group in groups:
            group.cpu_start = procs.cpu_seconds(group.pids)
        self.backlog = 0
        self.started = time.monotonic()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            self.sample()

    def sample(self) -> None:
        now = time.monotonic() - self.started
        for group in self.groups:
            group.sample(now, self.memory)
        self.backends.pids = sorted(set(self.backends.pids) | set(database.backends(self.url)))
        self.backends.sample(now, self.memory)
        self.backlog = max(self.backlog, database.due(self.url))

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.sample()

    def cpu_ms_per(self, count: int) -> dict[str, float]:
        """CPU ms per ``count`` (events or deliveries) of each group and of PostgreSQL."""
        every = [*self.groups, self.backends]
        return {g.name: round(g.cpu_s() * 1000 / max(count, 1), 3) for g in every}
