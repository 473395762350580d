"""Reconcile throughput: mirrored rows compared with what a Stripe-shaped API lists.

    python -m bench.reconcile [--objects 10000] [--types customer] [--drift 100]

1. re-creates the benchmark's PostgreSQL database (``--database-url``; it is DROPPED),
   migrates it, and starts our fake Stripe server in this process with ``--objects`` objects
   (as ``bench.backfill`` seeds them);
2. mirrors them all with ``manage.py stripe_mirror_backfill`` (not timed), then changes
   ``--drift`` of them in the fake (no event);
3. runs ``manage.py stripe_mirror_reconcile`` in a child process (the server does not share
   its GIL), with the client-side rate limit raised out of the way;
4. prints objects/s compared (over the run's own ``started_at`` to ``finished_at``, from its
   ``ReconcileRun`` row, and over the command's wall time), and checks that exactly the
   changed objects were reported stale.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from typing import Any

from . import backfill, database, procs

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sm_bench_reconcile"


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--database-url", default=os.environ.get("BENCH_RECONCILE_DATABASE_URL", DEFAULT_URL))
    add("--objects", type=int, default=10_000)
    add("--types", default="customer", help=f"comma-separated, of: {', '.join(backfill.TABLES)}")
    add("--drift", type=int, default=100, help="objects changed in the API after the backfill")
    add("--latency", type=float, default=0.0, help="seconds added to every API request")
    return parser.parse_args(argv)


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        backfill.manage(*args, "--plain"), env=env, capture_output=True, text=True, check=False
    )


def run(opts: argparse.Namespace) -> dict[str, Any]:
    types = [t.strip() for t in opts.types.split(",") if t.strip()]
    database.fresh(opts.database_url)
    env = backfill.environment(opts.database_url)
    os.environ.update(env)
    import django

    django.setup()
    from tests.stripe_api.fake import TEST_KEY, FakeStripe
    from tests.stripe_api.fake.store import Scope

    subprocess.run(backfill.manage("migrate", "-v0"), env=env, check=True)
    with FakeStripe() as fake:
        backfill.seed(fake, types, opts.objects)
        extra = {"API_KEY": TEST_KEY, "API_BASE": fake.url, "API_RATE_LIMIT": 100_000}
        env["BENCH_STRIPE_MIRROR"] = json.dumps(extra)
        loaded = command(env, "stripe_mirror_backfill", "--types", ",".join(types))
        if loaded.returncode != 0:
            raise SystemExit(f"the backfill failed:\n{loaded.stdout}\n{loaded.stderr}")
        for entry in fake.store.newest_first(Scope(False, None), types[0])[: opts.drift]:
            fake.update(entry.obj["id"], metadata={"bench": "changed"})
        fake.latency = opts.latency
        fake.clear_log()
        load_before = procs.loadavg()
        began = time.monotonic()
        done = command(env, "stripe_mirror_reconcile", "--types", ",".join(types))
        wall = time.monotonic() - began
        requests = len(fake.requests())
    if done.returncode not in (0, 1):
        raise SystemExit(f"the reconcile failed:\n{done.stdout}\n{done.stderr}")
    return report(opts, types, wall, requests, load_before)


def report(
    opts: argparse.Namespace, types: list[str], wall: float, requests: int, load_before: str
) -> dict[str, Any]:
    (row,) = database.execute(
        opts.database_url,
        "SELECT compared, drift, EXTRACT(EPOCH FROM finished_at - started_at) "
        "FROM stripe_mirror_reconcile",
    )
    compared, drift, seconds = int(row[0]), int(row[1]), float(row[2])
    return {
        "objects": opts.objects,
        "types": types,
        "latency_s": opts.latency,
        "requests": requests,
        "compared": compared,
        "drift": drift,
        "correct": compared == opts.objects and drift == opts.drift,
        "objects_per_s": round(compared / seconds) if seconds else None,
        "objects_per_s_wall": round(compared / wall),
        "wall_s": round(wall, 1),
        "load_before": load_before,
        "load_after": procs.loadavg(),
        "postgres": database.settings(opts.database_url),
    }


def main() -> None:
    result = run(options())
    print(json.dumps(result, indent=2))
    if not result["correct"]:
        raise SystemExit("the reconcile did not compare every object or report every drift")


if __name__ == "__main__":
    main()
