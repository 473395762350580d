"""A task backend that accepts every task and runs none: the benchmark's record-only mode,
where the inbox itself is the queue and ``manage.py stripe_mirror_worker`` drains it.

(django-tasks' DummyBackend would do, but it keeps every result in memory, which would
show up in the server's peak RSS.)
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

try:  # Django >= 6.0
    from django.tasks import TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
except ImportError:  # the django-tasks backport on Django 5.2
    from django_tasks import TaskResult, TaskResultStatus
    from django_tasks.backends.base import BaseTaskBackend


class DiscardBackend(BaseTaskBackend):  # type: ignore[misc]
    supports_defer = False

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        return TaskResult(
            task=task,
            id=uuid.uuid4().hex,  # cheaper than get_random_string(32), as unique
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
