"""Profile one path of the SaaS benchmark in one process, with py-spy, on the same stream.

    python -m bench.saas_profile default --customers 300 --events 3000
    python -m bench.saas_profile worker --customers 300 --events 10000
    python -m bench.saas_profile record --customers 300 --events 10000

``default``: every delivery through the site's WSGI application with the immediate backend
(the default path, mirrored inside the request), as bench/saas_count.py posts them but with
psycopg's C implementation; ``worker``: the deliveries recorded first (record-only, not
profiled), then ``stripe_mirror_worker --once --batch-size 500`` profiled; ``record``: every
delivery through the record-only endpoint (``TASK_BACKEND: None``), nothing processed. Prints the
process's CPU per unit and the top functions (bench/profile_summary.py); the raw profile is
kept in bench/results/. The database is the benchmark's (dropped and re-created).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import saas, saas_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def main(argv: list[str]) -> int:
    if argv[:1] == ["_run"]:
        return _run(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench.saas_profile")
    p.add_argument("path", choices=["default", "worker", "record"])
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--no-spy", action="store_true", help="only time it")
    p.add_argument(
        "--gil",
        action="store_true",
        help="sample only while holding the GIL (Python CPU; leaves out time in C calls that "
        "release it, such as a send that hands the CPU to PostgreSQL)",
    )
    p.add_argument(
        "--statements",
        action="store_true",
        help="count the statements each unit sends, by text (an execute wrapper; no py-spy)",
    )
    p.add_argument(
        "--calls",
        action="store_true",
        help="count calls with cProfile instead of sampling (slower; calls per unit are exact)",
    )
    ns, rest = p.parse_known_args(argv)
    if ns.statements or ns.calls:
        ns.no_spy = True
    opts = saas_run.options(["--customers", str(ns.customers), *rest])
    os.environ.update(saas_run.site_env(opts.database_url, "no-backend"))
    sys.path[:0] = [str(saas_run.SRC), str(ROOT), str(ROOT / "example")]
    import django

    django.setup()
    world = saas.build_saas(opts.customers, opts.months, opts.seed)
    stream = saas_run.stream_for(opts, world, ns.events)
    RESULTS.mkdir(exist_ok=True)
    bodies = RESULTS / "profile-deliveries.bin"
    bodies.write_bytes(b"\x1e".join(stream.bodies[n] for n in stream.order))
    mode = "immediate" if ns.path == "default" else "no-backend"
    env = saas_run.fresh(opts, mode)
    if ns.statements:
        env["BENCH_COUNT_STATEMENTS"] = "1"
    if ns.calls:
        env["BENCH_CPROFILE"] = str(RESULTS / f"calls-{ns.path}-{time.strftime('%H%M%S')}.prof")
    if ns.path == "worker":
        subprocess.run(
            [sys.executable, "-m", "bench.saas_profile", "_run", "request", str(bodies)],
            env=env,
            check=True,
        )
    what = ["worker"] if ns.path == "worker" else ["request", str(bodies)]
    command = [sys.executable, "-m", "bench.saas_profile", "_run", *what]
    out = RESULTS / f"profile-{ns.path}-{time.strftime('%H%M%S')}.txt"
    if not ns.no_spy:
        spy = str(Path(sys.executable).with_name("py-spy"))
        gil = ["--gil"] if ns.gil else []
        command = [
            spy,
            "record",
            "-r",
            str(ns.rate),
            "-f",
            "raw",
            "-o",
            str(out),
            *gil,
            "--",
            *command,
        ]
    subprocess.run(command, env=env, check=True)
    units = stream.events if ns.path == "worker" else stream.deliveries
    print(f"{ns.path}: {stream.events} events, {stream.deliveries} deliveries; per unit: {units}")
    if ns.path != "record":  # recorded only: nothing to check against the final state
        print(saas_run.check(opts, stream))
    if not ns.no_spy:
        subprocess.run(
            [sys.executable, "bench/profile_summary.py", str(out), "--top", str(ns.top)], check=True
        )
    return 0


def _run(argv: list[str]) -> int:
    import django

    django.setup()
    counted: Counter[str] = Counter()
    times, wall = os.times(), time.perf_counter()
    with _counting(counted), _calls():
        if argv[0] == "request":
            from .saas_count import post_all

            units = post_all(argv[1])
        else:
            from django.core.management import call_command

            from stripe_mirror.models import InboxEvent

            units = InboxEvent.objects.count()
            call_command("stripe_mirror_worker", "--once", "--batch-size", "500")
    after, wall = os.times(), time.perf_counter() - wall
    user, system = after.user - times.user, after.system - times.system
    print(
        f"{argv[0]}: {units} units, {(user + system) * 1000 / units:.3f} CPU ms/unit "
        f"(user {user * 1000 / units:.3f}, system {system * 1000 / units:.3f}), "
        f"{units / wall:.1f} units/s (this process, one at a time)",
        flush=True,
    )
    for text, count in counted.most_common():
        print(f"{count / units:7.3f}  {text}")
    return 0


@contextmanager
def _calls() -> Iterator[None]:
    """With BENCH_CPROFILE, run under cProfile and write its stats there (pstats)."""
    path = os.environ.get("BENCH_CPROFILE")
    if not path:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)
        print(f"calls: {path} (python -m pstats)", flush=True)


@contextmanager
def _counting(counted: Counter[str]) -> Iterator[None]:
    """With BENCH_COUNT_STATEMENTS, count each statement sent through Django's cursors by
    its first words (BEGIN and COMMIT go around them: bench/saas_count.py counts those)."""
    if not os.environ.get("BENCH_COUNT_STATEMENTS"):
        yield
        return
    from django.db import connection

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        counted[" ".join(str(sql).split())[:110]] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
