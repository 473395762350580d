"""A Python load generator: post a pre-signed stream of deliveries to the webhook endpoint, in
order, each exactly once, over ``concurrency`` keep-alive connections (a closed loop: each
connection sends its next delivery when the previous answer arrives).

Not wrk: the bodies are pretty-printed (bench/cycle.lua reads one request per line), every
delivery must be sent exactly once and in the stream's order (the correctness check depends
on it), and issue 14's figures were taken with a Python client on the same machine.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: A signature is renewed when older than this (the endpoint's tolerance is 300 s).
RESIGN_AFTER = 200


@dataclass
class Load:
    host: str
    port: int
    path: str
    bodies: list[bytes]  # one per event
    order: list[int]  # deliveries: indices into bodies
    sign: Callable[[bytes, int], str]  # (body, timestamp) -> Stripe-Signature
    concurrency: int
    signatures: list[str] = field(default_factory=list)
    signed_at: int = 0


@dataclass
class Outcome:
    sent: int
    seconds: float
    latencies_ms: list[float]
    not_2xx: int
    errors: list[str]
    cpu_s: float  # this process's CPU while posting (the load generator's cost)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms) or [0.0]

        def at(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(len(lat) * p / 100))], 1)

        return {
            "deliveries": self.sent,
            "seconds": round(self.seconds, 2),
            "per_s": round(self.sent / self.seconds, 1) if self.seconds else None,
            "latency_ms": {"p50": at(50), "p90": at(90), "p99": at(99), "max": round(lat[-1], 1)},
            "not_2xx": self.not_2xx,
            "errors": self.errors[:5],
            "client_cpu_ms_per_delivery": round(self.cpu_s * 1000 / max(self.sent, 1), 3),
        }


def presign(load: Load) -> None:
    """Sign every body now, before the clock starts (signing is not the server's work)."""
    load.signed_at = int(time.time())
    load.signatures = [load.sign(body, load.signed_at) for body in load.bodies]


def run(load: Load) -> Outcome:
    """Post every delivery once; returns when the last answer has arrived."""
    if not load.signatures:
        presign(load)
    next_delivery = itertools.count()  # next() on a count is atomic under the GIL
    results: list[tuple[list[float], int, list[str]]] = []
    threads = [
        threading.Thread(target=_connection, args=(load, next_delivery, results))
        for _ in range(load.concurrency)
    ]
    cpu, started = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies = [ms for lat, _, _ in results for ms in lat]
    return Outcome(
        sent=len(latencies),
        seconds=seconds,
        latencies_ms=latencies,
        not_2xx=sum(n for _, n, _ in results),
        errors=[e for _, _, errs in results for e in errs],
        cpu_s=cpu,
    )


def _connection(
    load: Load,
    next_delivery: itertools.count[int],
    results: list[tuple[list[float], int, list[str]]],
) -> None:
    """One keep-alive connection's closed loop."""
    conn = http.client.HTTPConnection(load.host, load.port, timeout=60)
    latencies: list[float] = []
    not_2xx, errors = 0, list[str]()
    for n in next_delivery:
        if n >= len(load.order):
            break
        started = time.perf_counter()
        conn, status, answer = _post(load, conn, load.order[n], errors)
        latencies.append((time.perf_counter() - started) * 1000)
        if not 200 <= status < 300:
            not_2xx += 1
            if not_2xx <= 3:
                errors.append(f"{status}: {answer[:300]!r}")
    conn.close()
    results.append((latencies, not_2xx, errors))  # list.append is atomic under the GIL


def _post(
    load: Load, conn: http.client.HTTPConnection, event: int, errors: list[str]
) -> tuple[http.client.HTTPConnection, int, bytes]:
    """POST one delivery; on a connection error, open a new connection and send it again
    (as Stripe would), at most 3 times."""
    headers = {"Content-Type": "application/json", "Stripe-Signature": _signature(load, event)}
    for _ in range(3):
        try:
            conn.request("POST", load.path, load.bodies[event], headers)
            response = conn.getresponse()
            return conn, response.status, response.read()
        except OSError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection(load.host, load.port, timeout=60)
    return conn, 0, b"connection errors"


def _signature(load: Load, event: int) -> str:
    """The pre-computed signature, or a fresh one if the run has outlasted it (long runs at
    the default path's speed take more than the endpoint's 300 s tolerance)."""
    now = int(time.time())
    if now - load.signed_at < RESIGN_AFTER:
        return load.signatures[event]
    return load.sign(load.bodies[event], now)
