"""Fault injection against a real server process (gunicorn, sync workers), as issue 9 found
them: a client dropping the connection mid-body (point 10), a database that refuses
(point 13), a database that stalls (point 14)."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest
from django.db import connection

from stripe_mirror.models import InboxEvent
from stripe_mirror.testing import encode, signed_headers
from tests import live

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PATH = "/stripe/webhook/default/"


def _send_part_of_a_body(server: live.Server, stripe_id: str, *, reset: bool) -> bytes:
    """Announce 5,000 bytes of a signed event, send 200, then close: with a reset (RST) or
    by shutting our side (FIN), reading what the server answers. Returns that answer."""
    body = encode(live.steered_event() | {"id": stripe_id})
    headers = {**signed_headers(body, live.SECRET), "Content-Length": "5000"}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body[:200])
        time.sleep(0.3)  # the worker is now waiting for the rest
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_client_dropping_the_connection_mid_body_gets_a_400_not_a_500() -> None:
    with live.server(workers=1) as server:
        answer = _send_part_of_a_body(server, "evt_cut_fin", reset=False)
        _send_part_of_a_body(server, "evt_cut_rst", reset=True)
        live.wait_for(lambda: server.output().count("body_unreadable") >= 2, "two warnings")
        output = server.output()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"error":"body_unreadable"' in answer
    assert "Traceback" not in output
    assert "Internal Server Error" not in output
    assert "UnreadablePostError" not in output
    assert not InboxEvent.objects.exists()


def _unreachable_database(tmp_path: Path) -> dict[str, str]:
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": str(tmp_path / "no-such-directory" / "db.sqlite3")}
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    return {"DATABASE_URL": f"{scheme}://root@127.0.0.1:{live.free_port()}/nowhere"}


def test_200_refusals_write_a_line_not_a_traceback_each(tmp_path: Path) -> None:
    env = live.child_env(database=_unreachable_database(tmp_path))
    with live.server(env, workers=1) as cut_off:
        before = len(cut_off.output().splitlines())
        statuses = {cut_off.post(live.steered_event()).status for _ in range(200)}
        time.sleep(0.5)  # let the log reach the file
        # Not gunicorn's own start-up lines ("[date] [pid] [INFO] ..."), which may come late.
        lines = [x for x in cut_off.output().splitlines()[before:] if "] [INFO] " not in x]
    assert statuses == {503}
    assert len(lines) == 1, lines
    assert lines[0].startswith("database unavailable: recording a webhook failed with ")
    assert "OperationalError" in lines[0]


def test_a_stalled_database_answers_503_fast_to_every_request() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite: the busy timeout bounds the wait")
    env = live.child_env(STRIPE_MIRROR_RECORD_TIMEOUT="1")
    events = [live.steered_event() for _ in range(8)]
    with live.server(env, workers=4) as server:
        with live.table_locked(InboxEvent._meta.db_table):
            started = time.monotonic()
            refused = live.concurrently([lambda e=e: server.post(e) for e in events])
            elapsed = time.monotonic() - started
        retried = [server.post(e) for e in events]
    assert [r.status for r in refused] == [503] * 8
    # 8 requests on 4 workers, each refused after 1 s: two rounds, not the lock's 60 s.
    assert elapsed < 5, elapsed
    assert [r.status for r in retried] == [200] * 8
    assert all(r.json()["duplicate"] is False for r in retried)
    assert InboxEvent.objects.filter(delivery_count=1).count() == 8
