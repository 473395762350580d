"""The SaaS stream of issue 14's benchmark (bench/saas.py) keeps the properties docs/benchmarks.md
promises: reproducible from its seed, 5 % duplicates, deliveries moved at most 20 places,
pretty-printed bodies of real sizes, and payments sharing their second."""

from __future__ import annotations

from collections import Counter

import orjson

from bench import saas


def _stream(seed: int = 3) -> saas.Stream:
    world = saas.build_saas(customers=30, months=3, seed=seed)
    return saas.substream(world, 0, seed=seed, duplicates=0.05, displacement=20)


def test_a_seed_reproduces_the_stream() -> None:
    first, again = _stream(), _stream()
    assert first.bodies == again.bodies
    assert first.order == again.order
    assert _stream(seed=4).bodies != first.bodies


def test_deliveries_are_every_event_with_a_few_duplicates_nearby() -> None:
    stream = _stream()
    copies = Counter(stream.order)
    assert set(copies) == set(range(stream.events))
    assert set(copies.values()) <= {1, 2}
    assert 0.02 < sum(n == 2 for n in copies.values()) / stream.events < 0.09
    assert saas.displacements(stream.order)["max"] <= 20


def test_bodies_are_pretty_printed_stripe_events_of_real_sizes() -> None:
    stream = _stream()
    body = stream.bodies[0]
    assert body.startswith(b'{\n  "id": "evt_')
    assert orjson.loads(body)["object"] == "event"
    sizes = sorted(len(b) for b in stream.bodies)
    assert 2000 <= saas.pct(sizes, 50) <= 5000
    assert saas.pct(sizes, 95) <= 5000


def test_the_events_of_a_payment_share_their_second() -> None:
    stream = _stream()
    total, share = saas.same_second_share(stream)
    assert total > 100
    assert share > 0.8


def test_a_sub_stream_is_the_first_customers_whole_lives() -> None:
    world = saas.build_saas(customers=30, months=3, seed=3)
    part = saas.substream(world, 200, seed=3, duplicates=0.05, displacement=20)
    assert 200 <= part.events < len(world.world.events)
    ids = {orjson.loads(b)["data"]["object"]["id"] for b in part.bodies}
    assert {life.key.id for life in part.world.objects() if not life.embedded} <= ids
