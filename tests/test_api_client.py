"""api/client.py: the one StripeClient per mode and account, against the fake Stripe server."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import stripe
from django.core.checks import run_checks

from stripe_mirror import api
from stripe_mirror.api.client import RateLimiter
from tests.stripe_api.fake import LIVE_KEY, TEST_KEY, FakeStripe

GOOD = {"SECRETS": ["whsec_test"]}


def configure(settings: Any, fake: FakeStripe, **extra: Any) -> None:
    settings.STRIPE_MIRROR = {
        "ENDPOINTS": {"default": GOOD},
        "API_BASE": fake.url,
        "API_RATE_LIMIT": 1000,
        **extra,
    }


def test_the_mode_chooses_the_key(settings: Any, fake_stripe: FakeStripe) -> None:
    configure(settings, fake_stripe, API_KEY={"test": TEST_KEY, "live": LIVE_KEY})
    fake_stripe.add("customer", email="test@example.com")
    fake_stripe.add("customer", email="live@example.com", livemode=True)
    test = api.client_for(livemode=False).v1.customers.list()
    live = api.client_for(livemode=True).v1.customers.list()
    assert [c.email for c in test.data] == ["test@example.com"]
    assert [c.email for c in live.data] == ["live@example.com"]
    keys = [r.headers["authorization"] for r in fake_stripe.requests("/v1/customers")]
    assert keys == [f"Bearer {TEST_KEY}", f"Bearer {LIVE_KEY}"]


def test_a_test_key_does_not_serve_live_events(settings: Any, fake_stripe: FakeStripe) -> None:
    configure(settings, fake_stripe, API_KEY=TEST_KEY)
    with pytest.raises(api.ApiNotConfigured, match="live mode"):
        api.client_for(livemode=True)


def test_no_key_at_all(settings: Any, fake_stripe: FakeStripe) -> None:
    configure(settings, fake_stripe)
    with pytest.raises(api.ApiNotConfigured, match="test mode"):
        api.client_for(livemode=False)


def test_account_and_pinned_version(settings: Any, fake_stripe: FakeStripe) -> None:
    configure(settings, fake_stripe, API_KEY=TEST_KEY, API_VERSION="2024-06-20")
    fake_stripe.connect("acct_1Other")
    fake_stripe.add("customer", account="acct_1Other", email="connected@example.com")
    listed = api.client_for(livemode=False, account="acct_1Other").v1.customers.list()
    assert [c.email for c in listed.data] == ["connected@example.com"]
    (request,) = fake_stripe.requests("/v1/customers")
    assert request.account == "acct_1Other"
    assert request.stripe_version == "2024-06-20"


def test_without_a_pin_the_sdk_version_is_sent(settings: Any, fake_stripe: FakeStripe) -> None:
    configure(settings, fake_stripe, API_KEY=TEST_KEY)
    api.client_for(livemode=False).v1.customers.list()
    (request,) = fake_stripe.requests("/v1/customers")
    assert request.stripe_version == stripe.api_version


def test_rate_limit_errors_are_retried(settings: Any, fake_stripe: FakeStripe) -> None:
    configure(settings, fake_stripe, API_KEY=TEST_KEY, API_MAX_RETRIES=2)
    fake_stripe.add("customer")
    fake_stripe.fail_next(2, status=429)
    assert len(api.client_for(livemode=False).v1.customers.list().data) == 1
    assert [r.status for r in fake_stripe.requests("/v1/customers")] == [429, 429, 200]


def test_no_retry_when_stripe_says_so(settings: Any, fake_stripe: FakeStripe) -> None:
    configure(settings, fake_stripe, API_KEY=TEST_KEY, API_MAX_RETRIES=2)
    fake_stripe.fail_next(1, status=500, should_retry=False)
    with pytest.raises(stripe.APIError):
        api.client_for(livemode=False).v1.customers.list()
    assert [r.status for r in fake_stripe.requests("/v1/customers")] == [500]


def test_the_key_never_reaches_the_logs(
    settings: Any, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    configure(settings, fake_stripe, API_KEY=TEST_KEY, API_MAX_RETRIES=1)
    fake_stripe.fail_next(1, status=429)
    with caplog.at_level(logging.DEBUG):
        api.client_for(livemode=False).v1.customers.list()
    assert caplog.records  # the SDK logged the retry
    assert TEST_KEY not in caplog.text
    assert TEST_KEY[8:] not in caplog.text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_rate_limiter_spaces_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(6)]
    assert waits[0] == 0
    assert waits[1:] == pytest.approx([0.2] * 5)
    assert clock.now == pytest.approx(101.0)


def test_a_burst_passes_at_once_then_the_rate_holds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, burst=3, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire() == pytest.approx(0.5)
    clock.now += 10  # idle: the burst is available again, not more
    assert [limiter.acquire() for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire() == pytest.approx(0.5)


def test_the_limit_holds_for_every_thread_of_the_process(
    settings: Any, fake_stripe: FakeStripe
) -> None:
    configure(settings, fake_stripe, API_KEY=TEST_KEY, API_RATE_LIMIT=20)
    started = time.monotonic()

    def call() -> None:
        for _ in range(4):
            api.client_for(livemode=False, account="").v1.customers.list()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 16 requests at 20/s: the first at once, the others 50 ms apart.
    assert time.monotonic() - started >= 15 * 0.05 * 0.95
    assert len(fake_stripe.requests("/v1/customers")) == 16


def check_ids(settings: Any, **values: Any) -> list[str]:
    settings.STRIPE_MIRROR = {"ENDPOINTS": {"default": GOOD}, **values}
    return [m.id for m in run_checks() if m.id and m.id.startswith("stripe_mirror.")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sk_test_abc", []),
        ("rk_live_abc", []),
        ({"live": "sk_live_a", "test": "sk_test_b"}, []),
        ("pk_test_abc", ["stripe_mirror.E020"]),
        ("whsec_abc", ["stripe_mirror.E020"]),
        ("sk_test_abc\n", ["stripe_mirror.E020"]),
        (42, ["stripe_mirror.E020"]),
        ({"live": "sk_test_b"}, ["stripe_mirror.E021"]),
        ({"prod": "sk_live_b"}, ["stripe_mirror.E021"]),
    ],
)
def test_api_key_checks(settings: Any, value: Any, expected: list[str]) -> None:
    assert check_ids(settings, API_KEY=value) == expected


def test_check_messages_never_show_the_key(settings: Any) -> None:
    settings.STRIPE_MIRROR = {"ENDPOINTS": {"default": GOOD}, "API_KEY": "pk_test_secretvalue"}
    text = " ".join(f"{m.msg} {m.hint}" for m in run_checks())
    assert "secretvalue" not in text


@pytest.mark.parametrize(
    ("key", "bad"),
    [("API_RATE_LIMIT", 0), ("API_MAX_RETRIES", -1), ("API_VERSION", 2024)],
)
def test_bad_api_numbers(settings: Any, key: str, bad: Any) -> None:
    assert check_ids(settings, **{key: bad}) == ["stripe_mirror.E009"]
