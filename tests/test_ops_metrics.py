"""ops/metrics.py: Prometheus counters, histogram and gauges fed by the signals; and without
prometheus-client installed, nothing breaks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone
from prometheus_client import REGISTRY

from stripe_mirror.models import InboxEvent
from stripe_mirror.ops import metrics
from stripe_mirror.testing import build_event, post_event
from tests import live

pytestmark = pytest.mark.django_db


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_follow_the_webhooks(post: Callable[..., Any], client: Any) -> None:
    assert metrics.available()
    received = _value("stripe_mirror_events_received_total", endpoint="default", duplicate="false")
    again = _value("stripe_mirror_events_received_total", endpoint="default", duplicate="true")
    processed = _value("stripe_mirror_events_processed_total", type="customer.updated")
    handler = "tests.testapp.stripe_handlers.failing"
    failed = _value(
        "stripe_mirror_events_failed_total", type="test.fail", handler=handler, outcome="failed"
    )
    mismatch = _value(
        "stripe_mirror_webhooks_rejected_total", endpoint="default", reason="signature_mismatch"
    )
    unknown = _value(
        "stripe_mirror_webhooks_rejected_total", endpoint="(unknown)", reason="unknown_endpoint"
    )
    durations = _value("stripe_mirror_processing_seconds_count", outcome="processed")

    event = build_event("customer.updated", {"id": "cus_m1", "object": "customer"})
    post(event)
    post(event)
    post(build_event("test.fail"))
    post(build_event("customer.updated"), secret="whsec_wrong")
    post_event(client, build_event("customer.updated"), secret="x", endpoint="nope")

    assert (
        _value("stripe_mirror_events_received_total", endpoint="default", duplicate="false")
        == received + 2
    )
    assert (
        _value("stripe_mirror_events_received_total", endpoint="default", duplicate="true")
        == again + 1
    )
    assert _value("stripe_mirror_events_processed_total", type="customer.updated") == processed + 1
    assert (
        _value(
            "stripe_mirror_events_failed_total", type="test.fail", handler=handler, outcome="failed"
        )
        == failed + 1
    )
    assert (
        _value(
            "stripe_mirror_webhooks_rejected_total", endpoint="default", reason="signature_mismatch"
        )
        == mismatch + 1
    )
    # A URL's made-up endpoint name is not a new series.
    assert (
        _value(
            "stripe_mirror_webhooks_rejected_total", endpoint="(unknown)", reason="unknown_endpoint"
        )
        == unknown + 1
    )
    assert _value("stripe_mirror_processing_seconds_count", outcome="processed") == durations + 1


def test_view_shows_backlog_and_lag(record: Callable[..., Any]) -> None:
    recorded = record(build_event("invoice.paid"))
    InboxEvent.objects.filter(pk=recorded.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=30)
    )
    response = metrics.view(RequestFactory().get("/metrics"))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'stripe_mirror_inbox_events{status="pending"} 1.0' in text
    lag = next(line for line in text.splitlines() if line.startswith("stripe_mirror_lag_seconds "))
    assert 29 < float(lag.split()[1]) < 90
    assert "stripe_mirror_events_received_total" in text


def test_without_prometheus_client_nothing_breaks() -> None:
    """A process where prometheus_client cannot be imported: the app starts, a webhook is
    recorded and processed, and the metrics view says what is missing."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["prometheus_client"] = None  # import prometheus_client -> ImportError
        import django
        django.setup()
        from django.core.management import call_command
        from django.test import Client, RequestFactory
        from django.test.utils import setup_test_environment
        from stripe_mirror.models import InboxEvent
        from stripe_mirror.ops import metrics
        from stripe_mirror.testing import build_event, post_event
        setup_test_environment()
        call_command("migrate", verbosity=0)
        event = build_event("customer.updated")
        response = post_event(Client(), event, secret="whsec_test_primary")
        assert response.status_code == 200, response.content
        assert InboxEvent.objects.get().status == "processed"
        assert not metrics.available()
        assert metrics.view(RequestFactory().get("/metrics")).status_code == 501
        print("ok")
        """
    )
    env = live.child_env(database={"SQLITE_PATH": ":memory:"})
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"
