"""The webhook endpoint: every refusal (status, JSON code, a clean WARNING, nothing stored),
valid events on each endpoint, duplicates, CSRF, ATOMIC_REQUESTS, and the raw body."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.db import connection, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.test.client import ClientHandler

from stripe_mirror import signals
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event, build_thin_event, encode, post_event, sign
from tests.testapp.models import HandlerCall

SECRET = "whsec_test_primary"
CONNECT_OLD, CONNECT_NEW = "whsec_connect_old", "whsec_connect_new"
ALL_SECRETS = (SECRET, CONNECT_OLD, CONNECT_NEW)
#: Put in every body, so that a log line quoting the body is caught.
MARKER = "body-marker-3f9c1d"
URL = "/stripe/webhook/default/"

pytestmark = pytest.mark.django_db


def marked_event(event_type: str = "customer.created", **kwargs: Any) -> dict[str, Any]:
    obj = {"id": "cus_view1", "object": "customer", "metadata": {"note": MARKER}}
    return build_event(event_type, obj, **kwargs)


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def assert_rejected(
    response: Any, caplog: pytest.LogCaptureFixture, status: int, code: str
) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    answer = orjson.loads(response.content)
    assert answer["error"] == code
    assert answer["detail"]
    assert MARKER.encode() not in response.content
    ours = [r for r in caplog.records if r.name == "stripe_mirror.webhook"]
    assert [r.levelno for r in ours] == [logging.WARNING]
    assert code in ours[0].getMessage()
    assert len(caplog.records) == 1  # ours only: not Django's "Bad Request" line again
    text = caplog.records[0].getMessage()
    assert MARKER not in text
    assert all(secret not in text for secret in ALL_SECRETS)
    assert not InboxEvent.objects.exists()


def post_raw(client: Client, body: bytes, header: str | None, url: str = URL) -> Any:
    headers = {} if header is None else {"Stripe-Signature": header}
    return client.post(url, data=body, content_type="application/json", headers=headers)


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
def test_method_not_allowed(client: Client, warnings: Any, method: str) -> None:
    body = encode(marked_event())
    headers = {"Stripe-Signature": sign(body, SECRET)}
    response = client.generic(method, URL, body, "application/json", headers=headers)
    assert_rejected(response, warnings, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_head_not_allowed(client: Client, warnings: Any) -> None:
    response = client.head(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert not InboxEvent.objects.exists()


def test_unknown_endpoint(client: Client, warnings: Any) -> None:
    body = encode(marked_event())
    response = post_raw(client, body, sign(body, SECRET), "/stripe/webhook/nope/")
    assert_rejected(response, warnings, 404, "unknown_endpoint")


def test_body_too_large(client: Client, warnings: Any, settings: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "MAX_BODY_SIZE": 1000}
    event = marked_event()
    event["data"]["object"]["padding"] = "x" * 1000
    body = encode(event)
    response = post_raw(client, body, sign(body, SECRET))
    assert_rejected(response, warnings, 413, "body_too_large")


def test_body_at_the_limit_is_accepted(client: Client, settings: Any) -> None:
    event = marked_event()
    size = len(encode(event))
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "MAX_BODY_SIZE": size}
    assert post_event(client, event, secret=SECRET).status_code == 200


def test_no_signature_header(client: Client, warnings: Any) -> None:
    response = post_raw(client, encode(marked_event()), None)
    assert_rejected(response, warnings, 400, "missing_signature_header")


@pytest.mark.parametrize("header", ["garbage", "t=abc,v1=00", "v1=00", "t=1,t=2,v1=00"])
def test_malformed_signature_header(client: Client, warnings: Any, header: str) -> None:
    response = post_raw(client, encode(marked_event()), header)
    assert_rejected(response, warnings, 400, "malformed_signature_header")


def test_no_v1_signature(client: Client, warnings: Any) -> None:
    body = encode(marked_event())
    v0_only = sign(body, SECRET).replace("v1=", "v0=")
    response = post_raw(client, body, v0_only)
    assert_rejected(response, warnings, 400, "no_v1_signature")


def test_old_timestamp(client: Client, warnings: Any) -> None:
    body = encode(marked_event())
    response = post_raw(client, body, sign(body, SECRET, int(time.time()) - 400))
    assert_rejected(response, warnings, 400, "timestamp_too_old")


def test_future_timestamp(client: Client, warnings: Any) -> None:
    body = encode(marked_event())
    response = post_raw(client, body, sign(body, SECRET, int(time.time()) + 400))
    assert_rejected(response, warnings, 400, "timestamp_in_future")


def test_tolerance_is_per_endpoint(client: Client, warnings: Any) -> None:
    # "connect" has TOLERANCE 60: a 120 s old delivery is stale there, fine on "default".
    event = marked_event()
    stale = int(time.time()) - 120
    response = post_event(client, event, secret=CONNECT_NEW, endpoint="connect", timestamp=stale)
    assert_rejected(response, warnings, 400, "timestamp_too_old")
    assert post_event(client, event, secret=SECRET, timestamp=stale).status_code == 200


def test_signature_mismatch(client: Client, warnings: Any) -> None:
    body = encode(marked_event())
    response = post_raw(client, body, sign(body, "whsec_wrong"))
    assert_rejected(response, warnings, 400, "signature_mismatch")


def test_other_endpoints_secret_does_not_match(client: Client, warnings: Any) -> None:
    response = post_event(client, marked_event(), secret=CONNECT_OLD)  # to "default"
    assert_rejected(response, warnings, 400, "signature_mismatch")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"id": "evt_1", "note": "' + MARKER.encode() + b'\xff"}', "not_utf8"),
        (b'{"id": "evt_1", "note": "' + MARKER.encode() + b'"', "invalid_json"),
        (b'["' + MARKER.encode() + b'"]', "not_an_object"),
        (b'{"object": "customer", "id": "' + MARKER.encode() + b'"}', "invalid_envelope"),
    ],
    ids=["not utf-8", "not json", "not an object", "not an envelope"],
)
def test_bad_payload(client: Client, warnings: Any, body: bytes, code: str) -> None:
    response = post_raw(client, body, sign(body, SECRET))
    assert_rejected(response, warnings, 400, code)


def test_empty_body(client: Client, warnings: Any) -> None:
    response = post_raw(client, b"", sign(b"", SECRET))
    assert_rejected(response, warnings, 400, "empty_body")


# --- accepted events --------------------------------------------------------------------


def test_valid_event_on_default(client: Client) -> None:
    event = marked_event()
    response = post_event(client, event, secret=SECRET)
    assert response.status_code == 200
    assert response.json() == {"received": True, "id": event["id"], "duplicate": False}
    row = InboxEvent.objects.get()
    assert (row.stripe_id, row.endpoint, row.status) == (event["id"], "default", Status.PROCESSED)
    assert HandlerCall.objects.filter(event_id=event["id"]).count() == 1


@pytest.mark.parametrize(
    "secrets",
    [(CONNECT_OLD,), (CONNECT_NEW,), (CONNECT_OLD, CONNECT_NEW)],
    ids=["old secret", "new secret", "both signatures"],
)
def test_valid_event_on_rotated_connect_endpoint(client: Client, secrets: tuple[str, ...]) -> None:
    event = marked_event(account="acct_1Connected")
    body = encode(event)
    t = int(time.time())
    header = f"t={t}," + ",".join(sign(body, s, t).split(",")[1] for s in secrets)
    response = post_raw(client, body, header, "/stripe/webhook/connect/")
    assert response.status_code == 200, response.content
    row = InboxEvent.objects.get()
    assert (row.endpoint, row.account, row.status) == ("connect", "acct_1Connected", "processed")


def test_thin_event_is_recorded_as_skipped(client: Client) -> None:
    notification = build_thin_event(
        "v1.billing.meter.error_report_triggered",
        {"id": "mtr_1", "type": "billing.meter", "url": "/v1/billing/meters/mtr_1"},
    )
    response = post_event(client, notification, secret=SECRET)
    assert response.status_code == 200, response.content
    row = InboxEvent.objects.get()
    assert (row.kind, row.status, row.object_id) == ("thin", Status.SKIPPED, "mtr_1")
    assert not HandlerCall.objects.exists()


def test_longest_accepted_values_fit_the_inbox(client: Client) -> None:
    """What the envelope accepts, every database stores (else a 503 and endless retries)."""
    event = build_event(
        "t" * 255,
        {"id": "cus_" + "c" * 251, "object": "o" * 100, "note": "nul \u0000 here"},
        id="evt_" + "e" * 251,
        account="acct_" + "a" * 250,
        api_version="v" * 64,
    )
    response = post_event(client, event, secret=SECRET)
    assert response.status_code == 200, response.content
    row = InboxEvent.objects.get()
    assert (row.stripe_id, row.type, row.account) == (event["id"], event["type"], event["account"])
    assert (row.object_id, row.object_type) == (event["data"]["object"]["id"], "o" * 100)
    assert row.payload["data"]["object"]["note"] == "nul \x00 here"


def test_odd_object_values_are_stored_not_refused(client: Client) -> None:
    event = build_event("customer.updated", {"id": "cus_\u0000", "object": "o" * 101})
    response = post_event(client, event, secret=SECRET)
    assert response.status_code == 200, response.content
    row = InboxEvent.objects.get()
    assert (row.object_id, row.object_type) == ("", "")
    assert row.payload["data"]["object"]["id"] == "cus_\x00"


@pytest.mark.django_db(transaction=True)  # real commits, as in production
def test_duplicate_delivery(client: Client) -> None:
    event = marked_event()
    assert post_event(client, event, secret=SECRET).json()["duplicate"] is False
    second = post_event(client, event, secret=SECRET)
    assert second.status_code == 200
    assert second.json() == {"received": True, "id": event["id"], "duplicate": True}
    row = InboxEvent.objects.get()
    assert row.delivery_count == 2
    assert HandlerCall.objects.filter(event_id=event["id"]).count() == 1


def test_trailing_slash_optional(client: Client) -> None:
    body = encode(marked_event())
    response = post_raw(client, body, sign(body, SECRET), URL.rstrip("/"))
    assert response.status_code == 200, response.content
    assert InboxEvent.objects.count() == 1


def test_body_stored_byte_for_byte(client: Client) -> None:
    # Spacing, key order and escapes that a re-serialisation would change.
    body = (
        b'{ "type" : "customer.created", "object":"event", "id":"evt_bytes1",\n'
        b'  "livemode":false, "created":1700000000, "api_version":null,\n'
        b'  "data":{"object":{"id":"cus_1","object":"customer","name":"Ren\\u00e9 \xc3\xa9"}}}'
    )
    assert post_raw(client, body, sign(body, SECRET)).status_code == 200
    assert InboxEvent.objects.get().body.encode() == body


def test_csrf_exempt() -> None:
    client = Client(enforce_csrf_checks=True)
    assert post_event(client, marked_event(), secret=SECRET).status_code == 200


def test_works_without_session_or_auth_middleware(client: Client, settings: Any) -> None:
    settings.MIDDLEWARE = []
    assert post_event(client, marked_event(), secret=SECRET).status_code == 200
    assert InboxEvent.objects.count() == 1


class ReadsBodyMiddleware:
    """A site middleware that looks at request.body before the view (logging, say)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        assert request.body
        return self.get_response(request)


