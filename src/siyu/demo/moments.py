"""The moments and follow-up part of the demo (seed 002's 栏目化 moments and 1:1 follow-ups).

Three columns on the activity accounts' persona (08:00 问候, 12:00 好物, 20:00 福利) with a
week of posts from the demo's first day; the posts whose slot has passed are published on the
simulated clock (the simulator's contacts like and comment through the event inbox), the rest
stay scheduled for the ``moments.publish_due`` job. Each activity account gives today's likes
and comments on its contacts' moments. Three follow-up rules (win-back, first-order thanks,
clicked-not-bought) are scanned and sent once.

Runs inside the caller's unit of work (never committed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.consumers.service import ConsumerIdentity
from siyu.followups import service as followups
from siyu.followups.schemas import RuleIn
from siyu.kit import crypto
from siyu.kit.time import shanghai_day, travel_to, utc_now
from siyu.models import AccountKind, Consumer, ContactSourceKind, OperatorAccount, Order, Persona
from siyu.models.followups import FollowupKind
from siyu.models.moments import MomentColumn
from siyu.moments import rules
from siyu.moments import service as moments
from siyu.moments.schemas import ColumnIn, PostIn
from siyu.pool import events
from siyu.pool import service as pool
from siyu.pool.repository import EventRepository

COLUMNS = (
    ("早安问候", "08:00", "info"),
    ("好物推荐", "12:00", "success"),
    ("今晚福利", "20:00", "danger"),
)
POSTS = {
    "早安问候": (
        "早上好☀️ 新的一天从一杯热豆浆开始，今天也要元气满满！",
        "早安！降温了，出门记得添衣，家里老人小孩注意保暖～",
        "早上好，周末愉快！带娃出去走走吧🌳",
    ),
    "好物推荐": (
        "【广告】今日好物：24 寸万向轮拉杆箱，出差旅行都合适，点链接看详情。",
        "【广告】家里常备的抽纸囤货装到啦，一箱用半年，群里价格更实惠。",
        "【广告】赣南脐橙今年甜度很高，坏果包赔，老客户回购很多。",
    ),
    "今晚福利": (
        "【广告】今晚 20:00 福利官准时发券，满 99 减 20，数量有限，领完即止。",
        "【广告】双十一内购券今晚加场，群里见！",
        "【广告】今晚抽 3 位好友送拉杆箱一台，评论区留言“想要”参与。",
    ),
}
FOLLOWUP_RULES = (
    (
        "7 天未互动唤醒",
        FollowupKind.INACTIVE,
        24 * 7,
        "{昵称}好久不见～最近店里上了好多新品，有需要随时找我哦。",
    ),
    (
        "首单感谢",
        FollowupKind.FIRST_ORDER,
        24,
        "{昵称}，感谢您的第一单！用得满意的话，欢迎推荐给身边的朋友。",
    ),
    (
        "点击未下单",
        FollowupKind.CLICK_NO_BUY,
        24,
        "{昵称}，您看过的商品还有优惠，库存不多了，需要帮您留一件吗？",
    ),
)


BUYERS_ADDED = 16


@dataclass
class MomentsDemo:
    columns: int = 0
    posts: int = 0
    published: int = 0
    likes: int = 0
    followups: int = 0


def load_moments_demo(session: Session, admin: Principal) -> MomentsDemo:
    summary = MomentsDemo()
    if session.scalar(select(MomentColumn.id).limit(1)) is not None:
        return summary
    persona = session.scalar(select(Persona).where(Persona.nickname == "京东活动推广员"))
    if persona is None:
        return summary
    now = utc_now()
    # The week starts yesterday so some posts are already out and some still to come.
    first_day = shanghai_day(now) - timedelta(days=1)
    with travel_to(now - timedelta(days=2)):
        for name, slot, color in COLUMNS:
            column = moments.create_column(
                session, admin, ColumnIn(name=name, slot=slot, persona_id=persona.id, color=color)
            )
            summary.columns += 1
            for offset, text in enumerate(POSTS[name]):
                moments.schedule_post(
                    session,
                    admin,
                    PostIn(
                        column_id=column.id,
                        publish_on=first_day + timedelta(days=offset),
                        text=text,
                    ),
                )
                summary.posts += 1
    for publication_id in moments.due_publications(session, now):
        with travel_to(now):
            if moments.publish(session, publication_id) == "published":
                summary.published += 1
    _process_events(session)
    for account_id in moments.live_account_ids(session)[:4]:
        plan = moments.plan_interactions(session, account_id, now)
        summary.likes += plan.likes
    _add_recent_buyers(session, admin, now)
    for name, kind, hours, script in FOLLOWUP_RULES:
        followups.create_rule(
            session, admin, RuleIn(name=name, kind=kind, delay_hours=hours, script=script)
        )
    # The last 11:00 in Shanghai, so the follow-ups go out (quiet hours would defer them).
    daytime = rules.slot_at(shanghai_day(now), 11 * 60)
    if daytime > now:
        daytime -= timedelta(days=1)
    with travel_to(daytime):
        followups.scan(session, daytime)
        for followup_id in followups.due(session, daytime)[:200]:
            outcome = followups.send(session, followup_id, daytime)
            if outcome is not None and outcome.status in ("sent", "queued_task"):
                summary.followups += 1
    return summary


def _add_recent_buyers(session: Session, admin: Principal, now: datetime) -> None:
    """Ten days ago the activity accounts added some of the shop's buyers (an operator's active
    add): their first orders and their silence since give the follow-up rules work to do."""
    buyers = session.execute(
        select(Consumer.id, Consumer.phone_encrypted)
        .join(Order, Order.consumer_id == Consumer.id)
        .where(Order.received_at.is_not(None), Consumer.phone_encrypted.is_not(None))
        .group_by(Consumer.id, Consumer.phone_encrypted)
        .order_by(Consumer.id)
        .limit(BUYERS_ADDED)
    ).all()
    accounts = session.scalars(
        select(OperatorAccount.id)
        .where(
            OperatorAccount.owner_promoter_id.is_(None),
            OperatorAccount.kind == AccountKind.PERSONAL_ASSISTED,
        )
        .order_by(OperatorAccount.id)
        .limit(4)
    ).all()
    if not accounts:
        return
    with travel_to(now - timedelta(days=10)):
        for index, (_consumer_id, phone) in enumerate(buyers):
            contact = pool.add_contact_directly(
                session,
                admin,
                accounts[index % len(accounts)],
                ConsumerIdentity(phone=crypto.decrypt(str(phone))),
                ContactSourceKind.IMPORT,
            )
            if contact is not None:
                pool.announce_pending(session, contact.id)
        _process_events(session)


def _process_events(session: Session) -> None:
    repository = EventRepository(session)
    while True:
        ids = repository.unprocessed_ids(500)
        if not ids:
            return
        for event_id in ids:
            events.process(session, event_id)
