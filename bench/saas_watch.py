"""Watching a run from outside: CPU seconds and resident memory of the processes under test
and of PostgreSQL's backends, and the inbox's backlog, sampled from /proc and the database."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import database, procs


def rss_mb(pid: int) -> tuple[float, float] | None:
    """VmRSS and RssAnon now, in MB (None once the process is gone). RssAnon leaves out
    shared pages: a PostgreSQL backend's VmRSS grows as it touches shared buffers."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    found = {ln.split(":")[0]: int(ln.split()[1]) / 1024 for ln in lines if ln.startswith("Rss")}
    found.update(
        {ln.split(":")[0]: int(ln.split()[1]) / 1024 for ln in lines if ln.startswith("VmRSS")}
    )
    if "VmRSS" not in found:
        return None
    return found["VmRSS"], found.get("RssAnon", found["VmRSS"])


@dataclass
class Group:
    """Processes of one kind (server workers, mirror workers): CPU and RSS over time."""

    name: str
    pids: list[int]
    #: count the CPU of their children that have exited too (an RQ worker's work horses)
    children: bool = False
    cpu_start: dict[int, float] = field(default_factory=dict)
    cpu_last: dict[int, float] = field(default_factory=dict)
    #: (seconds into the run, VmRSS MB, RssAnon MB) per process
    rss: dict[int, list[tuple[float, float, float]]] = field(default_factory=dict)

    def sample(self, now: float, memory: bool) -> None:
        self.cpu_last.update(procs.cpu_seconds(self.pids, self.children))
        if memory:
            for pid in self.pids:
                mb = rss_mb(pid)
                if mb is not None:
                    self.rss.setdefault(pid, []).append((now, *mb))

    def cpu_s(self) -> float:
        return procs.cpu_used(self.cpu_start, self.cpu_last)

    def memory(self, settle: float) -> dict[str, Any]:
        """Peak RSS per process, and its growth (VmRSS, and RssAnon) from the first sample
        after ``settle`` seconds (start-up and first imports are not growth) to the last.
        Processes seen for less than half the longest-lived one's time (a PostgreSQL backend
        of one RQ job's connection) are only counted: their growth says nothing of a leak."""
        peaks, growth, anon = [], [], []
        longest = max((s[-1][0] - s[0][0] for s in self.rss.values()), default=0.0)
        lived = [s for s in self.rss.values() if s[-1][0] - s[0][0] >= longest / 2]
        for samples in lived:
            peaks.append(round(max(s[1] for s in samples), 1))
            start = samples[0][0]
            settled = next((s for s in samples if s[0] - start >= settle), samples[0])
            growth.append(round(samples[-1][1] - settled[1], 1))
            anon.append(round(samples[-1][2] - settled[2], 1))
        found = {"peak_rss_mb": peaks, "rss_growth_mb": growth, "anon_growth_mb": anon}
        if len(lived) < len(self.rss):
            found["short_lived"] = len(self.rss) - len(lived)
        return found


class Watch(threading.Thread):
    """Samples every ``every`` seconds until stopped: the groups, the database's backends
    (their CPU), and the largest backlog of due events."""

    def __init__(
        self,
        url: str,
        groups: list[Group],
        *,
        every: float = 0.5,
        memory: bool = False,
        exited_backends: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.groups, self.every, self.memory = url, groups, every, memory
        backends = Group("postgres", database.backends(url))
        backends.cpu_start = procs.cpu_seconds(backends.pids)
        self.backends = backends
        # Backends too short-lived to be sampled (a connection per RQ job): the CPU of every
        # backend that exited during the run, read from the server's main process. Those of
        # every database of the server: on a shared machine, an upper bound.
        self.exited = Group("postgres_exited", [database.postmaster(url)], children=True)
        self.exited_backends = exited_backends
        for group in [*groups, self.exited]:
            group.cpu_start = procs.cpu_seconds(group.pids, group.children)
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
        if self.exited_backends:
            self.exited.sample(now, memory=False)
        self.backlog = max(self.backlog, database.due(self.url))

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.sample()

    def cpu_ms_per(self, count: int) -> dict[str, float]:
        """CPU ms per ``count`` (events or deliveries) of each group and of PostgreSQL."""
        every = [*self.groups, self.backends, *([self.exited] if self.exited_backends else [])]
        return {g.name: round(g.cpu_s() * 1000 / max(count, 1), 3) for g in every}
