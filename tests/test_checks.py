"""System checks: each id fires on its misconfiguration, and a good configuration is clean."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import checks as django_checks

from stripe_mirror.checks import check_settings

GOOD = {"SECRETS": ["whsec_good"]}


def ids(settings: Any, value: Any) -> list[str]:
    settings.STRIPE_MIRROR = value
    return [message.id for message in check_settings()]


def test_test_settings_are_clean() -> None:
    assert check_settings() == []


# Django's own model checks ask the database whether it supports JSONField.
@pytest.mark.django_db
def test_registered_with_django() -> None:
    messages = django_checks.run_checks()
    assert [m for m in messages if (m.id or "").startswith("stripe_mirror.")] == []


@pytest.mark.django_db
def test_registered_check_fires(settings: Any) -> None:
    settings.STRIPE_MIRROR = {"ENDPOINTS": {}}
    messages = django_checks.run_checks()
    assert "stripe_mirror.E001" in [m.id for m in messages]


def test_secrets_may_be_one_string(settings: Any) -> None:
    assert ids(settings, {"ENDPOINTS": {"default": {"SECRETS": "whsec_one"}}}) == []


def test_every_known_key_is_accepted(settings: Any) -> None:
    value = {
        "ENDPOINTS": {
            "platform": {"SECRETS": ["whsec_a", "whsec_b"], "TOLERANCE": 60},
            "connect-2": {"SECRETS": ["whsec_c"], "FUTURE_TOLERANCE": 10},
        },
        "TOLERANCE": 300,
        "FUTURE_TOLERANCE": 300,
        "MAX_BODY_SIZE": 1024,
        "TASK_BACKEND": "default",
        "TASK_QUEUE": "stripe",
        "MAX_ATTEMPTS": 3,
        "RETRY_BACKOFF": 0,
        "RETRY_BACKOFF_MAX": 0,
        "HANDLER_MODULES": ["stripe_handlers"],
    }
    assert ids(settings, value) == []


def test_no_setting_at_all(settings: Any) -> None:
    del settings.STRIPE_MIRROR
    assert [m.id for m in check_settings()] == ["stripe_mirror.E001"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, ["stripe_mirror.E001"]),
        ({"ENDPOINTS": {}}, ["stripe_mirror.E001"]),
        ({"ENDPOINTS": ["default"]}, ["stripe_mirror.E001"]),
        (["default"], ["stripe_mirror.E007"]),
        ({"ENDPOINTS": {"default": ["whsec_x"]}}, ["stripe_mirror.E007"]),
    ],
    ids=["no ENDPOINTS", "empty ENDPOINTS", "ENDPOINTS a list", "not a dict", "entry a list"],
)
def test_no_endpoints(settings: Any, value: Any, expected: list[str]) -> None:
    assert ids(settings, value) == expected


@pytest.mark.parametrize("entry", [{}, {"SECRETS": []}, {"SECRETS": None}, {"SECRETS": {"a"}}])
def test_endpoint_without_secrets(settings: Any, entry: dict[str, Any]) -> None:
    assert ids(settings, {"ENDPOINTS": {"default": entry}}) == ["stripe_mirror.E002"]


@pytest.mark.parametrize("secret", ["", "   ", None, 42])
def test_empty_secret(settings: Any, secret: Any) -> None:
    value = {"ENDPOINTS": {"default": {"SECRETS": ["whsec_ok", secret]}}}
    assert ids(settings, value) == ["stripe_mirror.E003"]


@pytest.mark.parametrize("secret", ["whsec_x\n", " whsec_x", "whsec_x\t"])
def test_secret_with_whitespace(settings: Any, secret: str) -> None:
    value = {"ENDPOINTS": {"default": {"SECRETS": [secret]}}}
    assert ids(settings, value) == ["stripe_mirror.E011"]


def test_secret_that_looks_like_an_api_key(settings: Any) -> None:
    value = {"ENDPOINTS": {"default": {"SECRETS": ["sk_test_123"]}}}
    assert ids(settings, value) == ["stripe_mirror.W001"]


@pytest.mark.parametrize("key", ["TOLERANCE", "FUTURE_TOLERANCE"])
@pytest.mark.parametrize("bad", [0, -1, "300", True, 1.5, None])
def test_non_positive_tolerance(settings: Any, key: str, bad: Any) -> None:
    per_endpoint = {"ENDPOINTS": {"default": {**GOOD, key: bad}}}
    assert ids(settings, per_endpoint) == ["stripe_mirror.E004"]
    top_level = {"ENDPOINTS": {"default": GOOD}, key: bad}
    assert ids(settings, top_level) == ["stripe_mirror.E004"]


def test_unknown_setting_key(settings: Any) -> None:
    value = {"ENDPOINTS": {"default": GOOD}, "SECRETS": ["whsec_misplaced"]}
    assert ids(settings, value) == ["stripe_mirror.E005"]


def test_unknown_endpoint_key(settings: Any) -> None:
    value = {"ENDPOINTS": {"default": {**GOOD, "SECRET": "whsec_typo"}}}
    assert ids(settings, value) == ["stripe_mirror.E006"]


@pytest.mark.parametrize("name", ["a/b", "with space", "", "x" * 101, 7])
def test_endpoint_name_unusable(settings: Any, name: Any) -> None:
    assert ids(settings, {"ENDPOINTS": {name: GOOD}}) == ["stripe_mirror.E008"]


def test_longest_endpoint_name(settings: Any) -> None:
    assert ids(settings, {"ENDPOINTS": {"x" * 100: GOOD}}) == []


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("MAX_BODY_SIZE", 0),
        ("MAX_ATTEMPTS", 0),
        ("RETRY_BACKOFF", -1),
        ("RETRY_BACKOFF_MAX", "1"),
        ("API_TIMEOUT", 0),
        ("API_TIMEOUT", "5"),
        ("RETRY_JITTER", 1.5),
        ("RETRY_JITTER", -0.1),
        ("RETRY_JITTER", "0.2"),
        ("RETRY_JITTER", True),
        ("RETRY_JITTER", float("nan")),
    ],
)
def test_bad_numbers(settings: Any, key: str, bad: Any) -> None:
    assert ids(settings, {"ENDPOINTS": {"default": GOOD}, key: bad}) == ["stripe_mirror.E009"]


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("RECORD_TIMEOUT", -1),
        ("RECORD_TIMEOUT", "5"),
        ("RECORD_TIMEOUT", True),
        ("RECORD_TIMEOUT", float("nan")),
        ("OUTAGE_LOG_INTERVAL", None),
        ("OUTAGE_LOG_INTERVAL", -0.5),
    ],
)
def test_bad_durations(settings: Any, key: str, bad: Any) -> None:
    assert ids(settings, {"ENDPOINTS": {"default": GOOD}, key: bad}) == ["stripe_mirror.E009"]


@pytest.mark.parametrize(
    ("key", "good"),
    [
        ("RECORD_TIMEOUT", None),
        ("RECORD_TIMEOUT", 0),
        ("RECORD_TIMEOUT", 0.5),
        ("OUTAGE_LOG_INTERVAL", 0),
        ("OUTAGE_LOG_INTERVAL", 60),
    ],
)
def test_good_durations(settings: Any, key: str, good: Any) -> None:
    assert ids(settings, {"ENDPOINTS": {"default": GOOD}, key: good}) == []


@pytest.mark.parametrize("key", ["MIRROR", "PREPARED_STATEMENTS"])
@pytest.mark.parametrize(
    ("value", "found"),
    [
        (True, []),
        (False, []),
        ("false", ["stripe_mirror.E009"]),
        (0, ["stripe_mirror.E009"]),
        (None, ["stripe_mirror.E009"]),
    ],
)
def test_flags_are_true_or_false(settings: Any, key: str, value: Any, found: list[str]) -> None:
    assert ids(settings, {"ENDPOINTS": {"default": GOOD}, key: value}) == found


@pytest.mark.parametrize("jitter", [0, 0.25, 1, 1.0])
def test_retry_jitter_from_0_to_1(settings: Any, jitter: float) -> None:
    assert ids(settings, {"ENDPOINTS": {"default": GOOD}, "RETRY_JITTER": jitter}) == []


def test_unknown_task_backend(settings: Any) -> None:
    value = {"ENDPOINTS": {"default": GOOD}, "TASK_BACKEND": "nope"}
    assert ids(settings, value) == ["stripe_mirror.E010"]


def test_no_task_backend_is_allowed(settings: Any) -> None:
    """None: record only, stripe_mirror_worker processes the inbox."""
    assert ids(settings, {"ENDPOINTS": {"default": GOOD}, "TASK_BACKEND": None}) == []


def test_several_problems_are_all_reported(settings: Any) -> None:
    value = {
        "ENDPOINTS": {"a": {"SECRETS": [""]}, "b": {}, "c": {**GOOD, "TOLERANCE": 0}},
        "BOGUS": 1,
    }
    assert sorted(ids(settings, value)) == [
        "stripe_mirror.E002",
        "stripe_mirror.E003",
        "stripe_mirror.E004",
        "stripe_mirror.E005",
    ]


def test_messages_carry_hints(settings: Any) -> None:
    settings.STRIPE_MIRROR = {"ENDPOINTS": {"default": {"SECRETS": [""]}}}
    (message,) = check_settings()
    assert message.hint
    assert "default" in message.msg


@pytest.mark.parametrize(
    ("vendor", "version", "is_mariadb", "supported"),
    [
        ("postgresql", (), False, True),
        ("sqlite", (3, 35, 0), False, True),
        ("sqlite", (3, 34, 1), False, False),
        ("mysql", (10, 11, 19), True, True),
        ("mysql", (10, 5, 0), True, False),
        ("mysql", (8, 4, 0), False, False),
        ("oracle", (), False, False),
    ],
)
def test_unsupported_databases_are_named(vendor, version, is_mariadb, supported):
    from stripe_mirror.checks import unsupported_database

    problem = unsupported_database(vendor, version, is_mariadb=is_mariadb)
    assert (problem is None) is supported


@pytest.mark.django_db
def test_the_test_database_passes_the_database_check():
    from stripe_mirror.checks import check_database

    assert check_database(databases=["default"]) == []


def test_every_check_id_is_documented() -> None:
    root = Path(__file__).resolve().parent.parent
    package = root / "src" / "stripe_mirror"
    files = [*sorted((package / "checks").glob("*.py")), package / "ops" / "checks.py"]
    source = "".join(path.read_text() for path in files)
    table = (root / "docs" / "settings.md").read_text().partition("## System checks")[2]
    emitted = set(re.findall(r"\b([EW]\d{3})\b", source))
    documented = set(re.findall(r"`stripe_mirror\.([EW]\d{3})`", table))
    assert "E013" in emitted
    assert emitted == documented
