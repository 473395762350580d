"""The handler registry: matching, order, deduplication, names, and pattern validation."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from stripe_mirror.dispatch import registry as registry_module
from stripe_mirror.dispatch.registry import Registry, handler_name
from stripe_mirror.events import StripeEvent


def first(event: StripeEvent) -> None: ...


def second(event: StripeEvent) -> None: ...


def third(event: StripeEvent) -> None: ...


def matched(reg: Registry, event_type: str) -> list[Any]:
    return [r.func for r in reg.handlers_for(event_type)]


def test_exact() -> None:
    reg = Registry()
    reg.register(first, "invoice.paid")
    assert matched(reg, "invoice.paid") == [first]
    for other in ("invoice.paid_out", "invoice", "invoice.paid.x", "xinvoice.paid"):
        assert matched(reg, other) == []


def test_prefix() -> None:
    reg = Registry()
    reg.register(first, "customer.*")
    for event_type in ("customer.created", "customer.subscription.updated"):
        assert matched(reg, event_type) == [first]
    for other in ("customer", "customers.created", "customer_cash_balance_transaction.created"):
        assert matched(reg, other) == []


def test_star_matches_everything() -> None:
    reg = Registry()
    reg.register(first, "*")
    for event_type in ("invoice.paid", "x", "v1.billing.meter.no_meter_found"):
        assert matched(reg, event_type) == [first]


def test_registration_order_not_specificity() -> None:
    reg = Registry()
    reg.register(first, "*")
    reg.register(second, "customer.created")
    reg.register(third, "customer.*")
    assert matched(reg, "customer.created") == [first, second, third]
    assert matched(reg, "customer.deleted") == [first, third]


def test_handler_matched_by_several_patterns_runs_once() -> None:
    reg = Registry()
    reg.register(first, "customer.created", "customer.*", "*")
    assert matched(reg, "customer.created") == [first]


def test_decorated_twice_is_one_handler_at_its_first_place() -> None:
    reg = Registry()
    reg.on("invoice.paid")(first)
    reg.on("*")(second)
    decorated = reg.on("customer.*")(reg.on("invoice.paid")(third))
    reg.on("customer.created")(first)
    assert decorated is third
    assert matched(reg, "customer.created") == [first, second, third]
    assert matched(reg, "invoice.paid") == [first, second, third]
    assert [r.name for r in reg.registrations()] == [
        handler_name(first),
        handler_name(second),
        handler_name(third),
    ]
    assert reg.registrations()[0].patterns == ("invoice.paid", "customer.created")


def _load(source: str, module: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": module}
    exec(compile(source, f"<{module}>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace


def test_reimported_module_replaces_its_handlers_in_place() -> None:
    source = "def handler(event):\n    return 'v{}'\n"
    old = _load(source.format(1), "fake_handlers")["handler"]
    new = _load(source.format(2), "fake_handlers")["handler"]
    reg = Registry()
    reg.register(old, "invoice.paid")
    reg.register(first, "invoice.paid")
    reg.register(new, "invoice.paid")
    assert matched(reg, "invoice.paid") == [new, first]
    reg.unregister(old)  # the stale copy still identifies the handler
    assert matched(reg, "invoice.paid") == [first]


def test_lambdas_stay_distinct() -> None:
    reg = Registry()
    a = reg.register(lambda event: "a", "x")
    b = reg.register(lambda event: "b", "x")
    c = reg.register(lambda event: "c", "x")
    assert [r.func(None) for r in reg.handlers_for("x")] == ["a", "b", "c"]  # type: ignore[arg-type]
    assert (b.name, c.name) == (f"{a.name}#2", f"{a.name}#3")
    assert a.name.endswith("test_lambdas_stay_distinct.<locals>.<lambda>")


def test_factory_made_handlers_stay_distinct() -> None:
    reg = Registry()

    def make(event_type: str) -> Any:
        @reg.on(event_type)
        def handler(event: StripeEvent) -> str:
            return event_type

        return handler

    made = [make("invoice.paid"), make("invoice.created"), make("invoice.paid")]
    assert matched(reg, "invoice.paid") == [made[0], made[2]]
    assert matched(reg, "invoice.created") == [made[1]]
    assert len({r.name for r in reg.registrations()}) == 3


def test_partials_and_instances_stay_distinct() -> None:
    class Notify:
        def __init__(self, channel: str) -> None:
            self.channel = channel

        def __call__(self, event: StripeEvent) -> None: ...

        def method(self, event: StripeEvent) -> None: ...

    def send(channel: str, event: StripeEvent) -> None: ...

    reg = Registry()
    one, two = Notify("a"), Notify("b")
    partials = [functools.partial(send, "a"), functools.partial(send, "b")]
    for func in (one, two, *partials, one.method, two.method):
        reg.register(func, "x")
    reg.register(one.method, "y")  # a new but equal bound method: the same handler
    assert matched(reg, "x") == [one, two, *partials, one.method, two.method]
    assert matched(reg, "y") == [one.method]
    assert len({r.name for r in reg.registrations()}) == 6


def test_suffixes_stay_unique_after_unregister() -> None:
    reg = Registry()
    lambdas = [lambda event: None for _ in range(3)]
    for func in lambdas:
        reg.register(func, "x")
    reg.unregister(lambdas[0])
    reg.register(lambda event: None, "x")
    names = [r.name for r in reg.registrations()]
    assert len(set(names)) == len(names) == 3


def test_unregister_and_cache() -> None:
    reg = Registry()
    reg.register(first, "x")
    assert matched(reg, "x") == [first]  # now cached
    reg.register(second, "x")
    assert matched(reg, "x") == [first, second]
    reg.unregister(first)
    assert matched(reg, "x") == [second]
    reg.unregister(first)  # not registered: nothing happens
    assert matched(reg, "x") == [second]


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        " ",
        "*.created",
        "customer.*.created",
        "customer*",
        "customer.**",
        "**",
        ".*",
        ".created",
        "customer.",
        "customer..created",
        "invoice paid",
        " invoice.paid",
        "invoice.paid\n",
        "invoice.\tpaid",
        "invoice.pa\x00id",
        None,
        42,
    ],
)
def test_invalid_patterns(pattern: Any) -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="pattern"):
        reg.on(pattern)
    with pytest.raises(ValueError, match="pattern"):
        reg.register(first, "x", pattern)
    assert reg.registrations() == ()


def test_a_pattern_is_required() -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="pattern"):
        reg.on()
    with pytest.raises(ValueError, match="pattern"):
        reg.register(first)


@pytest.mark.parametrize(
    "pattern",
    ["invoice.paid", "v1.billing.meter.error_report_triggered", "customer.subscription.*", "x"],
)
def test_valid_patterns(pattern: str) -> None:
    reg = Registry()
    reg.register(first, pattern)
    assert reg.registrations()[0].patterns == (pattern,)


def test_handler_name() -> None:
    assert handler_name(first) == f"{__name__}.first"
    assert handler_name(functools.partial(first)) == "functools.partial"


def test_autodiscovered_test_handlers() -> None:
    from tests.testapp import stripe_handlers

    names = [r.name for r in registry_module.registry.registrations()]
    assert names.index(handler_name(stripe_handlers.record_call)) < names.index(
        handler_name(stripe_handlers.failing)
    )
    assert registry_module.on == registry_module.registry.on
