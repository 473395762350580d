"""Django signals, for those who prefer them to ``@on`` handlers.

The event signals and ``object_backfilled`` are sent after the relevant transaction has
committed, so receivers see the committed state. A receiver that raises is logged and does not
affect the event.
"""

from django.dispatch import Signal

#: A delivery was recorded in the inbox. Keyword arguments: ``recorded`` (inbox.Recorded:
#: pk, stripe_id, status, delivery_count, first_delivery), ``envelope`` (envelope.Envelope),
#: ``endpoint`` (str).
event_recorded = Signal()

#: An event was processed: the mirror sync and every handler succeeded. Keyword arguments:
#: ``event`` (StripeEvent, or ThinEvent) and ``inbox_event`` (InboxEvent).
event_processed = Signal()

#: Processing an event failed. Keyword arguments: ``event`` (StripeEvent), ``inbox_event``
#: (InboxEvent), ``errors`` (list of (handler name, exception)) and ``will_retry`` (bool:
#: False once the event is dead).
event_failed = Signal()

#: A webhook request was refused (nothing was stored). Keyword arguments: ``endpoint`` (str:
#: the URL's endpoint name, which may be unknown) and ``error`` (errors.WebhookRejected: its
#: ``code`` is the reason, its ``status`` the HTTP status).
webhook_rejected = Signal()

#: A page of objects read by a backfill was written to the mirror (``manage.py
#: stripe_mirror_backfill``; no ``@on`` handler runs for them: they are not events). Sent once
#: per page, after its transaction committed. Keyword arguments: ``object_type`` (str),
#: ``account`` (str, "" for the platform), ``livemode`` (bool), ``rows`` (list of the mirrored
#: rows the page created or updated) and ``objects`` (list of dict: every object of the page,
#: as listed, including those whose rows held a newer state).
object_backfilled = Signal()
