"""Catch-up throughput: events listed from a Stripe-shaped Events API, recorded and mirrored.

    python -m bench.catchup [--events 20000] [--customers 1000 --months 6] [--latency 0]
    python -m bench.catchup --src /tmp/old/src      (the same run on another copy of src/)
    python -m bench.catchup --jobs 2                (the command's --jobs: lane processes)

1. plays the simulated SaaS of bench/saas_world.py (padded by bench/saas.py to Stripe's sizes:
   2-5 KB an event) and takes its first ``--events`` events (a complete sub-world: every
   customer's whole life); its seconds are moved into the last 20 days (Stripe keeps 30),
   each distinct second to its own, in the same order, so that events sharing a second still
   share it and no two others come to;
2. re-creates the benchmark's PostgreSQL database (``--database-url``; it is DROPPED) and
   migrates it; starts our fake Stripe server (tests/stripe_api/fake) in this process with
   those events in ``/v1/events`` of the platform and of the connected accounts;
3. runs ``manage.py stripe_mirror_catchup --accounts all`` (empty inbox: the whole retention
   window) in a child process (``--child``: the command through ``call_command``, timed
   there, with its own CPU time and its PostgreSQL backend's, read from /proc);
4. prints events/s (recorded and mirrored: the command returns when every event is
   processed), CPU ms per event of the command and of PostgreSQL, the load average, and
   checks that every event was recorded and processed once and that the mirror equals the
   world's final state (tests/streams/check.py).

Durability stays on (PostgreSQL's settings are printed with the results).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from . import database, procs, saas

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sm_bench_catchup"
#: The span the stream's seconds are moved into, ending a minute ago.
SPAN = 20 * 86_400


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--database-url", default=os.environ.get("BENCH_CATCHUP_DATABASE_URL", DEFAULT_URL))
    add("--events", type=int, default=20_000, help="about this many (whole customers' lives)")
    add("--customers", type=int, default=1000, help="customers played (enough for --events)")
    add("--months", type=int, default=6)
    add("--seed", type=int, default=1)
    add("--latency", type=float, default=0.0, help="seconds added to every API request")
    add("--src", default=str(ROOT / "src"), help="the library's src/ to run (an A/B)")
    add("--profile", default="", help="py-spy's folded stacks of the command to this file")
    add("--jobs", type=int, default=1, help="the command's --jobs (lane processes)")
    add("--count", action="store_true", help="count the command's statements (not timed)")
    add("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def stream(opts: argparse.Namespace) -> saas.Stream:
    """The sub-world's events in created order, their seconds moved into the window."""
    played = saas.build_saas(opts.customers, opts.months, opts.seed)
    retime(played.world, int(time.time()) - 60)
    return saas.substream(played, opts.events, seed=opts.seed, duplicates=0.0, displacement=0)


