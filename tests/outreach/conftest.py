"""Outreach fixtures: a small fleet with confirmed contacts, made directly in the tables (the
pool's routing is tested elsewhere), and helpers to create, start and drain broadcasts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.kit.time import utc_now
from siyu.models import (
    AccountKind,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    WechatGroup,
)
from siyu.models.outreach import BroadcastSend
from siyu.outreach.schemas import AudienceIn, BroadcastIn
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate
from siyu.segments import service as segments
from siyu.segments.schemas import SegmentIn, SegmentRule
from tests.catalog.conftest import catalog  # noqa: F401  (fixture re-export)
from tests.links.conftest import _click_buffer_per_test  # noqa: F401  (autouse fixture)
from tests.promoters.conftest import make_promoter  # noqa: F401  (fixture re-export)

# A Tuesday, 10:00 in Shanghai (02:00 UTC): inside the default send window.
TUESDAY_10 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Fleet:
    account_ids: list[int]
    contact_ids: list[int]
    consumer_ids: list[int]


def add_account(session: Session, name: str, owner: int | None = None, **values: Any) -> int:
    values.setdefault("kind", AccountKind.WECOM_MEMBER)
    values.setdefault("channel_backend", "simulator")
    account = pool.create_account(session, None, AccountCreate(name=name, **values))
    account.owner_promoter_id = owner
    session.flush()
    return account.id


def add_contacts(
    session: Session,
    account_id: int,
    count: int,
    owner: int | None = None,
    consumers: list[int] | None = None,
    **values: Any,
) -> tuple[list[int], list[int]]:
    """``count`` confirmed contacts on an account (new consumers unless ``consumers`` given)."""
    contact_ids: list[int] = []
    consumer_ids: list[int] = []
    now = utc_now()
    for index in range(count):
        if consumers is not None:
            consumer_id = consumers[index]
        else:
            consumer = Consumer(nickname=f"顾客{account_id}-{index}")
            session.add(consumer)
            session.flush()
            consumer_id = consumer.id
        contact = Contact(
            consumer_id=consumer_id,
            account_id=account_id,
            owner_promoter_id=owner,
            source_kind=ContactSourceKind.IMPORT,
            state=values.get("state", ContactState.CONFIRMED),
            marketing_opt_out=values.get("marketing_opt_out", False),
            consent=values.get("consent", True),
            added_at=now,
            confirmed_at=now,
        )
        session.add(contact)
        session.flush()
        contact_ids.append(contact.id)
        consumer_ids.append(consumer_id)
    return contact_ids, consumer_ids


def add_group(session: Session, account_id: int, name: str, **values: Any) -> int:
    group = WechatGroup(account_id=account_id, name=name, **values)
    session.add(group)
    session.flush()
    return group.id


@pytest.fixture
def fleet(database: Database) -> Any:
    """fleet(accounts, contacts_each, owner=None) -> Fleet (committed)."""

    def factory(
        accounts: int, contacts_each: int, owner: int | None = None, **values: Any
    ) -> Fleet:
        with database.sessions() as session:
            account_ids: list[int] = []
            contact_ids: list[int] = []
            consumer_ids: list[int] = []
            for index in range(accounts):
                account_id = add_account(session, f"福利官{index}", owner, **values)
                account_ids.append(account_id)
                contacts, people = add_contacts(session, account_id, contacts_each, owner)
                contact_ids += contacts
                consumer_ids += people
            session.commit()
        return Fleet(account_ids, contact_ids, consumer_ids)

    return factory


def make_segment(
    session: Session, actor: Principal | None, account_ids: list[int], name: str = "全部好友"
) -> int:
    """A segment of every contact of these accounts (``actor`` None = the platform's)."""
    rule = SegmentRule.model_validate(
        {"op": "and", "conditions": [{"kind": "account", "account_ids": account_ids}]}
    )
    return segments.create_segment(session, actor, SegmentIn(name=name, rule=rule)).id


def broadcast_in(segment_id: int, **values: Any) -> BroadcastIn:
    values.setdefault("name", "双十一券")
    values.setdefault("text", "{昵称}您好，双十一内购券已到账")
    return BroadcastIn(audience=AudienceIn(kind="segment", segment_id=segment_id), **values)


def sends(session: Session, broadcast_id: int) -> list[BroadcastSend]:
    return list(
        session.scalars(
            select(BroadcastSend)
            .where(BroadcastSend.broadcast_id == broadcast_id)
            .order_by(BroadcastSend.id)
        ).all()
    )


def count_sends(session: Session, **filters: Any) -> int:
    query = select(func.count()).select_from(BroadcastSend)
    for key, value in filters.items():
        query = query.where(getattr(BroadcastSend, key) == value)
    return int(session.scalar(query) or 0)
