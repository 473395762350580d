"""Stage 5: generic sync. Create, update and tombstone mirrored rows from Stripe objects.

``upsert`` and ``tombstone`` work for every object type (typed model or generic table);
``children`` and ``links`` add what one object's snapshot says about others. May import the
foundation only: other stages' snapshots come through ``sources`` (plugged in by ``apps.py``).
"""

from .deletable import DELETABLE
from .origin import Origin
from .upsert import Outcome, Result, model_for, tombstone, upsert

__all__ = ["DELETABLE", "Origin", "Outcome", "Result", "model_for", "tombstone", "upsert"]