def retime(world: Any, end: int) -> None:
    """Each distinct second of the world's events to its own second within ``SPAN`` before
    ``end``, in order (the objects' own times are left as they are); the lives' latest
    seconds (what the mirror's watermark must end at) move with them."""
    seconds = sorted({event["created"] for event in world.events})
    step = max(1, SPAN // max(1, len(seconds)))
    start = end - step * len(seconds)
    moved = {second: start + n * step for n, second in enumerate(seconds)}
    for event in world.events:
        event["created"] = moved[event["created"]]
    for life in world.objects():
        if life.second in moved:
            life.second = moved[life.second]


def environment(url: str, src: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_MODE="record-only",
        DATABASE_URL=url,
        PYTHONPATH=os.pathsep.join([src, str(ROOT), str(ROOT / "example")]),
    )
    return env


def run(opts: argparse.Namespace) -> dict[str, Any]:
    events = stream(opts)
    database.fresh(opts.database_url)
    env = environment(opts.database_url, opts.src)
    os.environ.update(environment(opts.database_url, str(ROOT / "src")))
    sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "example")]
    import django

    django.setup()  # the fake builds its answers with the library (this checkout's src/)
    from tests.stripe_api.fake import TEST_KEY, FakeStripe

    manage = [sys.executable, str(ROOT / "example" / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    with FakeStripe() as fake:
        accounts = load(fake, events)
        fake.latency = opts.latency
        extra = {"API_KEY": TEST_KEY, "API_BASE": fake.url, "API_RATE_LIMIT": 100_000}
        env["BENCH_STRIPE_MIRROR"] = json.dumps(extra)
        load_before = procs.loadavg()
        began = time.monotonic()
        child = [sys.executable, "-m", "bench.catchup", "--child", "--jobs", str(opts.jobs)]
        if opts.count:
            child.append("--count")
        if opts.profile:  # bench/profile_summary.py reads it
            spy = [str(procs.BIN / "py-spy"), "record", "--rate", "250", "--format", "raw", "--gil"]
            child = [*spy, "--output", opts.profile, "--", *child]
        done = subprocess.run(child, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - began
        requests = len(fake.requests("/v1/events"))
    if done.returncode != 0:
        raise SystemExit(f"the catch-up failed:\n{done.stdout}\n{done.stderr}")
    measured = json.loads(next(ln for ln in done.stdout.splitlines()[::-1] if ln[:1] == "{"))
    return report(opts, events, measured, wall, requests, accounts, load_before)


def load(fake: Any, events: saas.Stream) -> list[str]:
    """The stream's events in the fake's ``/v1/events``, in created order (the fake lists
    newest first, the events of one second in the reverse of this order, as Stripe does);
    returns the connected accounts."""
    accounts: list[str] = []
    for body in events.bodies:
        event = orjson.loads(body)
        account = event.get("account") or None
        if account and account not in accounts:
            fake.connect(account)
            accounts.append(account)
        fake.put(event, account=account, livemode=bool(event.get("livemode")))
    return accounts


def report(  # noqa: PLR0917 - the run's figures, once
    opts: argparse.Namespace,
    events: saas.Stream,
    measured: dict[str, Any],
    wall: float,
    requests: int,
    accounts: list[str],
    load_before: str,
) -> dict[str, Any]:
    count = events.events
    sizes = sorted(len(orjson.dumps(orjson.loads(body))) for body in events.bodies)
    seconds = measured["seconds"]
    return {
        "events": count,
        "accounts": ["platform", *accounts],
        "body_bytes": {"p50": saas.pct(sizes, 50), "p95": saas.pct(sizes, 95)},
        "latency_s": opts.latency,
        "jobs": opts.jobs,
        "src": opts.src,
        "requests": requests,
        "events_per_s": round(count / seconds),
        "events_per_s_wall": round(count / wall),
        "seconds": round(seconds, 2),
        "wall_s": round(wall, 1),
        "cpu_ms_per_event": {
            "command": round(measured["cpu_s"] * 1000 / count, 3),
            "postgres": round(measured["postgres_cpu_s"] * 1000 / count, 3),
        },
        "summary": measured["summary"],
        "statements_per_event": {
            kind: round(n / count, 3) for kind, n in measured.get("statements", {}).items()
        },
        "check": check(opts, events),
        "load_before": load_before,
        "load_after": procs.loadavg(),
        "machine_loop_s": procs.speed(),
        "postgres": database.settings(opts.database_url),
    }


def check(opts: argparse.Namespace, events: saas.Stream) -> dict[str, Any]:
    """Every event recorded once and processed once (one attempt), the mirror equal to the
    final state of every object."""
    from django.db import connections

    from tests.streams.check import differences

    problems = differences(events.world)
    connections.close_all()
    ((rows, processed, once),) = database.execute(
        opts.database_url,
        "SELECT count(*), count(*) FILTER (WHERE status = 'processed'), "
        "count(*) FILTER (WHERE attempts = 1 AND delivery_count = 1) FROM stripe_mirror_inbox",
    )
    exactly_once = rows == processed == once == events.events
    return {
        "ok": exactly_once and not problems,
        "exactly_once": exactly_once,
        "inbox": {"rows": rows, "processed": processed, "one_attempt_one_delivery": once},
        "mirror_differences": len(problems),
        "examples": problems[:5],
    }


def child(counts: bool, jobs: int) -> None:
    """In the child: the catch-up, timed, with the CPU of this process and its lane processes
    (``jobs``), and of PostgreSQL (every process of the server: the backends of the lanes,
    which come and go, and the server's own, its WAL writer's fsyncs included); or with its
    statements counted (``counts``: Django's query log, which costs time, one process)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    out = io.StringIO()
    counting = CaptureQueriesContext(connection) if counts else contextlib.nullcontext()
    server = procs.parent(backend)
    cpu, server_cpu = _own_cpu(), _server_cpu(server)
    began = time.monotonic()
    with counting:
        call_command(
            "stripe_mirror_catchup",
            *("--plain", "--accounts", "all", *(("--jobs", str(jobs)) if jobs > 1 else ())),
            stdout=out,
            stderr=out,
        )
    seconds = time.monotonic() - began
    result = {
        "seconds": seconds,
        "cpu_s": _own_cpu() - cpu,
        "postgres_cpu_s": _server_cpu(server) - server_cpu,
        "summary": _table(out.getvalue()),
    }
    if isinstance(counting, CaptureQueriesContext):
        result["statements"] = Counter(q["sql"].split(None, 1)[0].upper() for q in counting)
    print(json.dumps(result))


def _own_cpu() -> float:
    """This process's CPU seconds and its children's that have ended (the lanes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _server_cpu(postmaster: int) -> float:
    """PostgreSQL's CPU seconds: its processes alive now and those that have ended."""
    alive = procs.cpu_seconds(procs.descendants(postmaster))
    return procs.cpu_seconds([postmaster], children=True)[postmaster] + sum(alive.values())


def _table(output: str) -> list[str]:
    """The command's summary table (the progress lines before it left out)."""
    lines = output.strip().splitlines()
    first = next((n for n, line in enumerate(lines) if line.startswith("account ")), 0)
    return lines[first:]


def main() -> None:
    opts = options()
    if opts.child:
        child(opts.count, opts.jobs)
        return
    result = run(opts)
    print(json.dumps(result, indent=2))
    if not result["check"]["ok"]:
        raise SystemExit("the catch-up did not record and mirror every event exactly once")


if __name__ == "__main__":
    main()
