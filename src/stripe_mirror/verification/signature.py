"""Stage 2a: Stripe-Signature verification. Pure functions over bytes and a header string.

Header format: ``t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``. The body is authentic
when ANY ``v1`` value equals the hex HMAC-SHA256 of ``b"<t>." + body`` under ANY of the
endpoint's secrets (Stripe sends one ``v1`` per active secret while a secret is rolled).

Deliberate differences from stripe-python's verifier (documented in docs/security.md):
whitespace around items is ignored; a header with several ``t`` items, an item that is not
``key=value`` or a timestamp that is not plain digits is malformed; a timestamp too far in the
future is rejected (clock-skew bound) instead of accepted; a blank secret never matches.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import (
    MalformedSignatureHeader,
    MissingSignatureHeader,
    NoV1Signature,
    SignatureMismatch,
    TimestampInFuture,
    TimestampTooOld,
)

#: Headers longer than this are refused before any parsing (Stripe's are ~200 bytes).
MAX_HEADER_LENGTH = 8192
_MAX_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    timestamp: int
    v1: tuple[bytes, ...]


def parse_header(header: str | None) -> SignatureHeader:
    """Split a Stripe-Signature header into its timestamp and v1 signatures.

    Raises MissingSignatureHeader, MalformedSignatureHeader or NoV1Signature; nothing else.
    """
    if header is None or not header.strip():
        raise MissingSignatureHeader("no Stripe-Signature header")
    if len(header) > MAX_HEADER_LENGTH:
        raise MalformedSignatureHeader("Stripe-Signature header is too long")
    timestamp: str | None = None
    v1: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise MalformedSignatureHeader("Stripe-Signature items must be key=value")
        if key == "t":
            if timestamp is not None:
                raise MalformedSignatureHeader("Stripe-Signature has more than one timestamp")
            timestamp = value
        elif key == "v1":
            v1.append(value.encode("utf-8", "surrogatepass"))
        # v0 (a test-mode legacy scheme) and unknown schemes are ignored, as Stripe asks.
    if timestamp is None:
        raise MalformedSignatureHeader("Stripe-Signature has no timestamp")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise MalformedSignatureHeader("Stripe-Signature timestamp is not a unix time")
    if not v1:
        raise NoV1Signature("Stripe-Signature has no v1 signature")
    return SignatureHeader(timestamp=int(timestamp), v1=tuple(v1))


def compute_signature(body: bytes, timestamp: int, secret: str) -> str:
    """The hex v1 signature Stripe computes for ``body`` sent at ``timestamp``."""
    message = b"%d." % timestamp + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    tolerance: int = 300,
    future_tolerance: int = 300,
    now: float | None = None,
) -> int:
    """Check that ``body`` was signed by Stripe with one of ``secrets``; return the timestamp.

    The signature is checked before the timestamp, as Stripe does, so that a timestamp error
    always means "authentic but stale" (a replay or a clock problem), never "forged".
    Raises a SignatureError subclass on any failure.
    """
    parsed = parse_header(header)
    if not _any_signature_matches(body, parsed, secrets):
        raise SignatureMismatch("no v1 signature matches any secret of this endpoint")
    current = time.time() if now is None else now
    if parsed.timestamp < current - tolerance:
        raise TimestampTooOld(f"signature timestamp is older than {tolerance} s")
    if parsed.timestamp > current + future_tolerance:
        raise TimestampInFuture(f"signature timestamp is more than {future_tolerance} s ahead")
    return parsed.timestamp


def _any_signature_matches(body: bytes, parsed: SignatureHeader, secrets: Sequence[str]) -> bool:
    matched = False
    # A blank secret is a misconfiguration (system check E003), and a key anyone can sign
    # with: it must never authenticate anything, even if the checks were not run.
    for secret in (s for s in secrets if s.strip()):
        expected = compute_signature(body, parsed.timestamp, secret).encode("ascii")
        for candidate in parsed.v1:
            # No early exit: the time taken must not depend on which pair matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """Build a Stripe-Signature header for ``body`` (for tests, demos and benchmarks)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={compute_signature(body, ts, secret)}"
