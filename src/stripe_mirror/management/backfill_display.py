"""What ``manage.py stripe_mirror_backfill`` shows while it runs, and its summary.

On a terminal, one tqdm bar per listing (objects, rate, and an ETA when the API gives the list's
``total_count``: localstripe does, Stripe does not, so against Stripe the bar counts without an
end); otherwise a plain line every few seconds and when a listing ends.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from tqdm import tqdm

from ..models import BackfillProgress

#: Seconds between two plain progress lines of one listing.
PLAIN_EVERY = 5.0


def where(progress: BackfillProgress) -> str:
    mode = "live" if progress.livemode else "test"
    return f"{progress.account or 'platform'} ({mode}) {progress.object_type}"


class Display:
    """Called with a listing's progress row before its first page, after each page, and
    ``close``d when the listing ends."""

    def __init__(self, out: TextIO, *, bars: bool) -> None:
        self.out = out
        self.bars = bars
        self._bar: Any = None
        self._last_line = 0.0
        self._first_seen = 0

    def __call__(self, progress: BackfillProgress) -> None:
        if self._bar is None and self.bars:
            self._first_seen = progress.seen
            self._bar = tqdm(
                desc=where(progress),
                total=progress.total,
                initial=progress.seen,
                unit="obj",
                file=self.out,
                dynamic_ncols=True,
            )
            return
        if self._bar is not None:
            if progress.total is not None:
                self._bar.total = progress.total
            self._bar.update(progress.seen - self._bar.n)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY or progress.finished_at is not None:
            self._last_line = now
            self.out.write(_line(progress) + "\n")
            self.out.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _line(progress: BackfillProgress) -> str:
    total = f"/{progress.total}" if progress.total is not None else ""
    rate = progress.seen / progress.seconds if progress.seconds else 0.0
    state = "done" if progress.finished_at else "after " + (progress.cursor or "the start")
    return f"{where(progress)}: {progress.seen}{total} objects, {rate:.0f}/s, {state}"


def summary(rows: list[tuple[BackfillProgress, str]]) -> str:
    """A table: per account and type, objects listed, rows created and updated, objects
    skipped as older (or deleted), seconds, and what this run did."""
    header = ("account", "mode", "type", "listed", "created", "updated", "skipped", "s", "")
    lines = [header] + [
        (
            p.account or "platform",
            "live" if p.livemode else "test",
            p.object_type,
            str(p.seen),
            str(p.created),
            str(p.updated),
            str(p.skipped),
            f"{p.seconds:.1f}",
            note,
        )
        for p, note in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
