"""conf.py: every key the settings module knows is documented in docs/settings.md, and
nothing documented there is unknown to it; the retry schedule (exponential, capped, with a
reproducible jitter per event)."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from stripe_mirror import conf

SETTINGS_DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def _table_keys(title: str) -> set[str]:
    """The keys in the first column of the table under the heading ``## title``."""
    text = SETTINGS_DOC.read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE))


def test_every_top_level_key_is_documented() -> None:
    assert _table_keys("Top-level keys") == set(conf.DEFAULTS)


def test_every_endpoint_key_is_documented() -> None:
    assert _table_keys("Keys of an endpoint") == set(conf.ENDPOINT_KEYS)


def test_documented_defaults_match_the_code() -> None:
    text = SETTINGS_DOC.read_text()
    for key, default in conf.DEFAULTS.items():
        row = re.search(rf"^\| `{key}` \| ([^|]+) \|", text, flags=re.MULTILINE)
        assert row is not None, key
        shown = row.group(1)
        if isinstance(default, bool | int | str) and key != "ENDPOINTS":
            assert repr(default).replace("'", '"') in shown, (key, shown)


RETRY_SETTINGS = {"RETRY_BACKOFF": 60, "RETRY_BACKOFF_MAX": 3600}
IDS = [f"evt_1Jitter{n:04d}" for n in range(100)]


def _use(settings: Any, **values: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, **RETRY_SETTINGS, **values}


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
