"""localstripe as a child process: start it, wait until it answers, reset it, stop it.

localstripe is a GPL program: it runs in its own interpreter (``.venv-localstripe``, built by
scripts/test.sh, or ``LOCALSTRIPE_PYTHON``) through ``localstripe_launcher.py``, and this
process only speaks HTTP to it. See README.md for what it does and does not emulate.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import stripe

from tests import live

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("localstripe_launcher.py")
#: Built by scripts/test.sh (the ``localstripe`` dependency group of pyproject.toml).
DEFAULT_VENV = ROOT / ".venv-localstripe"
#: Any key that starts with ``sk_`` is accepted by localstripe; this one says where it goes.
API_KEY = "sk_test_localstripe"
#: localstripe has no way to forget a webhook: a "removed" one points here and wants nothing.
_NOWHERE = "http://127.0.0.1:9/"


class LocalstripeMissing(RuntimeError):
    pass


def localstripe_python() -> Path:
    """The interpreter that has localstripe installed."""
    configured = os.environ.get("LOCALSTRIPE_PYTHON")
    python = Path(configured) if configured else DEFAULT_VENV / "bin" / "python"
    if not python.exists():
        raise LocalstripeMissing(
            f"localstripe's interpreter {python} does not exist: run scripts/test.sh (it builds "
            f"{DEFAULT_VENV.name}) or set LOCALSTRIPE_PYTHON to a Python that has localstripe"
        )
    return python


class Localstripe:
    """A running localstripe on 127.0.0.1 (a free port), its state in ``state_dir``.

    ``persist`` makes it save its store in ``state_dir`` after every change, ``resume`` load
    what an earlier instance saved there (both slow it down: see the launcher).
    """

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        persist: bool = False,
        resume: bool = False,
        timeout: float = 60,
    ) -> None:
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="localstripe-"))
        (self.state_dir / "port").unlink(missing_ok=True)
        argv = [str(localstripe_python()), str(LAUNCHER), "--state-dir", str(self.state_dir)]
        if persist:
            argv.append("--persist")
        if resume:
            argv.append("--resume")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        self.process = live.Process(argv, env)
        self._webhooks: set[str] = set()
        try:
            self.port = self._wait_for_port(timeout)
            self.url = f"http://127.0.0.1:{self.port}"
            self._wait_until_answering(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        port_file = self.state_dir / "port"
        while not port_file.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"localstripe did not listen within {timeout} s")
            time.sleep(0.02)
        return int(port_file.read_text())

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                # A list is read-only (GET /v1/balance would create a balance and an event).
                if self.get("/v1/customers?limit=1").status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"localstripe did not answer within {timeout} s")
            time.sleep(0.02)

    def _check_alive(self) -> None:
        if self.process.popen.poll() is not None:
            raise AssertionError(f"localstripe exited at start:\n{self.process.output()}")

    # --- HTTP --------------------------------------------------------------------------

    def get(self, path: str) -> live.Response:
        return live.request(self.url + path, headers={"Authorization": f"Bearer {API_KEY}"})

    def _post_json(self, path: str, body: Any, method: str = "POST") -> live.Response:
        headers = {"Content-Type": "application/json"}
        answer = live.request(self.url + path, method, json.dumps(body).encode(), headers)
        if answer.status != 200:
            raise AssertionError(f"localstripe answered {answer.status} to {path}: {answer.body!r}")
        return answer

    def client(self, **options: Any) -> stripe.StripeClient:
        """An SDK client for this localstripe (options go to ``StripeClient``)."""
        options.setdefault("base_addresses", {"api": self.url})
        return stripe.StripeClient(options.pop("api_key", API_KEY), **options)

    # --- state -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object and event, and every webhook registered through us."""
        self._post_json("/_config/data", {}, method="DELETE")
        for webhook_id in list(self._webhooks):
            self.unregister_webhook(webhook_id)

    def register_webhook(
        self, url: str, secret: str, events: Sequence[str] | None = None, *, id: str = "test"
    ) -> str:
        """Have localstripe POST its events (``events``: those types only) to ``url``, signed
        with ``secret`` as Stripe signs them, about 1 s after each event. localstripe picks
        the registrations when it sends: events of the second before this call (an earlier
        test's too, reset or not) may arrive as well, so match deliveries by object id."""
        body: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            body["events"] = list(events)
        self._post_json(f"/_config/webhooks/{id}", body)
        self._webhooks.add(id)
        return id

    def unregister_webhook(self, id: str) -> None:
        self._post_json(f"/_config/webhooks/{id}", {"url": _NOWHERE, "secret": "-", "events": []})
        self._webhooks.discard(id)

    def stop(self) -> None:
        self.process.stop()

    def __repr__(self) -> str:
        return f"<Localstripe {getattr(self, 'url', '(starting)')} pid {self.process.pid}>"
