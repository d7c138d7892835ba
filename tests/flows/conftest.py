from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
    "campaign.join",
    "campaign.request_proof",
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


@dataclass
class CampaignStubs:
    calls: list[tuple[str, dict[str, Any]]]
    outcomes: dict[str, actions.ActionResult]


@pytest.fixture
def campaign_stubs() -> Iterator[CampaignStubs]:
    """Stub campaign.* actions, for this test only, with siyu.campaigns' documented outcomes and
    variables (docs/campaigns.md "Flow actions"); a test may change ``outcomes``."""
    stubs = CampaignStubs(
        calls=[],
        outcomes={
            "campaign.check_quota": actions.ActionResult(
                "available", {"剩余名额": "12", "district": "360702"}
            ),
            "campaign.choose_style": actions.ActionResult(
                "ok", {"款式": "星空银 24 寸", "款式编号": "2"}
            ),
            "campaign.join": actions.ActionResult(
                "ok",
                {
                    "链接": "http://t/c/x?state=p1",
                    "海报": "http://t/poster.png",
                    "我的活动": "http://t/h5/me",
                },
            ),
            "campaign.request_proof": actions.ActionResult(
                "ok", {"上传链接": "http://t/h5/me#proof"}
            ),
            "campaign.issue_reward": actions.ActionResult("issued", {"奖品": "拉杆箱"}),
            "campaign.invite_to_group": actions.ActionResult("ok", {"群链接": "http://t/g/abc"}),
        },
    )

    def make(name: str) -> actions.ActionHandler:
        def handler(_session: Session, context: actions.ActionContext) -> actions.ActionResult:
            stubs.calls.append((name, dict(context.params)))
            return stubs.outcomes[name]

        return handler

    # The real siyu.campaigns handlers (once merged) are put back afterwards.
    previous = {name: actions._registry.pop(name, None) for name in CAMPAIGN_ACTIONS}
    for name in CAMPAIGN_ACTIONS:
        actions.register(name, make(name))
    yield stubs
    for name, handler in previous.items():
        actions._registry.pop(name, None)
        if handler is not None:
            actions._registry[name] = handler


@pytest.fixture
def no_campaign_actions() -> Iterator[None]:
    """As before siyu.campaigns is deployed: its actions unregistered for this test."""
    previous = {name: actions._registry.pop(name, None) for name in CAMPAIGN_ACTIONS}
    yield
    for name, handler in previous.items():
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
