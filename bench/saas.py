"""A realistic Stripe stream for issue 14's benchmark: a simulated SaaS (bench/saas_world.py),
delivered as Stripe delivers it.

    python -m bench.saas stream [--customers 3000] [--months 6]    (the stream's properties)
    python -m bench.saas run --help                                 (the benchmark: saas_run)

Each event is encoded as Stripe sends it: pretty-printed JSON, two-space indent. Each object is
padded to the size of a real one with fields of Stripe's example object of its type
(tests/data/fixtures3.json), under a key no column or link reads (as bench/mirror.py does), so
bodies are 2-5 KB. Deliveries: the events in the order Stripe created them, 5 % of them sent
twice, each delivery moved up to 20 places from its place in that order (Stripe's deliveries
overlap). Everything comes from the seed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.streams import World

from . import saas_world

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data" / "fixtures3.json"
FILLER = "bench_filler"
PRETTY = orjson.OPT_INDENT_2


@dataclass
class Stream:
    """Deliveries of a complete (sub-)world: bodies, in delivery order."""

    world: Any  # tests.streams.World: its lives are what the mirror must end with
    bodies: list[bytes]  # one per event, in the order Stripe created them
    order: list[int]  # delivery order: indices into bodies (a duplicate appears twice)
    types: list[str]
    payments: list[list[int]]  # indices into bodies: the events of one payment attempt
    created: list[int]

    @property
    def events(self) -> int:
        return len(self.bodies)

    @property
    def deliveries(self) -> int:
        return len(self.order)


def build_saas(customers: int, months: int, seed: int) -> saas_world.Saas:
    started = time.monotonic()
    saas = saas_world.build(seed, customers, months)
    pad(saas.world, seed)
    say(
        f"played {customers} customers over {months} months: {len(saas.world.events)} events "
        f"in {time.monotonic() - started:.1f} s"
    )
    return saas


def substream(
    saas: saas_world.Saas, events: int, *, seed: int, duplicates: float, displacement: int
) -> Stream:
    """The first customers whose lives hold at least ``events`` events (all of them if 0),
    delivered: a complete world of its own, so the mirror can be checked against it."""
    owners = saas.owners
    count = len(owners)
    if events:
        count = next((n + 1 for n, o in enumerate(owners) if o.events.stop >= events), count)
    stop, lives = owners[count - 1].events.stop, owners[count - 1].lives.stop
    world = World(saas.world.seed)
    world.events = saas.world.events[:stop]
    world.lives = dict(list(saas.world.lives.items())[:lives])
    by_time = sorted(range(stop), key=lambda i: world.events[i]["created"])
    position = {event: n for n, event in enumerate(by_time)}
    payments = [[position[i] for i in r] for r in saas.payments if r.stop <= stop]
    timeline = [world.events[i] for i in by_time]
    order = deliver(len(timeline), random.Random(seed), duplicates, displacement)
    return Stream(
        world=world,
        bodies=[orjson.dumps(e, option=PRETTY) for e in timeline],
        order=order,
        types=[e["type"] for e in timeline],
        payments=payments,
        created=[e["created"] for e in timeline],
    )


def deliver(count: int, rng: random.Random, duplicates: float, displacement: int) -> list[int]:
    """Delivery order: every event once, ``duplicates`` of them twice, each delivery at its
    place plus a random 0 to ``displacement`` places (then sorted: moved at most that far)."""
    keyed = []
    for n in range(count):
        for _ in range(1 + (rng.random() < duplicates)):
            keyed.append((n + rng.uniform(0, displacement), n))
    keyed.sort()
    return [n for _, n in keyed]


# --- padding --------------------------------------------------------------------------------


def pad(world: Any, seed: int) -> None:
    """Pad every top-level object to a real object's size with its type's example fields:
    the same filler in all of an object's snapshots, so its final state is the padded one."""
    examples = orjson.loads(FIXTURES.read_bytes()).get("resources", {})
    rng = random.Random(f"pad-{seed}")
    largest: dict[tuple[str, str, str], int] = {}
    for event in world.events:  # the object's largest snapshot decides its room
        obj = event["data"]["object"]
        key = (obj["object"], obj["id"], event.get("account", ""))
        largest[key] = max(largest.get(key, 0), len(orjson.dumps(event, option=PRETTY)))
    fillers: dict[tuple[str, str, str], dict[str, Any]] = {}
    for event in world.events:
        obj = event["data"]["object"]
        key = (obj["object"], obj["id"], event.get("account", ""))
        if obj.get("deleted"):
            continue
        if key not in fillers:
            target = rng.randint(2500, 5000)  # bytes of the pretty-printed event
            fillers[key] = filler(examples, obj["object"], target - largest[key])
        obj[FILLER] = fillers[key]
    for life in world.objects():
        key = (life.key.type, life.key.id, life.key.account)
        if not life.embedded and key in fillers:
            life.state[FILLER] = fillers[key]


