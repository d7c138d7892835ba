"""Property test over random schedules of broadcasts, worker runs (one or two workers at once),
cancellations, retries and opt-outs, on SQLite and PostgreSQL: no send beyond a quota, none in
quiet hours, none after an opt-out, none faster than the account's pace, and every planned send
executed at most once."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from siyu.config import configure
from siyu.db import Database
from siyu.kit.time import travel_to
from siyu.models import ChannelMessage, Contact, OperatorAccount
from siyu.models.outreach import Broadcast, BroadcastSend, SendStatus
from siyu.outreach import rules, service, tasks
from tests.outreach.conftest import add_account, add_contacts, broadcast_in, make_segment

BASE = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 Shanghai

operation = st.one_of(
    st.tuples(
        st.just("broadcast"),
        st.integers(1, 60),  # messages per minute
        st.integers(0, 30),  # jitter
        st.integers(0, 3 * 3600),  # start offset
    ),
    st.tuples(st.just("run"), st.integers(1, 4 * 3600), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
    st.tuples(st.just("retry"), st.integers(0, 5)),
    st.tuples(st.just("opt_out"), st.integers(0, 7)),
    st.tuples(st.just("break_account"), st.booleans()),
)


@dataclass
class World:
    account_ids: list[int]
    contact_ids: list[int]
    segment_id: int
    now: datetime
    broadcasts: list[int] = field(default_factory=list)
    opted_out_at: dict[int, datetime] = field(default_factory=dict)


def _run_workers(two: bool) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            tasks.drain_queue(limit=10_000)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(2 if two else 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []


def _apply(database: Database, world: World, step: tuple[Any, ...]) -> None:
    kind = step[0]
    with travel_to(world.now):
        if kind == "broadcast":
            _, per_minute, jitter, offset = step
            with database.sessions() as session:
                broadcast = service.create_broadcast(
                    session,
                    None,
                    broadcast_in(
                        world.segment_id,
                        messages_per_minute=per_minute,
                        jitter_seconds=jitter,
                        seed=len(world.broadcasts),
                        start_at=world.now + timedelta(seconds=offset),
                    ),
                )
                if broadcast.plan["now"] + broadcast.plan["later"]:
                    service.start(session, None, broadcast.id)
                session.commit()
                world.broadcasts.append(broadcast.id)
        elif kind == "run":
            _, seconds, two = step
            # A worker every few minutes over the period (a late one catches up).
            elapsed = 0
            while elapsed < seconds:
                with travel_to(world.now + timedelta(seconds=elapsed)):
                    _run_workers(two)
                elapsed += 97
            world.now += timedelta(seconds=seconds)
        elif kind in ("cancel", "retry") and world.broadcasts:
            broadcast_id = world.broadcasts[step[1] % len(world.broadcasts)]
            with database.sessions() as session:
                try:
                    if kind == "cancel":
                        service.cancel(session, None, broadcast_id)
                    else:
                        service.retry_failed(session, None, broadcast_id)
                    session.commit()
                except (service.BroadcastNotCancellable, service.BroadcastNotRetryable):
                    session.rollback()
        elif kind == "opt_out":
            contact_id = world.contact_ids[step[1] % len(world.contact_ids)]
            with database.sessions() as session:
                session.execute(
                    update(Contact).where(Contact.id == contact_id).values(marketing_opt_out=True)
                )
                session.commit()
            world.opted_out_at.setdefault(contact_id, world.now)
        elif kind == "break_account":
            # The first account switches to an unconfigured channel (sends fail) or back.
            with database.sessions() as session:
                session.execute(
                    update(OperatorAccount)
                    .where(OperatorAccount.id == world.account_ids[0])
                    .values(channel_backend="wecom" if step[1] else "simulator")
                )
                session.commit()


def _check(database: Database, world: World, policy: rules.QuotaPolicy) -> None:
    with database.sessions() as session:
        rows = session.scalars(
            select(BroadcastSend).where(BroadcastSend.broadcast_id.in_(world.broadcasts or [0]))
        ).all()
        sent = [row for row in rows if row.status == SendStatus.SENT]
        messages = session.scalars(
            select(ChannelMessage).where(
                ChannelMessage.account_id.in_(world.account_ids), ChannelMessage.direction == "out"
            )
        ).all()
        # Executed at most once: one message per sent row, none for any other row.
        assert len(messages) == len(sent)
        assert sorted(row.message_id or 0 for row in sent) == sorted(m.id for m in messages)
        per_day: Counter[tuple[int, Any]] = Counter()
        per_week: Counter[tuple[int, Any]] = Counter()
        per_month: Counter[tuple[int, Any]] = Counter()
        per_member_day: Counter[tuple[int, Any]] = Counter()
        for row in sent:
            assert row.sent_at is not None
            assert not rules.is_quiet(row.sent_at, 22 * 60, 8 * 60), row.sent_at
            assert row.contact_id is not None
            assert row.consumer_id is not None
            opted = world.opted_out_at.get(row.contact_id)
            assert opted is None or row.sent_at < opted
            window = rules.windows(row.sent_at)
            per_day[(row.consumer_id, window.day)] += 1
            per_week[(row.consumer_id, window.week)] += 1
            per_month[(row.consumer_id, window.month)] += 1
            per_member_day[(row.contact_id, window.day)] += 1
        day_cap, week_cap, _ = rules.caps(policy, rules.windows(BASE))
        assert all(value <= day_cap for value in per_day.values())
        assert all(value <= week_cap for value in per_week.values())
        for (_consumer, month), value in per_month.items():
            cap = policy.month_cap(month)
            assert cap is None or value <= cap
        assert all(value <= policy.member_per_day for value in per_member_day.values())
        # Pace: one account never sends again before the interval of its previous send.
        pace = {b.id: b.messages_per_minute for b in session.scalars(select(Broadcast)).all()}
        for account_id in world.account_ids:
            mine = sorted(
                (row for row in sent if row.account_id == account_id),
                key=lambda row: row.sent_at or BASE,
            )
            for before, after in itertools.pairwise(mine):
                assert before.sent_at is not None
                assert after.sent_at is not None
                gap = after.sent_at - before.sent_at
                interval = timedelta(milliseconds=rules.interval_ms(pace[before.broadcast_id]))
                assert gap >= interval - timedelta(milliseconds=1)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    preset=st.sampled_from(rules.QUOTA_PRESETS),
    member_per_day=st.integers(1, 2),
    start_hour=st.integers(0, 23),
    steps=st.lists(operation, min_size=2, max_size=12),
)
def test_random_schedules_keep_every_rule(
    database: Database,
    settings: Any,
    preset: str,
    member_per_day: int,
    start_hour: int,
    steps: list[tuple[Any, ...]],
) -> None:
    configure(
        settings.model_copy(
            update={"broadcast_quota_preset": preset, "broadcast_member_per_day": member_per_day}
        )
    )
    policy = rules.preset(preset, member_per_day)
    now = BASE + timedelta(hours=start_hour)
    with travel_to(now), database.sessions() as session:
        first = add_account(session, "福利官A")
        second = add_account(session, "福利官B", working_from_minute=600, working_until_minute=1200)
        contacts, people = add_contacts(session, first, 4)
        # Two of the people are friends of both accounts (one person, two contacts).
        shared, _ = add_contacts(session, second, 2, consumers=people[:2])
        others, _ = add_contacts(session, second, 2)
        segment_id = make_segment(session, None, [first, second])
        session.commit()
    world = World([first, second], contacts + shared + others, segment_id, now)
    for step in [("broadcast", 30, 5, 0), *steps, ("run", 6 * 3600, True)]:
        _apply(database, world, step)
    _check(database, world, policy)
