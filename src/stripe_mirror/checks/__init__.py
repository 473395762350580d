"""System checks: misconfiguration is reported at start-up, not at the first webhook.

Ids are stable; docs/settings.md lists each one with its fix. Importing this package
registers every check (``apps.py`` does, at ``ready()``).
"""

from .database import check_database, unsupported_database
from .settings import check_settings, check_tasks_framework

__all__ = ["check_database", "check_settings", "check_tasks_framework", "unsupported_database"]
