"""What the inbox holds right now: backlog, lag, failures, throughput, per account; and the
last catch-up runs.

Every figure is one aggregate query over the inbox, using its indexes where it can: the
backlog of due events and the lag read the ``(status, next_attempt_at)`` index, throughput the
``processed_at`` and ``received_at`` ones (the events received are grouped by what brought
them: a webhook or catch-up), the last catch-up runs the ``(livemode, account, id)`` index of
theirs. Only the counts of processed and skipped events scan their part of the table
(``snapshot(full=True)``, the command's default); the health view and the metrics read the
cheap figures alone.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min
from django.utils import timezone

from ..management.catchup import ENDPOINT as CATCHUP_ENDPOINT
from ..models import DUE_STATUSES, CatchupRun, InboxEvent, Status

#: Statuses that mean work is left (or given up on): counted through the due index.
OPEN_STATUSES = (Status.PENDING, Status.FAILED, Status.DEAD)
#: ``last_error`` holds one "[handler]" line before each failure's traceback.
_HANDLER_LINE = re.compile(r"^\[([^\]\n]+)\]$", re.MULTILINE)
#: Failed and dead events read to count failures by handler (their ``last_error``); more are
#: counted by type, not by handler, and the figure says it is a sample.
HANDLER_SAMPLE = 5000


@dataclass(frozen=True, slots=True)
class Account:
    """The open work of one account ("" is the platform account)."""

    account: str
    counts: dict[str, int]
    lag_seconds: float | None


@dataclass(frozen=True, slots=True)
class LastCatchup:
    """The newest catch-up run of one mode and account ("" is the platform account)."""

    livemode: bool
    account: str
    started_at: datetime
    finished_at: datetime | None
    window_start: datetime
    window_end: datetime
    recorded: int
    status: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    #: Events by status; processed and skipped only when taken with ``full``.
    counts: dict[str, int]
    #: Events due now (pending, and failed ones whose retry time has passed).
    due: int
    #: Age of the oldest due event, in seconds (0 when nothing is due): how far behind
    #: processing is. A pending event is due from when it was received.
    lag_seconds: float
    #: Failed and dead events by type: [{"type", "status", "count"}], most first.
    failing_types: list[dict[str, Any]]
    #: Failed and dead events by the handler that raised: {handler: {"failed": n, "dead": n}}.
    failing_handlers: dict[str, dict[str, int]]
    #: Whether ``failing_handlers`` read only HANDLER_SAMPLE of the failing events.
    handlers_sampled: bool
    window_seconds: int
    received: int
    processed: int
    accounts: list[Account] = field(default_factory=list)
    #: The events received in the window by what brought them: {"webhook": n, "catch-up": n}.
    sources: dict[str, int] = field(default_factory=dict)
    #: The newest catch-up run of each mode and account: test mode first, the platform first.
    catchups: list[LastCatchup] = field(default_factory=list)

    @property
    def processed_per_second(self) -> float:
        return self.processed / self.window_seconds if self.window_seconds else 0.0

    @property
    def received_per_second(self) -> float:
        return self.received / self.window_seconds if self.window_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        for run in data["catchups"]:
            for key in ("started_at", "finished_at", "window_start", "window_end"):
                run[key] = run[key] and run[key].isoformat()
        data["processed_per_second"] = round(self.processed_per_second, 3)
        data["received_per_second"] = round(self.received_per_second, 3)
        return data


def snapshot(*, window: int = 300, full: bool = True) -> Snapshot:
    """The inbox's figures now; ``window``: seconds of throughput to count."""
    now = timezone.now()
    since = now - timedelta(seconds=window)
    failed, sampled = failing_handlers()
    by_source = sources(since)
    return Snapshot(
        at=now,
        counts=counts(full=full),
        due=_due().count(),
        lag_seconds=lag_seconds(now),
        failing_types=failing_types(),
        failing_handlers=failed,
        handlers_sampled=sampled,
        window_seconds=window,
        received=sum(by_source.values()),
        processed=InboxEvent.objects.filter(processed_at__gte=since).count(),
        accounts=accounts(now),
        sources=by_source,
        catchups=last_catchups(),
    )


