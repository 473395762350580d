"""Envelope parsing: every rejection reason, thin events, Connect, odd but authentic objects,
and property tests that random input only ever raises a PayloadError."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_mirror import errors
from stripe_mirror.events import Envelope, EventKind
from stripe_mirror.testing import build_event, build_thin_event
from stripe_mirror.verification.envelope import parse


def body(value: Any) -> bytes:
    return orjson.dumps(value)


def _changed(value: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``value`` with top-level keys replaced, or removed where the change is ``...``."""
    for key, new in changes.items():
        if new is ...:
            value.pop(key)
        else:
            value[key] = new
    return value


def event(**changes: Any) -> dict[str, Any]:
    """A valid snapshot event, changed."""
    value = build_event(
        "customer.updated",
        {"id": "cus_1", "object": "customer"},
        id="evt_1",
        created=1_700_000_000,
        previous_attributes={"email": None},
    )
    return _changed(value, changes)


def thin(**changes: Any) -> dict[str, Any]:
    """A valid thin event notification, changed."""
    value = build_thin_event(
        "v1.billing.meter.error_report_triggered",
        {"id": "mtr_test_61R9", "type": "billing.meter", "url": "/v1/billing/meters/mtr_test_61R9"},
        id="evt_test_65R9Ijk8mKaa",
        created=datetime(2026, 7, 30, 10, 11, 12, 123000, tzinfo=UTC),
    )
    return _changed(value, changes)


def test_snapshot_fields() -> None:
    parsed = parse(body(event()))
    assert parsed.kind is EventKind.SNAPSHOT
    assert parsed.id == "evt_1"
    assert parsed.type == "customer.updated"
    assert parsed.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert parsed.livemode is False
    assert parsed.account is None
    assert parsed.api_version == "2026-07-29.dahlia"
    assert parsed.object_id == "cus_1"
    assert parsed.object_type == "customer"
    assert parsed.payload["data"]["previous_attributes"] == {"email": None}


def test_connect_account() -> None:
    parsed = parse(body(event(account="acct_1Nv0FGQ9RKHgCVdK", livemode=True)))
    assert parsed.account == "acct_1Nv0FGQ9RKHgCVdK"
    assert parsed.livemode is True


def test_api_version_null() -> None:
    assert parse(body(event(api_version=None))).api_version is None
    assert parse(body(event(api_version=...))).api_version is None


def test_object_without_id() -> None:
    # invoice.upcoming carries an invoice that does not exist yet: it has no id.
    value = event(type="invoice.upcoming")
    value["data"] = {"object": {"object": "invoice", "amount_due": 1000}}
    parsed = parse(body(value))
    assert parsed.object_id is None
    assert parsed.object_type == "invoice"


@pytest.mark.parametrize(
    "obj",
    [
        {"id": 42, "object": ["customer"]},
        {"id": "cus_\u0000", "object": "customer\u0000"},
        {"id": "x" * 256, "object": "y" * 101},
        {"id": "cus 1", "object": ""},
    ],
)
def test_odd_object_id_and_type_are_kept_not_refused(obj: dict[str, Any]) -> None:
    # The event is authentic; its object's id and type only feed the inbox's index columns.
    value = event()
    value["data"] = {"object": obj}
    parsed = parse(body(value))
    assert (parsed.object_id, parsed.object_type) == (None, None)
    assert parsed.payload["data"]["object"] == obj


def test_unknown_fields_and_types_are_accepted() -> None:
    parsed = parse(body(event(type="brand_new.thing_happened", surprise={"a": [1, 2]})))
    assert parsed.type == "brand_new.thing_happened"


def test_thin_event() -> None:
    parsed = parse(body(thin(context="acct_1")))
    assert parsed.kind is EventKind.THIN
    assert parsed.id == "evt_test_65R9Ijk8mKaa"
    assert parsed.type == "v1.billing.meter.error_report_triggered"
    assert parsed.created == datetime(2026, 7, 30, 10, 11, 12, 123000, tzinfo=UTC)
    assert parsed.account == "acct_1"
    assert parsed.api_version is None
    assert parsed.object_id == "mtr_test_61R9"
    assert parsed.object_type == "billing.meter"


def test_thin_event_offset_is_converted_to_utc() -> None:
    parsed = parse(body(thin(created="2026-07-30T12:00:00+02:00")))
    assert parsed.created == datetime(2026, 7, 30, 10, 0, tzinfo=UTC)
    assert parsed.created.utcoffset() == timedelta(0)


def test_thin_event_without_related_object() -> None:
    parsed = parse(body(thin(related_object=...)))
    assert (parsed.object_id, parsed.object_type) == (None, None)


