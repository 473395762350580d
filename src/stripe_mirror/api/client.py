"""The Stripe API client: one ``stripe.StripeClient`` per mode, account and API version.

Every call the library makes to Stripe goes through ``client_for``: the key of the event's
mode (``API_KEY``: one key, or one per mode), the pinned ``API_VERSION`` (or the SDK's own),
the ``Stripe-Account`` header of a connected account, the SDK's network retries
(``API_MAX_RETRIES``: 429, 5xx and connection errors, with its backoff, honouring
``Stripe-Should-Retry``) and a client-side rate limit shared by every client of the process
(``API_RATE_LIMIT`` requests per second per mode; Stripe allows about 100/s live and 25/s in
test mode). Keys are never logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import stripe
from django.core.exceptions import ImproperlyConfigured

from .. import conf


class ApiNotConfigured(ImproperlyConfigured):
    """No API key is configured for the mode asked for."""


class RateLimiter:
    """At most ``rate`` acquisitions per second on average and ``burst`` at once (the generic
    cell rate algorithm: the theoretical time of the next slot). Thread-safe; a caller waits
    outside the lock with its slot reserved, so waiting callers are served in arrival order."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.burst = burst
        self._clock, self._sleep = clock, sleep
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self.interval
            wait = max(0.0, slot - (self.burst - 1) * self.interval - now)
        if wait > 0:
            self._sleep(wait)
        return wait


#: This process's share of ``API_RATE_LIMIT``: less than 1 in each of several processes that
#: split the rate between them (``forked``).
_share = 1.0


def forked(share: float = 1.0) -> None:
    """In a process forked from one that may have used the API: forget its clients (their
    HTTP sessions' connections belong to the parent) and limiters, and take ``share`` of
    ``API_RATE_LIMIT`` from now on (several processes splitting the rate)."""
    global _share  # noqa: PLW0603 - one value for the process, set once after a fork
    _share = share
    _client.cache_clear()
    rate_limiter.cache_clear()


@lru_cache(maxsize=8)
def rate_limiter(livemode: bool, rate: float) -> RateLimiter:
    """The process's limiter for one mode (a new one when the setting changes)."""
    return RateLimiter(rate)


class _LimitedHttpClient(stripe.RequestsClient):
    """The SDK's requests-based HTTP client, taking a rate-limit slot before each attempt
    (the SDK's retries included)."""

    def __init__(self, limiter: RateLimiter, **options: Any) -> None:
        super().__init__(**options)
        self._limiter = limiter

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._limiter.acquire()
        return super().request(*args, **kwargs)

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        self._limiter.acquire()
        return super().request_stream(*args, **kwargs)


def client_for(
    livemode: bool, account: str = "", *, version: str | None = None
) -> stripe.StripeClient:
    """The client for one mode (``livemode``) and account (``""``: the platform), in the API
    ``version`` given (an event's), else the pinned ``API_VERSION``, else the SDK's. Raises
    ``ApiNotConfigured`` when no key is configured for the mode."""
    key = conf.api_key(livemode)
    if not key:
        mode = "live" if livemode else "test"
        raise ApiNotConfigured(
            f"no Stripe API key for {mode} mode: set STRIPE_MIRROR['API_KEY'] "
            "(see docs/settings.md)"
        )
    return _client(
        key=key,
        account=account,
        version=version or conf.api_version() or None,
        base=conf.api_base(),
        timeout=conf.api_timeout(),
        retries=conf.api_max_retries(),
        limiter=rate_limiter(livemode, conf.api_rate_limit() * _share),
    )


@lru_cache(maxsize=256)
def _client(
    *,
    key: str,
    account: str,
    version: str | None,
    base: str,
    timeout: float,
    retries: int,
    limiter: RateLimiter,
) -> stripe.StripeClient:
    options: dict[str, Any] = {}
    if account:
        options["stripe_account"] = account
    if version:
        options["stripe_version"] = version
    return stripe.StripeClient(
        key,
        base_addresses={"api": base},
        max_network_retries=retries,
        http_client=_LimitedHttpClient(limiter, timeout=timeout),
        **options,
    )


__all__ = ["ApiNotConfigured", "RateLimiter", "client_for", "forked", "rate_limiter"]
