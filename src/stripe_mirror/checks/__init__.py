"""System checks: misconfiguration is reported at start-up, not at the first webhook.

Ids are stable; docs/settings.md lists each one with its fix. Importing this package
registers every check (``apps.py`` does, at ``ready()``).
"""

from .settings import check_database, check_settings, check_tasks_framework, unsupported_database

__all__ = ["check_database", "check_settings", "check_tasks_framework", "unsupported_database"]
