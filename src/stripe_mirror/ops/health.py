"""A health view for load balancers, Kubernetes probes and uptime checks.

    GET <mount>/health/                 database reachable and lag under HEALTH_MAX_LAG
    GET <mount>/health/?check=database  the database only (a web process's readiness)

200 with a JSON body when healthy, 503 with the same body saying what is wrong otherwise.
Off by default: until ``STRIPE_MIRROR["HEALTH_MAX_LAG"]`` is set it answers 404, so that
mounting the webhook URLs publishes nothing more.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.db import DatabaseError, connections, router
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .. import conf
from ..models import InboxEvent
from .status import lag_seconds

logger = logging.getLogger("stripe_mirror.health")


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


@never_cache
@require_safe  # GET and HEAD: some load balancers probe with HEAD
def health(request: HttpRequest) -> HttpResponse:
    max_lag = conf.get("HEALTH_MAX_LAG")
    if max_lag is None:
        return _json(404, {"error": "health_disabled", "detail": "HEALTH_MAX_LAG is not set"})
    database_only = request.GET.get("check") == "database"
    alias = router.db_for_read(InboxEvent)
    try:
        connections[alias].ensure_connection()
        lag = None if database_only else lag_seconds()
    except DatabaseError as exc:
        logger.warning("health check: database %r unavailable: %s", alias, exc)
        return _json(503, {"healthy": False, "database": "unavailable"})
    body: dict[str, Any] = {"healthy": True, "database": "ok"}
    if lag is not None:
        body.update(lag_seconds=round(lag, 3), max_lag_seconds=float(max_lag))
        if lag > float(max_lag):
            body.update(healthy=False, problem="lag")
            return _json(503, body)
    return _json(200, body)
