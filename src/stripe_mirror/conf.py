"""Settings: one typed shadow of ``settings.STRIPE_MIRROR``, read at access time.

Reading at access time (not at import) keeps ``override_settings`` working in tests.
Every key is documented in docs/settings.md with its default; the system checks in
``checks.py`` validate the dict at start-up.
"""

from __future__ import annotations

import hashlib
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
    "RETRY_JITTER": 0.25,
    "HANDLER_MODULES": ("stripe_handlers",),
    "MIRROR": True,
    "API_KEY": "",
    "API_BASE": "https://api.stripe.com",
    "API_TIMEOUT": 5,
    "API_VERSION": "",
    "API_MAX_RETRIES": 3,
    "API_RATE_LIMIT": 20,
    "RECORD_TIMEOUT": 5,
    "PREPARED_STATEMENTS": True,
    "OUTAGE_LOG_INTERVAL": 10,
    "RETENTION_BODY_DAYS": 30,
    "RETENTION_ROW_DAYS": 90,
    "HEALTH_MAX_LAG": None,
    "CATCHUP_MARGIN": 3600,
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


def retry_delay(attempts: int, event_id: str | None = None) -> float:
    """Seconds to wait before the next attempt, after ``attempts`` failed ones: exponential,
    at most ``RETRY_BACKOFF_MAX``, then shortened by up to ``RETRY_JITTER`` of itself.

    The jitter spreads events that failed together (an outage) instead of retrying them in
    lockstep. It is drawn from a hash of the event id and the attempt, not from a random
    generator: an event's schedule is reproducible, different events spread. Without an
    event id, the delay without jitter (the upper bound)."""
    base = float(get("RETRY_BACKOFF"))
    cap = float(get("RETRY_BACKOFF_MAX"))
    delay = float(min(cap, base * 2 ** max(0, attempts - 1)))
    if event_id is None:
        return delay
    return delay * (1.0 - float(get("RETRY_JITTER")) * _unit(f"{event_id}:{attempts}"))


def _unit(key: str) -> float:
    """A number in [0, 1), uniform over keys, the same for the same key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def handler_modules() -> tuple[str, ...]:
    return tuple(get("HANDLER_MODULES"))


def mirror_enabled() -> bool:
    return bool(get("MIRROR"))


def api_key(livemode: bool) -> str:
    """The API key for this mode. ``API_KEY`` is one key, or ``{"live": ..., "test": ...}``.
    One key with a mode prefix (``sk_live_``, ``rk_test_``) serves only its own mode; a key
    without a recognisable mode prefix is used for both."""
    value = get("API_KEY") or ""
    mode = "live" if livemode else "test"
    if isinstance(value, Mapping):
        return str(value.get(mode) or "")
    key = str(value)
    own = key_mode(key)
    return key if own in (None, mode) else ""


def api_version() -> str:
    """The pinned API version, or "" (the SDK's own)."""
    return str(get("API_VERSION") or "")


def api_max_retries() -> int:
    return int(get("API_MAX_RETRIES"))


def api_rate_limit() -> float:
    """Requests per second per mode, for the whole process."""
    return float(get("API_RATE_LIMIT"))


def api_base() -> str:
    return str(get("API_BASE")).rstrip("/")


def api_timeout() -> float:
    return float(get("API_TIMEOUT"))


def record_timeout() -> float | None:
    """Seconds the recording of a webhook may wait on the database; None: unbounded."""
    value = get("RECORD_TIMEOUT")
    return float(value) if value else None


def prepared_statements() -> bool:
    """Whether the library prepares its statements on PostgreSQL (``prepared.py``)."""
    return bool(get("PREPARED_STATEMENTS"))


def catchup_margin() -> float:
    """Seconds before the newest recorded event that catch-up lists again (docs/operations.md)."""
    return float(get("CATCHUP_MARGIN"))


def outage_log_interval() -> float:
    """Seconds between two summary lines of a database outage (``outage``)."""
    return float(get("OUTAGE_LOG_INTERVAL"))


def key_mode(key: str) -> str | None:
    """The mode of a secret or restricted key ("live" or "test"), None for anything else."""
    parts = key.split("_")
    if len(parts) >= 3 and parts[0] in ("sk", "rk") and parts[1] in ("live", "test"):
        return parts[1]
    return None


def redacted(key: object) -> str:
    """A key as it may appear in a message: its kind and mode only."""
    if not isinstance(key, str):
        return type(key).__name__
    mode = key_mode(key)
    return f"{key[:2]}_{mode}_..." if mode else f"{key[:3]}... ({len(key)} characters)"
