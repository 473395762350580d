"""The base of every mirrored Stripe object, and the column and relation helpers.

A mirrored row is keyed by (account, livemode, stripe_id): Stripe ids are unique per account
and mode but not across them (a platform can create a coupon "SUMMER" on every connected
account, in test and live mode). Relations between mirrored rows are therefore joins on those
three columns (Django ``ForeignObject``): no database constraint, so a row may name an object
whose own event has not arrived yet, and the relation resolves once it does.

Each typed column says where in the Stripe object it comes from (``source``); the generic sync
reads these declarations, so a model is nothing but its columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import models
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

from .fields import StripeIdField

#: The three columns a mirrored row is keyed by (in join order).
KEY_FIELDS = ("account", "livemode", "stripe_id")

_SOURCE_ATTR = "stripe_source"
_RENDERS_ATTR = "stripe_renders"

#: What a derivation returns when the object has nothing to derive the value from (the
#: column is then left as it is, like a path that is not in the object).
ABSENT: Any = object()

#: Computes a column's value from an older shape of the object (or returns ABSENT).
Derivation = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Old:
    """A shape of a column's field that only older objects have: a path (``account_balance``)
    or a derivation from fields of another encoding (``closed``/``forgiven`` for ``status``).
    ``before`` is the API version that renders the current shape instead (``2019-10-17``), or
    the month from which every version renders it (``2020-04``: prices, added to all versions)."""

    source: str | Derivation
    before: str

    @property
    def described(self) -> str:
        """The path, or the first paragraph of the derivation's docstring (for the docs)."""
        if isinstance(self.source, str):
            return f"`{self.source}`"
        paragraph = (self.source.__doc__ or self.source.__name__).strip().split("\n\n")[0]
        return " ".join(line.strip() for line in paragraph.splitlines())


def old(source: str | Derivation, *, before: str) -> Old:
    return Old(source, before)


#: Where a column is read from: a path, an older shape, or several, tried in order.
Source = str | Old
Sources = Source | Sequence[Source] | None


def sourced(field: models.Field[Any, Any], source: Sources) -> Any:
    """Attach the Stripe path(s) a column is read from. Several are tried in order (the first
    one present in the object wins): this is how one column follows a field that moved or
    was renamed between API versions. Returns the field (typed Any so that assignment to a
    model attribute keeps Django's field typing)."""
    setattr(
        field,
        _SOURCE_ATTR,
        (source,) if isinstance(source, str | Old) or source is None else tuple(source),
    )
    return field


def _declared(field: models.Field[Any, Any]) -> tuple[Source | None, ...] | None:
    declared: tuple[Source | None, ...] | None = getattr(field, _SOURCE_ATTR, None)
    if declared is None or field.name in getattr(field.model, "NOT_IN_STRIPE", ()):
        return None
    return declared


def source_of(field: models.Field[Any, Any]) -> tuple[str | Derivation, ...] | None:
    """The paths and derivations declared for ``field``, in order, or None when it is not
    read from the object (a base column that the model's object type lacks, see
    ``StripeModel.NOT_IN_STRIPE``)."""
    declared = _declared(field)
    if declared is None:
        return None
    return tuple(
        field.name if s is None else s.source if isinstance(s, Old) else s for s in declared
    )


def old_sources(field: models.Field[Any, Any]) -> tuple[Old, ...]:
    """The older shapes declared for ``field`` (for the docs and the tests)."""
    return tuple(s for s in _declared(field) or () if isinstance(s, Old))


# --- column helpers ---------------------------------------------------------------------
# Short constructors so that a model reads like the Stripe object it mirrors.


def text(source: Sources = None, *, index: bool = False) -> Any:
    """A free-form string (name, description, url): unbounded, not indexable on MariaDB."""
    if index:
        return sourced(
            models.CharField(max_length=512, blank=True, default="", db_index=True), source
        )
    return sourced(models.TextField(blank=True, default=""), source)


def code(source: Sources = None, *, index: bool = False) -> Any:
    """A short string: an enum value (status), a currency, a country."""
    return sourced(models.CharField(max_length=64, blank=True, default="", db_index=index), source)


def integer(source: Sources = None, *, index: bool = False) -> Any:
    """An amount in the smallest currency unit, or a count."""
    return sourced(models.BigIntegerField(null=True, blank=True, db_index=index), source)


def number(source: Sources = None) -> Any:
    return sourced(models.FloatField(null=True, blank=True), source)


def decimal(source: Sources = None) -> Any:
    """A decimal sent as a string (``unit_amount_decimal``)."""
    return sourced(
        models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True), source
    )


def flag(source: Sources = None, *, index: bool = False) -> Any:
    return sourced(models.BooleanField(null=True, blank=True, db_index=index), source)


