from __future__ import annotations

from sqlalchemy import func, select

from siyu.db import Database
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models import ChannelEvent
from siyu.models.segments import ContactTag
from siyu.models.flows import ConversationStatus
from siyu.pool import events
from tests.flows.conftest import conversation, make_contact, outgoing, say, style_flow, turns


class TestSimulatorEndToEnd:
    def test_reply_through_the_inbox_advances_and_finishes(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            started = flows.start_conversation(session, flow.id, contact.id)
            session.commit()
            conversation_id, contact_id = started.id, contact.id
            assert (started.status, started.step_id) == (ConversationStatus.WAITING, "pick")
            assert outgoing(session, contact_id) == ["小李您好，请回复款式编号 1-3。"]
            say(session, contact, "我要2号", "1")
            session.commit()
        queue.run_pending()
        with database.sessions() as session:
            done = conversation(session, conversation_id)
            assert done.status == ConversationStatus.COMPLETED
            assert done.open_key is None
            assert done.variables["款式"] == "2"
            assert outgoing(session, contact_id)[-1] == "好的，您选了 2 号。"
            assert session.scalar(select(func.count()).select_from(ContactTag)) == 1
            assert turns(session, conversation_id) == [
                ("greet", "start", f"v{done.flow_version_id}"),
                ("greet", "sent", ""),
                ("pick", "inbound", ""),
                ("tag", "action", "tagged"),
                ("confirm", "sent", ""),
                ("end", "end", "completed"),
            ]

    def test_start_is_idempotent(self, database: Database, queue: JobQueue) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            first = flows.start_conversation(session, flow.id, contact.id)
            again = flows.start_conversation(session, flow.id, contact.id)
            assert first.id == again.id
            assert outgoing(session, contact.id) == ["小李您好，请回复款式编号 1-3。"]

    def test_out_of_range_gets_the_retry_prompt_and_stays(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            started = flows.start_conversation(session, flow.id, contact.id)
            say(session, contact, "7", "1")
            session.commit()
            conversation_id, contact_id = started.id, contact.id
        queue.run_pending()
        with database.sessions() as session:
            waiting = conversation(session, conversation_id)
            assert (waiting.status, waiting.step_id, waiting.retries) == (
                ConversationStatus.WAITING,
                "pick",
                1,
            )
            assert "款式" not in waiting.variables
            assert outgoing(session, contact_id)[-1] == "请回复 1-3 之间的数字。"

    def test_replayed_event_advances_once(self, database: Database, queue: JobQueue) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            started = flows.start_conversation(session, flow.id, contact.id)
            event_id = say(session, contact, "9", "1")  # out of range: a retry each time
            session.commit()
            conversation_id, contact_id = started.id, contact.id
        queue.run_pending()
        with database.sessions() as session:
            assert events.process(session, event_id) == "already processed"
            # The hook itself, called again for the same event, changes nothing either.
            from siyu.models import Contact

            flows.on_message(session, session.get_one(Contact, contact_id), event_id, "9")
            session.commit()
            assert conversation(session, conversation_id).retries == 1
            assert len(outgoing(session, contact_id)) == 2
            assert session.scalar(select(func.count()).select_from(ChannelEvent)) == 2
