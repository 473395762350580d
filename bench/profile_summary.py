"""Summarise py-spy raw (folded) profiles: the functions with the most samples.

    python bench/profile_summary.py /tmp/sm-bench-*/profile-*.txt [--top 30] [--match stripe_mirror]

"inclusive" counts samples with the function anywhere on the stack (once per sample),
"self" samples where it is the innermost frame.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^)]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


#: Innermost frames that wait for PostgreSQL's answer (or hand it a message): not CPU.
WAITS = ("Connection.wait (", "ClientCursorMixin._execute_send (", "BaseConnection._exec_command (")


def summarise(paths: list[Path], *, cpu: bool = False) -> tuple[int, Counter[str], Counter[str]]:
    """Samples by function; ``cpu``: without the samples that wait for the database."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [_short(f) for f in stack.split(";")]
            if cpu and frames[-1].startswith(WAITS):
                continue
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only functions whose text contains this")
    parser.add_argument("--cpu", action="store_true", help="leave out the samples waiting on SQL")
    args = parser.parse_args()
    total, inclusive, own = summarise(args.paths, cpu=args.cpu)
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n-- {title}")
        shown = [(f, n) for f, n in counter.most_common() if args.match in f][: args.top]
        for frame, n in shown:
            print(f"{100 * n / total:6.1f}%  {frame}")


if __name__ == "__main__":
    main()
