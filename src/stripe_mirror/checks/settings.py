"""System checks of the settings (``STRIPE_MIRROR``, ``TASKS``) and of the tasks framework."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from .. import conf
from .api import check_api
from .messages import error as _error

#: Letters, digits, '-' and '_', at most InboxEvent.endpoint's 100 characters.
_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


@register()
def check_settings(app_configs: Iterable[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    value = getattr(settings, "STRIPE_MIRROR", None)
    if value is None:
        return [
            _error(
                "E001",
                "STRIPE_MIRROR is not set: no webhook endpoint is configured.",
                'Add STRIPE_MIRROR = {"ENDPOINTS": {"default": {"SECRETS": ["whsec_..."]}}}.',
            )
        ]
    if not isinstance(value, Mapping):
        return [_error("E007", "STRIPE_MIRROR must be a dict.")]
    messages: list[CheckMessage] = [
        _error(
            "E005",
            f"Unknown STRIPE_MIRROR key {key!r}.",
            f"Known keys: {', '.join(sorted(conf.DEFAULTS))}.",
        )
        for key in value
        if key not in conf.DEFAULTS
    ]
    messages += _check_numbers(value, "STRIPE_MIRROR")
    messages += _check_durations(value)
    messages += _check_jitter(value)
    messages += _check_flags(value)
    messages += check_api(value)
    messages += _check_endpoints(value.get("ENDPOINTS"))
    messages += _check_task_backend()
    return messages


def _check_endpoints(endpoints: object) -> list[CheckMessage]:
    if not isinstance(endpoints, Mapping) or not endpoints:
        return [
            _error(
                "E001",
                "STRIPE_MIRROR['ENDPOINTS'] is empty: no webhook endpoint is configured.",
                'Add {"default": {"SECRETS": ["whsec_..."]}}.',
            )
        ]
    messages: list[CheckMessage] = []
    for name, entry in endpoints.items():
        where = f"STRIPE_MIRROR['ENDPOINTS'][{name!r}]"
        if not isinstance(name, str) or not _ENDPOINT_NAME.fullmatch(name):
            messages.append(
                _error(
                    "E008",
                    f"Endpoint name {name!r} is not usable in a URL.",
                    "Use letters, digits, '-' and '_' only, at most 100 of them.",
                )
            )
        if not isinstance(entry, Mapping):
            messages.append(_error("E007", f"{where} must be a dict."))
            continue
        messages += [
            _error(
                "E006",
                f"Unknown key {key!r} in {where}.",
                f"Known keys: {', '.join(sorted(conf.ENDPOINT_KEYS))}.",
            )
            for key in entry
            if key not in conf.ENDPOINT_KEYS
        ]
        messages += _check_secrets(entry.get("SECRETS"), where)
        messages += _check_numbers(entry, where)
    return messages


def _check_secrets(secrets: object, where: str) -> list[CheckMessage]:
    if isinstance(secrets, str):
        secrets = [secrets]
    if not isinstance(secrets, list | tuple) or not secrets:
        return [
            _error(
                "E002",
                f"{where} has no signing secrets.",
                "Set SECRETS to a list of the endpoint's whsec_... secrets.",
            )
        ]
    messages: list[CheckMessage] = []
    for index, secret in enumerate(secrets):
        if not isinstance(secret, str) or not secret.strip():
            messages.append(
                _error(
                    "E003",
                    f"{where}['SECRETS'][{index}] is empty.",
                    "An empty secret would let anyone sign events.",
                )
            )
        elif secret != secret.strip():
            messages.append(
                _error(
                    "E011",
                    f"{where}['SECRETS'][{index}] has leading or trailing whitespace.",
                    "Stripe signs with the exact secret, so this one can never match; strip it "
                    "(often a newline read from a file or an environment variable).",
                )
            )
        elif not secret.startswith("whsec_"):
            messages.append(
                Warning(
                    f"{where}['SECRETS'][{index}] does not start with 'whsec_'.",
                    hint="Webhook signing secrets start with whsec_; is this an API key?",
                    id="stripe_mirror.W001",
                )
            )
    return messages


#: Numeric settings: key -> smallest allowed value.
_MINIMUMS = {
    "TOLERANCE": 1,
    "FUTURE_TOLERANCE": 1,
    "MAX_BODY_SIZE": 1,
    "MAX_ATTEMPTS": 1,
    "RETRY_BACKOFF": 0,
    "RETRY_BACKOFF_MAX": 0,
    "API_MAX_RETRIES": 0,
}


def _check_numbers(values: Mapping[str, Any], where: str) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key, minimum in _MINIMUMS.items():
        if key not in values:
            continue
        value = values[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            code = "E004" if "TOLERANCE" in key else "E009"
            messages.append(
                _error(code, f"{where}['{key}'] must be an integer >= {minimum}, not {value!r}.")
            )
    return messages


#: Durations in seconds (int or float, >= 0): key -> whether None is allowed too.
_DURATIONS = {"RECORD_TIMEOUT": True, "OUTAGE_LOG_INTERVAL": False}


def _check_durations(values: Mapping[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key, nullable in _DURATIONS.items():
        value = values.get(key, 0)
        if value is None and nullable:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
            allowed = "a number of seconds >= 0" + (" or None" if nullable else "")
            messages.append(
                _error("E009", f"STRIPE_MIRROR['{key}'] must be {allowed}, not {value!r}.")
            )
    return messages


def _check_jitter(values: Mapping[str, Any]) -> list[CheckMessage]:
    """RETRY_JITTER: a fraction of the delay (E009, with the other numbers)."""
    if "RETRY_JITTER" not in values:
        return []
    value = values["RETRY_JITTER"]
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return []
    return [
        _error(
            "E009",
            f"STRIPE_MIRROR['RETRY_JITTER'] must be a number from 0 to 1, not {value!r}.",
            "It is the fraction of each retry delay that may be cut off (0: no jitter).",
        )
    ]


#: Settings that are True or False (a string such as "false" would read as true).
_FLAGS = ("MIRROR", "PREPARED_STATEMENTS")


def _check_flags(values: Mapping[str, Any]) -> list[CheckMessage]:
    return [
        _error("E009", f"STRIPE_MIRROR['{key}'] must be True or False, not {values[key]!r}.")
        for key in _FLAGS
        if key in values and not isinstance(values[key], bool)
    ]


def _check_task_backend() -> list[CheckMessage]:
    backend = conf.task_backend()
    if backend is None:  # record only: stripe_mirror_worker processes the inbox
        return []
    tasks = getattr(settings, "TASKS", None)
    configured = set(tasks) if isinstance(tasks, Mapping) else {"default"}
    if backend not in configured:
        return [
            _error(
                "E010",
                f"STRIPE_MIRROR['TASK_BACKEND'] is {backend!r}, which is not a "
                "key of settings.TASKS.",
                f"Configured backends: {sorted(configured)}.",
            )
        ]
    return []


@register()
def check_tasks_framework(
    app_configs: Iterable[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Django 6 has ``django.tasks``; Django 5.2 needs the django-tasks backport, as an app."""
    if find_spec("django.tasks"):
        return []
    if not find_spec("django_tasks"):
        return [
            _error(
                "E013",
                "Django's tasks framework is missing: Django 5.2 needs the django-tasks "
                "backport to process events.",
                "pip install django-tasks, and add 'django_tasks' to INSTALLED_APPS.",
            )
        ]
    if not apps.is_installed("django_tasks"):
        return [
            _error(
                "E013",
                "'django_tasks' is not in INSTALLED_APPS: on Django 5.2 the django-tasks "
                "backport provides the tasks framework that processes events.",
                "Add 'django_tasks' to INSTALLED_APPS (Django 6 has django.tasks built in).",
            )
        ]
    return []
