"""The generic actions (contact.tag, contact.set_stage, group.invite, handover) inside flows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from siyu.db import Database
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models import (
    AssistedTask,
    AssistedTaskKind,
    ChannelCodeStatus,
    Contact,
    ContactState,
    LifecycleStage,
)
from siyu.models.flows import ConversationStatus
from siyu.models.segments import ContactTag, Tag
from siyu.pool import groups
from siyu.pool.schemas import GroupCodeCreate
from tests.flows.conftest import conversation, make_contact, outgoing, say, turns


def one_action(session: Any, action: str, params: dict[str, Any], **step: Any) -> int:
    flow = flows.create_flow(
        session,
        None,
        action,
        [
            {"id": "act", "type": "action", "action": action, "params": params, **step},
            {"id": "after", "type": "send", "text": "链接：{链接}", "next": "end"},
            {"id": "other", "type": "send", "text": "走了分支", "next": "end"},
            {"id": "end", "type": "end"},
        ],
    )
    flows.publish_flow(session, None, flow.id)
    return flow.id


class TestGenericActions:
    def test_group_invite_sends_the_group_code_link(self, database: Database) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            group_code = groups.create_group_code(
                session,
                None,
                GroupCodeCreate(
                    account_id=contact.account_id, name="福利优惠券群", name_template="福利群{n}"
                ),
            )
            flow_id = one_action(session, "group.invite", {"group_code_id": str(group_code.id)})
            started = flows.start_conversation(session, flow_id, contact.id)
            link = f"http://127.0.0.1:8000/g/{group_code.code}"
            assert outgoing(session, contact.id) == [
                f"点击链接加入福利优惠券群：{link}",
                f"链接：{link}",
            ]
            assert started.variables["群名"] == "福利优惠券群"

    @pytest.mark.parametrize(("setup", "outcome"), [("paused", "closed"), ("missing", "not_found")])
    def test_group_invite_refusals_are_outcomes(
        self, database: Database, setup: str, outcome: str
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            group_code = groups.create_group_code(
                session,
                None,
                GroupCodeCreate(account_id=contact.account_id, name="群", name_template="群{n}"),
            )
            group_code.status = ChannelCodeStatus.PAUSED
            code_id = group_code.id if setup == "paused" else 987_654
            flow_id = one_action(
                session, "group.invite", {"group_code_id": code_id}, on={outcome: "other"}
            )
            started = flows.start_conversation(session, flow_id, contact.id)
            assert outgoing(session, contact.id) == ["走了分支"]
            assert ("act", "action", outcome) in turns(session, started.id)

    def test_set_stage_and_invalid_stage(self, database: Database) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow_id = one_action(session, "contact.set_stage", {"stage": "advocate"})
            flows.start_conversation(session, flow_id, contact.id)
            assert contact.lifecycle_stage == LifecycleStage.ADVOCATE
            other = make_contact(session, union_id="u-2")
            bad = one_action(session, "contact.set_stage", {"stage": "removed"}, on={})
            started = flows.start_conversation(session, bad, other.id)
            assert other.lifecycle_stage == LifecycleStage.NEW
            assert ("act", "action", "invalid_stage") in turns(session, started.id)

    def test_tag_with_variables(self, database: Database) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow_id = one_action(session, "contact.tag", {"tags": "拉杆箱,区县{区县}"})
            flows.start_conversation(session, flow_id, contact.id, variables={"区县": "章贡区"})
            tags = session.scalars(
                select(Tag.name)
                .join(ContactTag, ContactTag.tag_id == Tag.id)
                .where(ContactTag.contact_id == contact.id)
                .order_by(Tag.name)
            ).all()
            assert tags == ["区县章贡区", "拉杆箱"]

    def test_handover_action_parks_with_a_task(self, database: Database) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow_id = one_action(session, "handover", {"note": "VIP 客户"})
            started = flows.start_conversation(session, flow_id, contact.id)
            assert started.status == ConversationStatus.HANDOVER
            task = session.scalars(select(AssistedTask)).one()
            assert (task.kind, task.script_text) == (AssistedTaskKind.OTHER, "VIP 客户")
            assert outgoing(session, contact.id) == []


class TestContactsThatCannotTalk:
    def test_opt_out_cancels_open_conversations(self, database: Database, queue: JobQueue) -> None:
        from tests.flows.conftest import style_flow

        with database.sessions() as session:
            contact = make_contact(session)
            started = flows.start_conversation(session, style_flow(session).id, contact.id)
            say(session, contact, "退订", "1")
            session.commit()
            conversation_id = started.id
        queue.run_pending()
        with database.sessions() as session:
            cancelled = conversation(session, conversation_id)
            assert (cancelled.status, cancelled.error, cancelled.open_key) == (
                ConversationStatus.CANCELLED,
                "opted out",
                None,
            )

    def test_removed_contact_cannot_start(self, database: Database) -> None:
        from tests.flows.conftest import style_flow

        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            session.get_one(Contact, contact.id).state = ContactState.REMOVED
            with pytest.raises(flows.ContactUnreachable):
                flows.start_conversation(session, flow.id, contact.id)
            assert outgoing(session, contact.id) == []
