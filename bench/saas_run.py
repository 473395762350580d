"""Issue 14's benchmark: the two paths a site runs, on the simulated SaaS stream (bench/saas.py),
on PostgreSQL with durability on, driven over HTTP by a Python client on the same machine.

    python -m bench.saas run [--customers 3000 --months 6] [--phases default,workers,counts,soak]

Phases (each on a fresh database, each stream a complete sub-world checked at the end):
  default   the webhook mirrors inside the request (immediate backend): gunicorn 2 sync
            workers at concurrency 8, granian 2 workers at concurrency 16
  workers   record-only endpoint (STRIPE_MIRROR TASK_BACKEND None): recording; draining the
            backlog with stripe_mirror_worker x N --batch-size B; end to end; then recording
            again while 2 long-running workers drain
  counts    statements, round trips and commits per delivery (both request paths) and per
            event (the worker), counted at libpq in one process (bench/saas_count.py)
  soak      a large burst into the record-only endpoint while workers drain: ingest rate,
            drain time, lag, peak RSS and RSS growth per process
  soak-rq   the same burst into an endpoint that enqueues each event on Redis
            (django-tasks-rq), drained by --workers rqworker processes (bench/saas_rq.py)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import database, load, mirror, procs, saas, saas_rq
from .saas_report import report
from .saas_watch import Group, Watch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sm_bench_saas"
#: The example site's endpoint secret while benchmarked (a test value, not a credential).
SECRET = "whsec_bench_0123456789abcdef"  # noqa: S105
PHASES = ("default", "workers", "counts", "soak", "soak-rq")
#: The servers' logs (procs.running prints the end of one whose server fails to start).
LOGS = Path(tempfile.gettempdir())


def options(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.saas run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = p.add_argument
    add(
        "--database-url",
        default=os.environ.get("BENCH_SAAS_DATABASE_URL", DEFAULT_URL),
        help="PostgreSQL database DROPPED and re-created for each phase "
        "(env BENCH_SAAS_DATABASE_URL)",
    )
    add("--customers", type=int, default=3000)
    add("--months", type=int, default=6)
    add("--seed", type=int, default=1)
    add("--duplicates", type=float, default=0.05, help="share of events delivered twice")
    add("--displacement", type=int, default=20, help="places a delivery may move")
    add("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    add("--servers", default="gunicorn,granian", help="default path: servers to measure")
    add("--default-events", type=int, default=6000, help="default path: events per server")
    add("--backlog", type=int, default=30000, help="workers: events recorded, then drained")
    add("--workers", type=int, default=3, help="stripe_mirror_worker processes draining")
    add("--batch-size", type=int, default=500)
    add("--live-workers", type=int, default=2, help="workers draining while recording")
    add("--count-events", type=int, default=1000, help="counts: default path, events posted")
    add("--count-worker-events", type=int, default=10000, help="counts: recorded, then drained")
    add("--soak-events", type=int, default=50000)
    add(
        "--rq-redis-url",
        default=os.environ.get("BENCH_RQ_REDIS_URL", saas_rq.DEFAULT_URL),
        help="soak-rq: Redis database FLUSHED at the start of the phase, the benchmark's own "
        "(env BENCH_RQ_REDIS_URL)",
    )
    add(
        "--rq-worker-class",
        default="",
        help="soak-rq: rqworker --worker-class (default: RQ's own, which forks a work horse "
        "per job; rq.SimpleWorker runs jobs in the worker process)",
    )
    add("--granian-threads", type=int, default=4, help="blocking threads per granian worker")
    add(
        "--record-server",
        choices=("granian", "gunicorn"),
        default="granian",
        help="server of the record-only endpoint (2 workers; gunicorn: sync, concurrency 8)",
    )
    add("--port", type=int, default=8766)
    add(
        "--drain-timeout",
        type=int,
        default=3600,
        help="seconds to wait for workers to drain (RQ's workers drain 50,000 events slowly)",
    )
    return p.parse_args(argv)


# --- the site --------------------------------------------------------------------------------


#: The stripe_mirror package benchmarked: src/ of this checkout, or BENCH_SRC (to compare
#: with another commit: git archive <commit> src | tar -x -C /tmp/old; BENCH_SRC=/tmp/old/src).
SRC = Path(os.environ.get("BENCH_SRC") or ROOT / "src").resolve()


def site_env(url: str, mode: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(ROOT / "example"), str(ROOT)])
    env.update(DJANGO_SETTINGS_MODULE="bench.settings", BENCH_MODE=mode, DATABASE_URL=url)
    env["STRIPE_WEBHOOK_SECRET"] = SECRET
    # The drain's workers count the snapshots they did not write from DEBUG lines; a site
    # does not log each event at DEBUG, so the default path's servers do not either.
    if mode != "immediate":
        env["BENCH_COUNT_SUPERSEDED"] = "1"
    else:
        env.pop("BENCH_COUNT_SUPERSEDED", None)
    return env


def fresh(opts: argparse.Namespace, mode: str) -> dict[str, str]:
    """A new, migrated database; the site's environment for ``mode``."""
    from django.db import connections

    connections.close_all()
    env = site_env(opts.database_url, mode)
    database.fresh(opts.database_url)
    command = [sys.executable, "-m", "django", "migrate", "--no-input", "-v0"]
    subprocess.run(command, env=env, check=True)
    return env


