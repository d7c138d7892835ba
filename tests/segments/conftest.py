"""Segment fixtures: a small pool built row by row (accounts, consumers, contacts, tags, orders,
messages, group members), so every condition can be checked against an exact set of contacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.kit import crypto
from siyu.models import (
    AccountKind,
    ChannelMessage,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    GroupMember,
    LifecycleStage,
    OperatorAccount,
    Order,
    OrderSource,
    OrderStatus,
    Promoter,
    PromoterGrade,
    PromoterKind,
    WechatGroup,
)
from siyu.models.segments import ContactTag, Tag, TagKind

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)


@dataclass
class PoolBuilder:
    session: Session
    counter: int = 0
    names: dict[str, int] = field(default_factory=dict)

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def promoter(
        self, name: str = "推手", kind: PromoterKind = PromoterKind.INDIVIDUAL
    ) -> Promoter:
        grade = self.session.query(PromoterGrade).filter_by(level=0).one_or_none()
        if grade is None:
            grade = PromoterGrade(code="entry", name="见习", level=0)
            self.session.add(grade)
            self.session.flush()
        number = self.next()
        phone = f"139{number:08d}"
        promoter = Promoter(
            name=name,
            kind=kind,
            phone_encrypted=crypto.encrypt(phone),
            phone_index=crypto.blind_index(phone),
            invite_code=f"INV{number:05d}",
            grade_id=grade.id,
        )
        self.session.add(promoter)
        self.session.flush()
        return promoter

    def account(
        self,
        name: str = "活动号",
        owner: Promoter | None = None,
        kind: AccountKind = AccountKind.PERSONAL_ASSISTED,
        **fields: Any,
    ) -> OperatorAccount:
        account = OperatorAccount(
            name=f"{name}-{self.next()}",
            kind=kind,
            owner_promoter_id=owner.id if owner is not None else None,
            **fields,
        )
        self.session.add(account)
        self.session.flush()
        return account

    def consumer(self, nickname: str = "", phone: str | None = None) -> Consumer:
        number = self.next()
        phone = phone or f"138{number:08d}"
        consumer = Consumer(
            nickname=nickname or f"顾客{number}",
            phone_encrypted=crypto.encrypt(phone),
            phone_index=crypto.blind_index(phone),
        )
        self.session.add(consumer)
        self.session.flush()
        return consumer

    def contact(
        self,
        account: OperatorAccount,
        consumer: Consumer | None = None,
        region: str = "",
        state: ContactState = ContactState.CONFIRMED,
        **fields: Any,
    ) -> Contact:
        consumer = consumer or self.consumer()
        codes = {"province_code": "", "city_code": "", "district_code": ""}
        if region:
            codes["province_code"] = region[:2] + "0000"
            if not region.endswith("0000"):
                codes["city_code"] = region[:4] + "00"
            if not region.endswith("00"):
                codes["district_code"] = region
        values: dict[str, Any] = {
            "source_kind": ContactSourceKind.CODE,
            "lifecycle_stage": LifecycleStage.NEW,
            "added_at": NOW - timedelta(days=10),
            **codes,
            **fields,
        }
        contact = Contact(
            consumer_id=consumer.id,
            account_id=account.id,
            owner_promoter_id=account.owner_promoter_id,
            state=state,
            **values,
        )
        self.session.add(contact)
        self.session.flush()
        return contact

    def tag(self, name: str, owner: Promoter | None = None) -> Tag:
        tag = Tag(
            name=name,
            kind=TagKind.MANUAL,
            owner_promoter_id=owner.id if owner is not None else None,
            owner_key=owner.id if owner is not None else 0,
        )
        self.session.add(tag)
        self.session.flush()
        return tag

    def tag_contact(self, contact: Contact, *tags: Tag) -> None:
        for tag in tags:
            self.session.add(
                ContactTag(contact_id=contact.id, tag_id=tag.id, source="manual", applied_at=NOW)
            )
        self.session.flush()

    def order(
        self,
        consumer_id: int,
        paid_fen: int,
        days_ago: float,
        status: OrderStatus = OrderStatus.RECEIVED,
    ) -> Order:
        order = Order(
            order_no=f"SO{self.next():010d}",
            source=OrderSource.H5,
            consumer_id=consumer_id,
            status=status,
            items_fen=paid_fen,
            paid_fen=paid_fen,
            paid_at=NOW - timedelta(days=days_ago),
        )
        self.session.add(order)
        self.session.flush()
        return order

    def message(self, contact: Contact, at: datetime, direction: str = "in") -> ChannelMessage:
        message = ChannelMessage(
            backend="simulator",
            account_id=contact.account_id,
            contact_id=contact.id,
            direction=direction,
            kind="text",
            body={"text": "好的"},
            sent_at=at,
        )
        self.session.add(message)
        self.session.flush()
        return message

    def group(self, account: OperatorAccount, name: str = "优惠券群") -> WechatGroup:
        group = WechatGroup(
            account_id=account.id, owner_promoter_id=account.owner_promoter_id, name=name
        )
        self.session.add(group)
        self.session.flush()
        return group

    def join(self, group: WechatGroup, contact: Contact, left: bool = False) -> GroupMember:
        member = GroupMember(
            group_id=group.id,
            consumer_id=contact.consumer_id,
            contact_id=contact.id,
            source_kind=ContactSourceKind.GROUP_CODE,
            joined_at=NOW - timedelta(days=3),
            left_at=NOW - timedelta(days=1) if left else None,
        )
        self.session.add(member)
        self.session.flush()
        return member


@pytest.fixture
def pool(database: Database) -> Any:
    with database.sessions() as session:
        yield PoolBuilder(session)
