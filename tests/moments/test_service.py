"""Moments end to end: columns, scheduling with lint, publishing on simulator and assisted
accounts exactly once, likes/comments both ways within the daily caps."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.principal import SYSTEM, Principal
from siyu.compliance.service import ComplianceBlocked
from siyu.consumers.service import ConsumerIdentity
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.jobs import JobQueue
from siyu.kit.time import travel_to
from siyu.models import (
    AssistedTask,
    AssistedTaskKind,
    AssistedTaskStatus,
    AuditEvent,
    Contact,
    ContactState,
    Role,
)
from siyu.models.moments import (
    InteractionDirection,
    InteractionKind,
    MomentColumnStatus,
    MomentInteraction,
    MomentPost,
    MomentPostStatus,
    MomentPublication,
    PublicationStatus,
)
from siyu.moments import service
from siyu.moments.schemas import ColumnIn, InteractionIn, PostIn
from siyu.pool import inbox
from siyu.pool import service as pool
from tests.pool.conftest import make_account, make_code

# Tuesday 2026-12-01 09:00 Shanghai.
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
OPERATOR = Principal(user_id=0, username="ops", display_name="运营", role=Role.OPERATOR)


def confirmed_contacts(session: Any, account_id: int, count: int, prefix: str) -> list[int]:
    code = make_code(session, rule={"account_ids": [account_id]})
    ids = []
    for index in range(count):
        result = pool.scan(session, code.code, ConsumerIdentity(union_id=f"{prefix}-{index}"))
        assert result.contact is not None
        result.contact.state = ContactState.CONFIRMED
        result.contact.last_message_at = NOW - timedelta(hours=index)
        ids.append(result.contact.id)
    session.flush()
    return ids


def setup_column(session: Any, backend: str = "simulator", contacts: int = 5, **column: Any):
    account = make_account(
        session, "活动号", channel_backend=backend, max_friends=1000, passive_adds_per_day=500
    )
    contact_ids = confirmed_contacts(session, account.id, contacts, f"{backend}{account.id}")
    values = {"name": "好物", "slot": "12:00", "account_ids": [account.id], **column}
    return account, contact_ids, service.create_column(session, SYSTEM, ColumnIn(**values))


def post_in(column_id: int, **values: Any) -> PostIn:
    values.setdefault("publish_on", TODAY)
    values.setdefault("text", "今日好物：拉杆箱限时特价，点击查看详情")
    return PostIn(column_id=column_id, **values)


class TestColumns:
    def test_create_and_pause(self, session: Any) -> None:
        _, _, column = setup_column(session, weekdays=[5, 1, 1])
        assert (column.slot_minute, column.weekdays) == (720, [1, 5])
        service.set_column_status(session, SYSTEM, column.id, MomentColumnStatus.PAUSED)
        assert column.status == MomentColumnStatus.PAUSED
        actions = session.scalars(select(AuditEvent.action)).all()
        assert "moments.column_created" in actions
        assert "moments.column_status" in actions

    @pytest.mark.parametrize(
        ("values", "error"),
        [
            ({"slot": "25:00"}, service.MomentColumnInvalid),
            ({"weekdays": []}, service.MomentColumnInvalid),
            ({"name": "  "}, service.MomentColumnInvalid),
            ({"account_ids": [999_999]}, service.MomentColumnNoAccounts),
            ({"account_ids": [], "persona_id": None}, service.MomentColumnNoAccounts),
            ({"account_ids": [], "persona_id": 999_999}, service.MomentColumnNoAccounts),
        ],
    )
    def test_bad_column_writes_nothing(self, session: Any, values: Any, error: Any) -> None:
        data = {"name": "问候", "slot": "08:00", "account_ids": [], "persona_id": None, **values}
        with pytest.raises(error):
            service.create_column(session, SYSTEM, ColumnIn(**data))
        assert session.scalar(select(func.count()).select_from(MomentPost)) == 0
        assert service.list_columns(session, SYSTEM) == []

    def test_promoter_refused(self, session: Any) -> None:
        promoter = Principal(user_id=9, username="p", display_name="p", role=Role.PROMOTER)
        with pytest.raises(PermissionDenied):
            service.list_columns(session, promoter)

    def test_persona_column_uses_live_accounts_of_persona(self, session: Any) -> None:
        persona = pool.create_persona(
            session, None, pool_schema_persona(name="京东福利官", nickname="京东福利官")
        )
        first = make_account(session, "甲", persona_id=persona.id)
        second = make_account(session, "乙", persona_id=persona.id)
        make_account(session, "其他")
        column = service.create_column(
            session, SYSTEM, ColumnIn(name="福利", slot="20:00", persona_id=persona.id)
        )
        assert service.column_accounts(session, column) == [first.id, second.id]


def pool_schema_persona(**values: Any) -> Any:
    from siyu.pool.schemas import PersonaCreate

    return PersonaCreate(**values)


class TestSchedule:
    def test_one_publication_per_account_at_the_slot(self, session: Any) -> None:
        account, _, column = setup_column(session)
        post = service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        assert post.publish_at == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 Shanghai
        rows = session.scalars(select(MomentPublication)).all()
        assert [(r.account_id, r.status, r.due_at) for r in rows] == [
            (account.id, PublicationStatus.PENDING, post.publish_at)
        ]

    @pytest.mark.parametrize(
        ("values", "reason"),
        [
            ({"publish_on": date(2026, 11, 30)}, "slot_passed"),
            ({"publish_on": date(2027, 3, 1)}, "too_far_ahead"),
        ],
    )
    def test_refused_days(self, session: Any, values: Any, reason: str) -> None:
        _, _, column = setup_column(session)
        with pytest.raises(service.MomentScheduleRefused) as refused:
            service.schedule_post(session, OPERATOR, post_in(column.id, **values), now=NOW)
        assert refused.value.params["reason"] == reason
        assert session.scalar(select(func.count()).select_from(MomentPublication)) == 0

    def test_not_a_column_day(self, session: Any) -> None:
        _, _, column = setup_column(session, weekdays=[1])
        with pytest.raises(service.MomentScheduleRefused, match="not_a_column_day"):
            service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)

    def test_second_post_same_day_refused(self, session: Any) -> None:
        _, _, column = setup_column(session)
        first = service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        with pytest.raises(service.MomentSlotTaken) as taken:
            service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        assert taken.value.params["post_id"] == first.id
        assert session.scalar(select(func.count()).select_from(MomentPublication)) == 1

    @pytest.mark.parametrize(
        ("values", "detail"),
        [
            ({"text": "   "}, "text is required"),
            ({"image_urls": [f"/uploads/{i}.png" for i in range(10)]}, "at most 9"),
            ({"link_url": "javascript:alert(1)"}, "not a link"),
            ({"text": "好" * 2001}, "over 2000"),
        ],
    )
    def test_bad_post(self, session: Any, values: Any, detail: str) -> None:
        _, _, column = setup_column(session)
        with pytest.raises(service.MomentPostInvalid, match=detail):
            service.schedule_post(session, OPERATOR, post_in(column.id, **values), now=NOW)
        assert session.scalar(select(func.count()).select_from(MomentPost)) == 0

    def test_blocking_lint_needs_admin_override(self, session: Any, admin: Principal) -> None:
        _, _, column = setup_column(session)
        copy = "转发本条到3个群，截图发我即可免费领取拉杆箱"
        with pytest.raises(ComplianceBlocked):
            service.schedule_post(session, OPERATOR, post_in(column.id, text=copy), now=NOW)
        assert session.scalar(select(func.count()).select_from(MomentPost)) == 0
        with pytest.raises(PermissionDenied):
            service.schedule_post(
                session,
                OPERATOR,
                post_in(column.id, text=copy, override_reason="老板同意的活动"),
                now=NOW,
            )
        post = service.schedule_post(
            session, admin, post_in(column.id, text=copy, override_reason="法务已审核通过"), now=NOW
        )
        assert post.id is not None
        overrides = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "compliance.overridden")
        ).all()
        assert len(overrides) == 1

    def test_calendar_week(self, session: Any) -> None:
        _, _, column = setup_column(session, weekdays=[2, 3, 4])
        post = service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        week = service.calendar(session, SYSTEM, date(2026, 12, 3))
        assert week.days[0] == date(2026, 11, 30)
        [(row_column, cells)] = week.rows
        assert row_column.id == column.id
        assert [cell.runs for cell in cells] == [False, True, True, True, False, False, False]
        assert [cell.post.id if cell.post else None for cell in cells] == [
            None,
            post.id,
            None,
            None,
            None,
            None,
            None,
        ]


class TestPublishSimulator:
    def test_due_publication_goes_out_once_and_reactions_arrive(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session, travel_to(NOW):
            account, contact_ids, column = setup_column(session, contacts=40)
            post = service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
            session.commit()
            post_id, account_id = post.id, account.id
        with database.sessions() as session, travel_to(NOW + timedelta(hours=3, minutes=1)):
            [publication_id] = service.due_publications(session)
            assert service.publish(session, publication_id) == "published"
            assert service.publish(session, publication_id) == "already"
            session.commit()
        queue.run_pending()  # the simulated audience's reactions, through the event inbox
        with database.sessions() as session:
            publication = session.get_one(MomentPublication, publication_id)
            assert publication.status == PublicationStatus.PUBLISHED
            assert session.get_one(MomentPost, post_id).status == MomentPostStatus.PUBLISHED
            [view] = service.publications(session, SYSTEM, post_id)
            interactions = session.scalars(select(MomentInteraction)).all()
            assert all(i.direction == InteractionDirection.IN for i in interactions)
            assert all(i.account_id == account_id for i in interactions)
            assert {i.contact_id for i in interactions} <= set(contact_ids)
            likes = sum(1 for i in interactions if i.kind == InteractionKind.LIKE)
            assert view.likes == likes
            assert view.comments == len(interactions) - likes

    def test_not_due_is_not_published(self, session: Any) -> None:
        _, _, column = setup_column(session)
        service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        assert service.due_publications(session, NOW + timedelta(hours=2)) == []

    def test_retired_account_fails_cleanly(self, session: Any) -> None:
        account, _, column = setup_column(session)
        post = service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        account.deleted_at = NOW
        [publication] = session.scalars(select(MomentPublication)).all()
        assert service.publish(session, publication.id) == "failed"
        assert publication.error == "account not available"
        assert post.status == MomentPostStatus.PUBLISHED  # nothing left open

    def test_two_workers_publish_once(self, database: Database) -> None:
        with database.sessions() as session, travel_to(NOW):
            _, _, column = setup_column(session, backend="assisted", contacts=1)
            service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
            session.commit()
            [publication_id] = session.scalars(select(MomentPublication.id)).all()
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def worker() -> None:
            with database.sessions() as session:
                barrier.wait()
                outcomes.append(service.publish(session, publication_id))
                session.commit()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["already", "queued"]
        with database.sessions() as session:
            tasks = session.scalars(
                select(AssistedTask).where(AssistedTask.kind == AssistedTaskKind.POST_MOMENT)
            ).all()
            assert len(tasks) == 1


class TestPublishAssisted:
    def test_operator_task_then_done_marks_published(self, session: Any) -> None:
        _, contact_ids, column = setup_column(session, backend="assisted")
        post = service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        [publication] = session.scalars(select(MomentPublication)).all()
        assert service.publish(session, publication.id) == "queued"
        task = session.get_one(AssistedTask, publication.task_id)
        assert task.kind == AssistedTaskKind.POST_MOMENT
        assert task.script_text == post.text
        assert post.status == MomentPostStatus.SCHEDULED
        inbox.complete_task(session, None, task.id, AssistedTaskStatus.DONE)
        assert publication.status == PublicationStatus.PUBLISHED
        assert post.status == MomentPostStatus.PUBLISHED
        # The operator records what they saw under the post.
        service.record_interaction(
            session, OPERATOR, publication.id, InteractionIn(contact_id=contact_ids[0], kind="like")
        )
        [view] = service.publications(session, SYSTEM, post.id)
        assert (view.likes, view.comments) == (1, 0)

    def test_interaction_for_foreign_contact_refused(self, session: Any) -> None:
        _, _, column = setup_column(session, backend="assisted")
        _, other_contacts, _ = setup_column(session, backend="assisted")
        service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        [publication] = session.scalars(select(MomentPublication)).all()
        with pytest.raises(service.MomentInteractionInvalid):
            service.record_interaction(
                session,
                OPERATOR,
                publication.id,
                InteractionIn(contact_id=other_contacts[0], kind="like"),
            )
        assert session.scalar(select(func.count()).select_from(MomentInteraction)) == 0

    def test_cancel_closes_open_task(self, session: Any) -> None:
        _, _, column = setup_column(session, backend="assisted")
        post = service.schedule_post(session, OPERATOR, post_in(column.id), now=NOW)
        [publication] = session.scalars(select(MomentPublication)).all()
        service.publish(session, publication.id)
        service.cancel_post(session, OPERATOR, post.id)
        publication = session.get_one(MomentPublication, publication.id)
        task = session.get_one(AssistedTask, publication.task_id)
        assert (publication.status, task.status) == (
            PublicationStatus.CANCELLED,
            AssistedTaskStatus.CANCELLED,
        )
        with pytest.raises(service.MomentPostClosed):
            service.cancel_post(session, OPERATOR, post.id)


class TestOutgoingInteractions:
    def test_simulator_within_caps_and_idempotent(self, session: Any, settings: Any) -> None:
        settings.moment_likes_per_day = 5
        settings.moment_comments_per_day = 2
        account, _, _ = setup_column(session, contacts=12)
        with travel_to(NOW):
            plan = service.plan_interactions(session, account.id)
            again = service.plan_interactions(session, account.id)
        assert (plan.likes, plan.comments) == (5, 2)
        assert (again.likes, again.comments) == (0, 0)
        rows = session.scalars(select(MomentInteraction)).all()
        assert all(r.direction == InteractionDirection.OUT for r in rows)
        assert sum(1 for r in rows if r.kind == InteractionKind.LIKE) == 5
        assert sum(1 for r in rows if r.kind == InteractionKind.COMMENT) == 2
        # Next day the same contacts rest (3 days), others get their turn.
        with travel_to(NOW + timedelta(days=1)):
            service.plan_interactions(session, account.id)
        liked = [
            r.contact_id
            for r in session.scalars(select(MomentInteraction)).all()
            if r.kind == InteractionKind.LIKE
        ]
        assert len(liked) == 10
        assert len(set(liked)) == 10

    def test_assisted_makes_tasks_recorded_when_done(self, session: Any, settings: Any) -> None:
        settings.moment_likes_per_day = 3
        settings.moment_comments_per_day = 1
        account, _, _ = setup_column(session, backend="assisted", contacts=6)
        with travel_to(NOW):
            plan = service.plan_interactions(session, account.id)
            service.plan_interactions(session, account.id)  # same day: same tasks, no more
        assert (plan.likes, plan.comments) == (3, 1)
        tasks = session.scalars(
            select(AssistedTask).where(AssistedTask.kind == AssistedTaskKind.INTERACT_MOMENT)
        ).all()
        assert len(tasks) == 3
        assert session.scalar(select(func.count()).select_from(MomentInteraction)) == 0
        commented = next(task for task in tasks if task.script_text)
        inbox.complete_task(session, None, commented.id, AssistedTaskStatus.DONE)
        kinds = sorted(r.kind.value for r in session.scalars(select(MomentInteraction)).all())
        assert kinds == ["comment", "like"]

    def test_opted_out_contacts_are_left_alone(self, session: Any) -> None:
        account, contact_ids, _ = setup_column(session, contacts=3)
        for contact_id in contact_ids:
            session.get_one(Contact, contact_id).marketing_opt_out = True
        session.flush()
        with travel_to(NOW):
            plan = service.plan_interactions(session, account.id)
        assert plan.likes == 0
