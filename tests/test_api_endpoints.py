"""manage.py stripe_mirror_endpoints (api/endpoints.py) against the fake Stripe server."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import stripe
from django.core.management import call_command
from django.core.management.base import CommandError

from stripe_mirror.api import endpoints
from stripe_mirror.api.event_types import EVENT_OBJECTS
from stripe_mirror.dispatch.registry import Registry
from tests.stripe_api.fake import TEST_KEY, FakeStripe

EVENT_TYPES = Path(__file__).parent / "data" / "event_types.json"
SITE = "https://shop.example.com/stripe/webhook"


@pytest.fixture
def stripe_api(settings: Any, fake_stripe: FakeStripe) -> FakeStripe:
    settings.STRIPE_MIRROR = {
        "ENDPOINTS": {"default": {"SECRETS": ["whsec_a"]}},
        "API_KEY": TEST_KEY,
        "API_BASE": fake_stripe.url,
        "API_RATE_LIMIT": 1000,
    }
    return fake_stripe


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("stripe_mirror_endpoints", *args, stdout=out)
    return out.getvalue()


def listed(fake: FakeStripe) -> list[Any]:
    return list(fake.client().v1.webhook_endpoints.list().data)


def test_event_types_match_stripes_data() -> None:
    data = json.loads(EVENT_TYPES.read_text())["event_types"]
    current = {name: tuple(sorted(e["object_types"])) for name, e in data.items() if e["current"]}
    assert current == EVENT_OBJECTS


def test_create_prints_the_secret_once(stripe_api: FakeStripe) -> None:
    out = run("create", f"{SITE}/default/")
    (endpoint,) = listed(stripe_api)
    assert endpoint.url == f"{SITE}/default/"
    assert endpoint.enabled_events == ["*"]
    assert endpoint.api_version == stripe.api_version
    (created,) = list(stripe_api.requests("/v1/webhook_endpoints", "POST"))
    assert created.status == 200
    assert "whsec_" in out
    assert 'STRIPE_MIRROR["ENDPOINTS"]["default"]' in out
    assert "no endpoint 'default' is configured" not in out


def test_create_again_updates_and_shows_no_secret(stripe_api: FakeStripe) -> None:
    run("create", f"{SITE}/default/", "--events", "all")
    client = stripe_api.client()
    client.v1.webhook_endpoints.update(listed(stripe_api)[0].id, {"disabled": True})
    out = run("create", f"{SITE}/default/", "--events", "invoice.paid,customer.updated")
    (endpoint,) = listed(stripe_api)
    assert sorted(endpoint.enabled_events) == ["customer.updated", "invoice.paid"]
    assert endpoint.status == "enabled"
    assert "whsec_" not in out
    assert "unchanged" in out


def test_mirrored_events_are_the_typed_models_and_the_handlers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def on_card(event: Any) -> None: ...

    site = Registry()  # the test app's own handlers include a catch-all
    site.register(on_card, "issuing_card.*")
    monkeypatch.setattr(endpoints, "registry", site)
    events = endpoints.enabled_events("mirrored")
    assert {"customer.created", "invoice.paid", "charge.refunded"} <= set(events)
    assert "issuing_card.created" in events  # asked for by the handler
    assert "issuing_cardholder.created" not in events  # neither typed nor handled
    assert "*" not in events


def test_a_catch_all_handler_needs_every_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def everything(event: Any) -> None: ...

    site = Registry()
    site.register(everything, "customer.*", "*")
    monkeypatch.setattr(endpoints, "registry", site)
    assert endpoints.enabled_events("mirrored") == ["*"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((f"{SITE}/default/", "--events", "invoice.payed"), "unknown event types: invoice.payed"),
        (("https://shop.example.com/hooks/",), "must end in /webhook/<endpoint-name>/"),
    ],
)
def test_bad_arguments(stripe_api: FakeStripe, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("create", *args)
    assert listed(stripe_api) == []


def test_check_passes_when_settings_and_stripe_agree(stripe_api: FakeStripe) -> None:
    run("create", f"{SITE}/default/")
    assert "match the settings" in run("check")


def test_check_reports_every_difference(settings: Any, stripe_api: FakeStripe) -> None:
    settings.STRIPE_MIRROR["ENDPOINTS"] = {
        "default": {"SECRETS": ["whsec_a"]},
        "connect": {"SECRETS": ["whsec_b"]},
        "narrow": {"SECRETS": ["whsec_c"]},
    }
    client = stripe_api.client()
    made = client.v1.webhook_endpoints.create(
        {"url": f"{SITE}/default/", "enabled_events": ["*"], "api_version": "2024-06-20"}
    )
    client.v1.webhook_endpoints.update(made.id, {"disabled": True})
    client.v1.webhook_endpoints.create(
        {
            "url": f"{SITE}/narrow/",
            "enabled_events": ["invoice.paid"],
            "api_version": stripe.api_version,
        }
    )
    client.v1.webhook_endpoints.create(
        {"url": f"{SITE}/old/", "enabled_events": ["*"], "api_version": stripe.api_version}
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="5 difference") as raised:
        call_command("stripe_mirror_endpoints", "check", stdout=out)
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert "default" in text
    assert "disabled" in text
    assert "its API version is 2024-06-20" in text
    assert "connect: no endpoint in Stripe" in text
    assert "narrow" in text
    assert "event types the mirror keeps" in text
    assert "old: Stripe posts to" in text


def test_no_key_for_the_mode(stripe_api: FakeStripe) -> None:
    with pytest.raises(CommandError, match="no Stripe API key for live mode"):
        run("check", "--live")
