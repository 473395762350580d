"""A small Stripe-shaped API server of our own, for what localstripe lacks (see README.md).

    with FakeStripe() as fake:
        customer = fake.add("customer", email="a@example.com")      # current API shape
        fake.fail_next(2, status=429)                                 # then it answers again
        client = fake.client(max_network_retries=2)
        assert [c.id for c in client.v1.customers.list().auto_paging_iter()] == [customer["id"]]
        assert len(fake.requests("/v1/customers")) == 3

Objects are scoped by mode (the key's ``sk_test_``/``sk_live_``) and account (``Stripe-Account``
or ``Stripe-Context``): pass ``account=`` (and ``livemode=``) to the methods below to put
objects in a connected account, after ``connect()`` made it known.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

import stripe

from . import shapes
from .http import Fault, Front, LoggedRequest, serve
from .operations import Operations
from .routes import Routes
from .store import Scope, Store

__all__ = ["EMBEDDED_LIMIT", "FakeStripe", "LoggedRequest"]

EMBEDDED_LIMIT = shapes.EMBEDDED_LIMIT
TEST_KEY = "sk_test_fake_4242"
LIVE_KEY = "sk_live_fake_4242"


class FakeStripe:
    def __init__(self, *, api_keys: tuple[str, ...] = (TEST_KEY, LIVE_KEY)) -> None:
        self.store = Store()
        self.ops = Operations(self.store)
        self.front = Front(Routes(self.ops), api_keys)
        self.api_key = api_keys[0]
        self._clients: list[stripe.HTTPClient] = []
        self._server, self._thread = serve(self.front)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        for http_client in self._clients:
            http_client.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, **options: Any) -> stripe.StripeClient:
        """An SDK client for this server (options go to ``StripeClient``); its connections
        are closed when the server stops."""
        http_client = stripe.RequestsClient()
        self._clients.append(http_client)
        options.setdefault("base_addresses", {"api": self.url})
        return stripe.StripeClient(
            options.pop("api_key", self.api_key), http_client=http_client, **options
        )

    # --- the answers' conditions -------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every request waits before it is answered."""
        return self.front.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.front.latency = seconds

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        should_retry: bool | None = True,
        path: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (those whose path starts with ``path``) with
        ``status`` (429: Stripe's rate limit error; else an api_error) and
        ``Stripe-Should-Retry`` (None: no such header)."""
        with self.front.lock:
            self.front.faults.append(Fault(count, status, should_retry, path))

    def requests(self, path: str | None = None, method: str | None = None) -> list[LoggedRequest]:
        """The requests received (answered or refused), oldest first."""
        with self.front.lock:
            return [
                logged
                for logged in self.front.log
                if (path is None or logged.path == path)
                and (method is None or logged.method == method)
            ]

    def clear_log(self) -> None:
        with self.front.lock:
            self.front.log.clear()

    # --- objects -----------------------------------------------------------------------

    def add(
        self,
        object_type: str,
        *,
        account: str | None = None,
        livemode: bool = False,
        **fields: Any,
    ) -> dict[str, Any]:
        """A new object of ``object_type`` (its fixture, a fresh id, ``fields``), stored
        without an event. Lists may be given as Python lists: ``items=[...]``."""
        obj = shapes.build(object_type, fields, livemode=livemode)
        return self.ops.put(Scope(livemode, account), obj)

    def put(
        self, obj: Mapping[str, Any], *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """Store ``obj`` exactly as given (it needs an ``id`` and an ``object``)."""
        return self.ops.put(Scope(livemode, account), obj)

    def create(
        self,
        object_type: str,
        *,
        account: str | None = None,
        livemode: bool = False,
        **fields: Any,
    ) -> dict[str, Any]:
        """As ``add``, and record its ``<type>.created`` event, as the API's POST does."""
        return self.ops.create(Scope(livemode, account), object_type, fields)

    def update(
        self,
        object_id: str,
        *,
        account: str | None = None,
        livemode: bool = False,
        **changes: Any,
    ) -> dict[str, Any]:
        """Change top-level fields; records ``<type>.updated`` with ``previous_attributes``."""
        return self.ops.update(Scope(livemode, account), object_id, changes)

    def delete(
        self, object_id: str, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """Delete as Stripe does (retrieve then answers ``deleted: true``; a subscription is
        canceled instead) and record ``<type>.deleted``."""
        return self.ops.delete(Scope(livemode, account), object_id)

    def remove(self, object_id: str, *, account: str | None = None, livemode: bool = False) -> None:
        """Forget an object: retrieving it answers 404 ``resource_missing``. No event."""
        self.store.remove(Scope(livemode, account), object_id)

    def get(
        self, object_id: str, *, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any] | None:
        """The stored object, whole (embedded lists complete), or None."""
        entry = self.store.get(Scope(livemode, account), object_id)
        return None if entry is None else dict(entry.obj)

    def connect(
        self, account_id: str | None = None, *, livemode: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """A connected account (listed at /v1/accounts) that ``Stripe-Account`` may name."""
        return self.ops.connect(livemode, account_id, fields)

    # --- events ------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: Mapping[str, Any],
        *,
        account: str | None = None,
        livemode: bool = False,
        **event_fields: Any,
    ) -> dict[str, Any]:
        """Record a v1 event about ``obj``: ``created``, ``api_version`` and
        ``previous_attributes`` may be given."""
        return self.ops.emit(Scope(livemode, account), event_type, obj, **event_fields)

    def thin_event(
        self,
        event_type: str,
        related: Mapping[str, Any] | None = None,
        *,
        context: str | None = None,
        livemode: bool = False,
        data: Mapping[str, Any] | None = None,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        """Record a v2 event about ``related`` (an object, whose url it names), retrievable
        at /v2/core/events/{id} in its ``context`` (a connected account)."""
        scope = Scope(livemode, context)
        return self.ops.thin_event(scope, event_type, related, data=data, created=created)

    @staticmethod
    def notification(thin_event: Mapping[str, Any]) -> dict[str, Any]:
        """The payload Stripe POSTs to an event destination for a v2 event."""
        return shapes.thin_notification(thin_event)

    @property
    def record_events(self) -> bool:
        """Whether changes record v1 events (``add``/``put`` never do)."""
        return self.ops.record_events

    @record_events.setter
    def record_events(self, value: bool) -> None:
        self.ops.record_events = value
