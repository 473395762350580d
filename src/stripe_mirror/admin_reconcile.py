"""Reconcile runs in the Django admin (``manage.py stripe_mirror_reconcile``): read-only, newest
first, with each run's figures per account and type and its sample of drifting ids."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from .models import ReconcileRun

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[ReconcileRun]
else:
    _ModelAdmin = admin.ModelAdmin


class RunAdminMixin:
    """A command's runs: nobody adds or changes one in the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are made by the command

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty(data: Any) -> str:
    """A run's JSON figures, indented, in a ``<pre>``."""
    return format_html("<pre>{}</pre>", json.dumps(data, indent=2, sort_keys=True))


@admin.register(ReconcileRun)
class ReconcileRunAdmin(RunAdminMixin, _ModelAdmin):
    list_display = (
        "started_at",
        "finished_at",
        "livemode",
        "selection",
        "repair",
        "compared",
        "drift",
        "repaired",
        "errors",
        "types",
    )
    list_filter = ("livemode", "repair")
    date_hierarchy = "started_at"
    fields = (
        "started_at",
        "finished_at",
        "livemode",
        "accounts",
        "types",
        "selection",
        "repair",
        "compared",
        "drift",
        "repaired",
        "errors",
        "figures",
        "drift_sample",
    )
    readonly_fields = fields

    @admin.display(description="figures per account and type")
    def figures(self, run: ReconcileRun) -> str:
        return pretty(run.counts)

    @admin.display(description="drift (a sample of ids per kind)")
    def drift_sample(self, run: ReconcileRun) -> str:
        return pretty(run.samples)
