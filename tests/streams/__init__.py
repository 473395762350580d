"""Realistic Stripe event streams, for proving the ordering guard and the payment links.

``World`` plays out the lives of many objects as Stripe reports them. Every change of an
object is one or more events carrying its new snapshot; ``*.updated`` events carry
``previous_attributes`` computed as Stripe computes them (the changed keys with their old
values: a nested hash key by key, a changed array whole, a key added to a hash as null).
``created`` has whole seconds, and changes often come in bursts within one second. The world
remembers each object's final state and the payment links Stripe would report, so a test can
deliver the events in any order and compare the mirror with the truth.

``strict=True`` keeps to the streams the ordering rules claim to order without a refetch:
within one second, a change told by events without ``previous_attributes`` must move the
object forward in its life cycle (a status that never comes back, a counter that only grows,
its deletion), and no value returns to one it already had in that second. When a change
would break that, the clock first moves on a second. ``strict=False`` allows anything Stripe
could send: a test then needs the refetch to get every object right.

Everything comes from one ``random.Random(seed)``: a seed reproduces a world exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from .billing import invoice_life, subscription_life
from .catalog import catalog_life, customer_life, customer_second_thoughts
from .payments import one_off_payment
from .world import NEW_API, OLD_API, Key, Life, Scope, World, previous_attributes

__all__ = [
    "NEW_API",
    "OLD_API",
    "SCENARIOS",
    "Key",
    "Life",
    "World",
    "build_world",
    "previous_attributes",
]


SCENARIOS: dict[str, tuple[Callable[[Scope], object], int]] = {
    "customer": (customer_life, 4),
    "customer_second_thoughts": (customer_second_thoughts, 1),
    "catalog": (catalog_life, 2),
    "one_off_payment": (one_off_payment, 3),
    "invoice": (invoice_life, 3),
    "subscription": (subscription_life, 3),
}


def build_world(
    seed: int,
    scenarios: int = 40,
    *,
    strict: bool = True,
    accounts: tuple[str, ...] = ("", "acct_1ConnectedA"),
    api_versions: tuple[str, ...] = (NEW_API, OLD_API),
    burst: float = 0.6,
    livemode: float = 0.1,
    include: tuple[str, ...] = (),
) -> World:
    """A world of ``scenarios`` object lives on the platform and connected accounts, in both
    API shapes (and now and then in live mode): the ``include`` ones, then random ones."""
    world = World(seed, strict=strict, burst=burst)
    names = list(SCENARIOS)
    weights = [SCENARIOS[n][1] for n in names]
    chosen = [*include, *world.rng.choices(names, weights, k=scenarios - len(include))]
    for name in chosen:
        scope = Scope(
            world,
            account=world.rng.choice(accounts),
            livemode=world.rng.random() < livemode,
            api_version=world.rng.choice(api_versions),
        )
        SCENARIOS[name][0](scope)
    return world
