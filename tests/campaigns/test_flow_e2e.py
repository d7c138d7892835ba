"""The seed's 拉杆箱 flow template (siyu.flows) running on the real campaign actions: a new
friend of the entry code gets the flow, names the district, picks a style and becomes a
participant with a personal code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
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
        assert conversation.variables["链接"].startswith("http://127.0.0.1:8000/c/")
        assert conversation.variables["款式"] == "2号款 银色"


class TestOneGreeting:
    """A campaign's flow greets the entry code's new friends; the code's own welcome script is
    then not sent as well. Without a flow the welcome script is the greeting."""

    def _first_messages(self, session: Session, world: World, flow_id: int | None) -> list[str]:
        from siyu.models import ChannelCode

        code = session.get_one(ChannelCode, world.entry_id)
        code.welcome_script = "您好，欢迎添加福利官！"
        world.campaign(flow_id=flow_id)
        contact = world.scan(world.entry_code())
        world.confirm(contact)
        return outgoing(session, contact.id)

    def test_with_a_flow_only_the_flow_greets(self, session: Session, admin: Principal) -> None:
        flow = flows.install_template(session, admin, "luggage_invite")
        world = World(session, admin).setup()
        sent = self._first_messages(session, world, flow.id)
        assert len(sent) == 1
        assert "请问您在哪个区县" in sent[0]

    def test_without_a_flow_the_welcome_script_greets(
        self, session: Session, admin: Principal
    ) -> None:
        world = World(session, admin).setup()
        assert self._first_messages(session, world, None) == ["您好，欢迎添加福利官！"]
