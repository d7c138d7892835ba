from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.channels.base import ChannelNotConfigured, MessageKind, OutgoingMessage
from siyu.channels.registry import backend_for, get_backend
from siyu.consumers.service import ConsumerIdentity
from siyu.db import Database
from siyu.jobs import JobQueue
from siyu.models import (
    AccountKind,
    AssistedTask,
    AssistedTaskKind,
    AssistedTaskStatus,
    ChannelEvent,
    ChannelMessage,
    Contact,
    ContactState,
    LifecycleStage,
    OperatorAccount,
)
from siyu.pool import events, hooks, inbox, service
from siyu.pool.schemas import EventIn
from tests.pool.conftest import make_account, make_code


def pending_contact(session: Any, backend: str = "simulator", **values: Any) -> Contact:
    account = make_account(session, channel_backend=backend, **values)
    code = make_code(session, rule={"account_ids": [account.id]}, tag_names=["拉杆箱"])
    result = service.scan(session, code.code, ConsumerIdentity(union_id="u-1"))
    assert result.contact is not None
    return result.contact


class TestInbox:
    def test_duplicate_delivery_has_one_effect(self, database: Database, queue: JobQueue) -> None:
        seen: list[tuple[int, list[str]]] = []

        def handler(_session: Any, contact: Contact, tag_names: Any) -> None:
            seen.append((contact.id, list(tag_names)))

        hooks.register_contact_confirmed(handler)
        try:
            with database.sessions() as session:
                contact = pending_contact(session, backend="assisted")
                data = EventIn(
                    backend="assisted",
                    external_event_id="e-1",
                    kind="friend_added",
                    account_id=contact.account_id,
                    payload={"contact_id": contact.id},
                )
                first, created = events.receive(session, data)
                again, created_again = events.receive(session, data)
                session.commit()
                assert (created, created_again, first.id) == (True, False, again.id)
                contact_id = contact.id
            queue.run_pending()
            with database.sessions() as session:
                # Processing the same row again (a replayed job) changes nothing.
                assert events.process(session, first.id) == "already processed"
                session.commit()
                contact = session.get_one(Contact, contact_id)
                assert contact.state == ContactState.CONFIRMED
                account = session.get_one(OperatorAccount, contact.account_id)
                assert account.friends_used == 1
                assert session.scalar(select(func.count()).select_from(ChannelEvent)) == 1
                event = session.get_one(ChannelEvent, first.id)
                assert event.outcome == "confirmed"
            assert seen == [(contact_id, ["拉杆箱"])]
        finally:
            hooks._confirmed.remove(handler)

    def test_unknown_kind_logged_and_marked(self, database: Database) -> None:
        with database.sessions() as session:
            event, _ = events.receive(
                session, EventIn(backend="simulator", external_event_id="x", kind="poke")
            )
            assert events.process(session, event.id) == "ignored: unknown kind 'poke'"
            assert event.processed_at is not None

    def test_removed_then_removed_again(self, database: Database) -> None:
        with database.sessions() as session:
            contact = pending_contact(session)
            for external in ("r1", "r2"):
                event, _ = events.receive(
                    session,
                    EventIn(
                        backend="simulator",
                        external_event_id=external,
                        kind="friend_removed",
                        account_id=contact.account_id,
                        payload={"contact_id": contact.id},
                    ),
                )
                events.process(session, event.id)
            assert contact.state == ContactState.REMOVED
            assert contact.lifecycle_stage == LifecycleStage.REMOVED
            account = session.get_one(OperatorAccount, contact.account_id)
            session.refresh(account)
            assert account.friends_used == 0
            outcomes = session.scalars(select(ChannelEvent.outcome).order_by(ChannelEvent.id))
            assert list(outcomes) == ["removed", "ignored: already removed"]

    def test_add_outside_siyu_is_recorded(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            event, _ = events.receive(
                session,
                EventIn(
                    backend="simulator",
                    external_event_id="a",
                    kind="friend_added",
                    account_id=account.id,
                    payload={"union_id": "walk-in", "nickname": "路人"},
                ),
            )
            assert events.process(session, event.id) == "contact created"
            session.refresh(account)
            assert account.friends_used == 1

    def test_message_engages_and_opt_out(self, database: Database) -> None:
        with database.sessions() as session:
            contact = pending_contact(session)
            for key, text in (("m1", "朝阳区"), ("m2", "退订")):
                event, _ = events.receive(
                    session,
                    EventIn(
                        backend="simulator",
                        external_event_id=key,
                        kind="message",
                        payload={"contact_id": contact.id, "text": text},
                    ),
                )
                events.process(session, event.id)
            assert contact.lifecycle_stage == LifecycleStage.ENGAGED
            assert contact.marketing_opt_out is True
            assert contact.last_message_at is not None
            incoming = session.scalars(select(ChannelMessage.body).order_by(ChannelMessage.id))
            assert list(incoming) == [{"text": "朝阳区"}, {"text": "退订"}]


class TestAssisted:
    def test_scan_creates_accept_task_and_done_confirms(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = pending_contact(session, backend="assisted")
            session.commit()
            contact_id = contact.id
        queue.run_pending()
        with database.sessions() as session:
            task = session.scalars(select(AssistedTask)).one()
            assert (task.kind, task.status, task.contact_id) == (
                AssistedTaskKind.ACCEPT_FRIEND,
                AssistedTaskStatus.OPEN,
                contact_id,
            )
            # The job replayed: still one task.
            service.announce_pending(session, contact_id)
            assert session.scalar(select(func.count()).select_from(AssistedTask)) == 1
            inbox.complete_task(
                session, None, task.id, AssistedTaskStatus.DONE, reply_text="你好，我在朝阳区"
            )
            session.commit()
        queue.run_pending()
        with database.sessions() as session:
            contact = session.get_one(Contact, contact_id)
            assert contact.state == ContactState.CONFIRMED
            assert contact.lifecycle_stage == LifecycleStage.ENGAGED
            with pytest.raises(inbox.TaskAlreadyClosed):
                inbox.complete_task(session, None, task.id, AssistedTaskStatus.FAILED)

    def test_failed_add_counts_against_health(self, database: Database, queue: JobQueue) -> None:
        with database.sessions() as session:
            contact = pending_contact(session, backend="assisted")
            session.commit()
        queue.run_pending()
        with database.sessions() as session:
            task = session.scalars(select(AssistedTask)).one()
            inbox.complete_task(session, None, task.id, AssistedTaskStatus.FAILED, "对方未通过")
            session.commit()
            account = session.get_one(OperatorAccount, contact.account_id)
            assert account.recent_failures == 1
            assert session.get_one(Contact, contact.id).state == ContactState.PENDING

    def test_send_creates_task_not_message(self, database: Database) -> None:
        with database.sessions() as session:
            contact = pending_contact(session, backend="assisted")
            account = session.get_one(OperatorAccount, contact.account_id)
            result = backend_for(account).send(
                session,
                account,
                OutgoingMessage(
                    MessageKind.LINK, text="今日好价", title="拉杆箱", url="https://x/1"
                ),
                contact,
            )
            assert result.status == "queued"
            task = session.get_one(AssistedTask, result.task_id)
            assert task.script_text == "今日好价\n拉杆箱\nhttps://x/1"
            assert session.scalar(select(func.count()).select_from(ChannelMessage)) == 0


class TestRegistry:
    def test_by_kind(self, database: Database) -> None:
        with database.sessions() as session:
            personal = make_account(session, "个人", channel_backend="")
            wecom = make_account(session, "企微", kind=AccountKind.WECOM_MEMBER, channel_backend="")
            assert backend_for(personal).name == "assisted"
            assert backend_for(wecom).name == "wecom"
            assert wecom.max_friends == 5000

    def test_wecom_not_configured(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session, kind=AccountKind.WECOM_MEMBER, channel_backend="")
            with pytest.raises(ChannelNotConfigured):
                get_backend("wecom").send(
                    session,
                    account,
                    OutgoingMessage(MessageKind.TEXT, text="hi"),
                    None,
                )


class TestBacklogDrain:
    """Events whose own job did not run (a worker was down) are drained in batches, once."""

    def test_old_unprocessed_events_are_applied_once_in_batches(
        self, database: Database, queue: JobQueue
    ) -> None:
        from datetime import timedelta

        from siyu.kit.time import travel_to, utc_now
        from siyu.pool import tasks

        with database.sessions() as session:
            contacts = [pending_contact(session) for _ in range(3)]  # three accounts
            stored = [
                events.receive(
                    session,
                    EventIn(
                        backend="simulator",
                        external_event_id=f"backlog-{contact.id}",
                        kind="friend_added",
                        account_id=contact.account_id,
                        payload={"contact_id": contact.id},
                    ),
                )[0].id
                for contact in contacts
            ]
            session.commit()
            contact_ids = [contact.id for contact in contacts]
        # Fresh events are left to their own jobs.
        tasks.drain_events()
        with database.sessions() as session:
            assert session.get_one(Contact, contact_ids[0]).state == ContactState.PENDING
            assert events.backlog(session) == []
            assert events.backlog(session, utc_now() + timedelta(minutes=1)) == stored
        with travel_to(utc_now() + timedelta(minutes=1)):
            tasks.drain_events()
        with database.sessions() as session:
            for contact_id in contact_ids:
                assert session.get_one(Contact, contact_id).state == ContactState.CONFIRMED
            rows = session.scalars(select(ChannelEvent).where(ChannelEvent.id.in_(stored))).all()
            assert all(row.processed_at is not None for row in rows)
            assert {row.outcome for row in rows} == {"confirmed"}
        # Their queued jobs run late: nothing happens twice.
        queue.run_pending()
        with database.sessions() as session:
            account_ids = {session.get_one(Contact, c).account_id for c in contact_ids}
            used = [session.get_one(OperatorAccount, a).friends_used for a in account_ids]
            assert sum(used) == 3