def test_body_already_read_by_a_middleware(client: Client, settings: Any) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.ReadsBodyMiddleware"]
    assert post_event(client, marked_event(), secret=SECRET).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_not_wrapped_by_atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ATOMIC_REQUESTS the event is still committed before hand-off, and processed."""
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    seen: dict[str, Any] = {}

    def look_from_another_connection(sender: Any, recorded: Any, **kwargs: Any) -> None:
        seen["in_atomic_block"] = transaction.get_connection().in_atomic_block

        def read() -> None:
            try:
                seen["visible"] = InboxEvent.objects.filter(pk=recorded.pk).exists()
            finally:
                connections.close_all()

        thread = threading.Thread(target=read)
        thread.start()
        thread.join()

    signals.event_recorded.connect(look_from_another_connection)
    try:
        event = marked_event()
        response = post_event(Client(), event, secret=SECRET)
    finally:
        signals.event_recorded.disconnect(look_from_another_connection)
    assert response.status_code == 200, response.content
    assert seen == {"in_atomic_block": False, "visible": True}
    assert InboxEvent.objects.get().status == Status.PROCESSED
    assert HandlerCall.objects.filter(event_id=event["id"]).count() == 1


# --- Content-Length and the raw stream ---------------------------------------------------


class Stream(io.RawIOBase):
    """A wsgi.input serving ``size`` bytes of ``content`` (repeated), counting what is read."""

    def __init__(self, content: bytes, size: int | None = None) -> None:
        self.content = content
        self.size = len(content) if size is None else size
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.served
        n = left if n is None or n < 0 else min(n, left)
        chunk = (self.content * (1 + (self.served + n) // max(1, len(self.content))))[
            self.served : self.served + n
        ]
        self.served += n
        return chunk

    def readline(self, limit: int = -1) -> bytes:  # type: ignore[override]
        return self.read(limit)


def wsgi_post(
    stream: Stream, content_length: str | None, header: str
) -> tuple[int, dict[str, Any]]:
    """POST through Django's full handler with our own wsgi.input and Content-Length."""
    environ = RequestFactory().post(URL, content_type="application/json").environ
    environ["wsgi.input"] = stream
    environ.pop("CONTENT_LENGTH", None)
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    environ["HTTP_STRIPE_SIGNATURE"] = header
    response = ClientHandler(enforce_csrf_checks=True)(environ)
    return response.status_code, orjson.loads(response.content)


