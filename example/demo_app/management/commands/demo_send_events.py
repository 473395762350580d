"""Send a running site signed sample events over HTTP, then show what its inbox holds.

    python example/manage.py demo_send_events --url http://127.0.0.1:8000

scripts/demo.sh (``make demo``) runs it. The sample objects are Stripe's own examples
(``fixtures/stripe_objects.json``, a subset of stripe/openapi's fixtures3.json, MIT).
Every run sends fresh event ids, so running it again adds events instead of repeating them.
It fails (exit status 1) when a response or an inbox row is not what the demo expects.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stripe_mirror import conf
from stripe_mirror.models import Customer, InboxEvent, Invoice, Status, Subscription
from stripe_mirror.testing import build_event, encode, signed_headers

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe_objects.json"
#: A type no handler names, as when Stripe adds event types after your code was written.
UNKNOWN_TYPE = "demo.unknown_type"
WRONG_SECRET = "whsec_not_the_endpoint_secret"


@dataclass(frozen=True)
class Delivery:
    label: str
    event: dict[str, Any]
    secret: str
    expected_status: int


def sample_objects() -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def deliveries(secret: str) -> list[Delivery]:
    """What the demo sends, in order: one delivery per line of its output."""
    objects = sample_objects()
    sub_id = objects["subscription"]["id"]
    invoice = objects["invoice"] | {
        "status": "paid",
        "amount_paid": 1000,
        "amount_remaining": 0,
        # Fixtures are placeholders: make the invoice name the sample subscription.
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_id},
        },
    }
    invoice.pop("subscription", None)
    customer_created = build_event("customer.created", objects["customer"])

    def accepted(label: str, event_type: str, obj: dict[str, Any]) -> Delivery:
        return Delivery(label, build_event(event_type, obj), secret, 200)

    subscription = objects["subscription"]
    now = int(time.time())
    late_update = build_event(
        "customer.subscription.updated",
        subscription | {"status": "incomplete"},
        created=now - 60,
        previous_attributes={"status": "active"},
    )
    return [
        Delivery("new customer", customer_created, secret, 200),
        Delivery(
            "new subscription",
            build_event("customer.subscription.created", subscription, created=now),
            secret,
            200,
        ),
        Delivery("older update, arriving late", late_update, secret, 200),
        accepted("invoice paid", "invoice.paid", invoice),
        accepted("unknown type, '*' handlers", UNKNOWN_TYPE, objects["product"]),
        Delivery("same event again", customer_created, secret, 200),
        Delivery(
            "bad signature",
            build_event("customer.updated", objects["customer"]),
            WRONG_SECRET,
            400,
        ),
    ]


def post(url: str, body: bytes, secret: str) -> tuple[int, str]:
    """POST a signed body; returns the status and the response body, whatever the status."""
    headers = {"Content-Type": "application/json", **signed_headers(body, secret)}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot reach {url}: {exc}. Is the site running?") from exc


def short_handler_name(name: str) -> str:
    return "mirror" if name == "stripe_mirror.mirror" else name.rsplit(".", 1)[-1]


def format_table(lines: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]


class Command(BaseCommand):
    help = "Send a running site signed sample Stripe events and show what its inbox holds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="The site (default %(default)s)."
        )
        parser.add_argument("--endpoint", default="default", help="Endpoint name (default).")
        parser.add_argument("--prefix", default="/stripe/", help="Where stripe_mirror.urls is.")

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = conf.endpoint(options["endpoint"])
        if endpoint is None or not endpoint.secrets:
            raise CommandError(f"no endpoint {options['endpoint']!r} in STRIPE_MIRROR")
        url = f"{options['url'].rstrip('/')}{options['prefix']}webhook/{endpoint.name}/"
        before = InboxEvent.objects.count()
        self.stdout.write(f"Sending signed sample events to {url}\n")
        problems: list[str] = []
        sent: list[str] = []
        for delivery in deliveries(endpoint.secrets[0]):
            status, answer = post(url, encode(delivery.event), delivery.secret)
            self.stdout.write(
                f"  {delivery.label:<28} {delivery.event['type']:<30} -> {status} {answer}"
            )
            if status != delivery.expected_status:
                problems.append(f"{delivery.label}: expected {delivery.expected_status}")
            if status == 200 and delivery.event["id"] not in sent:
                sent.append(delivery.event["id"])
        problems += self.show_inbox(sent, before)
        problems += self.show_mirror()
        if problems:
            raise CommandError("the demo did not go as expected:\n  " + "\n  ".join(problems))

    def show_mirror(self) -> list[str]:
        """Print what the mirror now says about the sample customer; return what is wrong."""
        objects = sample_objects()
        customer_id = objects["customer"]["id"]
        customer = Customer.objects.filter(stripe_id=customer_id).first()
        if customer is None:
            return [f"{customer_id}: not in the mirror"]
        subscription = Subscription.objects.get(stripe_id=objects["subscription"]["id"])
        invoice = Invoice.objects.filter(stripe_id=objects["invoice"]["id"]).first()
        price = objects["subscription"]["items"]["data"][0]["price"]["id"]
        self.stdout.write("\nThe mirror (the site's own tables, no Stripe API call) now says:\n")
        lines = [
            f"  customer {customer.stripe_id}: paying? {customer.active_subscriptions().exists()}",
            f"  subscription {subscription.stripe_id}: status {subscription.status!r} "
            f"(the older, late update was ignored), customer {subscription.customer_id}",
            f"  customer.has_active_price({price!r}): {customer.has_active_price(price)}",
        ]
        if invoice is not None:
            lines.append(
                f"  invoice {invoice.stripe_id}: {invoice.status}, {invoice.amount_paid} "
                f"{invoice.currency} paid, subscription {invoice.subscription_id}"
            )
        for line in lines:
            self.stdout.write(line)
        if subscription.status != "active":
            return [f"{subscription.stripe_id}: status {subscription.status}, expected active"]
        return []

    def show_inbox(self, sent: list[str], before: int) -> list[str]:
        """Print this run's inbox rows; return what is wrong with them."""
        rows = {row.stripe_id: row for row in InboxEvent.objects.filter(stripe_id__in=sent)}
        table = [("EVENT ID", "TYPE", "STATUS", "DELIVERIES", "HANDLERS THAT RAN")]
        table += [
            (
                stripe_id,
                rows[stripe_id].type,
                rows[stripe_id].status,
                str(rows[stripe_id].delivery_count),
                ", ".join(short_handler_name(n) for n in rows[stripe_id].completed_handlers),
            )
            for stripe_id in sent
            if stripe_id in rows
        ]
        self.stdout.write("\nThe inbox now holds these events from this run:\n")
        for line in format_table(table):
            self.stdout.write(line)
        total = InboxEvent.objects.count()
        self.stdout.write(
            f"\n{total} events in the inbox in all ({before} from earlier runs); "
            "the bad signature was refused and stored nothing.\n"
        )
        problems = [f"{stripe_id}: not in the inbox" for stripe_id in sent if stripe_id not in rows]
        problems += [
            f"{row.stripe_id}: {row.status}\n{row.last_error}"
            for row in rows.values()
            if row.status in (Status.FAILED, Status.DEAD)
        ]
        if any(row.status == Status.PENDING for row in rows.values()):
            self.stdout.write(
                "Some events are pending: the site uses a queue backend; run "
                "`manage.py stripe_mirror_worker` (or your backend's worker).\n"
            )
        return problems
