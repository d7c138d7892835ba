"""The market simulation: the synthetic market (``siyu.market.generator``) living on siyu.

A simulation walks a simulated clock day by day (``kit.time.travel_to``; two weeks pass in
seconds) and, each day, lets its *actors* act: every actor draws what the market's people do
that day from their propensities and the social graph (NumPy, vectorised), then carries the
draws out through siyu's **public services and the simulator channel** — the same code paths
as production (``pool.scan``, the simulator's ``reply``, ``links``, ``orders``, ``campaigns``
…), never writing tables directly. Each simulated day is one unit of work (committed at the end
of the day), so a long run keeps memory flat and a crash loses at most the day in progress.

Contract (shared by every actor; see docs/market.md):

- ``World`` is what all actors share: the market, who runs it (``admin``), the clock
  (``start`` = 00:00 Asia/Shanghai of day 0, as aware UTC; day ``d`` covers
  ``[start + d days, start + d + 1 days)``) and ``people``, the map between a market person (an
  index into the market's arrays) and the siyu rows that person has become.
- ``DayActor`` is one behaviour of the market (acquisition through channel codes, promoters
  sharing links, buying, a fission campaign, opting out …). ``begin`` runs once, inside day 0's
  unit of work, before any ``day``; ``day`` runs once per simulated day inside that day's unit
  of work, with the clock already at 09:00 Shanghai of that day (an actor may ``travel_to``
  other hours of the same day, never another day). Actors never commit. An actor's randomness
  comes only from the ``rng`` it is given (a child of the simulation seed per actor and day),
  so a run is deterministic for a seed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.consumers.service import ConsumerIdentity
from siyu.market.generator import Market

# Simulated phones: 19 + nine digits of the market index (valid mainland mobiles, never clash
# with the scripted demo's 13x numbers).
PHONE_PREFIX = "19"


def phone_of(index: int) -> str:
    return f"{PHONE_PREFIX}{index:09d}"


def index_of_phone(phone: str) -> int | None:
    if len(phone) == 11 and phone.startswith(PHONE_PREFIX) and phone.isdigit():
        return int(phone[2:])
    return None


@dataclass
class People:
    """Market person (index) ↔ the siyu rows they became. Filled by the actors as people
    appear (a consumer row the first time they scan or buy, a contact when an add is
    confirmed); read by every actor (e.g. only people with a contact can be messaged)."""

    consumer_id: dict[int, int] = field(default_factory=dict)
    contact_id: dict[int, int] = field(default_factory=dict)  # latest confirmed contact
    index_of_consumer: dict[int, int] = field(default_factory=dict)

    def identity(self, index: int, nickname: str = "") -> ConsumerIdentity:
        return ConsumerIdentity(phone=phone_of(index), nickname=nickname or f"用户{index:06d}")

    def note_consumer(self, index: int, consumer_id: int) -> None:
        self.consumer_id[index] = consumer_id
        self.index_of_consumer[consumer_id] = index

    def note_contact(self, index: int, consumer_id: int, contact_id: int) -> None:
        self.note_consumer(index, consumer_id)
        self.contact_id[index] = contact_id

    def forget_contact(self, index: int) -> None:
        self.contact_id.pop(index, None)


@dataclass
class World:
    market: Market
    admin: Principal
    seed: int
    start: datetime  # 00:00 Asia/Shanghai of day 0, aware UTC
    days: int
    people: People = field(default_factory=People)
    # What happened, for the summary and bench/demo.py: e.g. stats["scans"] += 1.
    stats: Counter[str] = field(default_factory=Counter)

    def day_start(self, day: int) -> datetime:
        return self.start + timedelta(days=day)


class DayActor(Protocol):
    name: str

    def begin(self, session: Session, world: World) -> None: ...

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None: ...


# progress(day_done, days, actor_or_phase_label)
Progress = Callable[[int, int, str], None]


def actor_rng(seed: int, actor_position: int, day: int) -> np.random.Generator:
    """The actor's generator for one day: independent streams, the same for the same seed."""
    return np.random.default_rng([seed, actor_position, day])


def simulate(
    world: World,
    actors: Sequence[DayActor],
    progress: Progress | None = None,
) -> World:
    """Run ``world.days`` simulated days: one unit of work per day, each actor in order, the
    clock at 09:00 Shanghai of the day. Returns the world (``people`` and ``stats`` filled)."""
    from siyu.db import unit_of_work
    from siyu.kit.time import travel_to

    for day in range(world.days):
        with travel_to(world.day_start(day) + timedelta(hours=9)), unit_of_work() as session:
            if day == 0:
                for actor in actors:
                    actor.begin(session, world)
            for position, actor in enumerate(actors):
                actor.day(session, world, day, actor_rng(world.seed, position, day))
                if progress is not None:
                    progress(day, world.days, actor.name)
        if progress is not None:
            progress(day + 1, world.days, "")
    return world


__all__ = [
    "DayActor",
    "People",
    "Progress",
    "World",
    "actor_rng",
    "index_of_phone",
    "phone_of",
    "simulate",
]