def filler(examples: dict[str, Any], object_type: str, room: int) -> dict[str, Any]:
    """Fields of Stripe's example object of the type, in its order, until about ``room``
    bytes of pretty-printed JSON (nested three levels deep in the event) are filled."""
    example = examples.get(object_type) or examples["customer"]
    chosen: dict[str, Any] = {}
    used = 0
    for name, value in example.items():
        text = orjson.dumps({name: value}, option=PRETTY)
        cost = len(text) + 6 * text.count(b"\n")  # three more levels of indent per line
        if used + cost <= room:  # a field too large for what is left is skipped
            used += cost
            chosen[name] = value
    return chosen


# --- signing --------------------------------------------------------------------------------


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header (kept here, not imported: src/ is being reorganised)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


# --- what the stream is like ------------------------------------------------------------------


def properties(stream: Stream, customers: int, months: int) -> dict[str, Any]:
    sizes = sorted(len(b) for b in stream.bodies)
    shared = same_second_share(stream)
    moved = displacements(stream.order)
    copies = Counter(stream.order)
    return {
        "customers": customers,
        "months": months,
        "events": stream.events,
        "deliveries": stream.deliveries,
        "duplicate_share": round(sum(1 for n in copies.values() if n > 1) / stream.events, 4),
        "types": Counter(stream.types).most_common(),
        "payment_events": shared[0],
        "payment_same_second_share": shared[1],
        "displacement": moved,
        "body_bytes": {
            "p50": pct(sizes, 50),
            "p95": pct(sizes, 95),
            "min": sizes[0],
            "max": sizes[-1],
        },
        "span_days": round((max(stream.created) - min(stream.created)) / 86400, 1),
        "accounts": dict(
            Counter(life.key.account or "platform" for life in stream.world.objects())
        ),
    }


def same_second_share(stream: Stream) -> tuple[int, float]:
    """Events of payment attempts, and the share of them that share their second with
    another event of the same payment (as Stripe's invoice.paid, invoice.payment_succeeded,
    invoice_payment.paid, payment_intent.succeeded and charge.succeeded do)."""
    total = shared = 0
    for group in stream.payments:
        seconds = Counter(stream.created[i] for i in group)
        total += len(group)
        shared += sum(1 for i in group if seconds[stream.created[i]] > 1)
    return total, round(shared / max(total, 1), 3)


def displacements(order: list[int]) -> dict[str, Any]:
    """How far each delivery is from its event's place in creation order (first copies)."""
    seen: set[int] = set()
    moved = []
    for event in order:  # its place among first deliveries: duplicates do not shift it
        if event not in seen:
            moved.append(abs(len(seen) - event))
            seen.add(event)
    moved.sort()
    out = {f"p{p}": pct(moved, p) for p in (50, 90, 99)}
    return {
        **out,
        "max": moved[-1],
        "moved_share": round(sum(1 for m in moved if m) / len(moved), 3),
    }


def pct(values: list[int], p: float) -> int:
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def describe(props: dict[str, Any]) -> str:
    b, d = props["body_bytes"], props["displacement"]
    types = ", ".join(f"{t} {n}" for t, n in props["types"][:14])
    return "\n".join(
        [
            f"stream: {props['customers']} customers over {props['months']} months "
            f"({props['span_days']} days): {props['events']} events, {props['deliveries']} "
            f"deliveries ({props['duplicate_share']:.1%} of the events delivered twice)",
            f"  types ({len(props['types'])}): {types}, ...",
            f"  payments: {props['payment_events']} events of payment attempts, "
            f"{props['payment_same_second_share']:.1%} share their second with another event "
            "of the same payment",
            f"  displacement (places from creation order): p50 {d['p50']}, p90 {d['p90']}, "
            f"p99 {d['p99']}, max {d['max']}; {d['moved_share']:.1%} of the deliveries moved",
            f"  body bytes (pretty-printed, 2-space indent): p50 {b['p50']}, p95 {b['p95']}, "
            f"min {b['min']}, max {b['max']}",
            f"  objects by account: {props['accounts']}",
        ]
    )


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def stream_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.saas stream", description="the stream's properties"
    )
    p.add_argument("--customers", type=int, default=3000)
    p.add_argument("--months", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--events", type=int, default=0, help="a sub-stream of about this many (0: all)")
    p.add_argument("--duplicates", type=float, default=0.05)
    p.add_argument("--displacement", type=int, default=20)
    p.add_argument("--show", action="store_true", help="print the first body")
    a = p.parse_args(argv)
    saas = build_saas(a.customers, a.months, a.seed)
    stream = substream(
        saas, a.events, seed=a.seed, duplicates=a.duplicates, displacement=a.displacement
    )
    print(describe(properties(stream, a.customers, a.months)))
    if a.show:
        print(stream.bodies[stream.order[0]].decode())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["stream"]:
        return stream_main(args[1:])
    if args[:1] == ["run"]:
        from . import saas_run

        return saas_run.main(args[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
