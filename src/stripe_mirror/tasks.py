"""Stage 3: the hand-off: recorded events, and retries, to Django's tasks framework.

``django.tasks`` on Django 6, the ``django-tasks`` backport on Django 5.2. With the default
``ImmediateBackend`` an event is processed right after it is recorded, inside the request;
with a queue backend (django-tasks-db, django-tasks-rq, ...) it is processed by that
backend's workers; with ``TASK_BACKEND: None`` nothing is enqueued and
``manage.py stripe_mirror_worker`` processes the inbox in batches (the fastest way to mirror a
high volume). Either way the inbox row is the source of truth: if an enqueue is lost, the
worker command still finds the event due and processes it.

The dispatcher (``dispatch/``) returns its retry decisions as values; this module is where
they are handed to a queue backend that can defer tasks (``schedule_retries``). It stays at
this path, outside ``dispatch/``, because queue backends store the task's path,
``stripe_mirror.tasks.process_event``, with each task they hold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from importlib.util import find_spec
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction

from . import conf
from .dispatch.batch import attempt_due, attempt_listed
from .dispatch.outcome import Decision, Outcome
from .dispatch.run import attempt
from .logs import event_extra
from .models import InboxEvent

#: Where Django's tasks framework comes from: Django >= 6 has it, Django 5.2 needs the backport.
FRAMEWORK = (
    "django.tasks"
    if find_spec("django.tasks")
    else "django_tasks"
    if find_spec("django_tasks")
    else None
)
if FRAMEWORK == "django.tasks":
    from django.tasks import TaskResultStatus, task, task_backends
elif FRAMEWORK == "django_tasks":  # pragma: no cover - exercised on Django 5.2 only
    from django_tasks import (  # type: ignore[no-redef,assignment,unused-ignore]
        TaskResultStatus,
        task,
        task_backends,
    )
else:  # pragma: no cover - Django 5.2 without the backport
    # This module must still import (the URL checks import the view, which imports it) so
    # that the system check stripe_mirror.E013 can say what is missing. Until it is
    # installed every enqueue fails, is logged, and leaves its event due for the worker.
    def task(**options: Any) -> Any:  # type: ignore[no-redef,unused-ignore]
        return lambda function: function


logger = logging.getLogger("stripe_mirror.tasks")


@task()
def process_event(pk: int) -> str:
    """Process one recorded inbox event (by primary key); returns the outcome's name."""
    return process(pk).value


def process(pk: int, *, force: bool = False) -> Outcome:
    """``dispatch.process``, with a failed attempt's retry handed to the queue backend."""
    decision = attempt(pk, force=force)
    schedule_retries([decision])
    return decision.outcome


def process_due(limit: int = 50, *, related: int | None = None) -> list[tuple[str, Outcome]]:
    """``dispatch.process_due``, with the failed events' retries handed to the queue backend."""
    decisions = attempt_due(limit, related=related)
    schedule_retries(decisions)
    return [(d.stripe_id, d.outcome) for d in decisions]


def process_listed(pks: Sequence[int]) -> list[Outcome]:
    """``dispatch.attempt_listed`` (the events ``pks``, due and free, as one batch; the others
    skipped), with the failed events' retries handed to the queue backend; one outcome per
    pk, in order."""
    decisions = attempt_listed(pks)
    schedule_retries(decisions)
    return [d.outcome for d in decisions]


def schedule_retries(decisions: Iterable[Decision]) -> None:
    """Schedule each decided retry once the outcome that decided it is committed (at once
    outside a transaction)."""
    retries = [(d.pk, d.retry_at) for d in decisions if d.retry_at is not None]
    if not retries:
        return

    def schedule() -> None:
        for pk, when in retries:
            schedule_retry(pk, when)

    transaction.on_commit(schedule, using=router.db_for_write(InboxEvent))


def _configured_task() -> Any:
    backend = conf.task_backend()
    return None if backend is None else _task_for(backend, conf.task_queue())


@lru_cache(maxsize=16)
def _task_for(backend: str, queue: str) -> Any:
    if FRAMEWORK is None:
        raise ImproperlyConfigured(
            "Django's tasks framework is missing: on Django 5.2 install django-tasks "
            "and add 'django_tasks' to INSTALLED_APPS (stripe_mirror.E013)"
        )
    # Task.using() copies and re-validates the task: worth doing once per configuration,
    # not once per webhook. Backends validate the task again when it is enqueued.
    return process_event.using(backend=backend, queue_name=queue)


def enqueue(pk: int) -> None:
    """Enqueue processing of a recorded event. Never raises: the event is already durable,
    and a lost enqueue is recovered by the worker command."""
    try:
        configured = _configured_task()
        if configured is None:  # TASK_BACKEND None: stripe_mirror_worker processes the inbox
            return
        result = configured.enqueue(pk)
    except Exception:
        logger.exception(
            "could not enqueue processing of inbox event %s; a worker will",
            pk,
            extra=event_extra(inbox_id=pk),
        )
        return
    if result.status == TaskResultStatus.FAILED:  # the immediate backend ran it and it raised
        detail = result.errors[-1].traceback if result.errors else "no traceback"
        logger.error(
            "processing of inbox event %s raised; it stays due:\n%s",
            pk,
            detail,
            extra=event_extra(inbox_id=pk),
        )


def schedule_retry(pk: int, when: datetime) -> None:
    """Ask a queue backend that can defer tasks to retry at ``when``. Backends that cannot
    (the immediate backend) rely on ``stripe_mirror_worker`` to pick the event up."""
    alias = conf.task_backend()
    if alias is None or FRAMEWORK is None:
        return
    try:
        backend = task_backends[alias]
        if getattr(backend, "supports_defer", False):
            process_event.using(
                backend=alias, queue_name=conf.task_queue(), run_after=_whole_second(when)
            ).enqueue(pk)
    except Exception:
        logger.exception(
            "could not schedule a retry of inbox event %s; a worker will",
            pk,
            extra=event_extra(inbox_id=pk),
        )


def _whole_second(when: datetime) -> datetime:
    """``when`` rounded up to a whole second. RQ's scheduler keeps whole seconds, rounding
    down: a retry run before ``next_attempt_at`` finds its event not yet due and does nothing,
    leaving it to ``stripe_mirror_worker``."""
    return when if not when.microsecond else when.replace(microsecond=0) + timedelta(seconds=1)
