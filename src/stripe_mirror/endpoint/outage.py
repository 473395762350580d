"""Logging of database outages seen by the webhook endpoint: a summary, not a flood.

During an outage every delivery is refused with a 503 (Stripe retries it), and at a few
hundred webhooks a second a traceback per refusal buries everything else in the log. So the
first refusal of an outage is logged once, at ERROR, with the error's class and code; then at
most one summary line per ``OUTAGE_LOG_INTERVAL`` seconds; then one line when recording
works again. Never a traceback nor the database's message: PostgreSQL's error text can quote
row data. State is per process (each server worker reports its own outage).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from .. import conf

logger = logging.getLogger("stripe_mirror.webhook")


@dataclass
class _Outage:
    started: float
    #: The error of the first refusal, "class (code)", repeated in the summaries.
    error: str
    refused: int = 1
    #: Refusals since the last line logged, and when that line was logged.
    unreported: int = 0
    reported_at: float = 0.0


class OutageLog:
    """The outage state of one process; ``refused`` and ``recorded`` below use the one in
    this module, tests a fresh one each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: _Outage | None = None

    def refused(self, exc: BaseException) -> None:
        """Note a webhook refused with 503 because recording raised ``exc``."""
        now = time.monotonic()
        with self._lock:
            current = self._current
            if current is None:
                self._current = _Outage(started=now, error=describe(exc), reported_at=now)
                logger.error(
                    "database unavailable: recording a webhook failed with %s; answering 503 "
                    "so that Stripe retries (further refusals are summarised every %g s)",
                    self._current.error,
                    conf.outage_log_interval(),
                )
                return
            current.refused += 1
            current.unreported += 1
            elapsed = now - current.reported_at
            if elapsed >= conf.outage_log_interval():
                logger.error(
                    "%d webhooks refused with 503 in the last %.0f s: %s",
                    current.unreported,
                    elapsed,
                    describe(exc),
                )
                current.unreported = 0
                current.reported_at = now

    def recorded(self) -> None:
        """Note a webhook recorded: ends the outage, if there was one."""
        if self._current is None:  # the common case, without taking the lock
            return
        with self._lock:
            outage, self._current = self._current, None
        if outage is not None:
            logger.warning(
                "database available again: recording webhooks works after %.1f s; "
                "%d webhooks were refused with 503 during the outage (%d since the last line)",
                time.monotonic() - outage.started,
                outage.refused,
                outage.unreported,
            )


_log = OutageLog()


def refused(exc: BaseException) -> None:
    _log.refused(exc)


def recorded() -> None:
    _log.recorded()


def describe(exc: BaseException) -> str:
    """The error's class, its driver's class and code, never its message:
    ``OperationalError (psycopg.errors.LockNotAvailable, SQLSTATE 55P03)``."""
    cause = exc.__cause__ or exc
    details = [] if cause is exc else [f"{type(cause).__module__}.{type(cause).__qualname__}"]
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    sqlite_name = getattr(cause, "sqlite_errorname", None)
    if sqlstate:
        details.append(f"SQLSTATE {sqlstate}")
    elif sqlite_name:
        details.append(str(sqlite_name))
    elif cause.args and isinstance(cause.args[0], int):  # MySQLdb: (errno, message)
        details.append(f"error {cause.args[0]}")
    else:
        details.append("no error code")
    return f"{type(exc).__name__} ({', '.join(details)})"