def timestamp(source: Sources = None, *, index: bool = False) -> Any:
    """A unix time in the object, a timezone-aware datetime here."""
    return sourced(models.DateTimeField(null=True, blank=True, db_index=index), source)


def json(source: Sources = None) -> Any:
    return sourced(models.JSONField(null=True, blank=True), source)


def ref(source: Sources = None) -> Any:
    """The id of another Stripe object (expanded objects are reduced to their id). Indexed:
    relations join on it."""
    return sourced(StripeIdField(max_length=255, null=True, blank=True, db_index=True), source)


def renders(key: str) -> Any:
    """Whether the object as last written has the top-level field ``key`` at all, even null:
    tells a field its API version does not render from an empty one (``sync/links.py``
    derives the former from other objects). Written by the sync, never read from a path."""
    field = models.BooleanField(
        default=False,
        editable=False,
        help_text=f"The object renders {key!r} (its API version has that field).",
    )
    setattr(field, _RENDERS_ATTR, key)
    return field


def rendered_key(field: models.Field[Any, Any]) -> str | None:
    """The key a ``renders`` column tells the presence of, or None for other columns."""
    key: str | None = getattr(field, _RENDERS_ATTR, None)
    return key


class _MaybeMissing(ForwardManyToOneDescriptor):  # type: ignore[type-arg]
    """``row.customer`` is None, not an error, while the customer's row does not exist."""

    def get_object(self, instance: Any) -> Any:
        try:
            return super().get_object(instance)
        except self.field.remote_field.model.DoesNotExist:
            return None


class StripeLink(models.ForeignObject):  # type: ignore[type-arg]
    """A ForeignObject whose target row may be missing (see ``link``)."""

    forward_related_accessor_class = _MaybeMissing

    def deconstruct(self) -> Any:
        # Migrations see a plain ForeignObject: the difference is Python-side only.
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.ForeignObject", args, kwargs


def link(to: str, id_field: str, *, related_name: str) -> Any:
    """A relation to another mirrored model through the ``id_field`` column, within the same
    account and mode. The target row need not exist: the relation is then None (reverse: empty)."""
    return StripeLink(
        to,
        on_delete=models.DO_NOTHING,
        from_fields=("account", "livemode", id_field),
        to_fields=KEY_FIELDS,
        related_name=related_name,
        null=True,
        blank=True,
    )


# --- querysets --------------------------------------------------------------------------


class StripeQuerySet(models.QuerySet[Any]):
    def alive(self) -> StripeQuerySet:
        """Rows whose object has not been deleted in Stripe."""
        return self.filter(deleted=False)

    def for_account(self, account: str | None) -> StripeQuerySet:
        """Rows of one Connect account (None or "" for the platform account)."""
        return self.filter(account=account or "")

    def live(self) -> StripeQuerySet:
        return self.filter(livemode=True)

    def test(self) -> StripeQuerySet:
        return self.filter(livemode=False)


StripeManager = models.Manager.from_queryset(StripeQuerySet)


# --- the base model ---------------------------------------------------------------------


class StripeModel(models.Model):
    """Columns every mirrored object has. ``data`` is the whole object as last written."""

    #: The Stripe ``object`` value this model mirrors (``"customer"``); set by subclasses.
    STRIPE_OBJECT: ClassVar[str] = ""
    #: Columns of this base that the object type does not have in Stripe (a discount has no
    #: ``created``, a tax id no ``metadata``): they stay empty instead of being read.
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset()
    #: True for objects Stripe sends no events about, that come only inside their parent's
    #: (an invoice's lines): on a same-second tie the parent's snapshot, which won its own
    #: tie, wins for them too, with no other snapshot of theirs in the inbox to look for.
    EMBEDDED_ONLY: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    stripe_id = StripeIdField("Stripe id", max_length=255)
    account = StripeIdField(
        max_length=255,
        blank=True,
        default="",
        db_index=True,
        help_text="The Connect account the object belongs to; empty for the platform account.",
    )
    livemode = models.BooleanField(default=False)
    data = models.JSONField(default=dict, help_text="The Stripe object as last written.")
    created = timestamp("created")
    metadata = sourced(models.JSONField(null=True, blank=True), "metadata")

    deleted = models.BooleanField(default=False, help_text="Deleted in Stripe (a tombstone).")
    deleted_at = models.DateTimeField(null=True, blank=True)
    #: The ordering watermark: ``created`` and id of the event whose state the row holds.
    event_created = models.DateTimeField(null=True, blank=True)
    event_id = StripeIdField(max_length=255, blank=True, default="")
    synced_at = models.DateTimeField(auto_now=True)

    objects = StripeManager()

    class Meta:
        abstract = True
        # stripe_id first: the same index serves lookups by id alone and the full key.
        constraints = (
            models.UniqueConstraint(
                fields=("stripe_id", "account", "livemode"), name="%(app_label)s_%(class)s_key"
            ),
        )
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return str(self.stripe_id)
