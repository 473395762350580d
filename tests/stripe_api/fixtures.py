"""pytest fixtures for the two Stripe API servers (re-exported by tests/conftest.py).

- ``localstripe_server`` (session): one localstripe process for the whole run, started at
  the first test that asks for it; ``localstripe`` (function): the same, emptied first.
- ``fake_stripe`` (function): a fresh fake server of our own, in a thread of this process.
- ``fake_api`` (function): the same, configured as the site's Stripe API (``API_KEY``,
  ``API_BASE``, the rate limit raised).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .fake import TEST_KEY, FakeStripe
from .localstripe_process import Localstripe, LocalstripeMissing


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[Localstripe]:
    try:
        server = Localstripe()
    except LocalstripeMissing as exc:  # a missing emulator fails its tests, never skips them
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def localstripe(localstripe_server: Localstripe) -> Localstripe:
    """localstripe with no objects, no events and no webhooks registered by earlier tests."""
    localstripe_server.reset()
    return localstripe_server


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def fake_api(settings: Any, fake_stripe: FakeStripe) -> FakeStripe:
    """The fake server as the site's Stripe API: the settings point at it with its test key."""
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "API_KEY": TEST_KEY,
        "API_BASE": fake_stripe.url,
        "API_RATE_LIMIT": 1000,
    }
    return fake_stripe
