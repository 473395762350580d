"""The inbox in the Django admin: browse, search and inspect events; reprocess them.

Events are facts Stripe told us, so the admin shows them read-only: nobody adds or edits
one, only superusers delete them, and the one thing a staff member with the "change"
permission may do is run them again (the "reprocess" action).

The changelist is built for a large table: the body and last error (the big columns) are
not loaded, search is by exact id (so it uses the unique and object id indexes), and the
endpoint filter lists the configured endpoints (and catch-up's) instead of scanning the table.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_permission_codename
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import conf
from .dispatch import Outcome
from .dispatch.registry import registry
from .handlers import step as mirror
from .management.catchup import ENDPOINT as CATCHUP_ENDPOINT
from .models import InboxEvent, Status
from .ops.admin_status import StatusPageMixin
from .tasks import process

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[InboxEvent]
else:
    _ModelAdmin = admin.ModelAdmin

#: More selected events than this are refused by the reprocess action: it runs them inside
#: the web request, and the management command is the tool for bulk work.
REPROCESS_LIMIT = 500

#: How each outcome of the reprocess action is reported.
_OUTCOME_MESSAGES = {
    Outcome.PROCESSED: (messages.SUCCESS, "processed"),
    Outcome.FAILED: (messages.WARNING, "failed again and will be retried (see their last error)"),
    Outcome.DEAD: (messages.ERROR, "failed again and are dead (attempts exhausted)"),
    Outcome.SKIPPED: (
        messages.WARNING,
        "skipped (thin events, or being processed by someone else right now)",
    ),
}


class EndpointFilter(admin.SimpleListFilter):
    """The configured endpoints: known from settings, so listing them costs no query."""

    title = "endpoint"
    parameter_name = "endpoint"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = [(name, name) for name in conf.endpoint_names()]
        return [*names, (CATCHUP_ENDPOINT, "catch-up (Events API)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(endpoint=value) if value else queryset


class AccountFilter(admin.SimpleListFilter):
    """The platform account (events without ``account``) or one Connect account."""

    title = "account"
    parameter_name = "account"
    #: Stripe account ids start with ``acct_``, so this cannot collide with one.
    PLATFORM = "platform"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        accounts = (
            InboxEvent.objects.exclude(account="")
            .order_by("account")
            .values_list("account", flat=True)
            .distinct()
        )
        return [(self.PLATFORM, "platform account"), *((a, a) for a in accounts)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(account="" if value == self.PLATFORM else value)


class InboxChangeList(ChangeList):
    """Leaves the big text columns in the database: the list shows neither."""

    def get_queryset(self, request: HttpRequest, *args: Any, **kwargs: Any) -> QuerySet[Any]:
        return super().get_queryset(request, *args, **kwargs).defer("body", "last_error")


@admin.register(InboxEvent)
class InboxEventAdmin(StatusPageMixin, _ModelAdmin):
    list_display = (
        "stripe_id",
        "type",
        "status",
        "endpoint",
        "account",
        "livemode",
        "created",
        "received_at",
        "delivery_count",
        "attempts",
        "duration",
    )
    list_filter = ("status", "type", EndpointFilter, AccountFilter, "livemode")
    # Exact lookups only: a pasted id must hit the unique index on stripe_id or the index
    # on object_id, never scan the table. See get_search_results for several ids.
    search_fields = ("stripe_id__exact", "object_id__exact")
    search_help_text = (
        "Exact event id (evt_...) or object id (cus_..., in_..., sub_...); "
        "several ids separated by spaces or commas."
    )
    date_hierarchy = "received_at"
    # Counting every row of a large inbox on each page view is slow; filtered counts stay.
    show_full_result_count = False
    actions = ("reprocess",)
    fieldsets = (
        (
            "Event",
            {
                "fields": (
                    "stripe_id",
                    "type",
                    "kind",
                    "api_version",
                    "created",
                    "livemode",
                    "account",
                    ("object_type", "object_id"),
                )
            },
        ),
        (
            "Deliveries",
            {"fields": ("endpoint", "received_at", "last_received_at", "delivery_count")},
        ),
        (
            "Processing",
            {
                "fields": (
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "processed_at",
                    "duration",
                    "handlers",
                    "error",
                )
            },
        ),
        ("Payload", {"fields": ("payload",)}),
    )
    readonly_fields = ("duration", "handlers", "error", "payload")

    # -- permissions: events are facts --------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboxEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: InboxEvent | None = None) -> bool:
        return bool(request.user.is_superuser)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        """Reprocessing changes an event's state: it takes the model's change permission."""
        codename = get_permission_codename("change", self.opts)
        return bool(request.user.has_perm(f"{self.opts.app_label}.{codename}"))

    # -- the list -------------------------------------------------------------------------

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return InboxChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[InboxEvent], search_term: str
    ) -> tuple[QuerySet[InboxEvent], bool]:
        """Events whose event id or object id is one of the given ids (any of them, not all)."""
        ids = search_term.replace(",", " ").split()
        if not ids:
            return queryset, False
        return queryset.filter(Q(stripe_id__in=ids) | Q(object_id__in=ids)), False

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: InboxEvent) -> str | None:
        return None if obj.duration_ms is None else f"{obj.duration_ms:.1f} ms"

    # -- one event ------------------------------------------------------------------------

    @admin.display(description="payload")
    def payload(self, obj: InboxEvent) -> SafeString:
        try:
            text = orjson.dumps(orjson.loads(obj.body), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:  # never recorded unparsed; shown as is all the same
            text = obj.body
        except TypeError:  # nested deeper than orjson writes (254 levels): shown as sent
            text = obj.body
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.display(description="last error")
    def error(self, obj: InboxEvent) -> SafeString | None:
        if not obj.last_error:
            return None
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.last_error)

    @admin.display(description="handlers")
    def handlers(self, obj: InboxEvent) -> SafeString:
        """The handlers this event's type runs now, and which of them completed."""
        completed = list(obj.completed_handlers)
        chain = [mirror.NAME, *(r.name for r in registry.handlers_for(obj.type))]
        # A handler that completed but is no longer registered is still worth showing.
        names = list(dict.fromkeys([*chain, *completed]))
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><code>{}</code>: {}</li>",
                ((name, "done" if name in completed else "not done") for name in names),
            ),
        )

    # -- the action -----------------------------------------------------------------------

    @admin.action(
        description="Reprocess selected events now (every handler runs again)",
        permissions=("reprocess",),
    )
    def reprocess(
        self, request: HttpRequest, queryset: QuerySet[InboxEvent]
    ) -> TemplateResponse | None:
        """Asks first (as ``delete_selected`` does): the first POST shows what would run, and
        only the confirmation (``post=yes``) runs it."""
        pks = list(
            queryset.order_by("created", "id").values_list("pk", flat=True)[: REPROCESS_LIMIT + 1]
        )
        if len(pks) > REPROCESS_LIMIT:
            self.message_user(
                request,
                f"Select at most {REPROCESS_LIMIT} events; for more, use "
                "`manage.py stripe_mirror_reprocess --status ... --type ...`.",
                messages.ERROR,
            )
            return None
        if request.POST.get("post") != "yes":
            return self._confirm_reprocess(request, pks)
        outcomes = Counter(process(pk, force=True) for pk in pks)
        for outcome, (level, text) in _OUTCOME_MESSAGES.items():
            count = outcomes[outcome]
            if count:
                noun = "event" if count == 1 else "events"
                self.message_user(request, f"{count} {noun} {text}.", level)
        return None

    def _confirm_reprocess(self, request: HttpRequest, pks: list[int]) -> TemplateResponse:
        selected = InboxEvent.objects.filter(pk__in=pks)
        types = Counter(selected.exclude(status=Status.SKIPPED).values_list("type", flat=True))
        plan = [
            (type_, count, [mirror.NAME, *(r.name for r in registry.handlers_for(type_))])
            for type_, count in sorted(types.items())
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Reprocess events?",
            "opts": self.opts,
            "media": self.media,
            "count": len(pks),
            "pks": pks,
            "plan": plan,
            "thin": len(pks) - sum(types.values()),  # thin events: recorded only, skipped
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "stripe_mirror/admin/reprocess_confirmation.html", context)


# The mirrored models' pages, the reconcile runs and the catch-up runs live in their own modules.
from . import admin_catchup, admin_reconcile, mirror_admin  # noqa: E402,F401
