"""The inbox status page in the admin: the figures of ``stripe_mirror_status``, for a support
person. Linked from the inbox changelist ("Inbox status"); needs the view permission."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from ..management.catchup import ENDPOINT as CATCHUP_ENDPOINT
from ..models import CatchupRun
from .status import snapshot


class StatusPageMixin:
    """Adds ``<changelist>/status/`` to the inbox's ModelAdmin."""

    def get_urls(self) -> list[URLPattern]:
        admin: Any = self
        page = path(
            "status/",
            admin.admin_site.admin_view(self.status_view),
            name=f"{admin.opts.app_label}_{admin.opts.model_name}_status",
        )
        return [page, *super().get_urls()]  # type: ignore[misc]

    def status_view(self, request: HttpRequest) -> TemplateResponse:
        admin: Any = self
        if not admin.has_view_permission(request):
            raise PermissionDenied
        snap = snapshot(window=300)
        context = {
            **admin.admin_site.each_context(request),
            "opts": admin.opts,
            "title": "Inbox status",
            "snap": snap,
            "counts": list(snap.counts.items()),  # in the order of an event's life
            # A support person reads "12 a minute" better than "0.0/s".
            "received_per_minute": snap.received_per_second * 60,
            "processed_per_minute": snap.processed_per_second * 60,
            "received_by_webhook": snap.sources["webhook"],
            "received_by_catchup": snap.sources["catch-up"],
            "catchup_endpoint": CATCHUP_ENDPOINT,
            "catchup_opts": CatchupRun._meta,
        }
        return TemplateResponse(request, "admin/stripe_mirror/inboxevent/status.html", context)
