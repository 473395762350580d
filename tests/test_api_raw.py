"""api/raw.py against our fake Stripe server: a GET parsed by orjson answers what
``raw_request`` answers, keeps the SDK's retries, account header and errors, and falls back to
``raw_request`` when the SDK's requestor is not the one it was written against."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_mirror.api import client_for, raw
from tests.stripe_api.fake import FakeStripe

pytestmark = pytest.mark.django_db

PARAMS = {"limit": 3, "created": {"gte": 0}}


@pytest.fixture
def api(fake_api: FakeStripe) -> FakeStripe:
    for index in range(5):
        fake_api.add("customer", email=f"c{index}@example.com", metadata={"n": str(index)})
    return fake_api


@pytest.fixture(params=["orjson", "raw_request"])
def path_taken(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "raw_request":  # as with a requestor of another signature
        monkeypatch.setattr(raw, "_supported", lambda requestor: False)
    return str(request.param)


def test_a_page_is_what_raw_request_parses(api: FakeStripe, path_taken: str) -> None:
    client = client_for(False, "")
    body, code = raw.get(client, "/v1/customers", PARAMS)
    expected = client.raw_request("get", "/v1/customers", **PARAMS)
    assert code == expected.code == 200
    assert body == expected.data
    assert len(body["data"]) == 3


def test_retries_and_the_account_header_are_the_sdks(api: FakeStripe, path_taken: str) -> None:
    api.connect("acct_1One")
    api.add("customer", account="acct_1One")
    api.fail_next(2, status=429)
    body, _ = raw.get(client_for(False, "acct_1One"), "/v1/customers", {"limit": 1})
    assert len(body["data"]) == 1
    sent = api.requests("/v1/customers")
    assert len(sent) == 3
    assert [logged.account for logged in sent] == ["acct_1One"] * 3


def test_errors_are_the_sdks(api: FakeStripe, path_taken: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw.get(client_for(False, ""), "/v1/customers/cus_missing", {})
    assert raised.value.http_status == 404


def test_the_requestor_of_this_sdk_is_supported() -> None:
    client: Any = stripe.StripeClient("sk_test_x")
    assert raw._supported(type(client._requestor))
    assert not raw._supported(object)