REJECTIONS: list[tuple[str, bytes, type[errors.PayloadError]]] = [
    ("not utf-8", b'{"id": "evt_\xff"}', errors.NotUtf8),
    ("latin-1 text", '{"a": "é"}'.encode("latin-1"), errors.NotUtf8),
    ("empty", b"", errors.InvalidJson),
    ("truncated", body(event())[:-1], errors.InvalidJson),
    ("trailing garbage", body(event()) + b"x", errors.InvalidJson),
    ("NaN", b'{"created": NaN}', errors.InvalidJson),
    ("lone surrogate", b'{"id": "evt_\\ud800"}', errors.InvalidJson),
    ("byte order mark", b"\xef\xbb\xbf" + body(event()), errors.InvalidJson),
    ("deep nesting", b"[" * 2000 + b"]" * 2000, errors.InvalidJson),
    ("array", b"[]", errors.NotAnObject),
    ("string", b'"event"', errors.NotAnObject),
    ("null", b"null", errors.NotAnObject),
    ("number", b"1", errors.NotAnObject),
    ("object is not event", body(event(object="customer")), errors.InvalidEnvelope),
    ("object missing", body(event(object=...)), errors.InvalidEnvelope),
    ("id missing", body(event(id=...)), errors.InvalidEnvelope),
    ("id not evt_", body(event(id="cus_1")), errors.InvalidEnvelope),
    ("id not a string", body(event(id=1)), errors.InvalidEnvelope),
    ("id too long", body(event(id="evt_" + "a" * 252)), errors.InvalidEnvelope),
    ("id with a space", body(event(id="evt_1 ")), errors.InvalidEnvelope),
    ("id with a NUL", body(event(id="evt_1\u0000")), errors.InvalidEnvelope),
    ("id not ascii", body(event(id="evt_é")), errors.InvalidEnvelope),
    ("type missing", body(event(type=...)), errors.InvalidEnvelope),
    ("type empty", body(event(type="")), errors.InvalidEnvelope),
    ("type not a string", body(event(type=["a"])), errors.InvalidEnvelope),
    ("type too long", body(event(type="a" * 256)), errors.InvalidEnvelope),
    ("type with a control character", body(event(type="a\nb")), errors.InvalidEnvelope),
    ("created missing", body(event(created=...)), errors.InvalidEnvelope),
    ("created a string", body(event(created="1700000000")), errors.InvalidEnvelope),
    ("created a float", body(event(created=1.7e9)), errors.InvalidEnvelope),
    ("created a bool", body(event(created=True)), errors.InvalidEnvelope),
    ("created negative", body(event(created=-1)), errors.InvalidEnvelope),
    ("created after 9999", body(event(created=253_402_300_800)), errors.InvalidEnvelope),
    ("livemode missing", body(event(livemode=...)), errors.InvalidEnvelope),
    ("livemode a string", body(event(livemode="false")), errors.InvalidEnvelope),
    ("livemode a number", body(event(livemode=0)), errors.InvalidEnvelope),
    ("data missing", body(event(data=...)), errors.InvalidEnvelope),
    ("data not an object", body(event(data=[])), errors.InvalidEnvelope),
    ("data.object missing", body(event(data={})), errors.InvalidEnvelope),
    ("data.object null", body(event(data={"object": None})), errors.InvalidEnvelope),
    ("data.object a list", body(event(data={"object": []})), errors.InvalidEnvelope),
    (
        "previous_attributes a list",
        body(event(data={"object": {}, "previous_attributes": []})),
        errors.InvalidEnvelope,
    ),
    ("account not a string", body(event(account=1)), errors.InvalidEnvelope),
    ("account with a space", body(event(account="acct 1")), errors.InvalidEnvelope),
    ("account too long", body(event(account="acct_" + "a" * 251)), errors.InvalidEnvelope),
    ("api_version too long", body(event(api_version="2" * 65)), errors.InvalidEnvelope),
    ("api_version not a string", body(event(api_version=2024)), errors.InvalidEnvelope),
    ("thin: created an int", body(thin(created=1_700_000_000)), errors.InvalidEnvelope),
    ("thin: created garbage", body(thin(created="yesterday")), errors.InvalidEnvelope),
    ("thin: created naive", body(thin(created="2026-07-30T10:00:00")), errors.InvalidEnvelope),
    (
        "thin: created before 1970",
        body(thin(created="1969-12-31T23:59:59Z")),
        errors.InvalidEnvelope,
    ),
    (
        "thin: created overflows when made UTC",
        body(thin(created="0001-01-01T00:00:00+01:00")),
        errors.InvalidEnvelope,
    ),
    (
        "thin: created overflows forward",
        body(thin(created="9999-12-31T23:59:59-01:00")),
        errors.InvalidEnvelope,
    ),
    ("thin: related_object a string", body(thin(related_object="x")), errors.InvalidEnvelope),
    ("thin: id missing", body(thin(id=...)), errors.InvalidEnvelope),
    ("thin: livemode missing", body(thin(livemode=...)), errors.InvalidEnvelope),
    ("thin: context not a string", body(thin(context=1)), errors.InvalidEnvelope),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_rejections(raw: bytes, expected: type[errors.PayloadError]) -> None:
    with pytest.raises(errors.PayloadError) as info:
        parse(raw)
    assert type(info.value) is expected
    assert info.value.status == 400
    assert info.value.code == expected.code
    assert info.value.detail


def test_rejection_codes_are_distinct() -> None:
    codes = {cls.code for cls in (errors.NotUtf8, errors.InvalidJson, errors.NotAnObject)}
    assert codes | {errors.InvalidEnvelope.code} == {
        "not_utf8",
        "invalid_json",
        "not_an_object",
        "invalid_envelope",
    }


def test_envelope_is_frozen() -> None:
    parsed = parse(body(event()))
    with pytest.raises(AttributeError):
        parsed.id = "evt_2"  # type: ignore[misc]


# --- properties ------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_rfc3339 = st.datetimes(timezones=st.none() | _offsets).map(datetime.isoformat)
_ids = st.one_of(st.text(max_size=300).map("evt_".__add__), st.just("evt_1"), _json)
_envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "object": st.sampled_from(["event", "v2.core.event"]) | _json,
        "id": _ids,
        "type": st.text(max_size=300) | _json,
        "created": st.integers(-(2**63), 2**64) | _rfc3339 | _json,
        "livemode": st.booleans() | _json,
        "data": st.fixed_dictionaries(
            {}, optional={"object": st.dictionaries(st.text(max_size=5), _json) | _json}
        )
        | _json,
        "account": st.text(max_size=300) | _json,
        "context": st.text(max_size=300) | _json,
        "api_version": st.text(max_size=70) | _json,
        "related_object": st.fixed_dictionaries({}, optional={"id": _json, "type": _json}) | _json,
    },
)
_lenient = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_or_payload_error(raw: bytes) -> Envelope | None:
    try:
        parsed = parse(raw)
    except errors.PayloadError:
        return None
    # What parse accepts, every inbox column can hold.
    assert parsed.id.startswith("evt_")
    assert len(parsed.id) <= 255
    assert datetime(1970, 1, 1, tzinfo=UTC) <= parsed.created
    assert parsed.created.utcoffset() == timedelta(0)
    assert len(parsed.type) <= 255
    assert "\x00" not in parsed.type
    assert parsed.account is None or len(parsed.account) <= 255
    assert parsed.api_version is None or len(parsed.api_version) <= 64
    assert parsed.object_id is None or len(parsed.object_id) <= 255
    assert parsed.object_type is None or len(parsed.object_type) <= 100
    for value in (parsed.id, parsed.account, parsed.api_version, parsed.object_id):
        assert value is None or (value.isascii() and value.isprintable() and " " not in value)
    return parsed


