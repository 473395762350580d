"""Settings of the example site: SQLite by default, any database via DATABASE_URL.

Environment variables:
  DATABASE_URL           e.g. postgres://postgres@127.0.0.1:5432/stripe_mirror
                         or   mysql://root@127.0.0.1:3306/stripe_mirror (default: SQLite file)
  STRIPE_WEBHOOK_SECRET  signing secret of the "default" endpoint (default: a demo secret)
  STRIPE_MIRROR_TASKS    "immediate" (default: process inside the request) or "database"
                         (django-tasks-db: process in `manage.py db_worker`)
"""

import os
from importlib.util import find_spec
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "stripe_mirror",
    "demo_app",
]
HAS_DJANGO_TASKS = find_spec("django.tasks") is not None  # Django >= 6
if not HAS_DJANGO_TASKS:
    INSTALLED_APPS.append("django_tasks")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "example_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "example_site.wsgi.application"


def database_from_env() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
            },
        }
    import dj_database_url

    # Persistent connections, checked before a request reuses them: a connection the server
    # dropped (a restart, a failover) would otherwise turn one delivery per worker away (503).
    config: dict[str, object] = dict(
        dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.mysql":
        config["OPTIONS"] = {"charset": "utf8mb4"}
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return config


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("STRIPE_MIRROR_TASKS", "immediate") == "database":
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
else:
    _immediate = "django.tasks" if HAS_DJANGO_TASKS else "django_tasks"
    TASKS = {"default": {"BACKEND": f"{_immediate}.backends.immediate.ImmediateBackend"}}

STRIPE_MIRROR = {
    "ENDPOINTS": {
        # One endpoint per Stripe webhook endpoint you register (platform, Connect, ...).
        "default": {
            "SECRETS": [os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_demo_secret_do_not_use")],
        },
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "stripe_mirror": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    },
}
