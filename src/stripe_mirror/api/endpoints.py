"""The site's webhook endpoints in Stripe: create or update one, and compare them with settings.

``manage.py stripe_mirror_endpoints`` is the command line of this module. An endpoint is
matched to a configured name by its URL: the library serves ``<mount>/webhook/<name>/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import stripe

from .. import conf
from ..dispatch.registry import registry
from ..models import TYPED_MODELS
from .event_types import EVENT_OBJECTS


def typed_events() -> list[str]:
    """The current event types about an object that has a typed model."""
    return sorted(t for t, objects in EVENT_OBJECTS.items() if set(objects) & TYPED_MODELS.keys())


def enabled_events(selection: str) -> list[str]:
    """What an endpoint should send: ``all`` (``*``), ``mirrored`` (the typed models' events
    and those the site's ``@on`` handlers ask for) or a comma-separated list of types."""
    if selection == "all":
        return ["*"]
    if selection == "mirrored":
        wanted = set(typed_events())
        for registration in registry.registrations():
            if "*" in registration.patterns:
                return ["*"]
            wanted.update(t for t in EVENT_OBJECTS if registration.matches(t))
        return sorted(wanted)
    chosen = [name.strip() for name in selection.split(",") if name.strip()]
    unknown = [name for name in chosen if name != "*" and name not in EVENT_OBJECTS]
    if unknown or not chosen:
        raise ValueError(f"unknown event types: {', '.join(unknown) or '(none given)'}")
    return sorted(chosen)


def api_version() -> str:
    """The version the mirror's endpoints should render events in: the pinned one, or the
    SDK's."""
    return conf.api_version() or str(stripe.api_version)


def endpoint_name(url: str) -> str | None:
    """The configured name an endpoint URL posts to (``.../webhook/<name>/``), if any."""
    parts = [part for part in urlparse(url).path.split("/") if part]
    if len(parts) >= 2 and parts[-2] == "webhook":
        return parts[-1]
    return None


@dataclass(frozen=True, slots=True)
class Applied:
    endpoint: Any
    created: bool


def apply(
    client: stripe.StripeClient,
    url: str,
    events: list[str],
    *,
    connect: bool = False,
    description: str = "",
) -> Applied:
    """Create the endpoint posting to ``url``, or update the one that exists (its events;
    its API version cannot change: Stripe fixes it at creation)."""
    existing = [e for e in _all(client) if e.url == url]
    if existing:
        changes: dict[str, Any] = {"enabled_events": events, "disabled": False}
        updated = client.v1.webhook_endpoints.update(existing[0].id, changes)  # type: ignore[arg-type]
        return Applied(updated, created=False)
    params: dict[str, Any] = {"url": url, "enabled_events": events, "api_version": api_version()}
    if connect:
        params["connect"] = True
    if description:
        params["description"] = description
    return Applied(client.v1.webhook_endpoints.create(params), created=True)  # type: ignore[arg-type]


def _all(client: stripe.StripeClient) -> list[Any]:
    return list(client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter())


def check(client: stripe.StripeClient, names: Sequence[str]) -> list[str]:
    """Differences between the configured endpoints and Stripe's, one sentence each."""
    stripe_endpoints = _all(client)
    by_name: dict[str, list[Any]] = {}
    for endpoint in stripe_endpoints:
        by_name.setdefault(endpoint_name(endpoint.url) or "", []).append(endpoint)
    problems: list[str] = []
    for name in names:
        found = by_name.get(name, [])
        if not found:
            problems.append(f"{name}: no endpoint in Stripe posts to .../webhook/{name}/")
        for endpoint in found:
            problems.extend(f"{name} ({endpoint.url}): {p}" for p in _problems(endpoint))
    for name, endpoints in by_name.items():
        if name and name not in names:
            urls = ", ".join(e.url for e in endpoints)
            problems.append(
                f"{name}: Stripe posts to {urls}, but STRIPE_MIRROR['ENDPOINTS'] has no "
                f"endpoint {name!r} (each delivery is refused with 404)"
            )
    return problems


def _problems(endpoint: Any) -> Iterable[str]:
    if endpoint.status != "enabled":
        yield f"it is {endpoint.status}: Stripe sends it nothing"
    events = set(endpoint.enabled_events or ())
    if "*" not in events:
        missing = [t for t in typed_events() if t not in events]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            yield f"it does not send {len(missing)} event types the mirror keeps: {shown}"
    wanted = api_version()
    if endpoint.api_version != wanted:
        have = endpoint.api_version or "the account's default"
        yield f"its API version is {have}, the mirror's is {wanted}"
