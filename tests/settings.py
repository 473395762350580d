"""Test settings: the example site plus a test app whose handlers tests can steer."""

import os

os.environ.setdefault("SQLITE_PATH", ":memory:")

from example_site.settings import *  # noqa: F403
from example_site.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that several threads (and processes) share one database.
    DATABASES["default"]["NAME"] = os.environ.get("SQLITE_PATH", "")
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_PATH", "")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STRIPE_MIRROR = {
    "ENDPOINTS": {
        "default": {"SECRETS": ["whsec_test_primary"]},
        "connect": {"SECRETS": ["whsec_connect_old", "whsec_connect_new"], "TOLERANCE": 60},
    },
    "RETRY_BACKOFF": 1,
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
