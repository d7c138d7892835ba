"""The shipped 拉杆箱 flow with siyu.campaigns' real actions, from the entry scan to the reward.
Skipped until the campaigns branch is merged (it builds on tests/campaigns' World fixture)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from siyu.flows import service as flows
from siyu.models.flows import Conversation, ConversationStatus, FlowStatus
from siyu.pool import events
from tests.flows.conftest import outgoing, say

campaigns_conftest = pytest.importorskip("tests.campaigns.conftest")
world = campaigns_conftest.world  # fixture re-export


class TestInviteTemplateWithCampaignActions:
    def test_from_the_entry_scan_to_the_reward(self, world: Any) -> None:
        from siyu.campaigns.repository import CampaignRepository

        session = world.session
        flow = flows.install_template(session, world.admin, "luggage_invite")
        assert flow.status == FlowStatus.PUBLISHED
        campaign = world.campaign(flow_id=flow.id)
        contact = world.scan(world.entry_code())
        world.confirm(contact)  # the campaign's confirmed-add hook starts the flow
        conversation = session.scalars(
            select(Conversation).where(Conversation.contact_id == contact.id)
        ).one()
        assert (conversation.campaign_id, conversation.step_id) == (campaign.id, "ask_district")

        def reply(text: str, key: str) -> None:
            events.process(session, say(session, contact, text, key))

        reply("我在章贡区", "1")
        assert conversation.step_id == "take_style"
        reply("2", "2")
        assert conversation.step_id == "wait_progress"
        assert outgoing(session, contact.id)[-1].startswith(
            "您选的是2号款 银色。这是您的专属邀请链接："
        )
        participant = CampaignRepository(session).participant_of(campaign.id, contact.consumer_id)
        assert participant is not None
        reply("进度", "3")  # no invites yet: the progress message, still waiting
        assert conversation.step_id == "wait_progress"
        assert outgoing(session, contact.id)[-1].startswith("还没有达到活动要求的人数哦")
        world.invite(participant)
        world.invite(participant)  # the main tier's threshold in the fixture is 2
        reply("进度", "4")
        assert conversation.status == ConversationStatus.COMPLETED
        assert outgoing(session, contact.id)[-1] == (
            "登记成功！您的拉杆箱（2号款 银色）会尽快安排寄出，物流信息我会发给您。"
        )
