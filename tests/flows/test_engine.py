from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.config import Settings
from siyu.db import Database, configure_database
from siyu.errors import ValidationFailed
from siyu.flows import actions, engine, policies, rules
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models import AssistedTask, AssistedTaskKind, ChannelEvent, Contact, OperatorAccount
from siyu.models.flows import ConversationStatus, FlowStatus, FlowVersion
from siyu.models.segments import ContactTag
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


class TestTimers:
    def test_reminder_then_timeout_then_on_timeout_step(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(
                session,
                reminder_minutes=30,
                max_reminders=1,
                reminder_text="{昵称}，还在吗？",
                timeout_minutes=120,
                on_timeout="bye",
            )
            started = flows.start_conversation(session, flow.id, contact.id)
            session.commit()
            conversation_id, contact_id = started.id, contact.id
            since = started.waiting_since
            assert since is not None
            assert started.due_at == since + timedelta(minutes=30)
        with database.sessions() as session:
            # Not yet due: nothing happens.
            assert flows.fire_due_timers(session, since + timedelta(minutes=29)) == 0
            assert flows.fire_due_timers(session, since + timedelta(minutes=31)) == 1
            session.commit()
            assert outgoing(session, contact_id)[-1] == "小李，还在吗？"
            waiting = conversation(session, conversation_id)
            assert (waiting.reminders_sent, waiting.due_at) == (1, since + timedelta(minutes=120))
            # The same moment again (a second job run): idempotent.
            assert flows.fire_due_timers(session, since + timedelta(minutes=31)) == 0
            assert flows.fire_due_timers(session, since + timedelta(minutes=121)) == 1
            session.commit()
            done = conversation(session, conversation_id)
            assert done.status == ConversationStatus.COMPLETED
            assert outgoing(session, contact_id)[-1] == "超时了，下次再聊。"
            assert [t for t in turns(session, conversation_id) if t[1] == "timer"] == [
                ("pick", "timer", "reminder"),
                ("pick", "timer", "timeout"),
            ]

    def test_job_fires_due_timers(self, database: Database, queue: JobQueue) -> None:
        from siyu.flows import tasks

        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session, timeout_minutes=1)
            started = flows.start_conversation(session, flow.id, contact.id)
            started.due_at = started.started_at - timedelta(minutes=5)
            started.waiting_since = started.started_at - timedelta(minutes=6)
            session.commit()
            conversation_id = started.id
        tasks.fire_timers()
        tasks.fire_timers()
        with database.sessions() as session:
            done = conversation(session, conversation_id)
            assert (done.status, done.error) == (ConversationStatus.COMPLETED, "timed out")


class TestHandover:
    def test_keyword_hands_over_and_creates_a_task(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            started = flows.start_conversation(session, flow.id, contact.id)
            say(session, contact, "我要人工", "1")
            session.commit()
            conversation_id = started.id
        queue.run_pending()
        with database.sessions() as session:
            parked = conversation(session, conversation_id)
            assert (parked.status, parked.step_id) == (ConversationStatus.HANDOVER, "human")
            task = session.scalars(select(AssistedTask)).one()
            assert (task.kind, task.source_kind, task.source_id) == (
                AssistedTaskKind.OTHER,
                "conversation",
                conversation_id,
            )
            assert task.script_text == "客户要人工\n客户最后回复：我要人工"
            # While parked, messages are only recorded.
            contact = session.get_one(Contact, parked.contact_id)
            say(session, contact, "2", "2")
            session.commit()
        queue.run_pending()
        with database.sessions() as session:
            assert conversation(session, conversation_id).status == ConversationStatus.HANDOVER
            resumed = flows.resume_conversation(session, None, conversation_id, "confirm")
            assert resumed.status == ConversationStatus.COMPLETED

    def test_retries_exhausted_hand_over(self, database: Database, queue: JobQueue) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session, max_retries=1)
            started = flows.start_conversation(session, flow.id, contact.id)
            say(session, contact, "啊？", "1")
            say(session, contact, "什么", "2")
            session.commit()
            conversation_id = started.id
        queue.run_pending()
        with database.sessions() as session:
            parked = conversation(session, conversation_id)
            assert (parked.status, parked.retries) == (ConversationStatus.HANDOVER, 2)
            assert session.scalar(select(func.count()).select_from(AssistedTask)) == 1

    def test_action_error_fails_and_hands_over(self, database: Database, queue: JobQueue) -> None:
        def broken(_session: Any, _context: actions.ActionContext) -> actions.ActionResult:
            raise ValidationFailed(field="boom")

        actions.register("test.broken", broken)
        try:
            with database.sessions() as session:
                contact = make_contact(session)
                flow = flows.create_flow(
                    session,
                    None,
                    "坏动作",
                    [{"id": "a", "type": "action", "action": "test.broken"}],
                )
                flows.publish_flow(session, None, flow.id)
                started = flows.start_conversation(session, flow.id, contact.id)
                assert (started.status, started.error, started.open_key) == (
                    ConversationStatus.FAILED,
                    "Invalid input: boom.",
                    None,
                )
                task = session.scalars(select(AssistedTask)).one()
                assert task.script_text == "动作 test.broken 失败：输入有误：boom。"
        finally:
            actions._registry.pop("test.broken")