def sources(since: datetime) -> dict[str, int]:
    """The events first received since ``since``, by what brought them: a webhook (any
    endpoint) or catch-up (its reserved endpoint name). One query, grouped by endpoint."""
    rows = (
        InboxEvent.objects.filter(received_at__gte=since)
        .order_by()
        .values_list("endpoint")
        .annotate(n=Count("id"))
    )
    by_endpoint: dict[str, int] = dict(rows.values_list("endpoint", "n"))
    catchup = by_endpoint.pop(CATCHUP_ENDPOINT, 0)
    return {"webhook": sum(by_endpoint.values()), "catch-up": catchup}


def last_catchups() -> list[LastCatchup]:
    """The newest catch-up run of each mode and account (one query: the rows whose id is
    the greatest of their mode and account)."""
    newest = (
        CatchupRun.objects.order_by()
        .values("livemode", "account")
        .annotate(last=Max("id"))
        .values("last")
    )
    rows = CatchupRun.objects.filter(id__in=newest).order_by("livemode", "account")
    return [
        LastCatchup(
            livemode=row.livemode,
            account=row.account,
            started_at=row.started_at,
            finished_at=row.finished_at,
            window_start=row.window_start,
            window_end=row.window_end,
            recorded=row.recorded,
            status=row.status,
        )
        for row in rows
    ]


def _due(now: datetime | None = None) -> Any:
    return InboxEvent.objects.filter(
        status__in=DUE_STATUSES, next_attempt_at__lte=now or timezone.now()
    )


def counts(*, full: bool = True) -> dict[str, int]:
    """Events by status, every status present (0 when none)."""
    queryset = (
        InboxEvent.objects.all() if full else InboxEvent.objects.filter(status__in=OPEN_STATUSES)
    )
    found = dict(
        queryset.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    shown = list(Status) if full else list(OPEN_STATUSES)
    return {status.value: int(found.get(status.value, 0)) for status in shown}


def lag_seconds(now: datetime | None = None) -> float:
    """Seconds since the oldest due event became due; 0 when nothing is due."""
    now = now or timezone.now()
    oldest = _due(now).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def failing_types() -> list[dict[str, Any]]:
    rows = (
        InboxEvent.objects.filter(status__in=(Status.FAILED, Status.DEAD))
        .order_by()
        .values("type", "status")
        .annotate(count=Count("id"))
    )
    return sorted(
        ({"type": r["type"], "status": r["status"], "count": r["count"]} for r in rows),
        key=lambda r: (-r["count"], r["type"], r["status"]),
    )


def failing_handlers(limit: int = HANDLER_SAMPLE) -> tuple[dict[str, dict[str, int]], bool]:
    """Failures by handler, read from the newest ``limit`` failing events' ``last_error``."""
    rows = list(
        InboxEvent.objects.filter(status__in=(Status.FAILED, Status.DEAD))
        .order_by("-id")
        .values_list("status", "last_error")[: limit + 1]
    )
    sampled = len(rows) > limit
    tally: dict[str, Counter[str]] = {}
    for status, error in rows[:limit]:
        for handler in set(_HANDLER_LINE.findall(error)):
            tally.setdefault(handler, Counter())[status] += 1
    result = {
        handler: {"failed": c[Status.FAILED.value], "dead": c[Status.DEAD.value]}
        for handler, c in sorted(tally.items())
    }
    return result, sampled


def accounts(now: datetime | None = None) -> list[Account]:
    """Open work (pending, failed, dead) and lag, per account that has any."""
    now = now or timezone.now()
    per: dict[str, dict[str, int]] = {}
    rows = (
        InboxEvent.objects.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values_list("account", "status")
        .annotate(n=Count("id"))
    )
    for account, status, n in rows:
        per.setdefault(account, {s.value: 0 for s in OPEN_STATUSES})[status] = n
    oldest = dict(_due(now).order_by().values_list("account").annotate(o=Min("next_attempt_at")))
    return [
        Account(
            account=account,
            counts=per[account],
            lag_seconds=None
            if oldest.get(account) is None
            else max(0.0, (now - oldest[account]).total_seconds()),
        )
        for account in sorted(per)
    ]
