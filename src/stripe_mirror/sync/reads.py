"""Stage 5: a state read from the Stripe API (a backfill, a site's own API call) as a snapshot.

The one rule, written here only (docs/mirror.md, "States read from the API"): an object read by
a request that *started* at time T is applied with an origin whose ``created`` is
``floor(T) - 1`` second and whose ``event_id`` ends with ``REFETCHED``, in the request's mode
and account, through the mirror's write of a fetched state (``sources.apply_fetched``: the
guard, then embedded lists, links and ``after_write_of`` hooks).

Why ``floor(T) - 1``: an event created in T's second or later may describe a change made
after the read began, so it must win over the read (a later second beats an earlier one). An
event of second ``floor(T) - 1`` or earlier was created before ``floor(T) <= T``, before the
request started, so the read already shows its change (or a newer one): the read must win
over it, and the guard lets a fetched state win its own second (``upsert._choose``) and keeps
it against that second's events delivered later. The read itself never overwrites a row
written from an event of T's second or later (rule 1 of the ordering). It relies on the
machine's clock agreeing with Stripe's to well under a second (NTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction

from .. import conf
from . import sources
from .origin import REFETCHED, Origin
from .storable import storable
from .upsert import Outcome, model_for

#: ``event_type`` of an origin read from the API (it is no event's type).
READ_EVENT_TYPE = "api.read"


def read_watermark(started: datetime) -> datetime:
    """The ``created`` of a state read by a request that started at ``started``."""
    started = started.astimezone(UTC)
    return started.replace(microsecond=0) - timedelta(seconds=1)


def read_origin(started: datetime, *, label: str, account: str, livemode: bool) -> Origin:
    """The origin of a state read at ``started``; ``label`` names the reader (``backfill:...``,
    ``api``) in the rows' ``event_id``."""
    return Origin(
        event_id=f"{label}{REFETCHED}",
        event_type=READ_EVENT_TYPE,
        created=read_watermark(started),
        account=account,
        livemode=livemode,
    )


def apply_read(obj: Mapping[str, Any], origin: Origin) -> Outcome:
    """Write one object read from the API (as an event's object is mirrored: storable first).
    Run it in a transaction; it makes no network call."""
    apply = sources.apply_fetched()
    if apply is None:  # the sync is not usable before Django has set up the app
        raise ImproperlyConfigured("stripe_mirror's AppConfig.ready() has not run")
    outcome = apply(storable(dict(obj)).value, origin)
    assert isinstance(outcome, Outcome)
    return outcome


def apply_api_object(
    obj: Mapping[str, Any] | stripe.StripeObject,
    *,
    started_at: datetime | None = None,
    livemode: bool | None = None,
    account: str | None = None,
) -> Outcome:
    """Read-your-writes: write to the mirror an object the site got from its own API call
    (``client.v1.subscriptions.create(...)``), through the same rule as a backfill, so the
    site sees its write at once and the webhooks that follow are no-ops or newer.

    ``started_at``: when the API call started (take ``timezone.now()`` before it). Without
    it the read is dated ``API_TIMEOUT`` seconds before now: the attempt that answered
    started no earlier than that (each attempt of the SDK lasts at most its timeout, as the
    clients of ``api.client_for`` do), so the date is no later than the read; call it right
    after the call. ``livemode``: the object's own, by default. ``account``: the connected
    account the call was made for (a ``StripeObject`` knows it); "" for the platform."""
    data, own_account = _plain(obj)
    mode = data.get("livemode") if livemode is None else livemode
    if not isinstance(mode, bool):
        raise ValueError("the object has no livemode: pass livemode=")
    if started_at is None:
        started_at = datetime.now(UTC) - timedelta(seconds=conf.api_timeout())
    origin = read_origin(
        started_at,
        label="api",
        account=own_account if account is None else account,
        livemode=mode,
    )
    with transaction.atomic(using=router.db_for_write(model_for(data.get("object")))):
        return apply_read(data, origin)


def _plain(obj: Mapping[str, Any] | stripe.StripeObject) -> tuple[dict[str, Any], str]:
    """The object as plain JSON values, and the account its client was for."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(for_json=True), str(obj.stripe_account or "")
    return dict(obj), ""


__all__ = ["READ_EVENT_TYPE", "apply_api_object", "apply_read", "read_origin", "read_watermark"]
