"""The set-based planner: send rows and their due times (the SQL matches ``rules.due_epoch``),
now / later / never with reasons, audiences (segment, tags, groups, group purpose), scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.compliance.service import ComplianceBlocked
from siyu.db import Database
from siyu.kit.time import travel_to
from siyu.models import (
    AccountStatus,
    AuditEvent,
    Contact,
    ContactState,
    GroupPurpose,
    OperatorAccount,
    Role,
)
from siyu.models.outreach import Broadcast, BroadcastBatch, BroadcastSend, OutreachQuota
from siyu.outreach import rules, service
from siyu.outreach.schemas import AudienceIn, BroadcastIn
from siyu.segments import tags
from tests.outreach.conftest import (
    TUESDAY_10,
    add_account,
    add_contacts,
    add_group,
    broadcast_in,
    make_segment,
    sends,
)


def count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestDueTimes:
    def test_sql_due_times_equal_the_rule(self, database: Database, fleet: Any) -> None:
        made = fleet(3, 40)
        with travel_to(TUESDAY_10), database.sessions() as session:
            session.execute(
                update(OperatorAccount)
                .where(OperatorAccount.id == made.account_ids[1])
                .values(working_from_minute=1200, working_until_minute=600)
            )
            segment = make_segment(session, None, made.account_ids)
            broadcast = service.create_broadcast(
                session,
                None,
                broadcast_in(segment, messages_per_minute=7, jitter_seconds=45, seed=9),
            )
            batches = {b.account_id: b for b in session.scalars(select(BroadcastBatch)).all()}
            rows = sends(session, broadcast.id)
            assert len(rows) == 120
            for row in rows:
                batch = batches[row.account_id]
                pieces = tuple(
                    (start, end)
                    for start, end in zip(
                        (batch.p0_start, batch.p1_start, batch.p2_start, batch.p3_start),
                        _ends(batch),
                        strict=True,
                    )
                    if end > start
                )
                plan = rules.AccountPlan(
                    row.account_id,
                    batch.day0_epoch,
                    pieces,
                    batch.offset0_ms,
                    batch.interval_ms,
                    batch.now_slots,
                    batch.later_reason,
                )
                assert row.contact_id is not None
                expected = rules.due_epoch(plan, row.slot, 9, row.contact_id, 45)
                assert int(row.due_at.timestamp()) == expected
                quiet = rules.is_quiet(row.due_at, 22 * 60, 8 * 60)
                assert not quiet
            # Slots are 0.. per account in contact order.
            for account_id in made.account_ids:
                mine = [row for row in rows if row.account_id == account_id]
                assert [row.slot for row in mine] == list(range(40))
                assert [row.contact_id for row in mine] == sorted(r.contact_id or 0 for r in mine)


def _ends(batch: BroadcastBatch) -> list[int]:
    """Piece end seconds from the cumulative ms columns."""
    starts = [batch.p0_start, batch.p1_start, batch.p2_start, batch.p3_start]
    cumulative = [batch.c1_ms, batch.c2_ms, batch.c3_ms, batch.daily_ms]
    ends: list[int] = []
    previous = 0
    for start, total in zip(starts, cumulative, strict=True):
        ends.append(start + (total - previous) // 1000)
        previous = total
    return ends


class TestPlanCounts:
    def test_now_later_never_with_reasons(self, database: Database, fleet: Any) -> None:
        made = fleet(2, 10)
        with travel_to(TUESDAY_10), database.sessions() as session:
            contacts = made.contact_ids
            session.execute(
                update(Contact).where(Contact.id == contacts[0]).values(marketing_opt_out=True)
            )
            session.execute(
                update(Contact).where(Contact.id == contacts[1]).values(state=ContactState.REMOVED)
            )
            session.add(
                OutreachQuota(
                    subject_kind="consumer",
                    subject_id=made.consumer_ids[2],
                    month_on=datetime(2026, 12, 1, tzinfo=UTC).date(),
                    month_count=31,
                    day_count=0,
                    week_count=0,
                )
            )
            off = add_account(session, "夜班号", working_from_minute=1380, working_until_minute=420)
            add_contacts(session, off, 2)
            resting = add_account(session, "休息号")
            session.execute(
                update(OperatorAccount)
                .where(OperatorAccount.id == resting)
                .values(status=AccountStatus.RESTING)
            )
            add_contacts(session, resting, 1)
            # The same person on both accounts: sent once.
            add_contacts(session, made.account_ids[1], 0)
            twin = add_account(session, "第二个号")
            add_contacts(session, twin, 1, consumers=[made.consumer_ids[5]])
            segment = make_segment(session, None, [*made.account_ids, off, resting, twin])
            broadcast = service.create_broadcast(
                session, None, broadcast_in(segment, messages_per_minute=1, jitter_seconds=0)
            )
            plan = broadcast.plan
            assert plan["audience"] == 24
            assert plan["never_reasons"] == {
                "account_unavailable": 1,
                "duplicate_person": 1,
                "no_send_window": 2,
                "not_friend": 1,
                "opted_out": 1,
                "quota_month": 1,
            }
            assert plan["never"] == 7
            # 17 planned at 1 a minute from 10:00: all inside today's window.
            assert (plan["now"], plan["later"]) == (17, 0)
            # Every audience row is written; the ones left out say why.
            rows = sends(session, broadcast.id)
            assert len(rows) == 24
            assert sum(1 for row in rows if row.status.value == "queued") == 17
            skipped = sorted(row.reason for row in rows if row.status.value == "skipped")
            assert skipped == sorted(
                [
                    "account_unavailable",
                    "duplicate_person",
                    "no_send_window",
                    "no_send_window",
                    "not_friend",
                    "opted_out",
                    "quota_month",
                ]
            )

    def test_an_account_without_a_send_window_first(self, database: Database) -> None:
        with travel_to(TUESDAY_10), database.sessions() as session:
            night = add_account(
                session, "夜班号", working_from_minute=1380, working_until_minute=420
            )
            add_contacts(session, night, 1)
            day = add_account(session, "白班号")
            add_contacts(session, day, 2)
            segment = make_segment(session, None, [night, day])
            broadcast = service.create_broadcast(session, None, broadcast_in(segment))
            assert broadcast.plan["never_reasons"] == {"no_send_window": 1}
            assert (broadcast.plan["now"], broadcast.plan["accounts"]) == (2, 1)

    def test_quiet_hours_start_is_later(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 3)
        late = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
        with travel_to(late), database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            broadcast = service.create_broadcast(session, None, broadcast_in(segment))
            assert (broadcast.plan["now"], broadcast.plan["later"]) == (0, 3)
            assert broadcast.plan["later_reasons"] == {"quiet_hours": 3}
            first = min(row.due_at for row in sends(session, broadcast.id))
            assert first >= datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00 Shanghai

    def test_pacing_spills_into_tomorrow(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 5)
        evening = datetime(2026, 12, 1, 13, 57, tzinfo=UTC)  # 21:57
        with travel_to(evening), database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            broadcast = service.create_broadcast(
                session, None, broadcast_in(segment, messages_per_minute=1, jitter_seconds=0)
            )
            assert (broadcast.plan["now"], broadcast.plan["later"]) == (3, 2)
            assert broadcast.plan["later_reasons"] == {"pacing": 2}

    def test_a_future_start_is_scheduled(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 2)
        with travel_to(TUESDAY_10), database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            broadcast = service.create_broadcast(
                session, None, broadcast_in(segment, start_at=TUESDAY_10 + timedelta(hours=3))
            )
            assert broadcast.plan["later_reasons"] == {"scheduled": 2}
            assert min(r.due_at for r in sends(session, broadcast.id)) >= TUESDAY_10 + timedelta(
                hours=3
            )

    def test_task_limit_per_account(self, database: Database, fleet: Any, monkeypatch: Any) -> None:
        monkeypatch.setattr(rules, "MAX_RECIPIENTS_PER_TASK", 3)
        made = fleet(1, 5)
        with travel_to(TUESDAY_10), database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            broadcast = service.create_broadcast(session, None, broadcast_in(segment))
            assert broadcast.plan["never_reasons"] == {"task_limit": 2}
            assert [row.status.value for row in sends(session, broadcast.id)] == [
                "queued",
                "queued",
                "queued",
                "skipped",
                "skipped",
            ]


class TestAudiences:
    def test_tags(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 4)
        with travel_to(TUESDAY_10), database.sessions() as session:
            tag = tags.create_tag(session, None, name="宝妈")
            tags.tag_contacts(session, None, tag.id, made.contact_ids[:2])
            broadcast = service.create_broadcast(
                session,
                None,
                BroadcastIn(
                    name="宝妈专享",
                    text="新品到了",
                    audience=AudienceIn(kind="tags", tag_ids=[tag.id]),
                ),
            )
            assert sorted(r.contact_id or 0 for r in sends(session, broadcast.id)) == sorted(
                made.contact_ids[:2]
            )

    def test_group_purpose(self, database: Database, fleet: Any) -> None:
        made = fleet(2, 0)
        with travel_to(TUESDAY_10), database.sessions() as session:
            first = add_group(
                session, made.account_ids[0], "内购优惠券群1", purpose=GroupPurpose.COUPON
            )
            second = add_group(
                session, made.account_ids[1], "内购优惠券群2", purpose=GroupPurpose.COUPON
            )
            add_group(session, made.account_ids[1], "VIP群", purpose=GroupPurpose.VIP)
            broadcast = service.create_broadcast(
                session,
                None,
                BroadcastIn(
                    name="券",
                    text="今晚8点领券",
                    audience=AudienceIn(kind="group_purpose", purpose="coupon"),
                ),
            )
            rows = sends(session, broadcast.id)
            assert sorted(row.group_id or 0 for row in rows) == [first, second]
            assert all(row.contact_id is None for row in rows)

    def test_unknown_groups_are_refused_and_nothing_written(self, database: Database) -> None:
        with database.sessions() as session:
            with pytest.raises(service.BroadcastAudienceInvalid):
                service.create_broadcast(
                    session,
                    None,
                    BroadcastIn(
                        name="x", text="hi", audience=AudienceIn(kind="groups", group_ids=[99])
                    ),
                )
            assert count(session, Broadcast) == 0


class TestChecks:
    def test_blocking_copy_is_refused_and_nothing_written(
        self, database: Database, fleet: Any
    ) -> None:
        made = fleet(1, 2)
        with database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            session.commit()
            with pytest.raises(ComplianceBlocked):
                service.create_broadcast(
                    session, None, broadcast_in(segment, text="转发到3个群后领取")
                )
            session.rollback()
            assert count(session, BroadcastSend) == 0

    def test_admin_override_is_audited(
        self, database: Database, fleet: Any, make_user: Any
    ) -> None:
        admin = make_user(Role.ADMIN, "boss")
        made = fleet(1, 1)
        with travel_to(TUESDAY_10), database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            broadcast = service.create_broadcast(
                session,
                admin,
                broadcast_in(segment, text="全网最低价", override_reason="品牌方提供价格证明"),
            )
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "compliance.overridden")
            ).all()
            assert [(e.object_type, e.object_id) for e in events] == [("broadcast", broadcast.id)]

    def test_card_needs_a_link(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 1)
        with database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            with pytest.raises(service.BroadcastContentInvalid):
                service.create_broadcast(
                    session, None, broadcast_in(segment, content_kind="product")
                )


class TestScope:
    def test_a_promoter_plans_only_their_own(self, database: Database, make_promoter: Any) -> None:
        alice = make_promoter("王小明", 1)
        bob = make_promoter("李四", 2)
        with travel_to(TUESDAY_10), database.sessions() as session:
            mine = add_account(session, "小明的号", owner=alice.id)
            add_contacts(session, mine, 3, owner=alice.id)
            theirs = add_account(session, "李四的号", owner=bob.id)
            add_contacts(session, theirs, 2, owner=bob.id)
            platform = add_account(session, "平台号")
            add_contacts(session, platform, 4)
            segment = make_segment(session, alice.principal, [mine])
            broadcast = service.create_broadcast(session, alice.principal, broadcast_in(segment))
            assert broadcast.owner_promoter_id == alice.id
            assert {row.account_id for row in sends(session, broadcast.id)} == {mine}
            with pytest.raises(service.BroadcastNotFound):
                service.get_broadcast(session, bob.principal, broadcast.id)
            with pytest.raises(service.BroadcastNotFound):
                service.results(session, bob.principal, broadcast.id)
