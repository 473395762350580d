"""scripts/env.sh: its messages are bold on a terminal only, and never with NO_COLOR set, so
that log files and CI logs carry no escape codes."""

from __future__ import annotations

import os
import pty
import subprocess

import pytest

from tests.release import ROOT, once_per_python

pytestmark = once_per_python

BOLD = b"\x1b[1m==> hello\x1b[0m"


def _say(*, terminal: bool, **env: str) -> bytes:
    """What ``say hello`` writes to stderr: a pipe, or a pseudo-terminal."""
    command = ["bash", "-c", f"source {ROOT / 'scripts' / 'env.sh'} && say hello"]
    environ = {"PATH": os.environ["PATH"], **env}
    if not terminal:
        return subprocess.run(command, env=environ, capture_output=True, check=True).stderr
    leader, follower = pty.openpty()
    try:
        subprocess.run(command, env=environ, stderr=follower, check=True, timeout=30)
        return os.read(leader, 1024).replace(b"\r\n", b"\n")
    finally:
        os.close(leader)
        os.close(follower)


def test_plain_when_stderr_is_not_a_terminal() -> None:
    assert _say(terminal=False) == b"==> hello\n"


def test_bold_on_a_terminal() -> None:
    assert _say(terminal=True) == BOLD + b"\n"


@pytest.mark.parametrize("value", ["1", "true"])
def test_no_color_turns_it_off_on_a_terminal(value: str) -> None:
    assert _say(terminal=True, NO_COLOR=value) == b"==> hello\n"


def test_an_empty_no_color_is_unset() -> None:  # as https://no-color.org says
    assert _say(terminal=True, NO_COLOR="") == BOLD + b"\n"