def server_spec(opts: argparse.Namespace, kind: str) -> tuple[procs.ServerSpec, int]:
    """The issue's servers: gunicorn 2 sync workers (concurrency 8), granian 2 workers
    (concurrency 16)."""
    if kind == "gunicorn":
        return procs.ServerSpec("gunicorn", opts.port, 2, 1, "sync"), 8
    return procs.ServerSpec("granian", opts.port, 2, opts.granian_threads), 16


def poster(opts: argparse.Namespace, stream: saas.Stream, concurrency: int) -> load.Load:
    return load.Load(
        host="127.0.0.1",
        port=opts.port,
        path="/stripe/webhook/default/",
        bodies=stream.bodies,
        order=stream.order,
        sign=lambda body, ts: saas.sign(body, SECRET, ts),
        concurrency=concurrency,
    )


def stream_for(opts: argparse.Namespace, world: Any, events: int) -> saas.Stream:
    return saas.substream(
        world, events, seed=opts.seed, duplicates=opts.duplicates, displacement=opts.displacement
    )


# --- the default path ----------------------------------------------------------------------


def default_path(opts: argparse.Namespace, world: Any, kind: str) -> dict[str, Any]:
    """Post the stream to the endpoint that mirrors inside the request."""
    stream = stream_for(opts, world, opts.default_events)
    env = fresh(opts, "immediate")
    spec, concurrency = server_spec(opts, kind)
    log = LOGS / f"server-{kind}-{time.monotonic_ns()}.log"
    with procs.running(spec, env, log) as pid:
        watch = Watch(opts.database_url, [Group("server", procs.descendants(pid) or [pid])])
        watch.start()
        outcome = load.run(poster(opts, stream, concurrency))
        watch.stop()
        memory = procs.server_memory(pid)
    post = outcome.summary()
    return {
        "phase": f"default/{kind}",
        "server": f"{kind} 2 {'sync workers' if kind == 'gunicorn' else 'workers'}",
        "concurrency": concurrency,
        "events": stream.events,
        "events_per_s": round(stream.events / outcome.seconds, 1),
        "post": post,
        "cpu_ms_per_delivery": watch.cpu_ms_per(stream.deliveries),
        "memory": memory,
        "check": check(opts, stream),
    }


# --- the workers ---------------------------------------------------------------------------


def recording(
    opts: argparse.Namespace,
    env: dict[str, str],
    stream: saas.Stream,
    *,
    drainers: int = 0,
    memory: bool = False,
    rq: bool = False,
) -> dict[str, Any]:
    """Post the stream to the record-only endpoint, with ``drainers`` long-running workers
    mirroring meanwhile (then until nothing is due); with ``rq``, to the endpoint that
    enqueues on Redis, ``drainers`` rqworker processes draining."""
    spec, concurrency = server_spec(opts, opts.record_server)
    log = LOGS / f"server-{time.monotonic_ns()}.log"
    crew = argparse.Namespace(workers=drainers, batch_size=opts.batch_size)
    drain = (
        saas_rq.workers(drainers, env, opts.rq_worker_class)
        if rq
        else mirror.workers(crew, env, "--sleep", "1")
    )
    with procs.running(spec, env, log) as pid, drain as both:
        running = both[0]
        # The workers' start-up is not the stream's.
        saas_rq.ready(opts.rq_redis_url, drainers) if rq else ready(opts, drainers)
        groups = [Group("server", procs.descendants(pid) or [pid])]
        groups += [Group("workers", [w.pid for w in running], children=rq)] if drainers else []
        every = 1.0 if memory else 0.5
        watch = Watch(opts.database_url, groups, every=every, memory=memory, exited_backends=rq)
        watch.start()
        outcome = load.run(poster(opts, stream, concurrency))
        drained_at = wait_drained(opts) if drainers else time.monotonic()
        watch.stop()
    result = {
        "events": stream.events,
        "recorded_per_s": round(stream.events / outcome.seconds, 1),
        "post": outcome.summary(),
        "cpu_ms_per_delivery": watch.cpu_ms_per(stream.deliveries),
        "largest_backlog": watch.backlog,
    }
    if drainers:
        result.update(drainers=drainers, drain_s=round(drained_at - watch.started, 1))
        result["drain_after_posting_s"] = round(drained_at - watch.started - outcome.seconds, 1)
        result["lag_ms"] = database.lag(opts.database_url)
        result["due_left"] = database.due(opts.database_url)  # not 0: --drain-timeout hit
        result["cpu_ms_per_event"] = watch.cpu_ms_per(stream.events)
    if memory:
        result["memory"] = {g.name: g.memory(settle=10) for g in [*groups, watch.backends]}
    return result


