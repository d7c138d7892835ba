"""Filtering rules (拉黑删除): silent contacts are released; assisted accounts get a task; every
release is logged; the pool frees the seat exactly once when the removal is reported."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.principal import Principal
from siyu.jobs import JobQueue
from siyu.kit.time import travel_to
from siyu.models import (
    AssistedTask,
    AssistedTaskKind,
    AssistedTaskStatus,
    AuditEvent,
    ChannelEvent,
    Contact,
    ContactState,
    OperatorAccount,
    Role,
)
from siyu.models.segments import ContactRelease, ReleaseMode, ReleaseStatus
from siyu.pool import events, inbox
from siyu.segments import releases
from tests.segments.conftest import NOW, PoolBuilder

START = NOW - timedelta(hours=30)
SILENT_RULE = {"conditions": [{"kind": "reply", "since": START.isoformat(), "within_hours": 24}]}


@pytest.fixture
def setup(pool: PoolBuilder, queue: JobQueue) -> dict[str, Any]:
    with travel_to(NOW):
        assisted = pool.account("活动号", friends_used=3)
        simulated = pool.account("模拟号", friends_used=2, channel_backend="simulator")
        silent_a = pool.contact(assisted, added_at=START - timedelta(hours=1))
        talker = pool.contact(assisted, added_at=START - timedelta(hours=1))
        pool.message(talker, START + timedelta(hours=2))
        pending = pool.contact(assisted, state=ContactState.PENDING)
        silent_s = pool.contact(simulated, added_at=START)
        late = pool.contact(simulated)
        pool.message(late, START + timedelta(hours=25))  # replied, but after the window
        pool.session.commit()
    return {
        "session": pool.session,
        "assisted": assisted.id,
        "simulated": simulated.id,
        "silent_a": silent_a.id,
        "talker": talker.id,
        "pending": pending.id,
        "silent_s": silent_s.id,
        "late": late.id,
    }


OPS = Principal(0, "system-ops", "运营", Role.OPERATOR)


def friends_used(session: Any, account_id: int) -> int:
    session.expire_all()
    account = session.get(OperatorAccount, account_id)
    assert account is not None
    return account.friends_used


class TestRun:
    def test_silent_contacts_are_released_by_mode(self, setup: dict[str, Any]) -> None:
        session = setup["session"]
        rule = releases.create_rule(session, OPS, "活动后 24 小时未回复", SILENT_RULE)
        run = releases.run_rule(session, OPS, rule.id)
        # silent_a (assisted), silent_s and late (simulator); talker replied, pending holds no
        # confirmed friendship.
        assert (run.matched, run.requested, run.assisted, run.automated) == (3, 3, 1, 2)
        logged = session.scalars(select(ContactRelease).order_by(ContactRelease.contact_id)).all()
        assert [(row.contact_id, row.mode, row.status) for row in logged] == [
            (setup["silent_a"], ReleaseMode.ASSISTED, ReleaseStatus.PENDING),
            (setup["silent_s"], ReleaseMode.DIRECT, ReleaseStatus.PENDING),
            (setup["late"], ReleaseMode.DIRECT, ReleaseStatus.PENDING),
        ]
        task = session.scalars(select(AssistedTask)).one()
        assert (task.kind, task.contact_id, task.script_text) == (
            AssistedTaskKind.REMOVE_CONTACT,
            setup["silent_a"],
            releases.REMOVE_SCRIPT,
        )
        assert task.idempotency_key == f"release:{logged[0].id}"
        assert logged[0].assisted_task_id == task.id
        # Nothing is freed before the channel reports the removal.
        assert friends_used(session, setup["assisted"]) == 3
        assert friends_used(session, setup["simulated"]) == 2
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "release_rule.run")
        ).one()
        assert audit.detail == {"requested": 3, "assisted": 1, "automated": 2}

    def test_a_second_run_releases_nobody_twice(self, setup: dict[str, Any]) -> None:
        session = setup["session"]
        rule = releases.create_rule(session, OPS, "未回复", SILENT_RULE)
        releases.run_rule(session, OPS, rule.id)
        again = releases.run_rule(session, OPS, rule.id)
        assert (again.matched, again.requested) == (0, 0)
        assert session.scalar(select(func.count()).select_from(ContactRelease)) == 3
        assert session.scalar(select(func.count()).select_from(AssistedTask)) == 1

    def test_max_per_run_takes_the_lowest_ids(self, setup: dict[str, Any]) -> None:
        session = setup["session"]
        rule = releases.create_rule(session, OPS, "未回复", SILENT_RULE, max_per_run=1)
        run = releases.run_rule(session, OPS, rule.id)
        assert run.requested == 1
        released = session.scalars(select(ContactRelease.contact_id)).all()
        assert released == [setup["silent_a"]]

    def test_inactive_rule_does_nothing(self, setup: dict[str, Any]) -> None:
        session = setup["session"]
        rule = releases.create_rule(session, OPS, "未回复", SILENT_RULE)
        rule.is_active = False
        assert releases.run_rule(session, OPS, rule.id).requested == 0
        assert session.scalar(select(func.count()).select_from(ContactRelease)) == 0


class TestSeatIsFreedOnce:
    def test_simulator_removal_frees_the_seat_and_closes_the_release(
        self, setup: dict[str, Any]
    ) -> None:
        session = setup["session"]
        rule = releases.create_rule(session, OPS, "未回复", SILENT_RULE)
        releases.run_rule(session, OPS, rule.id)
        for event in session.scalars(select(ChannelEvent).order_by(ChannelEvent.id)).all():
            events.process(session, event.id)
            events.process(session, event.id)  # a replay changes nothing
        assert friends_used(session, setup["simulated"]) == 0
        contact = session.get(Contact, setup["silent_s"])
        assert contact is not None
        assert contact.state == ContactState.REMOVED
        statuses = dict(
            session.execute(select(ContactRelease.contact_id, ContactRelease.status)).all()
        )
        assert statuses[setup["silent_s"]] == ReleaseStatus.DONE
        assert statuses[setup["late"]] == ReleaseStatus.DONE
        assert statuses[setup["silent_a"]] == ReleaseStatus.PENDING

    def test_assisted_task_done_frees_the_seat(self, setup: dict[str, Any]) -> None:
        session = setup["session"]
        rule = releases.create_rule(session, OPS, "未回复", SILENT_RULE)
        releases.run_rule(session, OPS, rule.id)
        task = session.scalars(select(AssistedTask)).one()
        inbox.complete_task(session, None, task.id, AssistedTaskStatus.DONE, "已删除")
        event = session.scalars(
            select(ChannelEvent).where(ChannelEvent.external_event_id == f"task:{task.id}:removed")
        ).one()
        events.process(session, event.id)
        assert friends_used(session, setup["assisted"]) == 2
        release = session.scalars(
            select(ContactRelease).where(ContactRelease.contact_id == setup["silent_a"])
        ).one()
        assert release.status == ReleaseStatus.DONE


class TestRulesBelongToTheirOwner:
    def test_promoter_cannot_see_or_run_platform_rules(
        self, setup: dict[str, Any], pool: PoolBuilder
    ) -> None:
        session = setup["session"]
        rule = releases.create_rule(session, OPS, "未回复", SILENT_RULE)
        promoter = pool.promoter()
        actor = Principal(0, "p", "推手", Role.PROMOTER, promoter_id=promoter.id)
        with pytest.raises(releases.ReleaseRuleNotFound):
            releases.run_rule(session, actor, rule.id)
        assert releases.list_rules(session, actor) == []
        assert session.scalar(select(func.count()).select_from(ContactRelease)) == 0

    def test_promoter_rule_touches_only_their_contacts(
        self, setup: dict[str, Any], pool: PoolBuilder
    ) -> None:
        session = setup["session"]
        promoter = pool.promoter()
        own = pool.account("团长号", owner=promoter, friends_used=1)
        mine = pool.contact(own, added_at=START)
        actor = Principal(0, "p", "推手", Role.PROMOTER, promoter_id=promoter.id)
        rule = releases.create_rule(session, actor, "我的筛选", SILENT_RULE)
        assert rule.owner_promoter_id == promoter.id
        assert releases.preview(session, actor, rule.id) == 1
        run = releases.run_rule(session, actor, rule.id)
        assert run.requested == 1
        assert session.scalars(select(ContactRelease.contact_id)).all() == [mine.id]

    @pytest.mark.parametrize(
        ("name", "limit", "error"),
        [
            ("", 10, releases.ReleaseRuleNameRequired),
            ("x" * 65, 10, releases.ReleaseRuleNameRequired),
            ("ok", 0, releases.ReleaseLimitInvalid),
            ("ok", 10_001, releases.ReleaseLimitInvalid),
        ],
    )
    def test_bad_input(
        self, setup: dict[str, Any], name: str, limit: int, error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            releases.create_rule(setup["session"], OPS, name, SILENT_RULE, max_per_run=limit)