@pytest.fixture
def signed() -> tuple[bytes, str]:
    body = encode(marked_event())
    return body, sign(body, SECRET)


def test_large_body_refused_without_reading_it(warnings: Any, signed: tuple[bytes, str]) -> None:
    limit = 4 * 1024 * 1024
    stream = Stream(b"x", size=limit * 10)
    status, answer = wsgi_post(stream, str(limit * 10), signed[1])
    assert (status, answer["error"]) == (413, "body_too_large")
    assert stream.served == 0
    assert not InboxEvent.objects.exists()


def test_large_body_under_a_lying_content_length(warnings: Any, signed: tuple[bytes, str]) -> None:
    # Content-Length says 100 bytes; 10 MB follow. Only the declared bytes are read.
    stream = Stream(b"x", size=10 * 1024 * 1024)
    status, answer = wsgi_post(stream, "100", signed[1])
    assert (status, answer["error"]) == (400, "signature_mismatch")
    assert stream.served == 100
    assert not InboxEvent.objects.exists()


def test_content_length_shorter_than_body(warnings: Any, signed: tuple[bytes, str]) -> None:
    body, header = signed
    status, answer = wsgi_post(Stream(body), str(len(body) - 5), header)
    assert (status, answer["error"]) == (400, "signature_mismatch")
    assert not InboxEvent.objects.exists()


