"""System checks of the Stripe API settings (``API_KEY``, ``API_TIMEOUT``, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.checks import CheckMessage

from .. import conf
from .messages import error as _error


def check_api(values: Mapping[str, Any]) -> list[CheckMessage]:
    """The API settings: positive numbers, a version string and well-formed keys."""
    messages: list[CheckMessage] = []
    for key in ("API_TIMEOUT", "API_RATE_LIMIT"):  # seconds / requests per second
        value = values.get(key, 1)
        if not (isinstance(value, int | float) and not isinstance(value, bool) and value > 0):
            messages.append(
                _error("E009", f"STRIPE_MIRROR['{key}'] must be a number > 0, not {value!r}.")
            )
    if not isinstance(values.get("API_VERSION", ""), str):
        messages.append(_error("E009", "STRIPE_MIRROR['API_VERSION'] must be a string."))
    return messages + _check_api_key(values.get("API_KEY", ""))


def _check_api_key(value: object) -> list[CheckMessage]:
    """A secret (``sk_``) or restricted (``rk_``) key, or one per mode; never echoed whole."""
    hint = "Use a secret key (sk_...) or a restricted key (rk_...) from the Dashboard."
    slots = value.items() if isinstance(value, Mapping) else [("", value)]
    messages: list[CheckMessage] = []
    for mode, key in slots:
        where = "STRIPE_MIRROR['API_KEY']" + (f"[{mode!r}]" if mode else "")
        if mode and mode not in ("live", "test"):
            messages.append(_error("E021", f"{where}: the modes are 'live' and 'test'.", hint))
        elif not isinstance(key, str):
            messages.append(
                _error("E020", f"{where} must be a string, not {conf.redacted(key)}.", hint)
            )
        elif key and (key != key.strip() or key[:3] not in ("sk_", "rk_")):
            messages.append(
                _error("E020", f"{where} is not an API secret key: {conf.redacted(key)}.", hint)
            )
        elif mode and key and conf.key_mode(key) not in (None, mode):
            messages.append(
                _error(
                    "E021", f"{where} is a {conf.key_mode(key)} key: {conf.redacted(key)}.", hint
                )
            )
    return messages
