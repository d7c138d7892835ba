"""Couriers (快递员): a courier is a promoter with an operator account of kind ``courier`` whose
territory (province / city / district codes on the account) is where they deliver.

When an order is received (``siyu.orders.service.confirm_receipt``) and its address lies in a
courier's territory, the courier gets an assisted task "add this customer" with the standard
script, and the customer becomes a pending contact of the courier's account (an active add:
counted against the account's active daily cap, never over it). When the courier marks the task
done, the pool confirms the contact and ``on_contact_confirmed`` binds the consumer to the
courier (锁粉, under the configured binding mode). Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from siyu.config import current_settings
from siyu.consumers import service as consumers
from siyu.consumers.service import ConsumerIdentity
from siyu.kit import crypto
from siyu.kit.time import utc_now
from siyu.models import (
    AccountKind,
    AccountStatus,
    AssistedTaskKind,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    OperatorAccount,
    Order,
    Promoter,
)
from siyu.models.promoters import BindingMode
from siyu.pool import inbox
from siyu.pool import service as pool
from siyu.regions import service as regions
from siyu.regions.rules import Region, RegionLevel

COURIER_SCRIPT = (
    "您好，我是负责您这片区域的快递员{courier}，您的包裹（订单 {order_no}）已送达。"
    "加个微信，以后取件、寄件直接找我，小区专属优惠也会第一时间告诉您～"
)
TASK_TITLE = "添加收件客户：{nickname}"

# AssistedTask.source_kind of a courier's add-customer task (source_id = the order).
COURIER_TASK_SOURCE = "courier_order"


def courier_accounts_for(session: Session, region: Region) -> Sequence[OperatorAccount]:
    """Active courier accounts whose territory contains ``region``, least loaded first."""
    path = regions.regions().path(region.code)
    province = path[0].code
    city = path[1].code if len(path) > 1 else ""
    district = path[2].code if len(path) > 2 else ""
    territory = or_(
        and_(OperatorAccount.district_code != "", OperatorAccount.district_code == district),
        and_(
            OperatorAccount.district_code == "",
            OperatorAccount.city_code != "",
            OperatorAccount.city_code == city,
        ),
        and_(
            OperatorAccount.district_code == "",
            OperatorAccount.city_code == "",
            OperatorAccount.province_code == province,
        ),
    )
    statement = (
        select(OperatorAccount)
        .where(
            OperatorAccount.kind == AccountKind.COURIER,
            OperatorAccount.status == AccountStatus.ACTIVE,
            OperatorAccount.deleted_at.is_(None),
            OperatorAccount.owner_promoter_id.is_not(None),
            territory,
        )
        .order_by(OperatorAccount.friends_used, OperatorAccount.id)
    )
    return session.scalars(statement).all()


def on_order_received(session: Session, order: Order) -> int | None:
    """The hand-off: returns the assisted task's id, or None when nothing is to be done (no
    region, no courier there, already a contact, the account at its cap)."""
    region = regions.region_of_text(order.region)
    if region is None or region.level == RegionLevel.PROVINCE:
        return None
    consumer = session.get(Consumer, order.consumer_id)
    if consumer is None or not (consumer.phone_encrypted or consumer.union_id):
        return None
    for account in courier_accounts_for(session, region):
        existing = session.scalar(
            select(Contact).where(
                Contact.consumer_id == consumer.id, Contact.account_id == account.id
            )
        )
        if existing is not None and existing.state != ContactState.REMOVED:
            return None
        phone = crypto.decrypt(consumer.phone_encrypted) if consumer.phone_encrypted else None
        contact = pool.add_contact_directly(
            session,
            None,
            account.id,
            ConsumerIdentity(phone=phone, union_id=consumer.union_id),
            ContactSourceKind.COURIER,
            source_id=order.id,
            referrer_promoter_id=account.owner_promoter_id,
        )
        if contact is None:
            continue  # at the active daily cap: try the next courier of the territory
        _set_region(contact, region)
        courier = session.get(Promoter, account.owner_promoter_id)
        script = COURIER_SCRIPT.format(
            courier=courier.name if courier else "", order_no=order.order_no
        )
        if phone:
            # The number is shown on the courier's task card (logged), never stored in the task.
            script += "\n（添加方式：在微信中搜索任务卡片上的客户手机号）"
        task = inbox.create_task(
            session,
            account,
            AssistedTaskKind.ADD_FRIEND,
            script_text=script,
            due_at=utc_now(),
            contact=contact,
            title=TASK_TITLE.format(nickname=consumer.nickname or "新客户"),
            payload={"order_id": order.id},
            # The pool's assisted backend announces the pending add under this same key, so the
            # courier gets one task, not an extra "accept" one.
            idempotency_key=f"accept:{contact.id}:{contact.added_at.isoformat()}",
            source_kind=COURIER_TASK_SOURCE,
            source_id=order.id,
        )
        return task.id
    return None


def _set_region(contact: Contact, region: Region) -> None:
    if contact.district_code or contact.city_code:
        return
    for item in regions.regions().path(region.code):
        if item.level == RegionLevel.PROVINCE:
            contact.province_code = item.code
        elif item.level == RegionLevel.CITY:
            contact.city_code = item.code
        else:
            contact.district_code = item.code


def on_contact_confirmed(session: Session, contact: Contact, _tag_names: Sequence[str]) -> None:
    """Pool hook: a courier's customer accepted; bind the consumer to the courier (锁粉)."""
    if contact.source_kind != ContactSourceKind.COURIER or contact.owner_promoter_id is None:
        return
    courier = session.get(Promoter, contact.owner_promoter_id)
    if courier is None:
        return
    consumer = consumers.lock(session, contact.consumer_id)
    consumers.update_binding(
        session,
        consumer,
        mode=BindingMode(current_settings().binding_mode),
        candidate=courier,
        consumer_is_new=consumers.is_new(session, consumer),
        buyer_promoter=consumers.buyer_promoter_id(session, consumer),
        source="courier",
    )
