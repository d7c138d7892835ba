from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consumers.service import ConsumerIdentity
from siyu.flows import actions, engine, policies
from siyu.flows import service as flows
from siyu.models import ChannelMessage, Contact
from siyu.models.flows import Conversation, ConversationTurn, Flow
from siyu.pool import events
from siyu.pool import service as pool
from siyu.pool.schemas import EventIn
from tests.pool.conftest import make_account, make_code

CAMPAIGN_ACTIONS = (
    "campaign.check_quota",
    "campaign.choose_style",
    "campaign.request_proof",
    "campaign.personal_code",
    "campaign.check_progress",
    "campaign.issue_reward",
    "campaign.invite_to_group",
)


def make_contact(
    session: Session, backend: str = "simulator", union_id: str = "u-1", **values: Any
) -> Contact:
    """A confirmed contact on a fresh account of ``backend``."""
    account = make_account(session, f"号-{union_id}", channel_backend=backend, **values)
    code = make_code(session, rule={"account_ids": [account.id]})
    result = pool.scan(session, code.code, ConsumerIdentity(union_id=union_id, nickname="小李"))
    assert result.contact is not None
    event, _ = events.receive(
        session,
        EventIn(
            backend=backend,
            external_event_id=f"add-{union_id}",
            kind="friend_added",
            account_id=account.id,
            payload={"contact_id": result.contact.id},
        ),
    )
    events.process(session, event.id)
    return result.contact


def say(session: Session, contact: Contact, text: str, key: str, backend: str = "simulator") -> int:
    """An inbound message event (not yet processed); returns its id."""
    event, _ = events.receive(
        session,
        EventIn(
            backend=backend,
            external_event_id=f"msg:{contact.id}:{key}",
            kind="message",
            account_id=contact.account_id,
            payload={"contact_id": contact.id, "text": text},
        ),
    )
    return event.id


def outgoing(session: Session, contact_id: int) -> list[str]:
    return [
        str(row.body.get("text", ""))
        for row in session.scalars(
            select(ChannelMessage)
            .where(ChannelMessage.contact_id == contact_id, ChannelMessage.direction == "out")
            .order_by(ChannelMessage.id)
        )
    ]


def turns(session: Session, conversation_id: int) -> list[tuple[str, str, str]]:
    return [
        (turn.step_id, turn.kind, turn.outcome)
        for turn in session.scalars(
            select(ConversationTurn)
            .where(ConversationTurn.conversation_id == conversation_id)
            .order_by(ConversationTurn.id)
        )
    ]


def style_flow(session: Session, publish: bool = True, **wait: Any) -> Flow:
    """greet → wait for 1-3 (retry prompt, reminder/timeout) → tag → confirm → end."""
    greeting = flows.create_script(session, None, "欢迎", "{昵称}您好，请回复款式编号 1-3。")
    steps = [
        {"id": "greet", "type": "send", "script_id": greeting.id},
        {
            "id": "pick",
            "type": "wait",
            "save_as": "款式",
            "match": [
                {"kind": "number", "min": 1, "max": 3, "next": "tag"},
                {"kind": "keyword", "words": ["人工"], "next": "human"},
            ],
            "retry_text": "请回复 1-3 之间的数字。",
            **wait,
        },
        {"id": "tag", "type": "action", "action": "contact.tag", "params": {"tag": "款式{款式}"}},
        {"id": "confirm", "type": "send", "text": "好的，您选了 {款式} 号。", "next": "end"},
        {"id": "human", "type": "handover", "text": "客户要人工"},
        {"id": "bye", "type": "send", "text": "超时了，下次再聊。"},
        {"id": "end", "type": "end"},
    ]
    flow = flows.create_flow(session, None, "选款", steps)
    if publish:
        flows.publish_flow(session, None, flow.id)
    return flow


def conversation(session: Session, conversation_id: int) -> Conversation:
    session.expire_all()
    return session.get_one(Conversation, conversation_id)


@pytest.fixture
def campaign_stubs() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Stub campaign.* actions, for this test only: quota available, reward issued, …"""
    calls: list[tuple[str, dict[str, Any]]] = []
    outcomes = {
        "campaign.check_quota": actions.ActionResult(
            "available", {"剩余名额": "12", "款式列表": "1. 黑色\n2. 银色\n3. 粉色"}
        ),
        "campaign.choose_style": actions.ActionResult("chosen"),
        "campaign.request_proof": actions.ActionResult("accepted"),
        "campaign.personal_code": actions.ActionResult(
            "ok", {"邀请链接": "http://t/c/x?state=p1", "邀请人数": "3"}
        ),
        "campaign.check_progress": actions.ActionResult(
            "pending", {"已邀请人数": "1", "还差人数": "2"}
        ),
        "campaign.issue_reward": actions.ActionResult("issued"),
        "campaign.invite_to_group": actions.ActionResult("sent", {"链接": "http://t/g/abc"}),
    }

    def make(name: str) -> actions.ActionHandler:
        def handler(_session: Session, context: actions.ActionContext) -> actions.ActionResult:
            calls.append((name, dict(context.params)))
            return outcomes[name]

        return handler

    # The real siyu.campaigns handlers (once merged) are put back afterwards.
    previous = {name: actions._registry.pop(name, None) for name in CAMPAIGN_ACTIONS}
    for name in CAMPAIGN_ACTIONS:
        actions.register(name, make(name))
    yield calls
    for name, handler in previous.items():
        actions._registry.pop(name, None)
        if handler is not None:
            actions._registry[name] = handler


@pytest.fixture(autouse=True)
def _fresh_engine() -> Iterator[None]:
    engine.clear_cache()
    yield
    engine.clear_cache()
    policies.unregister_reply_policy("simulator")
    policies.unregister_reply_policy("assisted")
    policies.unregister_reply_policy("wecom")


from tests.promoters.conftest import make_promoter  # noqa: E402, F401  (fixture re-export)
