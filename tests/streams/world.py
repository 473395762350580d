"""The world: objects, their snapshots and the events Stripe sends about them."""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

NEW_API = "2026-07-29.dahlia"  # invoices name subscriptions under parent; invoice_payment
OLD_API = "2024-06-20"  # invoices name subscription/payment_intent/charge; charges the invoice

START = 1_760_000_000
_MISSING: Any = object()


def previous_attributes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What Stripe puts in ``data.previous_attributes`` for a change from ``old`` to ``new``."""
    changed: dict[str, Any] = {}
    for key in (*old, *(k for k in new if k not in old)):
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            changed[key] = previous_attributes(before, after)
        else:
            changed[key] = None if before is _MISSING else copy.deepcopy(before)
    return changed


_NULL = "null"


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, JSON value) of every leaf; an array is one leaf. An absent key is null."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, str]:
    """The leaves that differ, with their new values."""
    before, after = dict(_leaves(old)), dict(_leaves(new))
    paths = before.keys() | after.keys()
    return {p: after.get(p, _NULL) for p in paths if before.get(p, _NULL) != after.get(p, _NULL)}


@dataclass(frozen=True, slots=True)
class Key:
    """How the mirror keys an object: type, id, Connect account, mode."""

    type: str
    id: str
    account: str
    livemode: bool


@dataclass(slots=True)
class Life:
    """One object: its current state and what the mirror should end with."""

    key: Key
    api_version: str
    state: dict[str, Any]
    deleted: bool = False
    #: The second of its latest event, every (path, value) it held in that second, and
    #: whether it changed in that second other than by being created.
    second: int = -1
    seen: dict[str, set[str]] = field(default_factory=dict)
    moved: bool = False
    #: Ids of the events that carry the final state in the final second.
    final_events: set[str] = field(default_factory=set)
    #: Link columns the object does not render, with the value Stripe's links give them.
    links: dict[str, str | None] = field(default_factory=dict)
    #: True for embedded children (subscription items, invoice lines): no events of their own.
    embedded: bool = False

    @property
    def final(self) -> dict[str, Any]:
        return self.state


@dataclass(slots=True)
class Clock:
    """The time line of one scenario: bursts within a second, then steps."""

    now: int
    rng: random.Random
    burst: float

    def step(self, *, big: bool = False) -> int:
        if big:
            self.now += self.rng.randint(30, 3000)
        elif self.rng.random() >= self.burst:
            self.now += self.rng.choice((1, 1, 2, 3, 5, 40))
        return self.now

    def tick(self) -> int:
        self.now += 1
        return self.now


class World:
    """Objects and the events Stripe sent about them."""

    def __init__(self, seed: int, *, strict: bool = True, burst: float = 0.6) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.strict = strict
        self.burst = burst
        self.events: list[dict[str, Any]] = []
        self.lives: dict[Key, Life] = {}
        #: Objects whose final second had an unorderable change (strict=False only).
        self.ticks_forced = 0

    # --- ids and clocks ----------------------------------------------------------------

    def new_id(self, prefix: str, length: int = 14) -> str:
        alphabet = string.ascii_letters + string.digits
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(length))

    def clock(self, spread: int = 40) -> Clock:
        return Clock(START + self.rng.randint(0, spread), self.rng, self.burst)

    # --- emitting events -----------------------------------------------------------------

    def create(
        self,
        clock: Clock,
        event_type: str,
        obj: dict[str, Any],
        *,
        account: str,
        livemode: bool,
        api_version: str,
        aliases: tuple[str, ...] = (),
    ) -> Life:
        key = Key(obj["object"], obj["id"], account, livemode)
        life = Life(key, api_version, {})
        self.lives[key] = life
        self.change(clock, life, event_type, obj, advance=True, aliases=aliases)
        return life

    def change(
        self,
        clock: Clock,
        life: Life,
        event_type: str,
        new_state: dict[str, Any],
        *,
        advance: bool = False,
        aliases: tuple[str, ...] = (),
    ) -> None:
        """Move ``life`` to ``new_state``, told by ``event_type`` and its ``aliases`` (other
        event types Stripe sends for the same change, with the same snapshot).

        ``advance``: the change moves the object forward in its life cycle for good."""
        types = (event_type, *aliases)
        has_previous = any(t.endswith(".updated") for t in types)
        if new_state == life.state and types == (event_type,) and has_previous:
            return  # nothing changed: Stripe sends no update
        now = clock.now
        if (
            self.strict
            and life.second == now
            and not self._orderable(life, new_state, advance=advance, has_previous=has_previous)
        ):
            now = clock.tick()
            self.ticks_forced += 1
        previous = previous_attributes(life.state, new_state)
        if now != life.second:
            life.second = now
            life.seen = {path: {value} for path, value in _leaves(life.state)}
            life.final_events = set()
            life.moved = False
        for path, value in _changes(life.state, new_state).items():
            life.seen.setdefault(path, {_NULL}).add(value)
        if new_state != life.state:
            life.moved = life.moved or bool(life.state)
            life.final_events = set()
        life.state = copy.deepcopy(new_state)
        for name in types:
            event = self._event(life, name, now, previous if name.endswith(".updated") else None)
            life.final_events.add(event["id"])
            self.events.append(event)

    def delete(self, clock: Clock, life: Life, event_type: str) -> None:
        """A deletion of a deletable object: the mirror must keep a tombstone."""
        self.change(clock, life, event_type, life.state, advance=True)
        life.deleted = True

    def _orderable(
        self, life: Life, new_state: dict[str, Any], *, advance: bool, has_previous: bool
    ) -> bool:
        if new_state == life.state or advance:
            return True
        if not has_previous:
            return not life.moved  # only its creation (which comes first) in this second
        changes = _changes(life.state, new_state)
        return not any(value in life.seen.get(path, {_NULL}) for path, value in changes.items())

    def _event(
        self, life: Life, event_type: str, created: int, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": copy.deepcopy(life.state)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event: dict[str, Any] = {
            "id": self.new_id("evt_", 24),
            "object": "event",
            "api_version": life.api_version,
            "created": created,
            "data": data,
            "livemode": life.key.livemode,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        if life.key.account:
            event["account"] = life.key.account
        return event

    # --- what the mirror should hold ------------------------------------------------------

    def objects(self) -> list[Life]:
        return list(self.lives.values())

    def embed(self, parent: Life, child: dict[str, Any], *, api_version: str | None = None) -> Life:
        """Track a child embedded in ``parent``'s snapshots (its state is set by the parent)."""
        key = Key(child["object"], child["id"], parent.key.account, parent.key.livemode)
        life = self.lives.get(key)
        if life is None:
            life = Life(key, api_version or parent.api_version, child, embedded=True)
            self.lives[key] = life
        life.state = copy.deepcopy(child)
        return life

    def delivery(self, *, duplicates: float = 0.3, rng: random.Random | None = None) -> list[bytes]:
        """Every event (some two or three times), encoded, in a random order."""
        rng = rng or random.Random(self.seed + 1)
        bodies = []
        for event in self.events:
            copies = 1 + (rng.random() < duplicates) + (rng.random() < duplicates / 3)
            bodies.extend([orjson.dumps(event)] * copies)
        rng.shuffle(bodies)
        return bodies


