"""Stripe-Signature verification: a matrix of cases checked against HMACs computed here, a
fixed vector, and stripe-python's own verifier; the deliberate differences named one by one;
property tests over random headers and bodies."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_mirror import errors
from stripe_mirror.verification import signature
from stripe_mirror.verification.signature import MAX_HEADER_LENGTH, parse_header, sign, verify

SECRET = "whsec_test_primary"
OLD, NEW = "whsec_connect_old", "whsec_connect_new"
BODY = b'{"id":"evt_1","object":"event","type":"customer.created"}'
TOLERANCE = 300

# Computed once with `openssl dgst -sha256 -hmac whsec_test_primary` over the exact bytes
# 1700000000.{"id":"evt_fixed","object":"event"}
FIXED_BODY = b'{"id":"evt_fixed","object":"event"}'
FIXED_TIMESTAMP = 1_700_000_000
FIXED_V1 = "218144529d6fc46175963b4f564c194a3227dcc2edec0181d91050763385c021"


def hmac_hex(secret: str, timestamp: int, body: bytes) -> str:
    """Stripe's v1 scheme, written out independently of the code under test."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sdk_accepts(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """stripe-python's verdict: its verifier takes one secret, so try each, as its docs say."""
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(body, header, secret, tolerance=TOLERANCE)
        except stripe.SignatureVerificationError:
            continue
        return True
    return False


@dataclass(frozen=True)
class Case:
    name: str
    #: Builds (body, header) from the current unix time.
    build: Callable[[int], tuple[bytes, str | None]]
    secrets: tuple[str, ...]
    #: None when the header must verify, else the SignatureError subclass it must raise.
    expected: type[errors.SignatureError] | None
    #: stripe-python's verdict, where this library deliberately differs from it.
    sdk_accepts: bool | None = None
    why: str = ""


def _v1(secret: str, t: int, body: bytes = BODY) -> str:
    return f"v1={hmac_hex(secret, t, body)}"


MATRIX = [
    Case("valid", lambda t: (BODY, f"t={t},{_v1(SECRET, t)}"), (SECRET,), None),
    Case(
        "rotated: old and new signatures, new secret configured",
        lambda t: (BODY, f"t={t},{_v1(OLD, t)},{_v1(NEW, t)}"),
        (NEW,),
        None,
    ),
    Case(
        "rotated: old and new signatures, old secret configured",
        lambda t: (BODY, f"t={t},{_v1(OLD, t)},{_v1(NEW, t)}"),
        (OLD,),
        None,
    ),
    Case(
        "rotated: only the new signature, both secrets configured",
        lambda t: (BODY, f"t={t},{_v1(NEW, t)}"),
        (OLD, NEW),
        None,
    ),
    Case(
        "several v1, the last one matches",
        lambda t: (BODY, f"t={t},v1={'0' * 64},v1=deadbeef,{_v1(SECRET, t)}"),
        (SECRET,),
        None,
    ),
    Case(
        "v0 only (even a correct one)",
        lambda t: (BODY, f"t={t},v0={hmac_hex(SECRET, t, BODY)}"),
        (SECRET,),
        errors.NoV1Signature,
    ),
    Case(
        "v0 and unknown schemes ignored next to a good v1",
        lambda t: (BODY, f"t={t},v0=abc,v9=zzz,{_v1(SECRET, t)}"),
        (SECRET,),
        None,
    ),
    Case(
        "correct v0 does not rescue a wrong v1",
        lambda t: (BODY, f"t={t},v1={'0' * 64},v0={hmac_hex(SECRET, t, BODY)}"),
        (SECRET,),
        errors.SignatureMismatch,
    ),
    Case(
        "wrong secret",
        lambda t: (BODY, f"t={t},{_v1('whsec_other', t)}"),
        (SECRET,),
        errors.SignatureMismatch,
    ),
    Case(
        "tampered body (one byte)",
        lambda t: (BODY.replace(b"evt_1", b"evt_2"), f"t={t},{_v1(SECRET, t)}"),
        (SECRET,),
        errors.SignatureMismatch,
    ),
    Case(
        "signature made for another timestamp",
        lambda t: (BODY, f"t={t},{_v1(SECRET, t - 1)}"),
        (SECRET,),
        errors.SignatureMismatch,
    ),
    Case(
        "upper-case hex",
        lambda t: (BODY, f"t={t},v1={hmac_hex(SECRET, t, BODY).upper()}"),
        (SECRET,),
        errors.SignatureMismatch,
    ),
    Case(
        "old timestamp",
        lambda t: (BODY, f"t={t - 400},{_v1(SECRET, t - 400)}"),
        (SECRET,),
        errors.TimestampTooOld,
    ),
    Case(
        "odd item order",
        lambda t: (BODY, f"v0=abc,{_v1(SECRET, t)},t={t}"),
        (SECRET,),
        None,
    ),
    Case("no header", lambda t: (BODY, None), (SECRET,), errors.MissingSignatureHeader),
    Case("empty header", lambda t: (BODY, ""), (SECRET,), errors.MissingSignatureHeader),
    Case(
        "no timestamp",
        lambda t: (BODY, _v1(SECRET, t)),
        (SECRET,),
        errors.MalformedSignatureHeader,
    ),
    Case(
        "timestamp not a number",
        lambda t: (BODY, f"t=yesterday,{_v1(SECRET, t)}"),
        (SECRET,),
        errors.MalformedSignatureHeader,
    ),
    Case(
        "blank secret never matches, even a header signed with it",
        lambda t: (BODY, f"t={t},{_v1('', t)},{_v1(' ', t)}"),
        ("", " "),
        errors.SignatureMismatch,
    ),
    Case(
        "a blank secret next to a good one",
        lambda t: (BODY, f"t={t},{_v1(SECRET, t)}"),
        ("", SECRET),
        None,
    ),
]

# Where this library deliberately decides otherwise than stripe-python; each one is
# asserted by its own test below, under its name.
DIFFERENCES = [
    Case(
        "difference: spaces around items are trimmed",
        lambda t: (BODY, f"t={t}, {_v1(SECRET, t)} , v0=x"),
        (SECRET,),
        None,
        sdk_accepts=False,
        why="Stripe sends no spaces; a proxy that reformats the header must not break delivery",
    ),
    Case(
        "difference: a timestamp in the future is rejected",
        lambda t: (BODY, f"t={t + 400},{_v1(SECRET, t + 400)}"),
        (SECRET,),
        errors.TimestampInFuture,
        sdk_accepts=True,
        why="a signature from the future is a clock problem or a pre-signed replay",
    ),
    Case(
        "difference: a second t item makes the header malformed",
        lambda t: (BODY, f"t={t},t={t + 1},{_v1(SECRET, t)}"),
        (SECRET,),
        errors.MalformedSignatureHeader,
        sdk_accepts=True,
        why="the SDK takes the first t; an ambiguous header is refused instead",
    ),
    Case(
        "difference: an item without '=' makes the header malformed",
        lambda t: (BODY, f"t={t},{_v1(SECRET, t)},junk"),
        (SECRET,),
        errors.MalformedSignatureHeader,
        sdk_accepts=True,
        why="the SDK skips junk items; a security header is parsed strictly",
    ),
    Case(
        "difference: a timestamp must be plain digits",
        lambda t: (BODY, f"t=+{t},{_v1(SECRET, t)}"),
        (SECRET,),
        errors.MalformedSignatureHeader,
        sdk_accepts=True,
        why="the SDK's int() also takes '+123', '1_000' and ' 123 '",
    ),
]


def _ids(cases: list[Case]) -> list[str]:
    return [case.name for case in cases]


def run_ours(case: Case, now: int) -> type[Exception] | None:
    body, header = case.build(now)
    try:
        verify(body, header, case.secrets, tolerance=TOLERANCE, now=now)
    except errors.SignatureError as exc:
        return type(exc)
    return None


@pytest.mark.parametrize("case", MATRIX + DIFFERENCES, ids=_ids(MATRIX + DIFFERENCES))
def test_matrix_against_independent_hmac(case: Case) -> None:
    assert run_ours(case, int(time.time())) is case.expected


@pytest.mark.parametrize("case", MATRIX, ids=_ids(MATRIX))
def test_matrix_agrees_with_stripe_sdk(case: Case) -> None:
    now = int(time.time())
    body, header = case.build(now)
    assert sdk_accepts(body, header, list(case.secrets)) is (case.expected is None)
    assert (run_ours(case, now) is None) is (case.expected is None)


@pytest.mark.parametrize("case", DIFFERENCES, ids=_ids(DIFFERENCES))
def test_deliberate_differences_from_stripe_sdk(case: Case) -> None:
    now = int(time.time())
    body, header = case.build(now)
    ours = run_ours(case, now)
    sdk = sdk_accepts(body, header, list(case.secrets))
    assert ours is case.expected
    assert sdk is case.sdk_accepts
    assert (ours is None) is not sdk, "not a difference any more"


def test_fixed_vector() -> None:
    assert hmac_hex(SECRET, FIXED_TIMESTAMP, FIXED_BODY) == FIXED_V1
    assert signature.compute_signature(FIXED_BODY, FIXED_TIMESTAMP, SECRET) == FIXED_V1
    assert sign(FIXED_BODY, SECRET, FIXED_TIMESTAMP) == f"t={FIXED_TIMESTAMP},v1={FIXED_V1}"
    header = f"t={FIXED_TIMESTAMP},v1={FIXED_V1}"
    assert verify(FIXED_BODY, header, [SECRET], now=FIXED_TIMESTAMP) == FIXED_TIMESTAMP
    with pytest.raises(errors.SignatureMismatch):
        verify(FIXED_BODY + b" ", header, [SECRET], now=FIXED_TIMESTAMP)


def test_sign_matches_stripe_sdk_header() -> None:
    text = FIXED_BODY.decode()
    made = stripe.WebhookSignature.generate_signature_header(text, SECRET, FIXED_TIMESTAMP)
    assert sign(FIXED_BODY, SECRET, FIXED_TIMESTAMP) == made


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (TOLERANCE, None),  # exactly at the edge: accepted, as the SDK does
        (TOLERANCE + 1, errors.TimestampTooOld),
        (-300, None),
        (-301, errors.TimestampInFuture),
    ],
)
def test_tolerance_edges(age: int, expected: type[Exception] | None) -> None:
    now = 1_800_000_000
    t = now - age
    header = f"t={t},{_v1(SECRET, t)}"
    if expected is None:
        assert verify(BODY, header, [SECRET], tolerance=TOLERANCE, now=now) == t
    else:
        with pytest.raises(expected):
            verify(BODY, header, [SECRET], tolerance=TOLERANCE, now=now)


def test_tolerances_are_parameters() -> None:
    now = 1_800_000_000
    old, ahead = now - 100, now + 100
    with pytest.raises(errors.TimestampTooOld):
        verify(BODY, f"t={old},{_v1(SECRET, old)}", [SECRET], tolerance=60, now=now)
    with pytest.raises(errors.TimestampInFuture):
        verify(BODY, f"t={ahead},{_v1(SECRET, ahead)}", [SECRET], future_tolerance=60, now=now)
    assert verify(BODY, f"t={ahead},{_v1(SECRET, ahead)}", [SECRET], now=now) == ahead


def test_forged_and_stale_is_a_mismatch_not_a_timestamp_error() -> None:
    # The signature is checked first: a timestamp error always means "authentic but stale".
    t = 1_000
    with pytest.raises(errors.SignatureMismatch):
        verify(BODY, f"t={t},{_v1('whsec_other', t)}", [SECRET], now=1_800_000_000)


def test_parse_header() -> None:
    parsed = parse_header(" t=12 , v1=ab,v0=cd,v1= ef ,x=1")
    assert parsed.timestamp == 12
    assert parsed.v1 == (b"ab", b"ef")
    with pytest.raises(errors.NoV1Signature):
        parse_header("t=12,v0=ab")
    with pytest.raises(errors.MalformedSignatureHeader):
        parse_header("t=12," + "v1=ab," * (MAX_HEADER_LENGTH // 6))
    with pytest.raises(errors.MalformedSignatureHeader):
        parse_header("t=1234567890123,v1=ab")  # more digits than any unix time needs
    with pytest.raises(errors.MissingSignatureHeader):
        parse_header("  ")


def test_pure_without_django_settings() -> None:
    """signature and envelope run with no Django settings and no database layer loaded."""
    code = (
        "import sys, time\n"
        "from stripe_mirror.verification import envelope, signature\n"
        'body = b\'{"id":"evt_1","object":"event","type":"x","created":1,'
        '"livemode":false,"data":{"object":{}}}\'\n'
        "signature.verify(body, signature.sign(body, 'whsec_x'), ['whsec_x'])\n"
        "assert envelope.parse(body).id == 'evt_1'\n"
        "from django.conf import settings\n"
        "assert not settings.configured\n"
        "assert 'django.db' not in sys.modules, 'the database layer was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()


# --- properties ------------------------------------------------------------------------

_item = st.tuples(
    st.sampled_from(["t", "v1", "v0", " t", "v1 ", "x", "", "="]),
    st.sampled_from(["=", "", "=="]),
    st.one_of(st.text(max_size=20), st.integers(-5, 10**13).map(str)),
).map("".join)
_header_like = st.lists(_item, max_size=8).map(",".join)
_headers = st.one_of(st.none(), st.text(), _header_like)
_secrets = st.text(min_size=1, max_size=40).filter(str.strip)
_lenient = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_lenient
@given(header=_headers, body=st.binary(max_size=200), now=st.integers(0, 2**40))
def test_random_headers_only_raise_signature_errors(
    header: str | None, body: bytes, now: int
) -> None:
    with contextlib.suppress(errors.SignatureError):
        verify(body, header, [SECRET, ""], now=now)
    with contextlib.suppress(errors.SignatureError):
        parse_header(header)


@_lenient
@given(body=st.binary(max_size=500), secret=_secrets, timestamp=st.integers(0, 10**12 - 1))
def test_signed_always_verifies(body: bytes, secret: str, timestamp: int) -> None:
    secret = secret.encode("utf-8", "replace").decode()  # no lone surrogates in a secret
    header = sign(body, secret, timestamp)
    assert verify(body, header, ["whsec_other", secret], now=timestamp) == timestamp


@_lenient
@given(body=st.binary(min_size=1, max_size=500), data=st.data())
def test_any_single_byte_change_fails(body: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(body) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    changed = body[:index] + bytes([byte]) + body[index + 1 :]
    header = sign(body, SECRET, 1_800_000_000)
    with pytest.raises(errors.SignatureMismatch):
        verify(changed, header, [SECRET], now=1_800_000_000)
