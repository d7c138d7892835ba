"""The seed's 拉杆箱 flow template (siyu.flows) running on the real campaign actions: a new
friend of the entry code gets the flow, names the district, picks a style and becomes a
participant with a personal code."""

from __future__ import annotations

from sqlalchemy import select
from tests.campaigns.conftest import GANZHOU, World
from tests.flows.conftest import outgoing, say

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models import Contact
from siyu.models.campaigns import CampaignParticipant
from siyu.models.flows import Conversation, FlowStatus


def _reply(database: Database, queue: JobQueue, contact_id: int, text: str, key: str) -> None:
    with database.sessions() as session:
        say(session, session.get_one(Contact, contact_id), text, key)
        session.commit()
    queue.run_pending()


def test_invite_template_on_real_actions(
    database: Database, queue: JobQueue, admin: Principal
) -> None:
    with database.sessions() as session:
        flow = flows.install_template(session, admin, "luggage_invite")
        assert flow.status == FlowStatus.PUBLISHED  # every campaign.* action is registered
        world = World(session, admin).setup()
        campaign = world.campaign(flow_id=flow.id)
        contact = world.scan(world.entry_code())
        world.confirm(contact)  # the pool hook starts the campaign's flow
        session.commit()
        contact_id, campaign_id = contact.id, campaign.id
        started = session.scalars(select(Conversation)).one()
        assert (started.campaign_id, started.step_id) == (campaign_id, "ask_district")
    queue.run_pending()

    _reply(database, queue, contact_id, "我在赣州章贡区", "1")
    with database.sessions() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.step_id == "take_style"
        assert conversation.variables["剩余名额"] == "5"
        assert conversation.variables["district"] == GANZHOU
        assert "5" in outgoing(session, contact_id)[-1]

    _reply(database, queue, contact_id, "2", "2")
    with database.sessions() as session:
        participant = session.scalars(select(CampaignParticipant)).one()
        assert (participant.campaign_id, participant.district_code) == (campaign_id, GANZHOU)
        assert participant.choice == "2"
        assert participant.contact_id == contact_id
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.variables["链接"].startswith("/c/")
        assert conversation.variables["款式"] == "2号款 银色"
