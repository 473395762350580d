"""Backfill throughput: objects listed from a Stripe-shaped API and applied to the mirror.

    python -m bench.backfill [--objects 10000] [--types customer] [--latency 0.1]

1. re-creates the benchmark's PostgreSQL database (``--database-url``; it is DROPPED) and
   migrates it;
2. starts our fake Stripe server (tests/stripe_api/fake) in this process and stores
   ``--objects`` objects in it, split evenly over ``--types`` (Stripe's example objects of
   each type, fixtures3.json; subscriptions with 2 items, invoices with 3 lines), and
   ``--latency`` seconds of delay on every request (a realistic round trip: 0.1);
3. runs ``manage.py stripe_mirror_backfill`` in a child process (so that the server does not
   share its GIL), with the client-side rate limit raised out of the way;
4. prints objects/s applied (objects listed over the seconds the listings took, from the
   ``BackfillProgress`` rows, so that start-up does not count; and over the command's wall
   time), the pages' count, and checks that every object was mirrored once.

Durability stays on (PostgreSQL's settings are printed with the results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import database, procs

ROOT = Path(__file__).resolve().parent.parent
#: The stripe_mirror package benchmarked: src/ of this checkout, or BENCH_SRC (another commit's:
#: git archive <commit> src | tar -x -C /tmp/old; BENCH_SRC=/tmp/old/src), as bench/saas_run.py.
SRC = Path(os.environ.get("BENCH_SRC") or ROOT / "src").resolve()
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sm_bench_backfill"
TABLES = {
    "customer": "stripe_mirror_customer",
    "invoice": "stripe_mirror_invoice",
    "subscription": "stripe_mirror_subscription",
    "product": "stripe_mirror_product",
}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--database-url", default=os.environ.get("BENCH_BACKFILL_DATABASE_URL", DEFAULT_URL))
    add("--objects", type=int, default=10_000)
    add("--types", default="customer", help=f"comma-separated, of: {', '.join(TABLES)}")
    add("--latency", type=float, default=0.0, help="seconds added to every API request")
    return parser.parse_args(argv)


def seed(fake: Any, types: list[str], count: int) -> None:
    for number in range(count):
        object_type = types[number % len(types)]
        if object_type == "subscription":
            items = [{"id": f"si_b{number}_{i}", "object": "subscription_item"} for i in range(2)]
            fake.add("subscription", status="active", items=items)
        elif object_type == "invoice":
            lines = [{"id": f"il_b{number}_{i}", "object": "line_item"} for i in range(3)]
            fake.add("invoice", lines=lines)
        else:
            fake.add(object_type)


def run(opts: argparse.Namespace) -> dict[str, Any]:
    types = [t.strip() for t in opts.types.split(",") if t.strip()]
    database.fresh(opts.database_url)
    env = environment(opts.database_url)
    os.environ.update(env)  # the fake builds its objects with the library's models
    import django

    django.setup()
    from tests.stripe_api.fake import TEST_KEY, FakeStripe

    subprocess.run(manage("migrate", "-v0"), env=env, check=True)
    with FakeStripe() as fake:
        seed(fake, types, opts.objects)
        fake.latency = opts.latency
        extra = {"API_KEY": TEST_KEY, "API_BASE": fake.url, "API_RATE_LIMIT": 100_000}
        env["BENCH_STRIPE_MIRROR"] = json.dumps(extra)
        load_before = procs.loadavg()
        began = time.monotonic()
        done = subprocess.run(
            manage("stripe_mirror_backfill", "--plain", "--types", ",".join(types)),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - began
        pages = len(fake.requests())
    if done.returncode != 0:
        raise SystemExit(f"the backfill failed:\n{done.stdout}\n{done.stderr}")
    return report(opts, types, wall, pages, load_before)


def report(
    opts: argparse.Namespace, types: list[str], wall: float, pages: int, load_before: str
) -> dict[str, Any]:
    url = opts.database_url
    rows = database.execute(url, "SELECT object_type, seen, seconds FROM stripe_mirror_backfill")
    seen = sum(int(r[1]) for r in rows)
    seconds = sum(float(r[2]) for r in rows)
    mirrored = sum(database.count(url, TABLES[t]) for t in types)
    return {
        "objects": opts.objects,
        "types": types,
        "latency_s": opts.latency,
        "requests": pages,
        "listed": seen,
        "mirrored_rows": mirrored,
        "correct": seen == mirrored == opts.objects,
        "objects_per_s": round(seen / seconds) if seconds else None,
        "objects_per_s_wall": round(seen / wall),
        "wall_s": round(wall, 1),
        "load_before": load_before,
        "load_after": procs.loadavg(),
        "postgres": database.settings(url),
    }


def environment(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_MODE="record-only",
        DATABASE_URL=url,
        PYTHONPATH=os.pathsep.join(
            [str(SRC), str(ROOT), str(ROOT / "example"), env.get("PYTHONPATH", "")]
        ),
    )
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "example" / "manage.py"), *args]


def main() -> None:
    opts = options()
    result = run(opts)
    print(json.dumps(result, indent=2))
    if not result["correct"]:
        raise SystemExit("the mirror does not hold every object once")


if __name__ == "__main__":
    main()
