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
import subprocess
import sys
import tempfile
import time
from collections import Counter
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


def record(opts: argparse.Namespace) -> tuple[Any, Counter[str], int]:
    """Build the world and record its events (in this process, through ``inbox.record``)."""
    import random

    import django

    django.setup()
    from stripe_mirror import envelope, inbox
    from tests.streams import build_world

    world = build_world(opts.seed, opts.scenarios, strict=True, livemode=0.0)
    pad = padder(opts.pad)
    for life in world.objects():
        if not life.embedded:
            pad(life.state)
    rng = random.Random(opts.seed)
    mix: Counter[str] = Counter()
    deliveries = size = 0
    started = time.monotonic()
    events = world.events  # scenario by scenario: each object's events together
    if opts.order == "time":  # in the order Stripe created them: objects interleaved
        events = sorted(events, key=lambda e: e["created"])
    for event in events:
        pad(event["data"]["object"])
        body = orjson.dumps(event)
        size += len(body)
        parsed = envelope.parse(body)
        mix[event["type"]] += 1
        for _ in range(1 + (rng.random() < opts.duplicates)):
            inbox.record(parsed, "default", body)
            deliveries += 1
    say(
        f"recorded {len(world.events)} events ({deliveries} deliveries) "
        f"in {time.monotonic() - started:.1f} s"
    )
    from django.db import connections

    connections.close_all()
    opts.mean_body = round(size / max(len(world.events), 1))
    return world, mix, deliveries


def drain(opts: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    database.execute(opts.database_url, "ANALYZE")
    command = manage("stripe_mirror_worker", "--once", "--batch-size", str(opts.batch_size))
    started = time.monotonic()
    # Output to files, not pipes: a pipe nobody reads until the end would block a worker.
    with contextlib.ExitStack() as files:
        logs = [files.enter_context(tempfile.TemporaryFile()) for _ in range(opts.workers)]
        workers = [
            subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs
        ]
        pids = [w.pid for w in workers]
        spies = procs.py_spy(pids, 600, RESULTS, "mirror") if opts.profile else []
        cpu: dict[int, float] = {}
        backends: dict[int, float] = {}
        while any(w.poll() is None for w in workers):
            cpu.update(procs.cpu_seconds([w.pid for w in workers if w.poll() is None]))
            backends.update(procs.cpu_seconds(database.backends(opts.database_url)))
            time.sleep(0.2)
        wall = time.monotonic() - started
        outputs = []
        for log in logs:
            log.seek(0)
            outputs.append(log.read().decode(errors="replace"))
    for spy in spies:
        spy.wait()
    if any(w.returncode for w in workers):
        raise SystemExit("a worker failed:\n" + "\n".join(o[-3000:] for o in outputs))
    processed, span = database.processed_span(opts.database_url)
    superseded = sum(int(n) for o in outputs for n in SUPERSEDED.findall(o))
    return {
        "workers": opts.workers,
        "batch_size": opts.batch_size,
        "processed": processed,
        "order": opts.order,
        "mirrored_per_s": round(processed / span, 1) if span else None,
        "wall_s_with_startup": round(wall, 1),
        "cpu_ms_per_event": {
            "workers": round(sum(cpu.values()) * 1000 / max(processed, 1), 3),
            "postgres": round(sum(backends.values()) * 1000 / max(processed, 1), 3),
        },
        "statuses": database.inbox_statuses(opts.database_url),
        "superseded": superseded,
    }


#: The workers' debug line per batch (processing._run_batch).
SUPERSEDED = re.compile(r"batch of \d+ events: (\d+) superseded snapshots not written")


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
    print(
        f"  mirrored        {d['mirrored_per_s']} events/s with {d['workers']} worker(s), "
        f"batch {d['batch_size']}, {d['order']} order ({d['processed']} processed, "
        f"{d['wall_s_with_startup']} s "
        "wall with start-up)"
    )
    cpu = d["cpu_ms_per_event"]
    print(f"  CPU ms/event    workers {cpu['workers']}, postgres {cpu['postgres']}")
    print(f"  statuses        {d['statuses']}")
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
    world, mix, deliveries = record(opts)
    say(f"draining with {opts.workers} worker(s)")
    drained = drain(opts, env)
    result: dict[str, Any] = {
        "benchmark": "mirror",
        "events": len(world.events),
        "deliveries": deliveries,
        "mean_body_bytes": opts.mean_body,
        "mix": mix.most_common(),
        "drain": drained,
        "differences": check(world),
        "postgres": database.settings(opts.database_url),
        "machine": procs.machine(),
        "load_before": load_before,
        "load_after": procs.loadavg(),
    }
    report(result)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"mirror-{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    return 1 if result["differences"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
