"""``manage.py stripe_mirror_endpoints``: the site's webhook endpoints in Stripe.

    manage.py stripe_mirror_endpoints create https://example.com/stripe/webhook/platform/
    manage.py stripe_mirror_endpoints create https://example.com/stripe/webhook/connect/ --connect
    manage.py stripe_mirror_endpoints check [--live]

``create`` creates the endpoint (API version pinned to the mirror's, the events chosen by
``--events``) and prints its signing secret once, with what to put in settings; if an endpoint
already posts to that URL, it updates its events (and enables it) instead. ``check`` compares
the configured endpoints with Stripe's and exits with status 1 when they differ.
"""

from __future__ import annotations

from typing import Any

import stripe
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stripe_mirror import conf
from stripe_mirror.api import ApiNotConfigured, client_for
from stripe_mirror.api import endpoints as stripe_endpoints


class Command(BaseCommand):
    help = "Create or update the site's webhook endpoint in Stripe, or check them all."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create or update the endpoint of a URL")
        create.add_argument("url", help="the full URL, ending in /webhook/<endpoint-name>/")
        create.add_argument(
            "--events",
            default="all",
            help="all (*, the default: the mirror keeps every object), mirrored (the typed "
            "models' events and those of your @on handlers) or a comma-separated list",
        )
        create.add_argument("--connect", action="store_true", help="events of connected accounts")
        create.add_argument("--description", default="")
        for sub in (create, actions.add_parser("check", help="compare settings with Stripe")):
            sub.add_argument("--live", action="store_true", help="live mode (default: test)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            client = client_for(livemode=options["live"])
        except ApiNotConfigured as exc:
            raise CommandError(str(exc)) from exc
        try:
            if options["action"] == "create":
                self.create(client, options)
            else:
                self.compare(client, options)
        except stripe.StripeError as exc:
            raise CommandError(f"Stripe refused: {exc.user_message or exc}") from exc

    def create(self, client: stripe.StripeClient, options: dict[str, Any]) -> None:
        name = stripe_endpoints.endpoint_name(options["url"])
        if name is None:
            raise CommandError("the URL must end in /webhook/<endpoint-name>/ (see README.md)")
        try:
            events = stripe_endpoints.enabled_events(options["events"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        applied = stripe_endpoints.apply(
            client,
            options["url"],
            events,
            connect=options["connect"],
            description=options["description"],
        )
        endpoint = applied.endpoint
        shown = "every event" if events == ["*"] else f"{len(events)} event types"
        if not applied.created:
            self.stdout.write(
                f"Updated {endpoint.id} ({endpoint.url}): {shown}, enabled. Its signing secret "
                "is unchanged (Stripe shows it only at creation: see the Dashboard)."
            )
            return
        self.stdout.write(
            f"Created {endpoint.id} ({endpoint.url}): {shown}, API version "
            f"{endpoint.api_version}.\n\nIts signing secret, shown this once:\n\n"
            f"    {endpoint.secret}\n\nPut it in your settings (from an environment variable or "
            "a secrets store, not in the code):\n\n"
            f'    STRIPE_MIRROR["ENDPOINTS"]["{name}"] = {{"SECRETS": ["whsec_..."]}}\n'
        )
        if name not in conf.endpoint_names():
            self.stdout.write(f"Note: no endpoint {name!r} is configured yet.")

    def compare(self, client: stripe.StripeClient, options: dict[str, Any]) -> None:
        mode = "live" if options["live"] else "test"
        problems = stripe_endpoints.check(client, conf.endpoint_names())
        for problem in problems:
            self.stdout.write(f"- {problem}")
        if problems:
            raise CommandError(
                f"{len(problems)} difference(s) between the settings and Stripe ({mode} mode)",
                returncode=1,
            )
        self.stdout.write(f"The endpoints in Stripe ({mode} mode) match the settings.")
