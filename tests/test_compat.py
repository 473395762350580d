"""The library runs without the crutches the test suite's own settings provide.

The suite's settings install django_tasks_db (and, on Django 5.2, django_tasks), whose import
runs ``django_stubs_ext.monkeypatch()``: that makes ``ModelAdmin[...]`` and other generics of
django-stubs subscriptable at run time and so hid a crash on Django 6. Each test here runs a
child process with settings of its own (only Django's apps and stripe_mirror), where
neither the backport nor django-stubs-ext can be imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import django
import pytest

from tests.release import ROOT, once_per_python

pytestmark = [pytest.mark.slow, once_per_python]

DJANGO_6 = django.VERSION >= (6, 0)

#: As if neither the backport nor django-stubs-ext were installed: importing them fails, and
#: importlib.util.find_spec() answers None.
NO_BACKPORT = (
    "import sys\n"
    "for name in ('django_tasks', 'django_tasks_db', 'django_stubs_ext'):\n"
    "    sys.modules[name] = None\n"
)

SETUP = """
import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="compat-only",
    ALLOWED_HOSTS=["testserver"],
    USE_TZ=True,
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "stripe_mirror",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    TEMPLATES=[{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF="stripe_mirror.urls",
    STRIPE_MIRROR={"ENDPOINTS": {"default": {"SECRETS": ["whsec_compat"]}}},
)
django.setup()
from django.core.management import call_command
"""


def _run(prelude: str, body: str) -> str:
    code = prelude + SETUP + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_every_module_imports_without_django_stubs_ext() -> None:
    """Nothing of stripe_mirror subscripts a django-stubs generic at run time: with the
    backport and django-stubs-ext absent every module imports and the checks run (on Django
    5.2 they then report the missing backport, stripe_mirror.E013, instead of a TypeError)."""
    output = _run(
        NO_BACKPORT,
        """
        import importlib, pkgutil
        import stripe_mirror
        from django.contrib import admin
        from django.core.management.base import SystemCheckError

        for module in pkgutil.walk_packages(stripe_mirror.__path__, "stripe_mirror."):
            importlib.import_module(module.name)
        assert not hasattr(admin.ModelAdmin, "__class_getitem__")
        try:
            call_command("check")
        except SystemCheckError as error:
            print(error)
        """,
    )
    if DJANGO_6:
        assert "System check identified no issues" in output
    else:
        assert "stripe_mirror.E013" in output
        assert "Django 5.2 needs the django-tasks backport" in output
        assert "pip install django-tasks" in output
        assert output.count("stripe_mirror.E") == 1, output


@pytest.mark.skipif(not DJANGO_6, reason="Django 5.2 needs the backport")
def test_django_6_needs_nothing_of_the_backport() -> None:
    """Not installed at all: checks pass, and an event is recorded and processed."""
    output = _run(
        NO_BACKPORT,
        """
        from django.test import Client
        from stripe_mirror.models import Customer, InboxEvent
        from stripe_mirror.testing import build_event, post_event

        call_command("migrate", verbosity=0)
        call_command("check")
        event = build_event("customer.created", {"id": "cus_compat", "object": "customer"})
        response = post_event(Client(), event, secret="whsec_compat", prefix="/")
        assert response.status_code == 200, response.content
        assert InboxEvent.objects.get().status == "processed"
        assert Customer.objects.filter(stripe_id="cus_compat").exists()
        print("processed")
        """,
    )
    assert "processed" in output


@pytest.mark.skipif(DJANGO_6, reason="Django 6 has django.tasks built in")
def test_django_5_2_without_the_backport_in_installed_apps() -> None:
    output = _run(
        "",
        """
        from django.core.management.base import SystemCheckError

        try:
            call_command("check")
        except SystemCheckError as error:
            print(error)
        """,
    )
    assert "stripe_mirror.E013" in output
    assert "'django_tasks' is not in INSTALLED_APPS" in output
