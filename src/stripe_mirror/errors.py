"""Why a webhook request was refused.

Every refusal is a ``WebhookRejected`` with an HTTP status and a stable machine-readable
``code`` that the endpoint returns as JSON. Verification failures are Django
``SuspiciousOperation`` subclasses, so that code outside the view that lets one escape
still gets a 400 and a ``django.security`` log entry.
"""

from __future__ import annotations

from django.core.exceptions import SuspiciousOperation


class WebhookRejected(SuspiciousOperation):
    """A request that is refused without storing anything."""

    status: int = 400
    code: str = "rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# --- Stage 1: transport ---------------------------------------------------------------


class MethodNotAllowed(WebhookRejected):
    status = 405
    code = "method_not_allowed"


class UnknownEndpoint(WebhookRejected):
    status = 404
    code = "unknown_endpoint"


class BodyTooLarge(WebhookRejected):
    status = 413
    code = "body_too_large"


class EmptyBody(WebhookRejected):
    """No body arrived: typically no Content-Length (a chunked request under WSGI) or a
    proxy that dropped it. Named, because "signature mismatch" would send one hunting keys."""

    code = "empty_body"


class BodyUnreadable(WebhookRejected):
    """The body did not arrive whole: the client closed or reset the connection while sending
    it (Django's ``UnreadablePostError``), or it ended before its Content-Length and so does
    not verify. A 400, not a 500: nothing is wrong on our side, and Stripe sends it again."""

    code = "body_unreadable"


# --- Stage 2: signature ---------------------------------------------------------------


class SignatureError(WebhookRejected):
    """The Stripe-Signature header does not prove the body came from Stripe."""

    code = "signature_error"


class MissingSignatureHeader(SignatureError):
    code = "missing_signature_header"


class MalformedSignatureHeader(SignatureError):
    code = "malformed_signature_header"


class NoV1Signature(SignatureError):
    code = "no_v1_signature"


class TimestampOutsideTolerance(SignatureError):
    code = "timestamp_outside_tolerance"


class TimestampTooOld(TimestampOutsideTolerance):
    code = "timestamp_too_old"


class TimestampInFuture(TimestampOutsideTolerance):
    code = "timestamp_in_future"


class SignatureMismatch(SignatureError):
    code = "signature_mismatch"


# --- Stage 2: payload -----------------------------------------------------------------


class PayloadError(WebhookRejected):
    """The body is authentic but is not a Stripe event we can record."""

    code = "invalid_payload"


class NotUtf8(PayloadError):
    code = "not_utf8"


class InvalidJson(PayloadError):
    code = "invalid_json"


class NotAnObject(PayloadError):
    code = "not_an_object"


class InvalidEnvelope(PayloadError):
    code = "invalid_envelope"
