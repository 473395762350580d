"""pytest fixtures for the two Stripe API servers (re-exported by tests/conftest.py).

- ``localstripe_server`` (session): one localstripe process for the whole run, started at
  the first test that asks for it; ``localstripe`` (function): the same, emptied first.
- ``fake_stripe`` (function): a fresh fake server of our own, in a thread of this process.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake import FakeStripe
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