@_lenient
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_payload_errors(raw: bytes) -> None:
    _parse_or_payload_error(raw)


@_lenient
@given(_json)
def test_random_json_only_raises_payload_errors(value: Any) -> None:
    # json, not orjson: it also writes integers beyond 64 bits and escaped lone surrogates.
    _parse_or_payload_error(json.dumps(value).encode())


@_lenient
@given(_envelope_like)
def test_random_envelopes_only_raise_payload_errors(value: dict[str, Any]) -> None:
    _parse_or_payload_error(json.dumps(value).encode())


@_lenient
@given(created=_rfc3339, related=_json, context=_json)
def test_random_thin_events_only_raise_payload_errors(
    created: str, related: Any, context: Any
) -> None:
    value = thin(created=created, related_object=related, context=context)
    _parse_or_payload_error(json.dumps(value).encode())


@_lenient
@given(
    created=st.integers(-(2**63), 2**64),
    api_version=st.none() | st.text(max_size=80),
    account=st.none() | st.text(max_size=300),
    obj=st.dictionaries(st.sampled_from(["id", "object", "x"]), _json),
)
def test_random_snapshot_fields_only_raise_payload_errors(
    created: int, api_version: str | None, account: str | None, obj: dict[str, Any]
) -> None:
    value = event(created=created, api_version=api_version, account=account)
    value["data"] = {"object": obj}
    _parse_or_payload_error(json.dumps(value).encode())
