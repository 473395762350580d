"""Catch-up in several processes (``stripe_mirror_catchup --jobs N``).

The events a run must deliver are dealt into ``N`` lanes by customer: an event goes to the
lane of the customer its object belongs to (the object's own id for a customer, and for an
object that names no customer), so that one customer's events stay in one process, oldest
first, and two processes seldom wait for each other's row locks. Each lane is a process
forked from the command, which delivers its events ``CHUNK`` at a time exactly as a run in
one process does (``catchup.deliver``: recorded, ``event_recorded`` sent, processed through
the normal dispatch) and reports its counts after each chunk; the command adds them up into
the run, shows and stores its progress, and waits for every lane to end.

What a lane process needs of its own: database connections (the command closes its own
before forking; each process opens new ones) and Stripe clients (``api.client.forked``: a
new HTTP session, and a share of ``API_RATE_LIMIT``, which the lanes split evenly).

A lane that fails (a database that went away, an exception in a handler outside the
dispatch's own handling) or dies (killed) ends its part of the run; the other lanes go on
to their end, and the run then fails with what each failed lane said: events it did not
deliver were not recorded, and the next catch-up lists them again.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue as queues
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections

from ..api import client as api_client
from ..dispatch.outcome import Outcome

logger = logging.getLogger("stripe_mirror.catchup")

#: Seconds between two looks at whether every lane process is still alive.
POLL = 1.0

Deliver = Callable[[list[dict[str, Any]], Any], None]


class LaneFailed(RuntimeError):
    """One or more lane processes failed; the message says what each one reported."""


def can_fork() -> bool:
    """Whether lanes can run here: they are forked processes (POSIX)."""
    return "fork" in multiprocessing.get_all_start_methods()


def customer_of(event: dict[str, Any]) -> str:
    """The customer an event's object belongs to (its own id for a customer, for an object
    naming no customer, and "" for an event with no object)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return ""
    if obj.get("object") == "customer":
        return str(obj.get("id") or "")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return str(customer or obj.get("id") or "")


def deal(events: list[dict[str, Any]], jobs: int) -> list[list[dict[str, Any]]]:
    """The events in at most ``jobs`` lanes by customer, each lane in the events' order;
    empty lanes left out."""
    lanes: list[list[dict[str, Any]]] = [[] for _ in range(jobs)]
    for event in events:
        lanes[zlib.crc32(customer_of(event).encode()) % jobs].append(event)
    return [lane for lane in lanes if lane]


def chunks(events: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


@dataclass(frozen=True)
class Counts:
    """What a lane has delivered so far (the counters of ``catchup.Run``)."""

    recorded: int = 0
    present: int = 0
    unreadable: int = 0
    outcomes: tuple[tuple[Outcome, int], ...] = ()

    @classmethod
    def of(cls, run: Any) -> Counts:
        return cls(run.recorded, run.present, run.unreadable, tuple(run.outcomes.items()))


def deliver_in_lanes(
    events: list[dict[str, Any]],
    run: Any,
    *,
    jobs: int,
    size: int,
    deliver: Deliver,
    report: Callable[[Any], None],
    fresh: Callable[[], Any],
) -> None:
    """Deliver ``events`` (oldest first) in ``jobs`` lane processes, ``size`` at a time;
    ``fresh()`` is an empty run for a lane to count into; ``report(run)`` after each lane's
    chunk, with the lanes' counts added to ``run``'s. Raises ``LaneFailed`` once every lane
    has ended if one failed."""
    lanes = deal(events, jobs)
    context = multiprocessing.get_context("fork")
    messages: Any = context.Queue()
    connections.close_all()  # each process opens its own: a connection is not shared
    processes = [
        context.Process(
            target=_lane,
            args=(Lane(n, len(lanes), part, size, deliver, fresh), messages),
            name=f"stripe-mirror-catchup-lane-{n}",
            daemon=True,
        )
        for n, part in enumerate(lanes)
    ]
    for process in processes:
        process.start()
    watch = _Watch(run, processes, report)
    try:
        watch.follow(messages)
    finally:
        watch.stop()
        messages.close()
    if watch.failures:
        raise LaneFailed(watch.said())


class _Watch:
    """The command's side of the lanes: their messages read until each one has ended."""

    def __init__(self, run: Any, processes: list[Any], report: Callable[[Any], None]) -> None:
        self.run, self.processes, self.report = run, processes, report
        self.base = Counts.of(run)
        self.latest: dict[int, Counts] = {}
        self.failures: dict[int, str] = {}
        self.ended: set[int] = set()

    def follow(self, messages: Any) -> None:
        while len(self.ended) < len(self.processes):
            try:
                n, kind, payload = messages.get(timeout=POLL)
            except queues.Empty:
                self._notice_deaths()
                continue
            if kind == "counts":
                self.latest[n] = payload
                _add_up(self.run, self.base, self.latest.values())
                self.report(self.run)
            elif kind == "failed":
                self.failures[n] = payload
            else:
                self.ended.add(n)

    def _notice_deaths(self) -> None:
        """A lane process that is gone without saying it ended (killed) has ended, failed."""
        for n, process in enumerate(self.processes):
            if n not in self.ended and not process.is_alive():
                self.ended.add(n)
                self.failures.setdefault(n, f"its process ended with exit code {process.exitcode}")

    def stop(self) -> None:
        """Wait for every lane process; those still running when the command was interrupted
        (Ctrl-C, an error here) are terminated first."""
        interrupted = len(self.ended) < len(self.processes)
        for process in self.processes:
            if interrupted and process.is_alive():
                process.terminate()
            process.join()

    def said(self) -> str:
        lanes = len(self.processes)
        return "; ".join(f"lane {n + 1}/{lanes}: {self.failures[n]}" for n in sorted(self.failures))


def _add_up(run: Any, base: Counts, lanes: Any) -> None:
    outcomes: Counter[Outcome] = Counter(dict(base.outcomes))
    run.recorded, run.present, run.unreadable = base.recorded, base.present, base.unreadable
    for counts in lanes:
        run.recorded += counts.recorded
        run.present += counts.present
        run.unreadable += counts.unreadable
        outcomes.update(dict(counts.outcomes))
    run.outcomes = outcomes


@dataclass(frozen=True)
class Lane:
    """What one lane process delivers, and how (handed to it by the fork, not pickled)."""

    number: int
    of: int
    events: list[dict[str, Any]]
    size: int
    deliver: Deliver
    fresh: Callable[[], Any]


def _lane(lane: Lane, messages: Any) -> None:
    """One lane process: its events delivered ``size`` at a time, its counts sent after
    each chunk; then "failed" with what went wrong, if it did, and "ended"."""
    n = lane.number
    api_client.forked(share=1.0 / lane.of)
    mine = lane.fresh()
    try:
        for chunk in chunks(lane.events, lane.size):
            lane.deliver(chunk, mine)
            messages.put((n, "counts", Counts.of(mine)))
    except BaseException as exc:  # reported to the command, which fails the run
        logger.exception("catch-up lane %d/%d failed", n + 1, lane.of)
        messages.put((n, "failed", f"{type(exc).__name__}: {exc}"))
    finally:
        connections.close_all()
        messages.put((n, "ended", None))
        messages.close()
        messages.join_thread()


__all__ = ["LaneFailed", "can_fork", "customer_of", "deal", "deliver_in_lanes"]
