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

from . import conf, envelope, inbox, signals, signature, tasks
from .errors import (
    BodyTooLarge,
    EmptyBody,
    MethodNotAllowed,
    UnknownEndpoint,
    WebhookRejected,
)

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
        except DatabaseError:
            logger.exception(
                "database unavailable while recording %s on endpoint %r; answering 503 so "
                "that Stripe retries",
                parsed.id,
                endpoint,
            )
            return _json(503, {"error": "database_unavailable", "detail": "try again later"})
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
        declared = str(request.META.get("CONTENT_LENGTH") or "")
        # isascii: "²".isdigit() is true too, and int() refuses it.
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"body is larger than {limit} bytes")
        body = request.read(limit + 1)
        if len(body) > limit:
            raise BodyTooLarge(f"body is larger than {limit} bytes")
        if not body:
            raise EmptyBody("the request has no body (is Content-Length missing?)")
        return body

    def verify(self, body: bytes, request: HttpRequest, config: conf.Endpoint) -> None:
        signature.verify(
            body,
            request.META.get("HTTP_STRIPE_SIGNATURE"),
            config.secrets,
            tolerance=config.tolerance,
            future_tolerance=config.future_tolerance,
        )

    def parse(self, body: bytes) -> envelope.Envelope:
        return envelope.parse(body)

    def hand_off(self, recorded: inbox.Recorded, parsed: envelope.Envelope, endpoint: str) -> None:
        for receiver, result in signals.event_recorded.send_robust(
            sender=type(self), recorded=recorded, envelope=parsed, endpoint=endpoint
        ):
            if isinstance(result, Exception):
                logger.error("event_recorded receiver %r raised %r", receiver, result)
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
        return _json(exc.status, {"error": exc.code, "detail": exc.detail}, **headers)

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        exc = MethodNotAllowed(f"{request.method} is not allowed; Stripe sends POST")
        return self.rejected(request, str(kwargs.get("endpoint", "")), exc)


webhook = csrf_exempt(WebhookView.as_view())
webhook._non_atomic_requests = _EveryDatabase()  # type: ignore[attr-defined]
