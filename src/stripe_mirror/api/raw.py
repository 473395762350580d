"""A GET through the SDK, its JSON parsed by orjson: the list pages of a backfill or reconcile.

``StripeClient.raw_request`` parses every answer with ``json.loads(object_pairs_hook=
OrderedDict)``: for a page of 100 objects, in the thread that fetches ahead of the writes,
the largest share of the time it holds the GIL the writer needs. Here the request goes through
the SDK's requestor (its authentication, account header, retries and our rate limit, as
``raw_request`` does) and only a successful body is parsed by orjson (several times faster);
an error answer, or a body orjson refuses, is left to the SDK, which raises or parses it as
``raw_request`` would.

The requestor is the SDK's private API: it is used only when it has the signature this was
written against (``stripe`` 16), else ``raw_request`` is (``tests/test_api_raw.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import orjson
import stripe

#: What ``request_raw`` is called with (``StripeClient.raw_request``'s own call).
_PARAMETERS = ("method", "url", "params", "options", "base_address", "api_mode", "usage")


def get(client: stripe.StripeClient, path: str, params: Mapping[str, Any]) -> tuple[Any, int]:
    """GET ``path`` (a ``/v1/`` endpoint) with ``params``: the parsed JSON and the HTTP
    status. Raises the SDK's errors for error answers."""
    requestor = getattr(client, "_requestor", None)
    if requestor is None or not _supported(type(requestor)):
        response = client.raw_request("get", path, **params)
        return response.data, response.code
    body, code, headers = requestor.request_raw(
        "get",
        path,
        params=dict(params),
        options={},
        base_address="api",
        api_mode="V1",
        usage=["raw_request"],
    )
    if 200 <= code < 300:
        try:
            return orjson.loads(body), code
        except (orjson.JSONDecodeError, TypeError):
            pass  # (NaN, an integer beyond 64 bits, not text: the SDK's parse says)
    response = requestor._interpret_response(body, code, headers, "V1")
    return response.data, response.code


def _supported(requestor: type) -> bool:
    known = _SUPPORTED.get(requestor)
    if known is None:
        known = _SUPPORTED[requestor] = _has_signature(requestor)
    return known


_SUPPORTED: dict[type, bool] = {}


def _has_signature(requestor: type) -> bool:
    request_raw = getattr(requestor, "request_raw", None)
    if request_raw is None or not callable(getattr(requestor, "_interpret_response", None)):
        return False
    try:
        names = inspect.signature(request_raw).parameters
    except (TypeError, ValueError):
        return False
    return all(name in names for name in _PARAMETERS)


__all__ = ["get"]
