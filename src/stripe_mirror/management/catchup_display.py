"""What ``manage.py stripe_mirror_catchup`` shows while it runs, and its summary.

On a terminal, one tqdm bar per mode and account (events listed, and how many were recorded
and found present; Stripe gives no total); otherwise a plain line every few seconds.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from tqdm import tqdm

from ..dispatch.outcome import Outcome
from .backfill_display import PLAIN_EVERY
from .catchup import Run


class Display:
    """Called with a run's state after each page listed and each event delivered, and
    ``close``d when the run ends."""

    def __init__(self, out: TextIO, *, bars: bool) -> None:
        self.out = out
        self.bars = bars
        self._bar: Any = None
        self._last_line = 0.0

    def __call__(self, run: Run) -> None:
        if self.bars:
            if self._bar is None:
                self._bar = tqdm(desc=run.where, unit="ev", file=self.out, dynamic_ncols=True)
            self._bar.update(run.listed - self._bar.n)
            self._bar.set_postfix(recorded=run.recorded, present=run.present, refresh=False)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY:
            self._last_line = now
            self.out.write(f"{run.where}: {run.listed} listed, {run.recorded} recorded\n")
            self.out.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def summary(runs: list[Run]) -> str:
    """A table: per mode and account, the window listed, events listed, recorded, already
    present, and the outcomes of processing those recorded."""
    header = (
        "account",
        "mode",
        "from",
        "to",
        "listed",
        "recorded",
        "present",
        "processed",
        "failed",
    )
    lines = [header] + [
        (
            run.account or "platform",
            "live" if run.livemode else "test",
            f"{run.start:%Y-%m-%d %H:%M:%S}",
            f"{run.end:%Y-%m-%d %H:%M:%S}",
            str(run.listed),
            str(run.recorded),
            str(run.present),
            str(run.outcomes[Outcome.PROCESSED]),
            str(run.outcomes[Outcome.FAILED] + run.outcomes[Outcome.DEAD]),
        )
        for run in runs
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
    return "\n".join([table, *(lost(run) for run in runs if run.asked is not None)])


def lost(run: Run) -> str:
    """What a run could not recover, and what to run for it."""
    assert run.asked is not None
    accounts = f" --accounts {run.account}" if run.account else ""
    live = " --live" if run.livemode else ""
    return (
        f"{run.where}: events from {run.asked:%Y-%m-%d %H:%M:%S} to {run.start:%Y-%m-%d %H:%M:%S} "
        "UTC are older than Stripe's 30-day retention of events and cannot be recovered from "
        "the Events API; the events since were caught up. To bring the mirror up to date for "
        f"what changed before, run: manage.py stripe_mirror_backfill{accounts}{live} --restart "
        "(objects' current states; @on handlers do not run for them)."
    )
