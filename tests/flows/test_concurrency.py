"""Exactly once under replays and concurrent workers (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from siyu.db import Database
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models import Contact
from siyu.models.flows import ConversationTurn
from siyu.pool import events
from tests.flows.conftest import conversation, make_contact, outgoing, say, style_flow

WORKERS = 4


def _prepare(database: Database, texts: list[str]) -> tuple[int, int, list[int]]:
    with database.sessions() as session:
        contact = make_contact(session)
        flow = style_flow(session)
        started = flows.start_conversation(session, flow.id, contact.id)
        event_ids = [say(session, contact, text, str(index)) for index, text in enumerate(texts)]
        session.commit()
        return started.id, contact.id, event_ids


def _in_parallel(
    database: Database, work: list[tuple[int, str]], contact_id: int, hook: bool
) -> None:
    barrier = threading.Barrier(len(work))

    def run(item: tuple[int, str]) -> None:
        event_id, text = item
        barrier.wait()
        with database.sessions() as session:
            if hook:
                contact = session.get_one(Contact, contact_id)
                flows.on_message(session, contact, event_id, text)
            else:
                events.process(session, event_id)
            session.commit()

    with ThreadPoolExecutor(max_workers=len(work)) as executor:
        for future in [executor.submit(run, item) for item in work]:
            future.result()


class TestConcurrentWorkers:
    def test_two_workers_processing_one_event_advance_once(
        self, database: Database, queue: JobQueue
    ) -> None:
        conversation_id, contact_id, (event_id,) = _prepare(database, ["9"])
        _in_parallel(database, [(event_id, "9")] * WORKERS, contact_id, hook=False)
        with database.sessions() as session:
            assert conversation(session, conversation_id).retries == 1
            assert len(outgoing(session, contact_id)) == 2

    def test_the_hook_called_concurrently_for_one_event_advances_once(
        self, database: Database, queue: JobQueue
    ) -> None:
        """Below the pool's own guard: the conversation lock and the (conversation, event) turn."""
        conversation_id, contact_id, (event_id,) = _prepare(database, ["9"])
        _in_parallel(database, [(event_id, "9")] * WORKERS, contact_id, hook=True)
        with database.sessions() as session:
            assert conversation(session, conversation_id).retries == 1
            inbound = session.scalar(
                select(func.count())
                .select_from(ConversationTurn)
                .where(ConversationTurn.kind == "inbound")
            )
            assert inbound == 1

    def test_different_events_at_once_each_count_once(
        self, database: Database, queue: JobQueue
    ) -> None:
        texts = ["7", "8", "9"]  # three misses: three retry prompts (the fourth would hand over)
        conversation_id, contact_id, event_ids = _prepare(database, texts)
        _in_parallel(database, list(zip(event_ids, texts, strict=True)), contact_id, hook=False)
        with database.sessions() as session:
            assert conversation(session, conversation_id).retries == 3
            assert len(outgoing(session, contact_id)) == 4
