"""Segment fixtures: a small pool built row by row (accounts, consumers, contacts, tags, orders,
messages, group members), so every condition can be checked against an exact set of contacts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.kit import crypto
from siyu.kit.time import travel_to
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
from siyu.segments import service
from siyu.segments.repository import ContactScope, SegmentRepository
from siyu.segments.schemas import SegmentRule

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
        region: str = "",
    ) -> Order:
        order = Order(
            order_no=f"SO{self.next():010d}",
            source=OrderSource.H5,
            consumer_id=consumer_id,
            status=status,
            items_fen=paid_fen,
            paid_fen=paid_fen,
            paid_at=NOW - timedelta(days=days_ago),
            region=region,
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


PLATFORM = ContactScope(None)


@dataclass
class Scene:
    pool: PoolBuilder
    ids: dict[str, int]
    promoter_id: int
    tags: dict[str, int]
    accounts: dict[str, int]
    group_id: int

    def match(self, rule: dict[str, Any], scope: ContactScope = PLATFORM) -> set[str]:
        parsed = SegmentRule.model_validate(rule)
        where = service.compile_for(self.pool.session, parsed, scope)
        found = set(SegmentRepository(self.pool.session).contact_ids(where, 1000))
        return {name for name, contact_id in self.ids.items() if contact_id in found}


@pytest.fixture
def scene(pool: PoolBuilder) -> Iterator[Scene]:
    with travel_to(NOW):
        promoter = pool.promoter("王团长")
        account_a = pool.account("活动号A")
        account_b = pool.account("活动号B")
        account_c = pool.account("团长号", owner=promoter)
        vip, mum = pool.tag("VIP"), pool.tag("宝妈")
        own = pool.tag("老客", owner=promoter)
        group = pool.group(account_a)
        shared = pool.consumer("小美")
        k1 = pool.contact(
            account_a,
            shared,
            "330106",
            lifecycle_stage=LifecycleStage.CUSTOMER,
            last_message_at=NOW - timedelta(days=1),
        )
        k2 = pool.contact(
            account_a,
            region="330122",
            source_kind=ContactSourceKind.CAMPAIGN,
            source_id=7,
            added_at=NOW - timedelta(days=40),
        )
        k3 = pool.contact(
            account_b,
            region="360602",
            lifecycle_stage=LifecycleStage.REPEAT,
            source_kind=ContactSourceKind.COURIER,
            source_id=9,
            marketing_opt_out=True,
            last_message_at=NOW - timedelta(days=20),
        )
        k4 = pool.contact(
            account_b,
            region="110105",
            lifecycle_stage=LifecycleStage.ENGAGED,
            state=ContactState.PENDING,
        )
        k5 = pool.contact(
            account_a, lifecycle_stage=LifecycleStage.LOST, state=ContactState.REMOVED
        )
        k6 = pool.contact(account_c, shared, "330106", lifecycle_stage=LifecycleStage.CUSTOMER)
        pool.tag_contact(k1, vip)
        pool.tag_contact(k2, vip, mum)
        pool.tag_contact(k3, mum)
        pool.tag_contact(k6, own)
        pool.order(shared.id, 20000, days_ago=2)
        pool.order(k3.consumer_id, 5000, days_ago=40)
        pool.order(k3.consumer_id, 90000, days_ago=1, status=OrderStatus.CANCELLED)
        pool.order(k4.consumer_id, 60000, days_ago=5)
        pool.order(k4.consumer_id, 40000, days_ago=100)
        pool.message(k3, NOW - timedelta(days=20))
        pool.message(k2, NOW - timedelta(days=20), direction="out")
        pool.message(k1, NOW - timedelta(days=1))
        pool.join(group, k1)
        pool.join(group, k5, left=True)
        pool.session.commit()
        yield Scene(
            pool,
            {"k1": k1.id, "k2": k2.id, "k3": k3.id, "k4": k4.id, "k5": k5.id, "k6": k6.id},
            promoter.id,
            {"vip": vip.id, "mum": mum.id, "own": own.id},
            {"a": account_a.id, "b": account_b.id, "c": account_c.id},
            group.id,
        )
