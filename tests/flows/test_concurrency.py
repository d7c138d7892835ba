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


class TestBatchDrain:
    """``events.process_many``: the load path; the same exactly-once as one event at a time."""

    def test_a_batch_advances_each_conversation_once_per_message(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            first = make_contact(session, union_id="a")
            second = make_contact(session, union_id="b")
            flow = style_flow(session)
            one = flows.start_conversation(session, flow.id, first.id)
            two = flows.start_conversation(session, flow.id, second.id)
            ids = [
                say(session, first, "9", "1"),  # a retry
                say(session, second, "2", "1"),  # advances and completes
                say(session, first, "1", "2"),  # then the first advances too
            ]
            session.commit()
            contact_ids = (first.id, second.id)
        with database.sessions() as session:
            assert events.process_many(session, [*ids, ids[0], 999_999]) == {
                ids[0]: "recorded",
                ids[1]: "recorded",
                ids[2]: "recorded",
                999_999: "missing",
            }
            session.commit()
        with database.sessions() as session:
            assert events.process_many(session, ids) == dict.fromkeys(ids, "already processed")
            done_one = conversation(session, one.id)
            assert (done_one.status.value, done_one.retries, done_one.variables["款式"]) == (
                "completed",
                0,
                "1",
            )
            assert conversation(session, two.id).status.value == "completed"
            assert outgoing(session, contact_ids[0]) == [
                "小李您好，请回复款式编号 1-3。",
                "请回复 1-3 之间的数字。",
                "好的，您选了 1 号。",
            ]
            inbound = session.scalar(
                select(func.count())
                .select_from(ConversationTurn)
                .where(ConversationTurn.kind == "inbound")
            )
            assert inbound == 3

    def test_two_workers_draining_the_same_batch(self, database: Database, queue: JobQueue) -> None:
        texts = ["7", "8", "9"]
        conversation_id, contact_id, event_ids = _prepare(database, texts)
        barrier = threading.Barrier(WORKERS)

        def drain() -> None:
            barrier.wait()
            with database.sessions() as session:
                events.process_many(session, event_ids)
                session.commit()

        with ThreadPoolExecutor(max_workers=WORKERS) as executor:
            for future in [executor.submit(drain) for _ in range(WORKERS)]:
                future.result()
        with database.sessions() as session:
            assert conversation(session, conversation_id).retries == 3
            assert len(outgoing(session, contact_id)) == 4
