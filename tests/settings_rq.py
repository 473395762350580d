"""Test settings with RQ on Redis as the task backend (django-tasks-rq), for the child
processes of tests/test_rq_backend.py: the server, the RQ workers, stripe_mirror_worker.

RQ_TEST_REDIS_URL and RQ_TEST_QUEUE say which Redis and queue (unique to a test run).
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, STRIPE_MIRROR, TASKS

INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]
RQ_TEST_QUEUE = os.environ.get("RQ_TEST_QUEUE", "stripe-mirror-test")
RQ_QUEUES = {
    RQ_TEST_QUEUE: {
        # A broker that is down must fail an enqueue fast, not hold the webhook request:
        # redis-py reads its timeouts from the URL's query.
        "URL": os.environ.get("RQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
        + "?socket_connect_timeout=1&socket_timeout=2",
        "DEFAULT_TIMEOUT": 60,
    }
}
TASKS = {
    **TASKS,
    "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [RQ_TEST_QUEUE]},
}
STRIPE_MIRROR = {**STRIPE_MIRROR, "TASK_BACKEND": "rq", "TASK_QUEUE": RQ_TEST_QUEUE}
