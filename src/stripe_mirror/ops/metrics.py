"""Prometheus metrics, when prometheus-client is installed (the ``metrics`` extra).

Counters and the duration histogram are fed by the library's signals in the process where
things happen (a web process counts what it received and rejected, a worker what it
processed); the backlog and lag gauges are read from the database when scraped, so that any
process shows the same figures. Without prometheus-client, ``connect()`` does nothing and
``view`` answers 501: nothing else depends on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse

from .. import conf, signals

try:
    import prometheus_client
    from prometheus_client.core import GaugeMetricFamily
except ImportError:  # the optional extra is not installed
    prometheus_client = None  # type: ignore[assignment]

#: Processing durations, in seconds: most events take a few milliseconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_metrics: dict[str, Any] = {}


def available() -> bool:
    return prometheus_client is not None


def connect() -> None:
    """Create the metrics and connect their receivers, once per process."""
    if prometheus_client is None or _metrics:
        return
    c, h = prometheus_client.Counter, prometheus_client.Histogram
    _metrics.update(
        received=c(
            "stripe_mirror_events_received", "Deliveries recorded.", ["endpoint", "duplicate"]
        ),
        rejected=c("stripe_mirror_webhooks_rejected", "Requests refused.", ["endpoint", "reason"]),
        processed=c("stripe_mirror_events_processed", "Events processed.", ["type"]),
        failed=c(
            "stripe_mirror_events_failed",
            "Failed processing attempts, per handler that raised.",
            ["type", "handler", "outcome"],
        ),
        duration=h(
            "stripe_mirror_processing_seconds",
            "Time to process one event.",
            ["outcome"],
            buckets=_BUCKETS,
        ),
    )
    prometheus_client.REGISTRY.register(InboxCollector())
    for signal, receiver in (
        (signals.event_recorded, _recorded),
        (signals.webhook_rejected, _rejected),
        (signals.event_processed, _processed),
        (signals.event_failed, _failed),
    ):
        signal.connect(receiver, dispatch_uid=f"stripe_mirror.ops.metrics.{receiver.__name__}")


def _endpoint_label(endpoint: str) -> str:
    # The URL's name is the client's choice: an unknown one must not make a new series.
    return endpoint if endpoint in conf.endpoint_names() else "(unknown)"


def _recorded(sender: Any, recorded: Any, endpoint: str, **kwargs: Any) -> None:
    duplicate = "false" if recorded.first_delivery else "true"
    _metrics["received"].labels(_endpoint_label(endpoint), duplicate).inc()


def _rejected(sender: Any, endpoint: str, error: Any, **kwargs: Any) -> None:
    _metrics["rejected"].labels(_endpoint_label(endpoint), error.code).inc()


def _processed(sender: Any, event: Any, inbox_event: Any, **kwargs: Any) -> None:
    _metrics["processed"].labels(event.type).inc()
    _observe("processed", inbox_event)


def _failed(
    sender: Any, event: Any, inbox_event: Any, errors: Any, will_retry: bool, **kwargs: Any
) -> None:
    outcome = "failed" if will_retry else "dead"
    for handler, _ in errors:
        _metrics["failed"].labels(event.type, handler, outcome).inc()
    _observe(outcome, inbox_event)


def _observe(outcome: str, inbox_event: Any) -> None:
    if inbox_event.duration_ms is not None:
        _metrics["duration"].labels(outcome).observe(inbox_event.duration_ms / 1000)


class InboxCollector:
    """Backlog and lag, read from the inbox at each scrape (three indexed queries)."""

    def describe(self) -> Iterator[Any]:
        """The names, for the registry: without it, registering would query the database."""
        yield GaugeMetricFamily("stripe_mirror_inbox_events", "", labels=["status"])
        yield GaugeMetricFamily("stripe_mirror_lag_seconds", "")

    def collect(self) -> Iterator[Any]:
        from django.db import DatabaseError

        from .status import counts, lag_seconds

        try:
            backlog, lag = counts(full=False), lag_seconds()
        except DatabaseError:  # the scrape still shows the process's counters
            return
        events = GaugeMetricFamily(
            "stripe_mirror_inbox_events", "Inbox events still open, by status.", labels=["status"]
        )
        for status, n in backlog.items():
            events.add_metric([status], n)
        yield events
        yield GaugeMetricFamily(
            "stripe_mirror_lag_seconds", "Age of the oldest due event (0: none due).", value=lag
        )


def view(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus's text format. Mount it yourself, where only your monitoring
    can reach it: ``path("metrics/", stripe_mirror.ops.metrics.view)``."""
    if prometheus_client is None:
        return HttpResponse("prometheus-client is not installed\n", status=501)
    registry: Any = prometheus_client.REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several processes (gunicorn workers)
        from prometheus_client import multiprocess

        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(InboxCollector())
    return HttpResponse(
        prometheus_client.generate_latest(registry),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