class TestPublishingAndVersions:
    def test_unknown_action_refuses_publish_and_nothing_changes(self, database: Database) -> None:
        with database.sessions() as session:
            flow = flows.create_flow(
                session,
                None,
                "未知",
                [
                    {"id": "a", "type": "action", "action": "nope.one"},
                    {"id": "b", "type": "action", "action": "contact.tag"},
                    {"id": "c", "type": "action", "action": "nope.two"},
                ],
            )
            with pytest.raises(flows.FlowActionsUnknown) as raised:
                flows.publish_flow(session, None, flow.id)
            assert raised.value.en == (
                "The flow uses actions that are not registered: nope.one, nope.two"
            )
            assert (flow.status, flow.current_version_id, flow.versions_count) == (
                FlowStatus.DRAFT,
                None,
                0,
            )
            assert session.scalar(select(func.count()).select_from(FlowVersion)) == 0
            with pytest.raises(flows.FlowNotPublished):
                flows.start_conversation(session, flow.id, make_contact(session).id)

    def test_edit_while_running_keeps_running_conversations_on_their_version(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            first_contact = make_contact(session, union_id="a")
            second_contact = make_contact(session, union_id="b")
            flow = style_flow(session)
            old = flows.start_conversation(session, flow.id, first_contact.id)
            # Edit the confirmation and publish v2; and a new version of the greeting script.
            steps = rules.steps_of(flow.draft)
            steps[3]["text"] = "收到，{款式} 号已登记。"
            flows.update_flow(session, None, flow.id, steps=steps)
            flows.update_script(session, None, steps[0]["script_id"], body="新的欢迎语")
            assert outgoing(session, first_contact.id) == ["小李您好，请回复款式编号 1-3。"]
            version = flows.publish_flow(session, None, flow.id)
            new = flows.start_conversation(session, flow.id, second_contact.id)
            assert (version.version, new.flow_version_id) == (2, version.id)
            assert old.flow_version_id != version.id
            assert outgoing(session, second_contact.id) == ["新的欢迎语"]
            say(session, first_contact, "1", "1")
            say(session, second_contact, "1", "1")
            session.commit()
            ids = (first_contact.id, second_contact.id)
        queue.run_pending()
        with database.sessions() as session:
            assert outgoing(session, ids[0])[-1] == "好的，您选了 1 号。"
            assert outgoing(session, ids[1])[-1] == "收到，1 号已登记。"


class TestRestart:
    def test_new_process_state_resumes_where_it_was(
        self, settings: Settings, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session, timeout_minutes=60, on_timeout="bye")
            started = flows.start_conversation(session, flow.id, contact.id)
            session.commit()
            conversation_id, contact_id = started.id, contact.id
            since = started.waiting_since
        # A "restart": a new engine (no cached definitions) and a new database connection pool.
        database.dispose()
        engine.clear_cache()
        fresh = configure_database(settings.resolved_database_url)
        with fresh.sessions() as session:
            contact = session.get_one(Contact, contact_id)
            say(session, contact, "abc", "1")  # no match: a retry, state kept
            session.commit()
        queue.run_pending()
        engine.clear_cache()
        with fresh.sessions() as session:
            assert conversation(session, conversation_id).retries == 1
            assert since is not None
            assert flows.fire_due_timers(session, since + timedelta(minutes=61)) == 1
            session.commit()
            assert conversation(session, conversation_id).status == ConversationStatus.COMPLETED
            assert outgoing(session, contact_id)[-1] == "超时了，下次再聊。"
        fresh.dispose()


class TestReplyLimits:
    def test_registered_policy_holds_messages_until_the_customer_writes(
        self, database: Database, queue: JobQueue
    ) -> None:
        policies.register_reply_policy(
            "simulator", rules.ReplyPolicy(max_replies=1, window=timedelta(hours=48))
        )
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            started = flows.start_conversation(session, flow.id, contact.id)
            # No customer message yet: the greeting is held, nothing is sent.
            assert outgoing(session, contact.id) == []
            assert started.held == ["小李您好，请回复款式编号 1-3。"]
            say(session, contact, "在吗", "1")
            session.commit()
            conversation_id, contact_id = started.id, contact.id
        queue.run_pending()
        with database.sessions() as session:
            # The customer's message opens the window: one reply allowed, the held greeting goes;
            # the retry prompt ("在吗" is not 1-3) is held in its turn.
            waiting = conversation(session, conversation_id)
            assert outgoing(session, contact_id) == ["小李您好，请回复款式编号 1-3。"]
            assert waiting.held == ["请回复 1-3 之间的数字。"]
            assert waiting.replies_in_window == 1

    def test_wecom_preset_holds_everything_before_the_customer_writes(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session, backend="wecom")
            started = flows.start_conversation(session, style_flow(session).id, contact.id)
            assert (started.status, started.held) == (
                ConversationStatus.WAITING,
                ["小李您好，请回复款式编号 1-3。"],
            )
            assert ("greet", "held", "reply limit") in turns(session, started.id)

    def test_wecom_preset_is_five_in_48_hours(self) -> None:
        policy = policies.policy_for("wecom")
        assert (policy.max_replies, policy.window) == (5, timedelta(hours=48))
        assert policies.policy_for("simulator").unlimited


class TestTimerFailures:
    def test_a_refused_send_retries_later_and_does_not_block_other_timers(
        self, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            broken = make_contact(session, union_id="a")
            fine = make_contact(session, union_id="b")
            flow = style_flow(session, reminder_minutes=10, reminder_text="还在吗")
            first = flows.start_conversation(session, flow.id, broken.id)
            second = flows.start_conversation(session, flow.id, fine.id)
            # The first account moves to WeCom, which refuses to send until configured (its
            # reply limit lifted here, so the reminder is sent rather than held).
            session.get_one(OperatorAccount, broken.account_id).channel_backend = "wecom"
            policies.register_reply_policy("wecom", rules.UNLIMITED)
            session.commit()
            since = first.waiting_since
            assert since is not None
            ids = (first.id, second.id, fine.id)
        with database.sessions() as session:
            moment = since + timedelta(minutes=11)
            assert flows.fire_due_timers(session, moment) == 1
            session.commit()
            failed = conversation(session, ids[0])
            assert (failed.status, failed.reminders_sent, failed.due_at) == (
                ConversationStatus.WAITING,
                0,
                moment + timedelta(minutes=15),
            )
            assert failed.error == "The wecom channel is not configured."
            assert conversation(session, ids[1]).reminders_sent == 1
            assert outgoing(session, ids[2])[-1] == "还在吗"


class TestConcurrentStarts:
    def test_four_starts_at_once_make_one_conversation(
        self, database: Database, queue: JobQueue
    ) -> None:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            session.commit()
            flow_id, contact_id = flow.id, contact.id
        barrier = threading.Barrier(4)

        def start() -> int:
            barrier.wait()
            with database.sessions() as session:
                started = flows.start_conversation(session, flow_id, contact_id)
                session.commit()
                return started.id

        with ThreadPoolExecutor(max_workers=4) as executor:
            ids = {future.result() for future in [executor.submit(start) for _ in range(4)]}
        with database.sessions() as session:
            assert len(ids) == 1
            assert outgoing(session, contact_id) == ["小李您好，请回复款式编号 1-3。"]


class TestStaffActions:
    def test_cancel_closes_and_a_second_cancel_is_refused(self, database: Database) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            started = flows.start_conversation(session, style_flow(session).id, contact.id)
            cancelled = flows.cancel_conversation(session, None, started.id)
            assert (cancelled.status, cancelled.open_key) == (ConversationStatus.CANCELLED, None)
            with pytest.raises(flows.ConversationClosed):
                flows.cancel_conversation(session, None, started.id)
            # Closed: the same flow can start again for the contact.
            again = flows.start_conversation(session, started.flow_id, contact.id)
            assert again.id != started.id

    def test_simulated_replies_only_on_simulator_accounts(self, database: Database) -> None:
        with database.sessions() as session:
            contact = make_contact(session, backend="assisted")
            started = flows.start_conversation(session, style_flow(session).id, contact.id)
            with pytest.raises(flows.SimulatorOnly):
                flows.simulate_reply(session, None, started.id, "1")
            with pytest.raises(flows.ReplyTextRequired):
                flows.simulate_reply(session, None, started.id, "  ")
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(ChannelEvent)
                    .where(ChannelEvent.kind == "message")
                )
                == 0
            )
