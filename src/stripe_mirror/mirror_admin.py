"""Read-only admin pages for the mirrored Stripe objects (Stripe is the source of truth).

Each change page shows the typed columns, the related rows as links, the events that touched
the object (a link to the inbox, searched by object id) and the object's JSON.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .models import TYPED_MODELS, InboxEvent, StripeModel, StripeObject

# ModelAdmin is generic only in django-stubs: subscripting it at run time raises TypeError
# (unless something ran django_stubs_ext.monkeypatch(), which this library must not rely on).
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin

#: Columns worth a place in a change list, in order of preference.
_LIST_CANDIDATES = (
    "name",
    "email",
    "code",
    "status",
    "type",
    "amount",
    "amount_due",
    "total",
    "unit_amount",
    "currency",
    "customer_id",
    "subscription_id",
    "invoice_id",
    "charge_id",
    "product_id",
)
_FILTER_CANDIDATES = ("status", "type", "currency", "active")
_BOOKKEEPING = ("data", "event_created", "event_id", "synced_at", "deleted", "deleted_at")


def _links(model: type[StripeModel]) -> list[models.ForeignObject[Any, Any]]:
    return [
        f
        for f in model._meta.get_fields()
        if isinstance(f, models.ForeignObject) and not f.auto_created and f.concrete is False
    ]


def _admin_url(row: models.Model) -> str | None:
    meta = row._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
    except NoReverseMatch:
        return None


class StripeModelAdmin(_ModelAdmin):
    """A read-only view of one mirrored model."""

    date_hierarchy = "created"
    search_fields = ("stripe_id",)
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match and (match.url_name or "").endswith("changelist"):
            queryset = queryset.defer("data")
        return queryset

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        columns = [
            f.name for f in self.model._meta.concrete_fields if f.name not in ("id", *_BOOKKEEPING)
        ]
        return [*columns, "related_rows", "events", *_BOOKKEEPING[1:], "pretty_data"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_readonly_fields(request, obj)

    @admin.display(description="related rows")
    def related_rows(self, obj: StripeModel) -> SafeString:
        items = []
        for field in _links(type(obj)):
            related = getattr(obj, field.name, None) if _has_target(obj, field) else None
            url = _admin_url(related) if related is not None else None
            if url:
                items.append((field.name, url, str(related)))
        if not items:
            return format_html("{}", "-")
        return format_html_join(", ", '{}: <a href="{}">{}</a>', items)

    @admin.display(description="events")
    def events(self, obj: StripeModel) -> SafeString:
        count = InboxEvent.objects.filter(object_id=obj.stripe_id).count()
        try:
            url = reverse("admin:stripe_mirror_inboxevent_changelist")
        except NoReverseMatch:  # the inbox admin is unregistered
            return format_html("{} events about {}", count, obj.stripe_id)
        return format_html(
            '<a href="{}?q={}">{} events about {}</a>', url, obj.stripe_id, count, obj.stripe_id
        )

    @admin.display(description="data")
    def pretty_data(self, obj: StripeModel) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))


def _has_target(obj: StripeModel, field: models.ForeignObject[Any, Any]) -> bool:
    """True when the relation's id column is set (so that the lookup can find a row)."""
    local = field.local_related_fields[-1]
    return bool(getattr(obj, local.attname, None))


def _admin_for(model: type[StripeModel]) -> type[StripeModelAdmin]:
    names = {f.name for f in model._meta.concrete_fields}
    display = [
        "stripe_id",
        *[n for n in _LIST_CANDIDATES if n in names][:5],
        "account",
        "livemode",
        "deleted",
        "created",
    ]
    filters = ["livemode", "deleted", *[n for n in _FILTER_CANDIDATES if n in names]]
    searchable = [
        "stripe_id__exact",
        *[n for n in ("email", "code", "number", "lookup_key") if n in names],
    ]
    return type(
        f"{model.__name__}Admin",
        (StripeModelAdmin,),
        {"list_display": display, "list_filter": filters, "search_fields": searchable},
    )


_MIRRORED: list[type[StripeModel]] = [*TYPED_MODELS.values(), StripeObject]
for _model in _MIRRORED:
    admin.site.register(_model, _admin_for(_model))
