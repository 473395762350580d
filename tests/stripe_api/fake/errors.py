"""Error answers shaped as Stripe's: ``{"error": {"type", "code", "message", "param", ...}}``.

v1 errors carry a ``doc_url`` when they have a code; v2 errors (``/v2/...``) carry only
``type``, ``code`` and ``message`` (Stripe's v2 "not_found" for a missing event).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: raised anywhere in a request's handling, rendered by the server."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self, *, v2: bool = False) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            if not v2:
                slug = self.code.replace("_", "-")
                error["doc_url"] = f"https://stripe.com/docs/error-codes/{slug}"
        if self.param is not None and not v2:
            error["param"] = self.param
        return {"error": error}


def no_such(object_type: str, object_id: str, *, param: str = "id") -> ApiError:
    """A missing object: 404 when the path names it, 400 when a parameter does (a cursor)."""
    name = object_type.rsplit(".", 1)[-1].replace("_", " ") if object_type else "object"
    status = 404 if param == "id" else 400
    return ApiError(status, f"No such {name}: '{object_id}'", code="resource_missing", param=param)


def unrecognized_url(method: str, path: str) -> ApiError:
    return ApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def unknown_parameter(name: str) -> ApiError:
    return ApiError(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
    )


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, message, code="parameter_invalid", param=param)


def missing_key() -> ApiError:
    return ApiError(
        401,
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
        "YOUR_SECRET_KEY').",
    )


def invalid_key(key: str) -> ApiError:
    shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key
    return ApiError(401, f"Invalid API Key provided: {shown}", code="api_key_invalid")


def account_invalid(key: str, account: str) -> ApiError:
    return ApiError(
        403,
        f"The provided key '{key[:8]}***{key[-4:]}' does not have access to account "
        f"'{account}' (or that account does not exist). Application access may have been "
        "revoked.",
        code="account_invalid",
    )


def rate_limited(should_retry: bool | None) -> ApiError:
    headers = {} if should_retry is None else {"Stripe-Should-Retry": str(should_retry).lower()}
    return ApiError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        headers=headers,
    )


def server_error(status: int, should_retry: bool | None) -> ApiError:
    headers = {} if should_retry is None else {"Stripe-Should-Retry": str(should_retry).lower()}
    return ApiError(status, "An unknown error occurred", type="api_error", headers=headers)
