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
from siyu.flows.actions import ActionResult
from siyu.jobs import JobQueue
from siyu.models import AuditEvent, Contact
from siyu.models.flows import ConversationStatus, Flow, FlowStatus, Script
from tests.flows.conftest import CampaignStubs, conversation, make_contact, outgoing, say

SHARE_REASON = "按种子文章复现，仅用于演示与对照"


def count(session: Any, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestInstallBeforeCampaigns:
    def test_invite_variant_installs_as_a_draft_and_names_the_missing_actions(
        self, database: Database, admin: Principal, no_campaign_actions: None
    ) -> None:
        with database.sessions() as session:
            flow = flows.install_template(session, admin, "luggage_invite")
            assert (flow.status, flow.current_version_id) == (FlowStatus.DRAFT, None)
            assert count(session, Script) == 14
            with pytest.raises(flows.FlowActionsUnknown) as raised:
                flows.publish_flow(session, admin, flow.id)
            assert raised.value.en == (
                "The flow uses actions that are not registered: campaign.check_quota, "
                "campaign.choose_style, campaign.invite_to_group, campaign.issue_reward, "
                "campaign.join"
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
            assert [event.reason for event in overrides] == [SHARE_REASON] * 3
            overridden = [session.get_one(Script, event.object_id) for event in overrides]
            assert [script.template_key for script in overridden] == [
                "luggage_share.share_instruction",
                "luggage_share.proof_upload",
                "luggage_share.proof_pending",
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
        self, database: Database, queue: JobQueue, admin: Principal, campaign_stubs: CampaignStubs
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
                "查到了！您那里还有名额（剩余 12 个）。款式都发在我的朋友圈里，每款都有编号，"
                "看好后直接回复款式编号就可以。"
            )
        _reply(database, queue, contact_id, "第二款", "2")
        with database.sessions() as session:
            assert conversation(session, conversation_id).step_id == "wait_proof"
            assert outgoing(session, contact_id)[-2:] == [
                "您选的是星空银 24 寸。请把活动海报转发给 80 位以上好友，转发超过 150 位额外赠送"
                "小米手环一个，转发完成后把截图发给我。海报：http://t/poster.png",
                "转发截图请在这里上传：http://t/h5/me#proof\n上传好了回复我“好了”。",
            ]
        # Not approved yet: the flow says so and waits again.
        campaign_stubs.outcomes["campaign.issue_reward"] = ActionResult("not_eligible")
        _reply(database, queue, contact_id, "好了", "3")
        with database.sessions() as session:
            waiting = conversation(session, conversation_id)
            assert (waiting.status, waiting.step_id) == (ConversationStatus.WAITING, "wait_proof")
        campaign_stubs.outcomes["campaign.issue_reward"] = ActionResult(
            "issued", {"奖品": "拉杆箱"}
        )
        _reply(database, queue, contact_id, "好了", "4")
        with database.sessions() as session:
            done = conversation(session, conversation_id)
            assert done.status == ConversationStatus.COMPLETED
            assert outgoing(session, contact_id)[-2:] == [
                "登记成功！您的拉杆箱（星空银 24 寸）会尽快安排寄出，物流信息我会发给您。",
                "另外邀请您进我们的福利优惠券群，每天都有专属优惠：http://t/g/abc",
            ]
        assert [name for name, _ in campaign_stubs.calls] == [
            "campaign.check_quota",
            "campaign.choose_style",
            "campaign.join",
            "campaign.request_proof",
            "campaign.issue_reward",
            "campaign.issue_reward",
            "campaign.invite_to_group",
        ]
        assert campaign_stubs.calls[0][1] == {"district": "章贡区"}
        assert campaign_stubs.calls[1][1] == {"reply": "2"}

    def test_invite_variant_reports_progress_and_waits(
        self, database: Database, queue: JobQueue, admin: Principal, campaign_stubs: CampaignStubs
    ) -> None:
        campaign_stubs.outcomes["campaign.issue_reward"] = ActionResult("not_eligible")
        with database.sessions() as session:
            flow = flows.install_template(session, admin, "luggage_invite")
            assert flow.status == FlowStatus.PUBLISHED
            contact = make_contact(session)
            started = flows.start_conversation(session, flow.id, contact.id, campaign_id=7)
            session.commit()
            conversation_id, contact_id = started.id, contact.id
        _reply(database, queue, contact_id, "南康区", "1")
        _reply(database, queue, contact_id, "1", "2")
        with database.sessions() as session:
            assert conversation(session, conversation_id).step_id == "wait_progress"
            assert outgoing(session, contact_id)[-1] == (
                "您选的是星空银 24 寸。这是您的专属邀请链接：http://t/c/x?state=p1\n"
                "邀请新朋友通过它添加我，达到活动要求的人数，拉杆箱就给您寄出。"
                "进度可以在这里查看：http://t/h5/me，也可以随时回复“进度”。"
            )
        _reply(database, queue, contact_id, "进度", "3")
        with database.sessions() as session:
            waiting = conversation(session, conversation_id)
            assert (waiting.status, waiting.step_id) == (
                ConversationStatus.WAITING,
                "wait_progress",
            )
            assert outgoing(session, contact_id)[-1] == (
                "还没有达到活动要求的人数哦，继续加油！进度在这里：http://t/h5/me"
            )

    def test_sold_out_district_apologises_and_offers_the_group(
        self, database: Database, queue: JobQueue, admin: Principal, campaign_stubs: CampaignStubs
    ) -> None:
        campaign_stubs.outcomes["campaign.check_quota"] = ActionResult(
            "sold_out", {"剩余名额": "0"}
        )
        with database.sessions() as session:
            flow = flows.install_template(session, admin, "luggage_invite")
            contact = make_contact(session)
            started = flows.start_conversation(session, flow.id, contact.id, campaign_id=7)
            session.commit()
            conversation_id, contact_id = started.id, contact.id
        _reply(database, queue, contact_id, "瑞金市", "1")
        with database.sessions() as session:
            assert conversation(session, conversation_id).status == ConversationStatus.COMPLETED
            assert outgoing(session, contact_id)[-2:] == [
                "非常抱歉，您那里的名额已经领完了。有新名额和优惠我会第一时间通知您。",
                "另外邀请您进我们的福利优惠券群，每天都有专属优惠：http://t/g/abc",
            ]
