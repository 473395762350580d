from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stripe_mirror.testing import build_event, post_event

SECRET = "whsec_test_primary"


@pytest.fixture
def post(client: Any) -> Callable[..., Any]:
    """POST a signed event to the test site's "default" endpoint."""

    def _post(event: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("secret", SECRET)
        return post_event(client, event, **kwargs)

    return _post


@pytest.fixture
def event() -> dict[str, Any]:
    return build_event(
        "customer.created", {"id": "cus_test1", "object": "customer", "email": "a@example.com"}
    )
