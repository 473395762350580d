"""Stage 1: the webhook endpoint, ``POST <mount>/webhook/<endpoint-name>/``.

A thin Django adapter over the pure stages: read the raw body once, verify it
(``signature``), parse it (``envelope``), record it (``inbox``), hand it off (``tasks``).
Nothing is stored unless every check passed; once the event is committed the answer is
200 whatever its handlers do, because the event is now ours to retry.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .. import conf, signals, tasks
from ..dispatch import inbox
from ..errors import (
    BodyTooLarge,
    BodyUnreadable,
    EmptyBody,
    MethodNotAllowed,
    SignatureMismatch,
    UnknownEndpoint,
    WebhookRejected,
)
from ..events import Envelope
from ..logs import event_extra
from ..verification import envelope, signature
from . import outage

logger = logging.getLogger("stripe_mirror.webhook")


class _EveryDatabase(frozenset[str]):
    """Answers "yes" to "is this alias exempt from ATOMIC_REQUESTS?" for every alias, so that
    the event commits before the response even when the site wraps requests in transactions."""

    def __contains__(self, alias: object) -> bool:
        return True


def _json(status: int, body: dict[str, Any], **headers: str) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


def _declared_length(request: HttpRequest) -> int | None:
    """The Content-Length, or None when it is missing or not a number."""
    declared = str(request.META.get("CONTENT_LENGTH") or "")
    # isascii: "²".isdigit() is true too, and int() refuses it.
    return int(declared) if declared.isascii() and declared.isdigit() else None


class WebhookView(View):
    """Receives Stripe webhooks for one named endpoint. Subclass to customise a step."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, endpoint: str) -> HttpResponse:
        try:
            config = self.endpoint_config(endpoint)
            body = self.read_body(request)
            self.verify(body, request, config)
            parsed = self.parse(body)
        except WebhookRejected as exc:
            return self.rejected(request, endpoint, exc)
        try:
            recorded = inbox.record(parsed, endpoint, body)
        except DatabaseError as exc:
            return self.database_unavailable(exc)
        outage.recorded()
        self.hand_off(recorded, parsed, endpoint)
        return _json(
            200, {"received": True, "id": parsed.id, "duplicate": not recorded.first_delivery}
        )

    # -- the steps -----------------------------------------------------------------------

    def endpoint_config(self, name: str) -> conf.Endpoint:
        config = conf.endpoint(name)
        if config is None:
            raise UnknownEndpoint(f"no webhook endpoint named {name!r} is configured")
        return config

    def read_body(self, request: HttpRequest) -> bytes:
        """The raw body, read once, refusing anything over MAX_BODY_SIZE without reading it."""
        limit = conf.max_body_size()
        declared = _declared_length(request)
        if declared is not None and declared > limit:
            raise BodyTooLarge(f"body is larger than {limit} bytes")
        try:
            body = request.read(limit + 1)
        except OSError as exc:  # UnreadablePostError: the client reset the connection
            raise BodyUnreadable(f"the connection failed while reading the body: {exc}") from exc
        if len(body) > limit:
            raise BodyTooLarge(f"body is larger than {limit} bytes")
        if not body:
            raise EmptyBody("the request has no body (is Content-Length missing?)")
        return body

    def verify(self, body: bytes, request: HttpRequest, config: conf.Endpoint) -> None:
        try:
            signature.verify(
                body,
                request.META.get("HTTP_STRIPE_SIGNATURE"),
                config.secrets,
                tolerance=config.tolerance,
                future_tolerance=config.future_tolerance,
            )
        except SignatureMismatch as exc:
            # A body cut short by a closed connection is accepted when it verifies (the
            # signature proves it whole); when it does not, the cut is the news, not the keys.
            declared = _declared_length(request)
            if declared is not None and len(body) < declared:
                raise BodyUnreadable(
                    f"the connection closed after {len(body)} of the {declared} bytes announced"
                ) from exc
            raise

    def parse(self, body: bytes) -> Envelope:
        return envelope.parse(body)

    def hand_off(self, recorded: inbox.Recorded, parsed: Envelope, endpoint: str) -> None:
        for receiver, result in signals.event_recorded.send_robust(
            sender=type(self), recorded=recorded, envelope=parsed, endpoint=endpoint
        ):
            if isinstance(result, Exception):
                extra = event_extra(parsed, inbox_id=recorded.pk)
                logger.error("event_recorded receiver %r raised %r", receiver, result, extra=extra)
        if recorded.needs_processing:
            tasks.enqueue(recorded.pk)

    def rejected(self, request: HttpRequest, endpoint: str, exc: WebhookRejected) -> HttpResponse:
        logger.warning(
            "rejected webhook on endpoint %r from %s: %s (%s)",
            endpoint,
            request.META.get("REMOTE_ADDR", "?"),
            exc.code,
            exc.detail,
        )
        signals.webhook_rejected.send_robust(sender=type(self), endpoint=endpoint, error=exc)
        headers = {"Allow": "POST"} if isinstance(exc, MethodNotAllowed) else {}
        response = _json(exc.status, {"error": exc.code, "detail": exc.detail}, **headers)
        # Logged above, with the reason: Django's "Bad Request" line would repeat it.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    def database_unavailable(self, exc: DatabaseError) -> HttpResponse:
        """503, so that Stripe retries. Logged by ``outage`` as a summary of the outage, not a
        traceback per refusal; and not again by Django (``log_response`` skips a response
        marked as logged), which would add a line per refusal."""
        outage.refused(exc)
        response = _json(503, {"error": "database_unavailable", "detail": "try again later"})
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        exc = MethodNotAllowed(f"{request.method} is not allowed; Stripe sends POST")
        return self.rejected(request, str(kwargs.get("endpoint", "")), exc)


webhook = csrf_exempt(WebhookView.as_view())
webhook._non_atomic_requests = _EveryDatabase()  # type: ignore[attr-defined]