def test_content_length_longer_than_body(signed: tuple[bytes, str]) -> None:
    # The stream ends early; what arrived is complete and authentic, so it is taken.
    body, header = signed
    status, _answer = wsgi_post(Stream(body), str(len(body) + 50), header)
    assert status == 200
    assert InboxEvent.objects.get().body.encode() == body


@pytest.mark.parametrize("content_length", [None, "", "abc", "-1", "²"])
def test_content_length_absent_or_invalid(
    warnings: Any, signed: tuple[bytes, str], content_length: str | None
) -> None:
    body, header = signed
    stream = Stream(body)
    status, answer = wsgi_post(stream, content_length, header)
    assert (status, answer["error"]) == (400, "empty_body")
    assert stream.served == 0
    assert not InboxEvent.objects.exists()


def asgi_post(body: io.BytesIO, header: str) -> Any:
    """An ASGI request with no Content-Length (chunked): Django streams the whole body."""
    from django.core.handlers.asgi import ASGIRequest

    from stripe_mirror.views import webhook

    scope = {
        "type": "http",
        "method": "POST",
        "path": URL,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"stripe-signature", header.encode())],
    }
    return webhook(ASGIRequest(scope, body), endpoint="default")


def test_asgi_chunked_body_is_read(signed: tuple[bytes, str]) -> None:
    body, header = signed
    response = asgi_post(io.BytesIO(body), header)
    assert response.status_code == 200, response.content
    assert InboxEvent.objects.get().body.encode() == body


def test_asgi_chunked_body_too_large(warnings: Any, settings: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "MAX_BODY_SIZE": 1000}
    stream = io.BytesIO(b"x" * 100_000)
    response = asgi_post(stream, "t=1,v1=00")
    assert_rejected(response, warnings, 413, "body_too_large")
    assert stream.tell() == 1001  # read one byte past the limit, no more


def test_failing_event_recorded_receiver_does_not_lose_the_event(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.event_recorded.connect(broken)
    try:
        event = marked_event()
        response = post_event(client, event, secret=SECRET)
    finally:
        signals.event_recorded.disconnect(broken)
    assert response.status_code == 200
    assert InboxEvent.objects.get().status == Status.PROCESSED
    ours = [r for r in caplog.records if r.name == "stripe_mirror.webhook"]
    assert [r.levelno for r in ours] == [logging.ERROR]
    assert "receiver bug" in ours[0].getMessage()


class ResetStream(Stream):
    """A wsgi.input whose client resets the connection after ``size`` bytes: a read asking
    for more raises ``ConnectionResetError``, as gunicorn's does (it reads until it has what
    was asked for; Django turns the error into UnreadablePostError)."""

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or self.served + n > self.size:
            raise ConnectionResetError(104, "Connection reset by peer")
        return super().read(n)


def test_connection_reset_mid_body_is_a_400(warnings: Any, signed: tuple[bytes, str]) -> None:
    body, header = signed
    status, answer = wsgi_post(ResetStream(body, size=100), str(len(body)), header)
    assert (status, answer["error"]) == (400, "body_unreadable")
    ours = [r for r in warnings.records if r.name == "stripe_mirror.webhook"]
    assert [r.levelno for r in ours] == [logging.WARNING]
    assert not any(r.exc_info for r in warnings.records)
    assert all(r.levelno < logging.ERROR for r in warnings.records)  # no "Internal Server Error"
    assert not InboxEvent.objects.exists()


def test_body_cut_short_is_named_when_it_does_not_verify(
    warnings: Any, signed: tuple[bytes, str]
) -> None:
    # The client closed its side after 100 of the bytes it announced: a short read.
    body, header = signed
    status, answer = wsgi_post(Stream(body, size=100), str(len(body)), header)
    assert (status, answer["error"]) == (400, "body_unreadable")
    assert f"after 100 of the {len(body)} bytes" in answer["detail"]
    assert not InboxEvent.objects.exists()
