"""Mirror throughput: from recorded to mirrored, with a realistic mix of event types.

    python -m bench.mirror [--scenarios 1500] [--workers 2] [--batch-size 50] [--profile]

1. re-creates the benchmark's PostgreSQL database (``--database-url``; it is DROPPED) and
   migrates it;
2. plays out the lives of many Stripe objects (``tests/streams``: customers and their updates,
   products and prices, one-off payments with payment intents, charges and refunds,
   invoices with lines and invoice payments, subscriptions with items and their invoices; on the
   platform and a connected account; in the API shapes before and after 2025-03-31) and
   records their events in the inbox as the webhook endpoint does (``inbox.record``), in the
   order Stripe created them, plus duplicates of some;
3. starts ``--workers`` ``stripe_mirror_worker --once`` processes and lets them drain the inbox
   (the library's mirror sync and the example site's handlers);
4. prints mirrored events/s (processed rows over the span of their ``processed_at``, so that
   start-up does not count), CPU ms per event of the workers and of PostgreSQL, the mix of
   event types;
5. checks the mirror against the final state of every object (``tests.streams.check``): a
   fast wrong answer does not count.

Durability stays on: PostgreSQL's settings are printed with the results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from . import database, procs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sm_bench_mirror"


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--database-url", default=os.environ.get("BENCH_MIRROR_DATABASE_URL", DEFAULT_URL))
    add("--scenarios", type=int, default=1500, help="object lives to play out (~7 events each)")
    add("--seed", type=int, default=1)
    add("--workers", type=int, default=2, help="stripe_mirror_worker processes")
    add("--batch-size", type=int, default=50, help="events per worker transaction")
    add("--duplicates", type=float, default=0.05, help="share of events delivered twice")
    add(
        "--order",
        choices=("time", "scenario"),
        default="time",
        help="record the events in the order Stripe created them (time: objects interleaved, "
        "as a backlog after an outage) or each object's events together (scenario)",
    )
    add("--profile", action="store_true", help="py-spy the workers (flame graphs in results/)")
    add(
        "--live",
        type=float,
        default=0.0,
        metavar="RATE",
        help="instead of draining a backlog: start long-running workers first, then record "
        "the events (in time order) at RATE events/s while they mirror, and report the lag "
        "from recorded to mirrored",
    )
    add(
        "--worker-sleep",
        type=float,
        default=1.0,
        help="--live: the workers' --sleep, seconds to wait when nothing is due (default 1)",
    )
    add(
        "--no-pad",
        dest="pad",
        action="store_false",
        help="keep the events as small as the test streams make them (about 1 KB)",
    )
    return parser.parse_args(argv)


def environment(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_MODE="record-only",
        BENCH_COUNT_SUPERSEDED="1",
        DATABASE_URL=url,
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), str(ROOT / "example"), env.get("PYTHONPATH", "")]
        ),
    )
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "example" / "manage.py"), *args]


#: Stripe's example objects (fixtures3.json), by type.
FIXTURES = ROOT / "tests" / "data" / "fixtures3.json"
FILLER = "bench_filler"


def padder(enabled: bool) -> Any:
    """The world's objects hold only the fields its tests need (about 1 KB an event): each
    top-level object gets Stripe's own example object of its type under an extra key, so that
    events have the size and JSON shape of real ones. The key means nothing to the mirror (no
    column, no link reads it), and an object's filler is the same in every one of its
    snapshots, so the mirror's final state is the padded final state."""
    examples = orjson.loads(FIXTURES.read_bytes()).get("resources", {})

    def pad(obj: dict[str, Any]) -> None:
        if enabled and isinstance(obj, dict) and not obj.get("deleted") and "id" in obj:
            example = examples.get(obj.get("object")) or examples.get("customer") or {}
            obj[FILLER] = example

    return pad


@dataclass
class Stream:
    """The world, and its events as the endpoint would receive them, in recording order."""

    world: Any
    #: (parsed event, body, deliveries: 1, or 2 for a duplicate)
    deliveries: list[tuple[Any, bytes, int]]
    mix: Counter[str]
    mean_body: int

    @property
    def total(self) -> int:
        return sum(copies for _, _, copies in self.deliveries)


def prepare(opts: argparse.Namespace) -> Stream:
    """Build the world (tests/streams) and encode its events, padded, in recording order."""
    import random

    import django

    django.setup()
    from stripe_mirror.verification import envelope
    from tests.streams import build_world

    world = build_world(opts.seed, opts.scenarios, strict=True, livemode=0.0)
    pad = padder(opts.pad)
    for life in world.objects():
        if not life.embedded:
            pad(life.state)
    rng = random.Random(opts.seed)
    mix: Counter[str] = Counter()
    size = 0
    events = world.events  # scenario by scenario: each object's events together
    if opts.order == "time":  # in the order Stripe created them: objects interleaved
        events = sorted(events, key=lambda e: e["created"])
    deliveries = []
    for event in events:
        pad(event["data"]["object"])
        body = orjson.dumps(event)
        size += len(body)
        mix[event["type"]] += 1
        copies = 1 + (rng.random() < opts.duplicates)
        deliveries.append((envelope.parse(body), body, copies))
    return Stream(world, deliveries, mix, round(size / max(len(events), 1)))


