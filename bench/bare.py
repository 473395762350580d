"""The floor the real endpoint is compared with: a bare Django view that verifies the
signature, parses the JSON and INSERTs one row, and nothing else (no dedupe, no checks, no
hand-off). Served by the same site, middleware and server as the real endpoint."""

from __future__ import annotations

import hashlib
import hmac
import os

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

TABLE = "bench_bare_event"
CREATE_TABLE = (
    f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, stripe_id varchar(255) NOT NULL, "
    "type varchar(255) NOT NULL, body text NOT NULL, received_at timestamptz NOT NULL)"
)
_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "").encode()
_INSERT = f"INSERT INTO {TABLE} (stripe_id, type, body, received_at) VALUES (%s, %s, %s, now())"


@csrf_exempt
def bare_webhook(request: HttpRequest) -> HttpResponse:
    body = request.body
    items = dict(item.split("=", 1) for item in request.headers["Stripe-Signature"].split(","))
    expected = hmac.new(_SECRET, items["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, items["v1"]):
        return HttpResponse(status=400)
    event = orjson.loads(body)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [event["id"], event["type"], body.decode()])
    return HttpResponse(b'{"received": true}', content_type="application/json")
