"""Inbound messages per second through the conversation engine, with 10,000 conversations
running, against a bare insert of the same message rows, in the same run on the same database.

siyu: the inbox drained by ``siyu.pool.events.process_many``, 100 events a transaction (the load
path; ``pool.process_event`` does one): the event rows locked in one statement, their contacts in
one more, the flows prefetch hook reading (and locking) the contacts' open conversations and the
already-taken (conversation, event) pairs in two more; then per message, in its own savepoint,
the inbound ``channel_message``, the contact's last-message time, the conversation driven (the
exactly-once check, the reply matched against the wait's rules, the variable saved, the next
step's text rendered and sent through the simulator backend as an outbound ``channel_message``,
back to waiting); the batch's turns in one multi-row INSERT and the events marked processed.

The messages are first received through ``siyu.pool.events.receive``, one transaction each (what a
backend callback does); that rate is printed, not in the ratio: it is the pool's inbox, not the
engine.

Baseline, same database, same run: hand-written SQLAlchemy Core, one transaction per message,
writing the rows a processed message leaves behind — the processed ``channel_event``, the inbound
and the outbound ``channel_message`` — with every value known in advance. siyu writes more (the
conversation's state, its turn, the contact) and reads what it needs: that is the cost measured.

Set-up (not timed): one simulator account, 10,000 confirmed contacts, a published flow ("reply
a number 1-9" → "收到 {n}" → back to the wait) and 10,000 waiting conversations on it; messages go
to contacts chosen at random. Rounds alternate (baseline, siyu); each side's best round counts (a
shared machine only ever takes speed away). Afterwards every message must have advanced exactly
one conversation once.

    .venv/bin/python bench/conversations.py --quick   # 3 rounds of 500 messages, < 1 minute
    .venv/bin/python bench/conversations.py           # 4 rounds of 2,000

Ends with ``conversations: ratio=<siyu messages/s ÷ baseline messages/s> target>=0.2 PASS|MISS``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import prepare_database

TARGET_RATIO = 0.2
CONVERSATIONS = 10_000


def seed(conversations: int) -> dict[str, Any]:
    """Account, contacts and waiting conversations (bulk, untimed); the flow via the service."""
    from sqlalchemy import insert

    from siyu.db import unit_of_work
    from siyu.flows import service as flows
    from siyu.kit.time import utc_now
    from siyu.models import AccountKind, Consumer, Contact, ContactSourceKind, ContactState
    from siyu.models.flows import Conversation, ConversationStatus
    from siyu.pool import service as pool
    from siyu.pool.schemas import AccountCreate

    now = utc_now()
    with unit_of_work() as session:
        account = pool.create_account(
            session,
            None,
            AccountCreate(
                name="基准号",
                kind=AccountKind.PERSONAL_ASSISTED,
                channel_backend="simulator",
                max_friends=10_000,
            ),
        )
        flow = flows.create_flow(
            session,
            None,
            "基准流程",
            [
                {
                    "id": "ask",
                    "type": "wait",
                    "save_as": "n",
                    "match": [{"kind": "number", "min": 1, "max": 9, "next": "ack"}],
                    "retry_text": "请回复 1-9",
                    "max_retries": 1_000_000,
                },
                {"id": "ack", "type": "send", "text": "收到 {n} 号，{昵称}", "next": "ask"},
            ],
        )
        version = flows.publish_flow(session, None, flow.id)
        account_id, flow_id, version_id = account.id, flow.id, version.id
    with unit_of_work() as session:
        session.execute(
            insert(Consumer),
            [
                {"nickname": f"顾客{i}", "union_id": f"bench-{i}", "created_at": now}
                for i in range(conversations)
            ],
        )
    with unit_of_work() as session:
        from sqlalchemy import select

        consumer_ids = list(session.scalars(select(Consumer.id).order_by(Consumer.id)))
        session.execute(
            insert(Contact),
            [
                {
                    "consumer_id": consumer_id,
                    "account_id": account_id,
                    "source_kind": ContactSourceKind.CHANNEL,
                    "state": ContactState.CONFIRMED,
                    "added_at": now,
                    "confirmed_at": now,
                    "notes": "",
                }
                for consumer_id in consumer_ids
            ],
        )
    with unit_of_work() as session:
        contacts = list(session.execute(select(Contact.id, Contact.consumer_id)).all())
        session.execute(
            insert(Conversation),
            [
                {
                    "flow_id": flow_id,
                    "flow_version_id": version_id,
                    "contact_id": contact_id,
                    "consumer_id": consumer_id,
                    "account_id": account_id,
                    "open_key": f"{flow_id}:{contact_id}",
                    "status": ConversationStatus.WAITING,
                    "step_id": "ask",
                    "variables": {"昵称": f"顾客{consumer_id}"},
                    "held": [],
                    "waiting_since": now,
                    "started_at": now,
                }
                for contact_id, consumer_id in contacts
            ],
        )
    return {"account_id": account_id, "contacts": [row[0] for row in contacts]}


BATCH = 100


def receive(world: dict[str, Any], queue: Any, messages: list[tuple[int, str, str]]) -> list[int]:
    """The inbox side (a backend callback per message, one transaction each); returns event ids.
    Timed separately: it is the pool's part, not the engine's."""
    from siyu.db import unit_of_work
    from siyu.pool import events
    from siyu.pool.schemas import EventIn

    ids = []
    for contact_id, text, key in messages:
        with unit_of_work() as session:
            event, _ = events.receive(
                session,
                EventIn(
                    backend="simulator",
                    external_event_id=key,
                    kind="message",
                    account_id=world["account_id"],
                    payload={"contact_id": contact_id, "text": text},
                ),
            )
            ids.append(event.id)
    queue.huey.flush()  # the per-event jobs: this run drains the inbox in batches instead
    return ids


def run_siyu(event_ids: list[int]) -> float:
    """The engine: ``events.process_many`` over the inbox, ``BATCH`` events a transaction."""
    from siyu.db import unit_of_work
    from siyu.pool import events

    started = time.perf_counter()
    for offset in range(0, len(event_ids), BATCH):
        with unit_of_work() as session:
            events.process_many(session, event_ids[offset : offset + BATCH])
    return len(event_ids) / (time.perf_counter() - started)


def run_baseline(world: dict[str, Any], messages: list[tuple[int, str, str]]) -> float:
    from sqlalchemy import insert

    from siyu.db import get_database
    from siyu.kit.time import utc_now
    from siyu.models import ChannelEvent, ChannelMessage

    engine = get_database().engine
    account_id = world["account_id"]
    event_table = ChannelEvent.__table__
    message_table = ChannelMessage.__table__
    started = time.perf_counter()
    for contact_id, text, key in messages:
        now = utc_now()
        with engine.begin() as connection:
            connection.execute(
                insert(event_table),
                {
                    "backend": "simulator",
                    "external_event_id": key,
                    "kind": "message",
                    "account_id": account_id,
                    "payload": {"contact_id": contact_id, "text": text},
                    "received_at": now,
                    "processed_at": now,
                    "outcome": "recorded",
                    "attempts": 1,
                },
            )
            connection.execute(
                insert(message_table),
                [
                    {
                        "backend": "simulator",
                        "account_id": account_id,
                        "contact_id": contact_id,
                        "direction": "in",
                        "kind": "text",
                        "body": {"text": text},
                        "sent_at": now,
                        "external_id": key,
                    },
                    {
                        "backend": "simulator",
                        "account_id": account_id,
                        "contact_id": contact_id,
                        "direction": "out",
                        "kind": "text",
                        "body": {"text": f"收到 {text} 号，顾客"},
                        "sent_at": now,
                        "external_id": None,
                    },
                ],
            )
    return len(messages) / (time.perf_counter() - started)


def check(world: dict[str, Any], siyu_messages: int) -> None:
    from sqlalchemy import func, select

    from siyu.db import unit_of_work
    from siyu.models.flows import Conversation, ConversationStatus, ConversationTurn

    with unit_of_work() as session:
        inbound = session.scalar(
            select(func.count())
            .select_from(ConversationTurn)
            .where(ConversationTurn.kind == "inbound")
        )
        sent = session.scalar(
            select(func.count())
            .select_from(ConversationTurn)
            .where(ConversationTurn.kind == "sent")
        )
        waiting = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.status == ConversationStatus.WAITING)
        )
    print(f"check: {inbound:,} inbound turns, {sent:,} replies sent, {waiting:,} still waiting")
    if inbound != siyu_messages or sent != siyu_messages or waiting != len(world["contacts"]):
        raise SystemExit("check failed: every message must advance exactly one conversation once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--messages", type=int, default=None, help="messages per round")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 4)
    size = args.messages or (500 if args.quick else 2000)

    from huey import MemoryHuey

    from siyu.jobs import configure_queue

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'siyu.db'}"
        prepare_database(url, Path(tmp), reset_postgres=False)
        queue = configure_queue(MemoryHuey(name="bench-conversations"))
        import siyu.flows.service  # noqa: F401  (registers the message hook)

        started = time.perf_counter()
        world = seed(CONVERSATIONS)
        print(
            f"SQLite: {CONVERSATIONS:,} waiting conversations seeded in "
            f"{time.perf_counter() - started:.1f} s; {rounds} rounds of {size} messages"
        )
        rng = random.Random(7)
        counter = 0

        def batch(prefix: str) -> list[tuple[int, str, str]]:
            nonlocal counter
            result = []
            for _ in range(size):
                counter += 1
                result.append(
                    (rng.choice(world["contacts"]), str(rng.randint(1, 9)), f"{prefix}-{counter}")
                )
            return result

        # Warm-up (caches, the first flow version parse), not counted.
        run_siyu(receive(world, queue, batch("warm")[:50]))
        siyu_total = 50
        baseline_rates, siyu_rates, receive_rates = [], [], []
        for _round in range(rounds):
            baseline_rates.append(run_baseline(world, batch("base")))
            messages = batch("siyu")
            started = time.perf_counter()
            event_ids = receive(world, queue, messages)
            receive_rates.append(len(messages) / (time.perf_counter() - started))
            siyu_rates.append(run_siyu(event_ids))
            siyu_total += size
        print(
            "inbox receive, not in the ratio (messages/s): "
            + ", ".join(f"{rate:,.0f}" for rate in receive_rates)
        )
        print(
            "baseline rounds (messages/s): "
            + ", ".join(f"{rate:,.0f}" for rate in baseline_rates)
            + f"  best {max(baseline_rates):,.0f}"
        )
        print(
            "siyu rounds (messages/s):     "
            + ", ".join(f"{rate:,.0f}" for rate in siyu_rates)
            + f"  best {max(siyu_rates):,.0f} ({1000 / max(siyu_rates):.2f} ms a message)"
        )
        check(world, siyu_total)
        ratio = max(siyu_rates) / max(baseline_rates)
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print(f"conversations: ratio={ratio:.2f} target>={TARGET_RATIO} {verdict}")


if __name__ == "__main__":
    main()
