"""A small local stand-in for Stripe's API: GET /v1/<resource>/<id> serves objects' true
current state, and checks the headers a real request must carry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from stripe_mirror.sync.refetch import RESOURCE_PATHS

from .world import World

_TYPE_OF_RESOURCE = {path: object_type for object_type, path in RESOURCE_PATHS.items()}


@dataclass
class FakeStripe:
    """Objects by (type, id, account, livemode), and what was asked for."""

    api_key: str
    objects: dict[tuple[str, str, str, bool], tuple[dict[str, Any], str]] = field(
        default_factory=dict
    )
    #: (path, Stripe-Account, Stripe-Version) of every request answered with an object.
    served: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    #: Requests refused for a missing or wrong header, or an unknown object.
    refused: list[str] = field(default_factory=list)
    url: str = ""

    def publish(self, world: World) -> None:
        """Serve every object of ``world`` in its final state (deleted ones as Stripe does)."""
        for life in world.objects():
            key = life.key
            state = (
                {"id": key.id, "object": key.type, "deleted": True} if life.deleted else life.final
            )
            self.objects[(key.type, key.id, key.account, key.livemode)] = (state, life.api_version)

    def put(
        self, obj: dict[str, Any], *, api_version: str, account: str = "", livemode: bool = False
    ) -> None:
        """Serve ``obj`` as the object's current state."""
        self.objects[(obj["object"], obj["id"], account, livemode)] = (obj, api_version)

    def answer(self, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        resource, _, object_id = path.removeprefix("/v1/").rpartition("/")
        object_type = _TYPE_OF_RESOURCE.get(resource)
        livemode = self.api_key.startswith("sk_live_")
        account = headers.get("Stripe-Account") or ""
        found = self.objects.get((str(object_type), object_id, account, livemode))
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._refuse(401, f"{path}: Authorization {headers.get('Authorization')!r}")
        if found is None:
            return self._refuse(404, f"{path}: no such object on account {account!r}")
        state, api_version = found
        if headers.get("Stripe-Version") != api_version:
            return self._refuse(400, f"{path}: Stripe-Version {headers.get('Stripe-Version')!r}")
        self.served.append((path, headers.get("Stripe-Account"), headers.get("Stripe-Version")))
        return 200, state

    def _refuse(self, status: int, reason: str) -> tuple[int, dict[str, Any]]:
        self.refused.append(reason)
        return status, {"error": {"message": reason}}


@contextmanager
def fake_stripe(api_key: str = "sk_test_ordering") -> Iterator[FakeStripe]:
    """Run a FakeStripe on 127.0.0.1 (an ephemeral port) for the duration of the block."""
    api = FakeStripe(api_key)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = api.answer(self.path, self.headers)
            payload = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
