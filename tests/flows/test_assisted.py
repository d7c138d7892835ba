"""The assisted path: the operator is shown the next message as a task, sends it by hand and
records the customer's reply on the task; the reply comes back as a message event."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models import AssistedTask, AssistedTaskKind, AssistedTaskStatus, ChannelMessage
from siyu.models.flows import ConversationStatus
from tests.conftest import ConsoleClient
from tests.flows.conftest import conversation, make_contact, style_flow


def open_tasks(session: Any) -> list[AssistedTask]:
    return list(
        session.scalars(
            select(AssistedTask)
            .where(
                AssistedTask.status == AssistedTaskStatus.OPEN,
                AssistedTask.kind == AssistedTaskKind.SEND_MESSAGE,
            )
            .order_by(AssistedTask.id)
        )
    )


class TestAssistedConversation:
    def test_operator_records_the_reply_on_the_task_and_the_flow_advances(
        self, database: Database, queue: JobQueue, client: ConsoleClient, admin: Principal
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session, backend="assisted")
            flow = style_flow(session)
            started = flows.start_conversation(session, flow.id, contact.id)
            session.commit()
            conversation_id = started.id
            (greeting,) = open_tasks(session)
            assert greeting.script_text == "小李您好，请回复款式编号 1-3。"
            assert greeting.contact_id == contact.id
            # Nothing was sent automatically.
            assert session.scalars(select(ChannelMessage)).all() == []
        client.login("admin")
        page = client.get("/console/pool/tasks")
        assert "小李您好，请回复款式编号 1-3。" in page.text
        response = client.submit(
            f"/console/pool/tasks/{greeting.id}", {"status": "done", "reply_text": "3号"}
        )
        assert response.status_code == 303
        queue.run_pending()
        with database.sessions() as session:
            done = conversation(session, conversation_id)
            assert (done.status, done.variables["款式"]) == (ConversationStatus.COMPLETED, "3")
            (confirmation,) = open_tasks(session)
            assert confirmation.script_text == "好的，您选了 3 号。"
            messages = session.scalars(select(ChannelMessage).order_by(ChannelMessage.id)).all()
            assert [(m.direction, m.body.get("text")) for m in messages] == [
                ("out", "小李您好，请回复款式编号 1-3。"),
                ("in", "3号"),
            ]

    def test_the_phone_task_list_shows_the_next_message(
        self, database: Database, queue: JobQueue, client: ConsoleClient, admin: Principal
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session, backend="assisted")
            flows.start_conversation(session, style_flow(session).id, contact.id)
            session.commit()
            (task,) = open_tasks(session)
        client.login("admin")
        assert "小李您好，请回复款式编号 1-3。" in client.get("/h5/tasks").text
        client.submit(f"/h5/tasks/{task.id}", {"status": "done", "reply_text": "9"})
        queue.run_pending()
        with database.sessions() as session:
            (retry,) = open_tasks(session)
            assert retry.script_text == "请回复 1-3 之间的数字。"
