"""What the inbox holds, for a person or a monitoring check.

    manage.py stripe_mirror_status                       # a readable summary
    manage.py stripe_mirror_status --json                # the same figures as JSON
    manage.py stripe_mirror_status --max-lag 300 --max-dead 0   # exit 2 when crossed

Exit status: 0, or 2 when a threshold given as an option is crossed (the lines saying which
go to stderr), so that cron or a monitoring agent can alert on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandParser

from stripe_mirror.ops.status import Snapshot, snapshot

#: Exit status when a threshold is crossed (1 is Django's for a CommandError).
CROSSED = 2
#: Option -> (what it bounds, how to read it from a snapshot).
_THRESHOLDS: dict[str, tuple[str, Callable[[Snapshot], float]]] = {
    "max_lag": ("lag (s)", lambda s: s.lag_seconds),
    "max_pending": ("pending events", lambda s: s.counts["pending"]),
    "max_failed": ("failed events", lambda s: s.counts["failed"]),
    "max_dead": ("dead events", lambda s: s.counts["dead"]),
    "max_due": ("due events", lambda s: s.due),
}


class Command(BaseCommand):
    help = "Show the inbox's backlog, lag, failures and throughput; alert on thresholds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument(
            "--window", type=int, default=300, help="Seconds of throughput (default 300)."
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help="Skip counting processed and skipped events (a scan of most of the table).",
        )
        for option, (what, _) in _THRESHOLDS.items():
            flag = "--" + option.replace("_", "-")
            parser.add_argument(flag, type=float, default=None, help=f"Exit 2 above this {what}.")

    def handle(self, *args: Any, **options: Any) -> None:
        snap = snapshot(window=max(1, options["window"]), full=not options["quick"])
        if options["json"]:
            self.stdout.write(orjson.dumps(snap.as_dict(), option=orjson.OPT_INDENT_2).decode())
        else:
            self.stdout.write("\n".join(render(snap)))
        crossed = [
            f"{what} is {value:g}, above {options[option]:g}"
            for option, (what, read) in _THRESHOLDS.items()
            if options[option] is not None and (value := float(read(snap))) > options[option]
        ]
        for line in crossed:
            self.stderr.write(f"threshold crossed: {line}")
        if crossed:
            raise SystemExit(CROSSED)


def render(snap: Snapshot) -> list[str]:
    """The snapshot as lines a person reads."""
    lines = [
        f"inbox at {snap.at:%Y-%m-%d %H:%M:%S %Z}",
        "events: " + ", ".join(f"{n} {status}" for status, n in snap.counts.items()),
        f"due now: {snap.due}; lag (oldest due event): {snap.lag_seconds:.1f} s",
        f"last {snap.window_seconds} s: {snap.received} received "
        f"({snap.received_per_second:.1f}/s), {snap.processed} processed "
        f"({snap.processed_per_second:.1f}/s)",
        f"  received by source: {snap.sources['webhook']} webhook, "
        f"{snap.sources['catch-up']} catch-up",
    ]
    if snap.failing_types:
        lines.append("failing by type:")
        lines += [f"  {r['type']}: {r['count']} {r['status']}" for r in snap.failing_types]
    if snap.failing_handlers:
        sampled = " (from the newest failing events only)" if snap.handlers_sampled else ""
        lines.append(f"failing by handler{sampled}:")
        lines += [
            f"  {name}: {c['failed']} failed, {c['dead']} dead"
            for name, c in snap.failing_handlers.items()
        ]
    if snap.accounts:
        lines.append("open work by account:")
        for account in snap.accounts:
            lag = "-" if account.lag_seconds is None else f"{account.lag_seconds:.1f} s"
            counts = ", ".join(f"{n} {status}" for status, n in account.counts.items())
            lines.append(f"  {account.account or '(platform)'}: {counts}; lag {lag}")
    return lines + catchups(snap)


def catchups(snap: Snapshot) -> list[str]:
    """The last catch-up run of each mode and account."""
    if not snap.catchups:
        return ["last catch-up: none (manage.py stripe_mirror_catchup)"]
    lines = ["last catch-up by mode and account:"]
    for run in snap.catchups:
        where = f"{run.account or '(platform)'} ({'live' if run.livemode else 'test'})"
        lines.append(
            f"  {where}: {run.started_at:%Y-%m-%d %H:%M:%S %Z}, {run.status}; events from "
            f"{run.window_start:%Y-%m-%d %H:%M:%S} to {run.window_end:%Y-%m-%d %H:%M:%S}, "
            f"{run.recorded} recorded"
        )
    return lines
