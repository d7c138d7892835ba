"""The campaign flow actions, called with an ActionContext directly (the engine is elsewhere)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.campaigns.conftest import GANZHOU, ZHOUKOU, World, tiers

from siyu.campaigns import service
from siyu.flows import actions
from siyu.flows.actions import ActionContext, ActionResult
from siyu.models import Contact
from siyu.models.campaigns import (
    CampaignInventory,
    CampaignParticipant,
    CampaignReward,
    CampaignTrigger,
)
from siyu.pool import groups
from siyu.pool.schemas import GroupCodeCreate


def run(
    session: Session,
    name: str,
    contact: Contact,
    campaign_id: int | None,
    text: str = "",
    params: dict[str, Any] | None = None,
    variables: dict[str, str] | None = None,
) -> ActionResult:
    handler = actions.get(name)
    assert handler is not None, name
    return handler(
        session,
        ActionContext(
            conversation_id=1,
            contact_id=contact.id,
            consumer_id=contact.consumer_id,
            account_id=contact.account_id,
            step_id="s",
            params=params or {},
            variables=variables or {},
            campaign_id=campaign_id,
            inbound_text=text,
        ),
    )


def _new_contact(world: World) -> Contact:
    contact = world.scan(world.entry_code())
    world.confirm(contact)
    return contact


class TestCheckQuota:
    def test_available_by_name(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        result = run(session, "campaign.check_quota", _new_contact(world), campaign.id, "章贡区")
        assert result.outcome == "available"
        assert result.variables == {"剩余名额": "5", "district": GANZHOU}

    def test_sold_out(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        row = session.scalars(
            select(CampaignInventory).where(CampaignInventory.district_code == ZHOUKOU)
        ).one()
        row.issued = row.total
        result = run(session, "campaign.check_quota", _new_contact(world), campaign.id, "川汇")
        assert (result.outcome, result.variables["剩余名额"]) == ("sold_out", "0")

    def test_district_not_in_campaign(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        contact = _new_contact(world)
        for text in ("山东省临沂市兰山区", "还有名额吗？", ""):
            result = run(session, "campaign.check_quota", contact, campaign.id, text)
            assert result.outcome == "not_in_campaign"

    def test_no_campaign(self, world: World, session: Session) -> None:
        result = run(session, "campaign.check_quota", _new_contact(world), None, "章贡区")
        assert result.outcome == "not_in_campaign"


class TestJoinAndStyle:
    def test_join_is_idempotent(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        contact = _new_contact(world)
        first = run(session, "campaign.join", contact, campaign.id, variables={"district": GANZHOU})
        second = run(session, "campaign.join", contact, campaign.id)
        assert first.outcome == "ok"
        assert first.variables == second.variables
        assert first.variables["链接"].startswith("/c/")
        assert "/poster.png?t=" in first.variables["海报"]
        participant = session.scalars(select(CampaignParticipant)).one()
        assert participant.district_code == GANZHOU
        assert participant.contact_id == contact.id

    def test_join_district_not_in_campaign(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        result = run(
            session,
            "campaign.join",
            _new_contact(world),
            campaign.id,
            variables={"district": "371302"},
        )
        assert result.outcome == "not_in_campaign"
        assert session.scalar(select(func.count()).select_from(CampaignParticipant)) == 0

    def test_choose_style(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        contact = _new_contact(world)
        run(session, "campaign.join", contact, campaign.id)
        assert (
            run(session, "campaign.choose_style", contact, campaign.id, "5号").outcome == "invalid"
        )
        chosen = run(session, "campaign.choose_style", contact, campaign.id, "2号")
        assert chosen == ActionResult("ok", {"款式": "2号款 银色", "款式编号": "2"})
        participant = session.scalars(select(CampaignParticipant)).one()
        assert participant.choice == "2"
        assert participant.replied_at is not None


class TestProofAndReward:
    def test_request_proof(self, world: World, session: Session) -> None:
        share = world.campaign(
            trigger=CampaignTrigger.SHARE_PROOF, reason="赞助商要求此玩法，已告知封号风险"
        )
        contact = _new_contact(world)
        assert (
            run(session, "campaign.request_proof", contact, share.id).outcome == "not_participant"
        )
        run(session, "campaign.join", contact, share.id)
        result = run(session, "campaign.request_proof", contact, share.id)
        assert result.outcome == "ok"
        assert result.variables["上传链接"].endswith("#proof")

    def test_request_proof_not_needed(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        result = run(session, "campaign.request_proof", _new_contact(world), campaign.id)
        assert result.outcome == "not_needed"

    def test_issue_reward_outcomes(self, world: World, session: Session) -> None:
        campaign = world.campaign(tiers=tiers(total=1, districts=[]))
        participant = world.participant(campaign)
        contact = session.get_one(Contact, participant.contact_id)
        assert run(session, "campaign.issue_reward", contact, campaign.id).outcome == "not_eligible"
        world.invite(participant)
        world.invite(participant)
        issued = run(session, "campaign.issue_reward", contact, campaign.id)
        assert issued == ActionResult("issued", {"奖品": "拉杆箱"})
        assert run(session, "campaign.issue_reward", contact, campaign.id).outcome == "already"
        other = world.participant(campaign)
        world.invite(other)
        world.invite(other)
        other_contact = session.get_one(Contact, other.contact_id)
        assert (
            run(session, "campaign.issue_reward", other_contact, campaign.id).outcome == "sold_out"
        )
        assert session.scalar(select(func.count()).select_from(CampaignReward)) == 1

    def test_invite_to_group(self, world: World, session: Session) -> None:
        group_code = groups.create_group_code(
            session,
            None,
            GroupCodeCreate(account_id=world.account_id, name="券群", name_template="券群{n}"),
        )
        campaign = world.campaign(group_code_id=group_code.id)
        participant = world.participant(campaign)
        contact = session.get_one(Contact, participant.contact_id)
        result = run(session, "campaign.invite_to_group", contact, campaign.id)
        assert result == ActionResult("ok", {"群链接": f"/g/{group_code.code}"})
        assert participant.group_invited_at is not None
        bare = world.campaign()
        assert run(session, "campaign.invite_to_group", contact, bare.id).outcome == "no_group"

    def test_registered(self) -> None:
        assert {
            "campaign.check_quota",
            "campaign.choose_style",
            "campaign.request_proof",
            "campaign.issue_reward",
            "campaign.invite_to_group",
            "campaign.join",
        } <= set(actions.names())
        assert service.is_running is not None
