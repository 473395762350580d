"""What a user gets: the built distributions, and the README's Quickstart as code blocks.

The README marks each block of its Quickstart with an HTML comment that says what to do with
it in a project made by ``django-admin startproject mysite`` (tests/test_quickstart.py does it):

    <!-- quickstart: run -->                          each line is a command to run
    <!-- quickstart: append mysite/settings.py -->    add the block to the end of that file
    <!-- quickstart: write billing/stripe_handlers.py -->  the block is the whole file
    <!-- quickstart: query -->                        Python run in `manage.py shell`
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: The public repository's address: a placeholder until there is one (pyproject.toml's
#: [project.urls] and README.md's links use it).
REPOSITORY = "https://github.com/django-stripe-mirror/django-stripe-mirror"

#: Tests that do not use the suite's database (they build the package, or run a project of
#: their own) run in the SQLite cells only: once per Python and Django, not once per database.
once_per_python = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="independent of the suite's database: runs in the SQLite cells",
)

_BLOCK = re.compile(
    r"<!-- quickstart: (?P<action>[^>]+?) -->\n```[a-z]*\n(?P<code>.*?)^```", re.M | re.S
)


@dataclass(frozen=True)
class Block:
    action: str  # run, append, write, query
    target: str  # the file, for append and write
    code: str


@dataclass(frozen=True)
class Distributions:
    sdist: Path
    wheel: Path


def quickstart_blocks() -> list[Block]:
    blocks = []
    for match in _BLOCK.finditer(README.read_text()):
        action, _, target = match["action"].partition(" ")
        assert action in ("run", "append", "write", "query"), match["action"]
        blocks.append(Block(action, target, match["code"]))
    return blocks


def build(out: Path) -> Distributions:
    """Build the sdist, then the wheel from it, as a release would, with the build backend
    installed in the test venv (build's --no-isolation: nothing is downloaded)."""
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Distributions(sdist=sdist, wheel=wheel)
