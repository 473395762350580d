"""The example site as the benchmark serves it: DEBUG off, quiet logs, and the task backend
of the mode under test, chosen by BENCH_MODE:

  immediate    the example's default: each event is processed inside its request
  database     django-tasks-db: the request records the event and enqueues a task row;
               ``manage.py db_worker`` processes it
  record-only  the request records the event and enqueues nothing (bench.backends);
               ``manage.py stripe_mirror_worker`` processes the inbox
  no-backend   the library's record-only setting, STRIPE_MIRROR["TASK_BACKEND"] = None:
               nothing is enqueued at all; ``stripe_mirror_worker`` processes the inbox
  rq           django-tasks-rq: the request records the event and enqueues an RQ job on
               Redis (BENCH_RQ_REDIS_URL, default database 9: the tests use 5), queue
               BENCH_RQ_QUEUE; ``manage.py rqworker`` processes it (bench/saas_rq.py)
  bare         not the app at all: bench/bare.py, the floor (verify, parse, one INSERT)
"""

import os

MODE = os.environ.get("BENCH_MODE", "immediate")
os.environ["STRIPE_MIRROR_TASKS"] = "database" if MODE == "database" else "immediate"

from example_site.settings import *  # noqa: E402, F403
from example_site.settings import DATABASES, STRIPE_MIRROR  # noqa: E402

DEBUG = False
# Nothing below WARNING: the demo handlers log every event at INFO, which a busy site
# would not send to a console.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # bench/mirror.py counts the snapshots its workers did not write (superseded in a batch),
    # from the one line per batch of its own logger (not each event's "processed" line).
    "loggers": {
        "stripe_mirror.processing.batch": {
            "level": "DEBUG" if os.environ.get("BENCH_COUNT_SUPERSEDED") else "WARNING"
        }
    },
}
ROOT_URLCONF = "bench.urls"
if MODE == "record-only":
    TASKS = {"default": {"BACKEND": "bench.backends.DiscardBackend"}}
elif MODE == "no-backend":
    STRIPE_MIRROR = {**STRIPE_MIRROR, "TASK_BACKEND": None}
elif MODE == "rq":
    from example_site.settings import INSTALLED_APPS, TASKS

    RQ_QUEUE = os.environ.get("BENCH_RQ_QUEUE", "stripe-bench")
    INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]
    RQ_QUEUES = {
        RQ_QUEUE: {
            # As docs/operations.md configures it: a broker that is down fails an enqueue
            # fast instead of holding the webhook request.
            "URL": os.environ.get("BENCH_RQ_REDIS_URL", "redis://127.0.0.1:6379/9")
            + "?socket_connect_timeout=1&socket_timeout=2",
            "DEFAULT_TIMEOUT": 60,
        }
    }
    TASKS = {**TASKS, "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [RQ_QUEUE]}}
    STRIPE_MIRROR = {**STRIPE_MIRROR, "TASK_BACKEND": "rq", "TASK_QUEUE": RQ_QUEUE}
elif MODE not in ("immediate", "database", "bare"):
    raise ValueError(f"unknown BENCH_MODE {MODE!r}")
# Site-level choices worth measuring (PostgreSQL, psycopg 3): bind parameters on the server
# instead of quoting them into the SQL text (Django's default is client-side binding), and
# let psycopg prepare statements it has run this many times (Django's default: never).
if os.environ.get("BENCH_SERVER_SIDE_BINDING") == "1":
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
if os.environ.get("BENCH_PREPARE_THRESHOLD"):
    threshold = int(os.environ["BENCH_PREPARE_THRESHOLD"])
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = threshold
# A/B of the bound on the recording (docs/benchmarks.md): BENCH_RECORD_TIMEOUT=0 turns it off.
if os.environ.get("BENCH_RECORD_TIMEOUT") is not None:
    STRIPE_MIRROR = {**STRIPE_MIRROR, "RECORD_TIMEOUT": float(os.environ["BENCH_RECORD_TIMEOUT"])}
# bench/backfill.py: the API key and address of its fake Stripe server (a JSON object).
if os.environ.get("BENCH_STRIPE_MIRROR"):
    import json

    STRIPE_MIRROR = {**STRIPE_MIRROR, **json.loads(os.environ["BENCH_STRIPE_MIRROR"])}
