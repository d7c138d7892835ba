"""The shipped 拉杆箱 flows: installable before siyu.campaigns exists, runnable with its actions
(stubbed here, in this test only)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.principal import Principal
from siyu.compliance.service import ComplianceBlocked
from siyu.db import Database
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models import AuditEvent, Contact
from siyu.models.flows import ConversationStatus, Flow, FlowStatus, Script
from tests.flows.conftest import conversation, make_contact, outgoing, say

SHARE_REASON = "按种子文章复现，仅用于演示与对照"


def count(session: Any, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestInstallBeforeCampaigns:
    def test_invite_variant_installs_as_a_draft_and_names_the_missing_actions(
        self, database: Database, admin: Principal
    ) -> None:
        with database.sessions() as session:
            flow = flows.install_template(session, admin, "luggage_invite")
            assert (flow.status, flow.current_version_id) == (FlowStatus.DRAFT, None)
            assert count(session, Script) == 12
            with pytest.raises(flows.FlowActionsUnknown) as raised:
                flows.publish_flow(session, admin, flow.id)
            assert raised.value.en == (
                "The flow uses actions that are not registered: campaign.check_progress, "
                "campaign.check_quota, campaign.choose_style, campaign.invite_to_group, "
                "campaign.issue_reward, campaign.personal_code"
            )

    def test_share_variant_is_blocked_without_an_override(
        self, database: Database, admin: Principal
    ) -> None:
        with database.sessions() as session:
            with pytest.raises(ComplianceBlocked) as raised:
                flows.install_template(session, admin, "luggage_share")
            assert raised.value.en == (
                "The text breaks 1 blocking rule(s): screenshot_proof. Fix it or ask an admin."
            )
            assert (count(session, Script), count(session, Flow)) == (0, 0)

    def test_share_variant_installs_with_an_admins_reason_audited(
        self, database: Database, admin: Principal
    ) -> None:
        with database.sessions() as session:
            flows.install_template(session, admin, "luggage_share", override_reason=SHARE_REASON)
            overrides = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "compliance.overridden")
            ).all()
            assert [event.reason for event in overrides] == [SHARE_REASON, SHARE_REASON]
            overridden = [session.get_one(Script, event.object_id) for event in overrides]
            assert [script.template_key for script in overridden] == [
                "luggage_share.share_instruction",
                "luggage_share.proof_retry",
            ]

    def test_unknown_template(self, database: Database, admin: Principal) -> None:
        with database.sessions() as session, pytest.raises(flows.FlowTemplateUnknown):
            flows.install_template(session, admin, "nope")


def _reply(database: Database, queue: JobQueue, contact_id: int, text: str, key: str) -> None:
    with database.sessions() as session:
        say(session, session.get_one(Contact, contact_id), text, key)
        session.commit()
    queue.run_pending()


class TestRunsWithCampaignActions:
    def test_share_variant_end_to_end(
        self,
        database: Database,
        queue: JobQueue,
        admin: Principal,
        campaign_stubs: list[tuple[str, dict[str, Any]]],
    ) -> None:
        with database.sessions() as session:
            flow = flows.install_template(
                session, admin, "luggage_share", override_reason=SHARE_REASON
            )
            assert flow.status == FlowStatus.PUBLISHED
            contact = make_contact(session)
            started = flows.start_conversation(session, flow.id, contact.id, campaign_id=7)
            session.commit()
            conversation_id, contact_id = started.id, contact.id
            assert started.step_id == "ask_district"
        _reply(database, queue, contact_id, "章贡区", "1")
        with database.sessions() as session:
            assert conversation(session, conversation_id).step_id == "take_style"
            assert outgoing(session, contact_id)[-1] == (
                "查到了！章贡区还有名额（剩余 12 个）。款式都在我的朋友圈里，每款都有编号，"
                "请回复您喜欢的款式编号：\n1. 黑色\n2. 银色\n3. 粉色"
            )
        _reply(database, queue, contact_id, "第二款", "2")
        with database.sessions() as session:
            assert conversation(session, conversation_id).step_id == "wait_proof"
            assert outgoing(session, contact_id)[-1].startswith("您选的是 2 号款。请把活动海报转发")
        _reply(database, queue, contact_id, "[截图]", "3")
        with database.sessions() as session:
            done = conversation(session, conversation_id)
            assert done.status == ConversationStatus.COMPLETED
            assert outgoing(session, contact_id)[-2:] == [
                "登记成功！您的 2 号款拉杆箱会尽快安排寄出，物流信息我会发给您。",
                "另外邀请您进我们的福利优惠券群，每天都有专属优惠：http://t/g/abc",
            ]
        assert [name for name, _ in campaign_stubs] == [
            "campaign.check_quota",
            "campaign.choose_style",
            "campaign.request_proof",
            "campaign.issue_reward",
            "campaign.invite_to_group",
        ]
        assert campaign_stubs[0][1] == {"district": "章贡区"}
        assert campaign_stubs[1][1] == {"style": "2"}

    def test_invite_variant_reports_progress_and_waits(
        self,
        database: Database,
        queue: JobQueue,
        admin: Principal,
        campaign_stubs: list[tuple[str, dict[str, Any]]],
    ) -> None:
        with database.sessions() as session:
            flow = flows.install_template(session, admin, "luggage_invite")
            assert flow.status == FlowStatus.PUBLISHED
            contact = make_contact(session)
            started = flows.start_conversation(session, flow.id, contact.id)
            session.commit()
            conversation_id, contact_id = started.id, contact.id
        _reply(database, queue, contact_id, "南康区", "1")
        _reply(database, queue, contact_id, "1", "2")
        with database.sessions() as session:
            assert conversation(session, conversation_id).step_id == "wait_progress"
            assert outgoing(session, contact_id)[-1] == (
                "您选的是 1 号款。这是您的专属邀请链接：http://t/c/x?state=p1\n"
                "邀请 3 位新朋友通过它添加我，人数够了拉杆箱就给您寄出。想看进度随时回复“进度”。"
            )
        _reply(database, queue, contact_id, "进度", "3")
        with database.sessions() as session:
            waiting = conversation(session, conversation_id)
            assert (waiting.status, waiting.step_id) == (
                ConversationStatus.WAITING,
                "wait_progress",
            )
            assert (
                outgoing(session, contact_id)[-1]
                == "已有 1 位朋友通过您的链接添加，还差 2 位，加油！"
            )