# --- snapshots --------------------------------------------------------------------------


def listing(url: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": copy.deepcopy(data),
        "has_more": False,
        "total_count": len(data),
        "url": url,
    }


@dataclass(slots=True)
class Scope:
    """Where a scenario happens: Connect account, mode and the API version of its events."""

    world: World
    account: str
    livemode: bool
    api_version: str

    @property
    def old(self) -> bool:
        return self.api_version == OLD_API

    @property
    def rng(self) -> random.Random:
        return self.world.rng

    def create(
        self, clock: Clock, event_type: str, obj: dict[str, Any], aliases: tuple[str, ...] = ()
    ) -> Life:
        obj.setdefault("livemode", self.livemode)
        return self.world.create(
            clock,
            event_type,
            obj,
            account=self.account,
            livemode=self.livemode,
            api_version=self.api_version,
            aliases=aliases,
        )


def edit(life: Life, **changes: Any) -> dict[str, Any]:
    """A copy of the object's state with ``changes`` (dotted keys via ``__``)."""
    state = copy.deepcopy(life.state)
    for name, value in changes.items():
        target = state
        *parents, last = name.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return state


def metadata_change(rng: random.Random, metadata: dict[str, str]) -> dict[str, str]:
    changed = dict(metadata)
    roll = rng.random()
    if changed and roll < 0.3:
        del changed[rng.choice(sorted(changed))]
    else:
        changed[rng.choice(("plan", "team", "ref", "tier"))] = rng.choice(("a", "b", "c", "d"))
    return changed