def record(stream: Stream, rate: float = 0.0) -> float:
    """Record the stream through ``inbox.record`` (what the endpoint calls), as fast as
    possible or paced at ``rate`` events/s; returns the seconds it took."""
    from django.db import connections

    from stripe_mirror.dispatch import inbox

    started = time.monotonic()
    for n, (parsed, body, copies) in enumerate(stream.deliveries):
        if rate:
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        for _ in range(copies):
            inbox.record(parsed, "default", body)
    seconds = time.monotonic() - started
    connections.close_all()
    say(f"recorded {len(stream.deliveries)} events ({stream.total} deliveries) in {seconds:.1f} s")
    return seconds


@contextlib.contextmanager
def workers(
    opts: argparse.Namespace, env: dict[str, str], *extra: str
) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[str]]]:
    """``--workers`` stripe_mirror_worker processes; their output, once they have exited,
    is in the list yielded with them."""
    command = manage("stripe_mirror_worker", "--batch-size", str(opts.batch_size), *extra)
    outputs: list[str] = []
    # Output to files, not pipes: a pipe nobody reads until the end would block a worker.
    with contextlib.ExitStack() as files:
        logs = [files.enter_context(tempfile.TemporaryFile()) for _ in range(opts.workers)]
        procs_ = [
            subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs
        ]
        try:
            yield procs_, outputs
        finally:
            for proc in procs_:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs_:
                proc.wait()
            for log in logs:
                log.seek(0)
                outputs.append(log.read().decode(errors="replace"))
    if any(proc.returncode for proc in procs_):
        raise SystemExit("a worker failed:\n" + "\n".join(o[-3000:] for o in outputs))


