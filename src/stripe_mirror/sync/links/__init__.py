"""Stage 5e: the invoice <-> payment links, the same whichever API version rendered them.

Before API version 2025-03-31 an invoice named its ``payment_intent`` and ``charge``, and
charges and payment intents named their ``invoice``. Since then none of them does: an
``invoice_payment`` object (events ``invoice_payment.*``) links an invoice to a payment
intent (or a charge), and a charge names its payment intent.

The rule: a link column that the row's own object renders (the key is in its JSON, even
null) holds what the object says. One it does not render is DERIVED from what the mirrored
objects of the same payment render (their "facts"), never from other derived columns:

* Invoice.payment_intent: the invoice's invoice payments (paid first, then the default one,
  then any not canceled; ties by id), else a payment intent or charge that names the invoice;
* Invoice.charge: a charge-type invoice payment's charge, else the latest charge of the
  invoice's payment intent (the intent's ``latest_charge``, else its newest mirrored charge),
  else the newest charge that names the invoice;
* PaymentIntent.invoice: the invoice of the invoices or invoice payments naming the intent;
* Charge.invoice: the invoice naming or paid by the charge, else the invoice of its intent.

So each derived value is a function of the rows' current states, and it is recomputed
whenever one of the payment's rows is written: it ends the same whatever order the events
arrived in. Two transactions writing two rows of one payment concurrently cannot see each
other's row, so on databases with row locks the links are recomputed once more after
commit, under locks on the rows they write: the last of these sees every committed row.

The package, in the order a pass runs: ``payment.py`` (a payment's ids and rows),
``load.py`` (find every row of the payment), ``derive.py`` (facts -> derived links),
``write.py`` (``reconcile``, the pass after commit, writing), ``sql.py`` (the statements).
Only ``reconcile``, ``deferred``/``flush`` (a batch's or a page's links at once) and
``facts`` (whether a write can change a link) are for other modules.
"""

from .write import LINKED, deferred, facts, flush, reconcile

__all__ = ["LINKED", "deferred", "facts", "flush", "reconcile"]
