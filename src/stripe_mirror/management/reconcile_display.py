"""What ``manage.py stripe_mirror_reconcile`` shows while it runs, its summary, and the run's
figures as stored in ``ReconcileRun``.

On a terminal, one tqdm bar per check (objects compared, rate); otherwise a plain line every
few seconds and when a check ends. The summary is a table per account and type, then up to
``SHOWN`` ids per kind of drift.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from tqdm import tqdm

from ..models import DRIFT_KINDS, ReconcileRun
from ..sync.reconcile import Check, Tally

#: Seconds between two plain progress lines of one check.
PLAIN_EVERY = 5.0
#: Ids kept per kind of drift in a run's ``samples`` (and shown by the summary).
SHOWN = 20


def where(check: Check) -> str:
    mode = "live" if check.livemode else "test"
    return f"{check.account or 'platform'} ({mode}) {check.object_type}"


class Display:
    """Called with a check's tally as it goes, and ``close``d when the check ends."""

    def __init__(self, out: TextIO, check: Check, *, bars: bool) -> None:
        self.out, self.check = out, check
        self._bar: Any = None
        if bars:
            self._bar = tqdm(desc=where(check), unit="obj", file=out, dynamic_ncols=True)
        self._began = self._last_line = time.monotonic()

    def __call__(self, tally: Tally) -> None:
        if self._bar is not None:
            self._bar.update(tally.compared - self._bar.n)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY:
            self._last_line = now
            self.line(tally, "under way")

    def line(self, tally: Tally, state: str) -> None:
        seconds = time.monotonic() - self._began
        rate = tally.compared / seconds if seconds else 0.0
        figures = f"{tally.compared} compared, {rate:.0f}/s, {len(tally.findings)} drift"
        self.out.write(f"{where(self.check)}: {figures}, {state}\n")
        self.out.flush()

    def close(self, tally: Tally) -> None:
        if self._bar is not None:
            self._bar.update(tally.compared - self._bar.n)
            self._bar.close()
        else:
            self.line(tally, "done")


def counts(tally: Tally) -> dict[str, int]:
    found = {kind: tally.count(kind) for kind in DRIFT_KINDS}
    return {
        "compared": tally.compared,
        **found,
        "newer": tally.newer,
        "repaired": tally.repaired,
        "errors": tally.errors,
    }


def record(run: ReconcileRun, check: Check, tally: Tally) -> None:
    """Add a check's figures to its run (saved)."""
    run.counts[f"{check.account or 'platform'}/{check.object_type}"] = counts(tally)
    run.compared += tally.compared
    run.drift += len(tally.findings)
    run.repaired += tally.repaired
    run.errors += tally.errors
    for finding in tally.findings:
        kept = run.samples.setdefault(finding.kind, [])
        if len(kept) < SHOWN:
            fields = f" ({', '.join(finding.fields)})" if finding.fields else ""
            account = f"{check.account} " if check.account else ""
            kept.append(f"{account}{check.object_type} {finding.stripe_id}{fields}")
    run.save()


COLUMNS = ("compared", *DRIFT_KINDS, "newer", "repaired", "errors")


def summary(run: ReconcileRun) -> str:
    """A table: per account and type, the figures of ``counts``; then the sampled drift."""
    header = ("account/type", *COLUMNS)
    lines = [header] + [
        (where_, *(str(figures.get(c, 0)) for c in COLUMNS))
        for where_, figures in run.counts.items()
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    for kind in DRIFT_KINDS:
        for entry in run.samples.get(kind, []):
            table.append(f"{kind}: {entry}")
    verdict = "clean" if not run.drift else f"{run.drift} drift"
    table.append(f"{run.compared} compared: {verdict}")
    return "\n".join(table)