class Sampler(threading.Thread):
    """CPU seconds of the workers and of PostgreSQL's backends, and the longest backlog,
    sampled every 0.2 s until stopped."""

    def __init__(self, url: str, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.url, self.pids = url, pids
        self.cpu: dict[int, float] = {}
        self.backends: dict[int, float] = {}
        self.backlog = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            self.sample()

    def sample(self) -> None:
        self.cpu.update(procs.cpu_seconds(self.pids))
        self.backends.update(procs.cpu_seconds(database.backends(self.url)))
        self.backlog = max(self.backlog, database.due(self.url))

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.sample()


def live(opts: argparse.Namespace, env: dict[str, str], stream: Stream) -> dict[str, Any]:
    """Long-running workers mirror while this process records at ``--live`` events/s."""
    with workers(opts, env, "--sleep", str(opts.worker_sleep)) as (running, outputs):
        time.sleep(2.0)  # their start-up (Django, connections) is not the stream's business
        sampler = Sampler(opts.database_url, [w.pid for w in running])
        sampler.start()
        recorder_cpu = time.process_time()
        recording = record(stream, opts.live)
        recorder_cpu = time.process_time() - recorder_cpu
        deadline = time.monotonic() + 600
        while database.due(opts.database_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        sampler.stop()
    events = len(stream.deliveries)
    lag = database.lag(opts.database_url)
    return {
        "workers": opts.workers,
        "batch_size": opts.batch_size,
        "order": opts.order,
        "rate_asked": opts.live,
        "recorded_per_s": round(events / recording, 1),
        "processed": lag["processed"],
        "mirrored_per_s": round(lag["processed"] / lag["span_s"], 1) if lag["span_s"] else None,
        "lag_ms": {k: lag[k] for k in ("p50", "p90", "p99", "max")},
        "largest_backlog": sampler.backlog,
        "cpu_ms_per_event": {
            "workers": round(sum(sampler.cpu.values()) * 1000 / max(events, 1), 3),
            "postgres": round(sum(sampler.backends.values()) * 1000 / max(events, 1), 3),
            "recorder": round(recorder_cpu * 1000 / max(events, 1), 3),
        },
        "statuses": database.inbox_statuses(opts.database_url),
        "superseded": sum(int(n) for o in outputs for n in SUPERSEDED.findall(o)),
        "rolled_back": sum(len(ROLLED_BACK.findall(o)) for o in outputs),
        "deadlocks": database.deadlocks(opts.database_url),
    }


def drain(opts: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """``--once`` workers drain the recorded backlog."""
    database.execute(opts.database_url, "ANALYZE")
    started = time.monotonic()
    with workers(opts, env, "--once") as (running, outputs):
        pids = [w.pid for w in running]
        spies = procs.py_spy(pids, 600, RESULTS, "mirror") if opts.profile else []
        sampler = Sampler(opts.database_url, pids)
        sampler.start()
        while any(w.poll() is None for w in running):
            time.sleep(0.1)
        wall = time.monotonic() - started
        sampler.stop()
    for spy in spies:
        spy.wait()
    processed, span = database.processed_span(opts.database_url)
    return {
        "workers": opts.workers,
        "batch_size": opts.batch_size,
        "processed": processed,
        "order": opts.order,
        "mirrored_per_s": round(processed / span, 1) if span else None,
        "wall_s_with_startup": round(wall, 1),
        "cpu_ms_per_event": {
            "workers": round(sum(sampler.cpu.values()) * 1000 / max(processed, 1), 3),
            "postgres": round(sum(sampler.backends.values()) * 1000 / max(processed, 1), 3),
        },
        "statuses": database.inbox_statuses(opts.database_url),
        "superseded": sum(int(n) for o in outputs for n in SUPERSEDED.findall(o)),
        "rolled_back": sum(len(ROLLED_BACK.findall(o)) for o in outputs),
        "deadlocks": database.deadlocks(opts.database_url),
    }


#: The workers' debug line per batch (processing._run_batch).
SUPERSEDED = re.compile(r"batch of \d+ events: (\d+) superseded snapshots not written")
#: A batch rolled back as a whole (a deadlock lost, a mirror failure): processing.process_due.
ROLLED_BACK = re.compile(r"batch of \d+ events rolled back \(([^)]*)")


def check(world: Any) -> list[str]:
    import django

    django.setup()
    from tests.streams.check import differences

    return differences(world)


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def report(result: dict[str, Any]) -> None:
    d = result["drain"]
    print(
        f"mirror benchmark ({result['events']} events of {result['mean_body_bytes']} bytes "
        f"on average, {result['deliveries']} deliveries)"
    )
    print(f"  mix             {', '.join(f'{t} {n}' for t, n in result['mix'][:12])}, ...")
    if "rate_asked" in d:
        lag = d["lag_ms"]
        print(
            f"  live            recorded at {d['recorded_per_s']} events/s "
            f"(asked {d['rate_asked']:g}), {d['workers']} long-running worker(s), batch "
            f"{d['batch_size']}, {d['order']} order"
        )
        print(
            f"  mirrored        {d['mirrored_per_s']} events/s from first recorded to last "
            f"mirrored ({d['processed']} processed); largest backlog {d['largest_backlog']}"
        )
        print(
            f"  lag ms          recorded -> mirrored: p50 {lag['p50']}, p90 {lag['p90']}, "
            f"p99 {lag['p99']}, max {lag['max']}"
        )
    else:
        print(
            f"  mirrored        {d['mirrored_per_s']} events/s with {d['workers']} worker(s), "
            f"batch {d['batch_size']}, {d['order']} order ({d['processed']} processed, "
            f"{d['wall_s_with_startup']} s wall with start-up)"
        )
    cpu = d["cpu_ms_per_event"]
    print(
        "  CPU ms/event    "
        + ", ".join(f"{who} {ms}" for who, ms in cpu.items())
        + " (postgres: every backend of the database)"
    )
    print(f"  statuses        {d['statuses']}")
    print(
        f"  rolled back     {d['rolled_back']} batches (a deadlock lost, or a failure); "
        f"{d['deadlocks']} deadlocks in PostgreSQL (batches or link passes; each costs 1 s)"
    )
    print(
        f"  superseded      {d['superseded']} snapshots not written (a newer event of their "
        "object was in the same batch)"
    )
    print(f"  correct         {'yes' if not result['differences'] else 'NO'}")
    for problem in result["differences"][:20]:
        print(f"    {problem}")
    print(f"  load average    {result['load_before']} -> {result['load_after']}")


def main(argv: list[str] | None = None) -> int:
    opts = options(argv)
    env = environment(opts.database_url)
    os.environ.update(env)
    sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "example")]
    RESULTS.mkdir(exist_ok=True)
    load_before = procs.loadavg()
    database.fresh(opts.database_url)
    subprocess.run(manage("migrate", "-v0"), env=env, check=True)
    stream = prepare(opts)
    if opts.live:
        say(f"recording at {opts.live:g} events/s while {opts.workers} worker(s) mirror")
        drained = live(opts, env, stream)
    else:
        record(stream)
        say(f"draining with {opts.workers} worker(s)")
        drained = drain(opts, env)
    result: dict[str, Any] = {
        "benchmark": "mirror-live" if opts.live else "mirror",
        "events": len(stream.deliveries),
        "deliveries": stream.total,
        "mean_body_bytes": stream.mean_body,
        "mix": stream.mix.most_common(),
        "drain": drained,
        "differences": check(stream.world),
        "postgres": database.settings(opts.database_url),
        "machine": procs.machine(),
        "load_before": load_before,
        "load_after": procs.loadavg(),
    }
    report(result)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{result['benchmark']}-{stamp}.json").write_text(
        json.dumps(result, indent=2, default=str)
    )
    return 1 if result["differences"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
