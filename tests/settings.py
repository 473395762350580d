"""Test settings: the example site plus a test app whose handlers tests can steer."""

import os
import tempfile

os.environ.setdefault("SQLITE_PATH", ":memory:")

from example_site.settings import *  # noqa: F403
from example_site.settings import DATABASES, INSTALLED_APPS

# django-tasks-db's tables exist in every test database, so that a test can switch TASKS to its
# DatabaseBackend (the example settings install it themselves with STRIPE_MIRROR_TASKS=database).
# Importing django_tasks_db (and django_tasks) runs django_stubs_ext.monkeypatch(), which makes
# django-stubs' generics subscriptable at run time in this whole process: the library must not
# rely on that, so tests/test_compat.py and tests/test_quickstart.py run without these settings.
_TASKS_DB = [] if "django_tasks_db" in INSTALLED_APPS else ["django_tasks_db"]
INSTALLED_APPS = [*INSTALLED_APPS, *_TASKS_DB, "tests.testapp"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that several threads (and processes) share one database.
    DATABASES["default"]["NAME"] = os.environ.get("SQLITE_PATH", "")
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("SQLITE_TEST_PATH")
        or os.path.join(tempfile.gettempdir(), f"stripe-mirror-test-{os.getpid()}.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STRIPE_MIRROR = {
    "ENDPOINTS": {
        "default": {"SECRETS": ["whsec_test_primary"]},
        "connect": {"SECRETS": ["whsec_connect_old", "whsec_connect_new"], "TOLERANCE": 60},
    },
    "RETRY_BACKOFF": 1,
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Live-server tests (tests/test_faults.py) set it for their own server process.
if os.environ.get("STRIPE_MIRROR_RECORD_TIMEOUT"):
    STRIPE_MIRROR["RECORD_TIMEOUT"] = float(os.environ["STRIPE_MIRROR_RECORD_TIMEOUT"])

# Extra STRIPE_MIRROR keys for a management command run in a child process (a JSON object):
# the API key and address of a test's fake Stripe server, for instance.
if os.environ.get("STRIPE_MIRROR_TEST_EXTRA"):
    import json

    STRIPE_MIRROR.update(json.loads(os.environ["STRIPE_MIRROR_TEST_EXTRA"]))
