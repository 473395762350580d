from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stripe_mirror import StripeEvent
from stripe_mirror.dispatch import inbox
from stripe_mirror.dispatch.registry import registry
from stripe_mirror.testing import build_event, encode, post_event
from stripe_mirror.verification import envelope
from tests import live, release

# The Stripe API servers for tests: localstripe (a separate process) and our own fake.
from tests.stripe_api.fixtures import (  # noqa: F401
    fake_api,
    fake_stripe,
    localstripe,
    localstripe_server,
)

SECRET = "whsec_test_primary"


@pytest.fixture
def post(client: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST a signed event to the test site's "default" endpoint. What the request leaves to
    ``transaction.on_commit`` runs when it returns, as after a real commit (the test's own
    transaction never commits)."""

    def _post(event: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("secret", SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            return post_event(client, event, **kwargs)

    return _post


@pytest.fixture
def event() -> dict[str, Any]:
    return build_event(
        "customer.created", {"id": "cus_test1", "object": "customer", "email": "a@example.com"}
    )


@pytest.fixture
def record() -> Callable[..., inbox.Recorded]:
    """Record an event in the inbox as the endpoint does, without processing it."""

    def _record(event: Any, endpoint: str = "default") -> inbox.Recorded:
        body = encode(event)
        return inbox.record(envelope.parse(body), endpoint, body)

    return _record


@pytest.fixture
def handle() -> Iterator[Callable[..., Callable[[Any], Any]]]:
    """``@handle("type")`` registers a handler until the end of the test."""
    added: list[Callable[[StripeEvent], object]] = []

    def decorator(*patterns: str) -> Callable[[Any], Any]:
        def register(func: Callable[[StripeEvent], object]) -> Callable[[StripeEvent], object]:
            registry.register(func, *patterns)
            added.append(func)
            return func

        return register

    yield decorator
    for func in added:
        registry.unregister(func)


@pytest.fixture(scope="session")
def site(django_db_setup: None) -> Iterator[live.Server]:
    """The example site under gunicorn (several sync worker processes) on the test database.

    Tests that use it need committed data: mark them ``django_db(transaction=True)``.
    """
    with live.server() as running:
        yield running


@pytest.fixture(scope="session")
def live_server(django_db_setup: None, live_server: Any) -> Any:
    """pytest-django's live server, started once the test database exists. Started earlier, it
    sees the settings' in-memory SQLite NAME and shares one connection among its threads."""
    return live_server


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> release.Distributions:
    """The sdist and the wheel, built from this checkout (once per test run)."""
    return release.build(tmp_path_factory.mktemp("dist"))