def ready(opts: argparse.Namespace, drainers: int) -> None:
    """Wait until the workers are connected (they poll as soon as Django is set up)."""
    deadline = time.monotonic() + 60
    while len(database.backends(opts.database_url)) < drainers and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)


def wait_drained(opts: argparse.Namespace) -> float:
    deadline = time.monotonic() + opts.drain_timeout
    while database.due(opts.database_url) and time.monotonic() < deadline:
        time.sleep(0.2)
    return time.monotonic()


def workers_phase(opts: argparse.Namespace, world: Any) -> dict[str, Any]:
    """Record a backlog, drain it with ``--workers`` --once workers; then record it again
    while ``--live-workers`` long-running workers drain."""
    stream = stream_for(opts, world, opts.backlog)
    env = fresh(opts, "no-backend")
    recorded = recording(opts, env, stream)
    crew = argparse.Namespace(
        database_url=opts.database_url,
        workers=opts.workers,
        batch_size=opts.batch_size,
        profile=False,
        order="delivered",
    )
    drained = mirror.drain(crew, env)
    checked = check(opts, stream)
    total = recorded["post"]["seconds"] + drained["wall_s_with_startup"]
    env = fresh(opts, "no-backend")
    live = recording(opts, env, stream, drainers=opts.live_workers)
    return {
        "phase": "workers",
        "events": stream.events,
        "record": recorded,
        "drain": drained,
        "end_to_end_per_s": round(stream.events / total, 1),
        "check": checked,
        "while_draining": {**live, "check": check(opts, stream)},
    }


def soak(opts: argparse.Namespace, world: Any) -> dict[str, Any]:
    stream = stream_for(opts, world, opts.soak_events)
    env = fresh(opts, "no-backend")
    result = recording(opts, env, stream, drainers=opts.workers, memory=True)
    return {"phase": "soak", **result, "check": check(opts, stream)}


def soak_rq(opts: argparse.Namespace, world: Any) -> dict[str, Any]:
    """The soak with the broker engine: each event enqueued on Redis by the webhook, and
    ``--workers`` rqworker processes (one RQ job per event) draining."""
    stream = stream_for(opts, world, opts.soak_events)
    env = fresh(opts, "rq")
    env.update(BENCH_RQ_REDIS_URL=opts.rq_redis_url, BENCH_RQ_QUEUE=saas_rq.QUEUE)
    saas_rq.flush(opts.rq_redis_url)
    result = recording(opts, env, stream, drainers=opts.workers, memory=True, rq=True)
    kind = opts.rq_worker_class or "rq.Worker (a work horse forked per job)"
    result.update(worker_class=kind, queue=saas_rq.state(opts.rq_redis_url))
    return {"phase": "soak-rq", **result, "check": check(opts, stream)}


# --- statements, round trips, commits --------------------------------------------------------


def counts_phase(opts: argparse.Namespace, world: Any) -> dict[str, Any]:
    """Per delivery for both request paths, per event for the worker, counted at libpq: the
    default path on ``--count-events``, recording and the worker on ``--count-worker-events``
    (enough batches of ``--batch-size`` for the worker's figures to be a backlog's)."""
    out: dict[str, Any] = {"phase": "counts"}
    for mode, path, events in (
        ("immediate", "default path", opts.count_events),
        ("no-backend", "record only", opts.count_worker_events),
    ):
        stream = stream_for(opts, world, events)
        bodies = LOGS / "deliveries.bin"
        bodies.write_bytes(b"\x1e".join(stream.bodies[n] for n in stream.order))
        env = fresh(opts, mode)
        out[path] = per_unit(opts, env, ["request", str(bodies)], stream.deliveries)
        out[path].update(events=stream.events, deliveries=stream.deliveries)
    out["worker"] = per_unit(opts, env, ["worker", str(opts.batch_size)], stream.events)
    out["check"] = check(opts, stream)
    return out


