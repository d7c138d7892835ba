"""Draining the queue: each due row is claimed once, re-checked and sent, skipped, failed or
deferred with a reason; opt-outs, quiet hours, quotas, pacing, cancellation, retries, the
assisted backend, results with clicks / orders / GMV, two workers at once."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.config import configure
from siyu.db import Database
from siyu.kit.time import travel_to
from siyu.models import AssistedTask, ChannelMessage, Contact, OperatorAccount
from siyu.models.outreach import BroadcastSend, BroadcastStatus, SendStatus
from siyu.outreach import service, tasks
from siyu.pool import events
from siyu.pool.schemas import EventIn
from tests.outreach.conftest import TUESDAY_10, broadcast_in, make_segment, sends


def started(database: Database, account_ids: list[int], **values: Any) -> int:
    values.setdefault("messages_per_minute", 60)
    values.setdefault("jitter_seconds", 0)
    with database.sessions() as session:
        segment = make_segment(session, None, account_ids)
        broadcast = service.create_broadcast(session, None, broadcast_in(segment, **values))
        service.start(session, None, broadcast.id)
        session.commit()
        return broadcast.id


def statuses(session: Session, broadcast_id: int) -> list[tuple[str, str]]:
    return [(row.status.value, row.reason) for row in sends(session, broadcast_id)]


def drain_at(moment: datetime) -> int:
    with travel_to(moment):
        return tasks.drain_queue()


def drain_over(start: datetime, seconds: int, step: int = 1) -> int:
    """A worker running every ``step`` seconds of simulated time."""
    return sum(drain_at(start + timedelta(seconds=second)) for second in range(0, seconds, step))


class TestSend:
    def test_simulator_delivers_with_the_nickname(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 2)
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
        drain_over(TUESDAY_10, 5)
        with database.sessions() as session:
            assert statuses(session, broadcast_id) == [("sent", ""), ("sent", "")]
            bodies = session.scalars(select(ChannelMessage.body).order_by(ChannelMessage.id)).all()
            assert [body["text"] for body in bodies] == [
                f"顾客{made.account_ids[0]}-0您好，双十一内购券已到账",
                f"顾客{made.account_ids[0]}-1您好，双十一内购券已到账",
            ]
            results = service.results(session, None, broadcast_id)
            assert (results.sent, results.queued, results.skipped) == (2, 0, 0)
            assert service.get_broadcast(session, None, broadcast_id).status == BroadcastStatus.DONE

    def test_assisted_accounts_get_operator_tasks(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 1, channel_backend="assisted")
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
        drain_at(TUESDAY_10 + timedelta(seconds=1))
        with database.sessions() as session:
            assert statuses(session, broadcast_id) == [("queued_task", "")]
            task = session.scalars(select(AssistedTask)).one()
            assert task.script_text.endswith("您好，双十一内购券已到账")
            assert sends(session, broadcast_id)[0].task_id == task.id

    def test_a_draft_is_not_sent(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 1)
        with travel_to(TUESDAY_10), database.sessions() as session:
            segment = make_segment(session, None, made.account_ids)
            service.create_broadcast(session, None, broadcast_in(segment))
            session.commit()
        assert drain_at(TUESDAY_10 + timedelta(minutes=5)) == 0


class TestWorker:
    def test_a_run_waits_for_rows_falling_due(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 3)
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
            # Rows due now, +1 s and +2 s: one run that keeps going sends all three, paced.
            tasks.drain_queue(broadcast_id, keep_running=5)
            with database.sessions() as session:
                assert statuses(session, broadcast_id) == [("sent", "")] * 3
                times = [row.sent_at for row in sends(session, broadcast_id)]
                assert times == sorted(times)  # in slot order
                assert all(
                    later - earlier >= timedelta(milliseconds=999)
                    for earlier, later in itertools.pairwise(times)
                    if earlier and later
                )

    def test_a_run_without_waiting_stops_at_the_first_future_row(
        self, database: Database, fleet: Any
    ) -> None:
        made = fleet(1, 3)
        with travel_to(TUESDAY_10):
            # Rows 10 s apart (6 a minute): on a slow machine the first send still finishes long
            # before the second row falls due (the simulated clock keeps ticking).
            broadcast_id = started(database, made.account_ids, messages_per_minute=6)
            assert tasks.drain_queue(broadcast_id) == 1


class TestRechecks:
    def test_an_opt_out_after_planning_stops_the_next_send(
        self, database: Database, fleet: Any
    ) -> None:
        made = fleet(1, 2)
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
            with database.sessions() as session:
                event, _new = events.receive(
                    session,
                    EventIn(
                        backend="simulator",
                        external_event_id="m1",
                        kind="message",
                        account_id=made.account_ids[0],
                        payload={"contact_id": made.contact_ids[1], "text": " td "},
                    ),
                )
                assert events.process(session, event.id) == "opted out"
                session.commit()
        drain_over(TUESDAY_10, 5)
        with database.sessions() as session:
            assert statuses(session, broadcast_id) == [("sent", ""), ("skipped", "opted_out")]

    def test_opt_out_keywords_are_a_setting(self, database: Database, settings: Any) -> None:
        configure(settings.model_copy(update={"opt_out_keywords": "取消订阅, STOP"}))
        assert events.opt_out_keywords() == frozenset({"取消订阅", "stop"})

    def test_quiet_hours_defer_and_nothing_is_sent_at_night(
        self, database: Database, fleet: Any
    ) -> None:
        made = fleet(1, 1)
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
        night = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: a late worker
        drain_at(night)
        with database.sessions() as session:
            row = sends(session, broadcast_id)[0]
            assert (row.status, row.reason) == (SendStatus.QUEUED, "deferred: quiet_hours")
            assert row.due_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00
            assert session.scalar(select(func.count()).select_from(ChannelMessage)) == 0
        drain_at(datetime(2026, 12, 2, 0, 0, 5, tzinfo=UTC))
        with database.sessions() as session:
            assert statuses(session, broadcast_id) == [("sent", "")]

    def test_removed_contact_and_unavailable_account(self, database: Database, fleet: Any) -> None:
        made = fleet(2, 1)
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
            with database.sessions() as session:
                session.execute(
                    update(Contact).where(Contact.id == made.contact_ids[0]).values(state="removed")
                )
                session.execute(
                    update(OperatorAccount)
                    .where(OperatorAccount.id == made.account_ids[1])
                    .values(status="banned")
                )
                session.commit()
        drain_at(TUESDAY_10 + timedelta(seconds=5))
        with database.sessions() as session:
            assert statuses(session, broadcast_id) == [
                ("skipped", "not_friend"),
                ("skipped", "account_unavailable"),
            ]

    def test_member_quota_one_a_day(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 1)
        with travel_to(TUESDAY_10):
            first = started(database, made.account_ids)
            second = started(database, made.account_ids, name="第二条")
        drain_over(TUESDAY_10, 30)
        with database.sessions() as session:
            assert statuses(session, first) == [("sent", "")]
            assert statuses(session, second) == [("skipped", "quota_member_day")]

    def test_daily_person_quota_across_accounts(
        self, database: Database, fleet: Any, settings: Any
    ) -> None:
        configure(settings.model_copy(update={"broadcast_quota_preset": "day_1"}))
        made = fleet(2, 1)
        with database.sessions() as session:
            # The second account's contact is the same person as the first's.
            session.execute(
                update(Contact)
                .where(Contact.id == made.contact_ids[1])
                .values(consumer_id=made.consumer_ids[0])
            )
            session.commit()
        with travel_to(TUESDAY_10):
            first = started(database, made.account_ids[:1])
            second = started(database, made.account_ids[1:], name="第二条")
        drain_over(TUESDAY_10, 30)
        with database.sessions() as session:
            assert statuses(session, first) == [("sent", "")]
            assert statuses(session, second) == [("skipped", "quota_day")]

    def test_pacing_across_broadcasts(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 2)
        with travel_to(TUESDAY_10):
            started(database, made.account_ids, messages_per_minute=6)
        drain_at(TUESDAY_10 + timedelta(minutes=2))
        with database.sessions() as session:
            times = session.scalars(
                select(ChannelMessage.sent_at).order_by(ChannelMessage.id)
            ).all()
            assert len(times) == 1
        drain_at(TUESDAY_10 + timedelta(minutes=2, seconds=11))
        with database.sessions() as session:
            times = session.scalars(
                select(ChannelMessage.sent_at).order_by(ChannelMessage.id)
            ).all()
            assert len(times) == 2
            assert times[1] - times[0] >= timedelta(seconds=10)


class TestCancelAndRetry:
    def test_cancel_stops_queued_rows(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 3)
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids, messages_per_minute=1)
        drain_at(TUESDAY_10 + timedelta(seconds=5))
        with database.sessions() as session:
            assert service.cancel(session, None, broadcast_id) == 2
            session.commit()
        drain_at(TUESDAY_10 + timedelta(minutes=10))
        with database.sessions() as session:
            assert statuses(session, broadcast_id) == [
                ("sent", ""),
                ("cancelled", "broadcast_cancelled"),
                ("cancelled", "broadcast_cancelled"),
            ]
            with pytest.raises(service.BroadcastNotCancellable):
                service.cancel(session, None, broadcast_id)

    def test_failed_sends_are_recorded_and_retried(self, database: Database, fleet: Any) -> None:
        made = fleet(1, 1, channel_backend="wecom")
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
        drain_at(TUESDAY_10 + timedelta(seconds=5))
        with travel_to(TUESDAY_10 + timedelta(seconds=10)), database.sessions() as session:
            assert statuses(session, broadcast_id) == [("failed", "channel_not_configured")]
            session.execute(
                update(OperatorAccount)
                .where(OperatorAccount.id == made.account_ids[0])
                .values(channel_backend="simulator")
            )
            assert service.retry_failed(session, None, broadcast_id) == 1
            session.commit()
        drain_at(TUESDAY_10 + timedelta(minutes=1))
        with database.sessions() as session:
            assert statuses(session, broadcast_id) == [("sent", "")]
            row = sends(session, broadcast_id)[0]
            assert row.attempts == 2


class TestTwoWorkers:
    def test_each_row_is_sent_once(self, database: Database, fleet: Any) -> None:
        made = fleet(4, 15)
        with travel_to(TUESDAY_10):
            broadcast_id = started(database, made.account_ids)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                tasks.drain_queue(limit=10_000)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        # 60 rows, 4 accounts at 1 a second: drain over a simulated minute and a half.
        for second in range(0, 90, 3):
            with travel_to(TUESDAY_10 + timedelta(seconds=second)):
                workers = [threading.Thread(target=work) for _ in range(2)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
        assert errors == []
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(ChannelMessage)) == 60
            per_contact = session.execute(
                select(ChannelMessage.contact_id, func.count()).group_by(ChannelMessage.contact_id)
            ).all()
            assert {count for _contact, count in per_contact} == {1}
            assert {row.status for row in sends(session, broadcast_id)} == {SendStatus.SENT}
            linked = session.scalars(select(BroadcastSend.message_id)).all()
            assert len(set(linked)) == 60
