"""conf: the retry schedule (exponential, capped, with a reproducible jitter per event)."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from stripe_mirror import conf

SETTINGS = {"RETRY_BACKOFF": 60, "RETRY_BACKOFF_MAX": 3600}
IDS = [f"evt_1Jitter{n:04d}" for n in range(100)]


def _use(settings: Any, **values: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, **SETTINGS, **values}


@pytest.mark.parametrize("attempts", range(1, 12))
def test_the_jittered_delay_stays_between_its_bounds(settings: Any, attempts: int) -> None:
    _use(settings)
    bound = min(3600.0, 60.0 * 2 ** (attempts - 1))
    assert conf.retry_delay(attempts) == bound  # without an event id: no jitter
    delays = [conf.retry_delay(attempts, event_id) for event_id in IDS]
    assert all(bound * 0.75 <= d <= bound for d in delays)  # the default jitter is 0.25
    assert max(delays) <= conf.get("RETRY_BACKOFF_MAX")


def test_an_events_schedule_is_reproducible(settings: Any) -> None:
    _use(settings)
    first = [conf.retry_delay(n, "evt_1Same") for n in range(1, 11)]
    assert first == [conf.retry_delay(n, "evt_1Same") for n in range(1, 11)]
    assert len(set(first[6:])) > 1  # capped attempts still differ from one another


def test_events_failing_together_spread_over_the_jitter_window(settings: Any) -> None:
    _use(settings, RETRY_JITTER=0.5)
    delays = [conf.retry_delay(3, event_id) for event_id in IDS]  # bound 240 s
    assert len(set(delays)) == len(IDS)
    assert min(delays) < 120 + 15  # reaching both ends
    assert max(delays) > 240 - 15
    # Uniform over [120, 240]: the mean is 180 and each quarter holds about 25 of them.
    assert abs(statistics.mean(delays) - 180) < 12
    quarters = [sum(120 + 30 * q <= d < 150 + 30 * q for d in delays) for q in range(4)]
    assert all(10 <= count <= 40 for count in quarters), quarters


def test_no_jitter(settings: Any) -> None:
    _use(settings, RETRY_JITTER=0)
    assert {conf.retry_delay(2, event_id) for event_id in IDS} == {120.0}