def per_unit(
    opts: argparse.Namespace, env: dict[str, str], args: list[str], units: int
) -> dict[str, Any]:
    commits = xact_commits(opts.database_url)
    run = subprocess.run(
        [sys.executable, "-m", "bench.saas_count", *args],
        env={**env, "PSYCOPG_IMPL": "python"},
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        raise SystemExit(f"saas_count {args[0]} failed:\n{run.stderr[-3000:]}")
    counted = json.loads(run.stdout.strip().splitlines()[-1])["counts"]
    time.sleep(1.0)  # PostgreSQL publishes a backend's statistics within a second
    server_commits = xact_commits(opts.database_url) - commits - 1  # less this reading's own
    per = {kind: round(n / units, 2) for kind, n in sorted(counted.items())}
    control = ("~", "BEGIN", "COMMIT", "ROLLBACK")  # transaction control is not a statement
    statements = sum(n for kind, n in counted.items() if not kind.startswith(control))
    return {
        "statements": round(statements / units, 2),
        "round_trips": per.pop("~round_trips", 0.0),
        # What waits for a WAL flush: COMMITs, and writes sent outside a transaction.
        "commits": round(per.get("COMMIT", 0.0) + per.pop("~autocommit_writes", 0.0), 2),
        "server_transactions": round(server_commits / units, 2),
        "by_kind": per,
    }


def xact_commits(url: str) -> int:
    rows = database.execute(
        url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(rows[0][0])


# --- correctness -----------------------------------------------------------------------------


def check(opts: argparse.Namespace, stream: saas.Stream) -> dict[str, Any]:
    """Every event recorded once and processed once, every delivery counted, and the mirror
    equal to the final state of every object (tests/streams/check.py)."""
    from django.db import connections

    from tests.streams.check import differences

    connections.close_all()
    problems = differences(stream.world)
    connections.close_all()
    ((rows, processed, deliveries, retried),) = database.execute(
        opts.database_url,
        "SELECT count(*), count(*) FILTER (WHERE status = 'processed'), "
        "coalesce(sum(delivery_count), 0), count(*) FILTER (WHERE attempts > 1) "
        "FROM stripe_mirror_inbox",
    )
    once = rows == processed == stream.events and deliveries == stream.deliveries
    return {
        "ok": once and not problems,
        "exactly_once": once,
        "inbox": {"rows": rows, "processed": processed, "deliveries": int(deliveries)},
        "attempted_more_than_once": retried,
        "statuses": database.inbox_statuses(opts.database_url),
        "mirror_differences": len(problems),
        "examples": problems[:10],
    }


def main(argv: list[str]) -> int:
    global LOGS  # noqa: PLW0603 - one folder per run, removed at its end
    with tempfile.TemporaryDirectory(prefix="sm-bench-saas-") as logs:
        LOGS = Path(logs)
        return run_phases(options(argv))


def run_phases(opts: argparse.Namespace) -> int:
    os.environ.update(site_env(opts.database_url, "no-backend"))
    sys.path[:0] = [str(SRC), str(ROOT), str(ROOT / "example")]
    import django

    django.setup()
    database.fresh(opts.database_url)
    summary: dict[str, Any] = {
        "machine": procs.machine(),
        "postgresql": database.settings(opts.database_url),
        "load_before": procs.loadavg(),
    }
    print(f"machine: {summary['machine']}\nPostgreSQL: {summary['postgresql']}")
    print(
        f"load average: {summary['load_before']} (figures on a loaded machine are not comparable)"
    )
    world = saas.build_saas(opts.customers, opts.months, opts.seed)
    summary["stream"] = saas.properties(stream_for(opts, world, 0), opts.customers, opts.months)
    print(saas.describe(summary["stream"]), flush=True)
    # The world is a few million objects that live to the end: out of the collector's sight,
    # so that its full collections do not pause the load generator's threads.
    gc.collect()
    gc.freeze()
    summary["runs"] = []
    for phase in [p.strip() for p in opts.phases.split(",") if p.strip()]:
        for run in phase_runs(opts, phase):
            before = procs.loadavg()
            result = run(world)
            result.update(load_before=before, load_after=procs.loadavg())
            report(result)
            summary["runs"].append(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"saas-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nresults: {out}")
    return 0 if all(_all_ok(r) for r in summary["runs"]) else 1


def phase_runs(opts: argparse.Namespace, phase: str) -> list[Any]:
    if phase == "default":
        kinds = [s.strip() for s in opts.servers.split(",") if s.strip()]
        return [lambda w, k=k: default_path(opts, w, k) for k in kinds]
    runs = {"workers": workers_phase, "counts": counts_phase, "soak": soak, "soak-rq": soak_rq}
    if phase not in runs:
        raise SystemExit(f"unknown phase {phase!r}: {', '.join(PHASES)}")
    return [lambda w, f=runs[phase]: f(opts, w)]


def _all_ok(r: dict[str, Any]) -> bool:
    checks = [r.get("check"), r.get("while_draining", {}).get("check")]
    posts = [
        r.get("post"),
        r.get("record", {}).get("post"),
        r.get("while_draining", {}).get("post"),
    ]
    return all(c["ok"] for c in checks if c) and not any(p["not_2xx"] for p in posts if p)
