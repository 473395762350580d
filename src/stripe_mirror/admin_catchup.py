"""Catch-up runs in the Django admin (``manage.py stripe_mirror_catchup``): read-only, newest
first, one row per mode and account caught up, with its window, what it found and how it
ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from .admin_reconcile import RunAdminMixin, pretty
from .models import CatchupRun

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[CatchupRun]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(CatchupRun)
class CatchupRunAdmin(RunAdminMixin, _ModelAdmin):
    list_display = (
        "started_at",
        "finished_at",
        "livemode",
        "where",
        "status",
        "window_start",
        "window_end",
        "listed",
        "recorded",
        "present",
        "unreadable",
    )
    list_filter = ("status", "livemode")
    search_fields = ("=account",)
    date_hierarchy = "started_at"
    fields = (
        "started_at",
        "finished_at",
        "status",
        "error",
        "livemode",
        "account",
        "window_start",
        "window_end",
        "asked",
        "listed",
        "recorded",
        "present",
        "unreadable",
        "processing",
    )
    readonly_fields = fields

    @admin.display(description="account", ordering="account")
    def where(self, run: CatchupRun) -> str:
        return run.account or "platform"

    @admin.display(description="outcomes of processing the recorded events")
    def processing(self, run: CatchupRun) -> str:
        return pretty(run.outcomes)
