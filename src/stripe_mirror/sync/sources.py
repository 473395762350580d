"""Stage 5: where the sync gets snapshots other than the one it is writing.

Both are plugged in at ``AppConfig.ready()`` (``apps.py``), so that the sync knows neither
the inbox's table nor the mirror's rules (no import of an earlier stage):

- ``same_second``: the recorded snapshots of one object from one second, the candidates of a
  tie (the inbox's, stage 3: ``dispatch_sql.same_second_snapshots``);
- ``apply_fetched``: writes a snapshot read from the Stripe API as the mirror writes an
  event's (stage 4: the object, then its embedded lists, links and hooks);
- ``after_writes``: what follows the writes of rows (stage 4: embedded lists, links, hooks),
  for rows the sync wrote itself (a backfill page's new rows, ``bulk.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from .origin import Origin


class SameSecond(Protocol):
    def __call__(
        self,
        object_type: str,
        object_id: str,
        *,
        account: str,
        livemode: bool,
        created: datetime,
        other_than: str,
    ) -> Iterable[tuple[str, str, str | bytes]]:
        """(event id, event type, the event's JSON) of every recorded snapshot event about
        the object in the second ``created``, but the event ``other_than``."""
        ...


ApplyFetched = Callable[[dict[str, Any], Origin], object]
#: Takes a list of ``upsert.Outcome`` (not named here: ``upsert`` imports this module).
AfterWrites = Callable[[list[Any]], object]


@dataclass(slots=True)
class _Plugged:
    same_second: SameSecond | None = None
    apply_fetched: ApplyFetched | None = None
    after_writes: AfterWrites | None = None


_plugged = _Plugged()


def plug(
    *, same_second: SameSecond, apply_fetched: ApplyFetched, after_writes: AfterWrites
) -> None:
    """Connect the sync to its sources (``apps.py``)."""
    _plugged.same_second = same_second
    _plugged.apply_fetched = apply_fetched
    _plugged.after_writes = after_writes


def same_second() -> SameSecond:
    found = _plugged.same_second
    if found is None:  # the sync is not usable before Django has set up the app
        raise ImproperlyConfigured("stripe_mirror's AppConfig.ready() has not run")
    return found


def apply_fetched() -> ApplyFetched | None:
    return _plugged.apply_fetched


def after_writes() -> AfterWrites | None:
    return _plugged.after_writes
