"""Settings: one typed shadow of ``settings.STRIPE_MIRROR``, read at access time.

Reading at access time (not at import) keeps ``override_settings`` working in tests.
Every key is documented in docs/settings.md with its default; the system checks in
``checks.py`` validate the dict at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

#: Top-level keys of ``STRIPE_MIRROR`` and their defaults.
DEFAULTS: Mapping[str, Any] = {
    "ENDPOINTS": {},
    "TOLERANCE": 300,
    "FUTURE_TOLERANCE": 300,
    "MAX_BODY_SIZE": 4 * 1024 * 1024,
    "TASK_BACKEND": "default",
    "TASK_QUEUE": "default",
    "MAX_ATTEMPTS": 10,
    "RETRY_BACKOFF": 60,
    "RETRY_BACKOFF_MAX": 6 * 3600,
    "HANDLER_MODULES": ("stripe_handlers",),
    "MIRROR": True,
    "API_KEY": "",
    "API_BASE": "https://api.stripe.com",
    "API_TIMEOUT": 5,
    "RETENTION_BODY_DAYS": 30,
    "RETENTION_ROW_DAYS": 90,
    "HEALTH_MAX_LAG": None,
}

#: Keys of one entry of ``ENDPOINTS``.
ENDPOINT_KEYS = frozenset({"SECRETS", "TOLERANCE", "FUTURE_TOLERANCE"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One webhook endpoint: a URL name and the signing secrets Stripe uses for it."""

    name: str
    secrets: tuple[str, ...]
    #: Oldest accepted signature timestamp, in seconds before now.
    tolerance: int
    #: Newest accepted signature timestamp, in seconds after now (clock skew bound).
    future_tolerance: int


def raw() -> Mapping[str, Any]:
    """The user's ``STRIPE_MIRROR`` dict, as given (may be missing or of a wrong type)."""
    value = getattr(settings, "STRIPE_MIRROR", {})
    return value if isinstance(value, Mapping) else {}


def get(key: str) -> Any:
    """One top-level setting, falling back to its default."""
    return raw().get(key, DEFAULTS[key])


def endpoint(name: str) -> Endpoint | None:
    """The named endpoint's configuration, or None when no such endpoint is configured."""
    endpoints = get("ENDPOINTS")
    if not isinstance(endpoints, Mapping):
        return None
    entry = endpoints.get(name)
    if not isinstance(entry, Mapping):
        return None
    secrets = entry.get("SECRETS", ())
    if isinstance(secrets, str):
        secrets = (secrets,)
    return Endpoint(
        name=name,
        secrets=tuple(secrets),
        tolerance=int(entry.get("TOLERANCE", get("TOLERANCE"))),
        future_tolerance=int(entry.get("FUTURE_TOLERANCE", get("FUTURE_TOLERANCE"))),
    )


def endpoint_names() -> list[str]:
    endpoints = get("ENDPOINTS")
    return list(endpoints) if isinstance(endpoints, Mapping) else []


def max_body_size() -> int:
    return int(get("MAX_BODY_SIZE"))


def task_backend() -> str | None:
    """The TASKS alias events are handed to; None: none (``stripe_mirror_worker`` processes
    the inbox)."""
    backend = get("TASK_BACKEND")
    return None if backend is None else str(backend)


def task_queue() -> str:
    return str(get("TASK_QUEUE"))


def max_attempts() -> int:
    return int(get("MAX_ATTEMPTS"))


def retry_delay(attempts: int) -> float:
    """Seconds to wait before the next attempt, after ``attempts`` failed ones (exponential)."""
    base = float(get("RETRY_BACKOFF"))
    cap = float(get("RETRY_BACKOFF_MAX"))
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def handler_modules() -> tuple[str, ...]:
    return tuple(get("HANDLER_MODULES"))


def mirror_enabled() -> bool:
    return bool(get("MIRROR"))


def api_key(livemode: bool) -> str:
    """The API key for refetches in this mode: a live key for live events, a test key for
    test events (a key without a recognisable mode prefix is used for both)."""
    key = str(get("API_KEY") or "")
    if not key:
        return ""
    mode = "live" if livemode else "test"
    parts = key.split("_")
    if len(parts) >= 3 and parts[0] in ("sk", "rk") and parts[1] in ("live", "test"):
        return key if parts[1] == mode else ""
    return key


def api_base() -> str:
    return str(get("API_BASE")).rstrip("/")


def api_timeout() -> float:
    return float(get("API_TIMEOUT"))
