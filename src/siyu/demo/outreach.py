"""The outreach part of the demo: the seed's "福利官" pushing coupon messages into the 双十一内购
优惠券群 every evening at 20:00, and a broadcast to a segment, executed on the simulator.

Runs after the pool and segments demos, inside the caller's unit of work (never committed). The
executed broadcasts are sent on the simulated clock (``kit.time.travel_to``) in the caller's
session, one due row at a time through ``outreach.service.send_next`` — the same path the
``outreach.send_due`` job takes — so the console shows real results (sent, skipped by reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.time import SHANGHAI, to_shanghai, travel_to, utc_now
from siyu.models import LinkTargetKind, OperatorAccount, TrackedLink
from siyu.models.outreach import Broadcast, ContentKind
from siyu.outreach import service
from siyu.outreach.schemas import AudienceIn, BroadcastIn
from siyu.segments import service as segments

COUPON_TEXT = "【广告】福利官今晚 20:00 准时发券：双十一内购券已放出，先到先得，领完即止。"
SEGMENT_TEXT = "{昵称}您好，您常买的好物正在做双十一内购价，点卡片查看详情。回复 TD 退订。"
# Rows the demo sends at most (it is a demo; the job sends the rest on a real deployment).
SEND_LIMIT = 2000


@dataclass
class OutreachDemo:
    broadcasts: int = 0
    scheduled: int = 0
    sent: int = 0
    skipped: int = 0


def _shanghai(day: datetime, hour: int) -> datetime:
    local = to_shanghai(day)
    return datetime(local.year, local.month, local.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def _run(session: Session, broadcast_id: int, start: datetime, until: datetime) -> None:
    """Send the broadcast's due rows on the simulated clock from ``start`` to ``until``."""
    moment = start
    handled = 0
    while moment <= until and handled < SEND_LIMIT:
        with travel_to(moment):
            outcome = service.send_next(session, broadcast_id, now=moment)
        if outcome is None:
            moment += timedelta(seconds=6)
        else:
            handled += 1


def load_outreach_demo(session: Session, admin: Principal) -> OutreachDemo:
    summary = OutreachDemo()
    if session.scalar(select(Broadcast.id).limit(1)) is not None:
        return summary
    welfare = session.scalar(
        select(OperatorAccount).where(OperatorAccount.external_id == "jd_fuliguan")
    )
    now = utc_now()
    # The last 10:00 in Shanghai that has passed: inside the send window whatever the hour.
    morning = _shanghai(now, 10)
    if morning > now - timedelta(hours=2):
        morning -= timedelta(days=1)
    if welfare is not None:
        # Yesterday evening's push (sent), then one every evening at 20:00 for three days.
        evening = _shanghai(morning - timedelta(days=1), 20)
        with travel_to(evening):
            pushed = service.create_broadcast(
                session,
                admin,
                BroadcastIn(
                    name=f"福利官发券 {to_shanghai(evening):%m-%d} 20:00",
                    audience=AudienceIn(kind="group_purpose", purpose="coupon"),
                    text=COUPON_TEXT,
                    messages_per_minute=6,
                    jitter_seconds=20,
                ),
            )
            service.start(session, admin, pushed.id)
        _run(session, pushed.id, evening, evening + timedelta(minutes=30))
        summary.broadcasts += 1
        for day in range(1, 4):
            at = _shanghai(now + timedelta(days=day - 1), 20)
            if at <= now:
                at += timedelta(days=1)
            scheduled = service.create_broadcast(
                session,
                admin,
                BroadcastIn(
                    name=f"福利官发券 {to_shanghai(at):%m-%d} 20:00",
                    audience=AudienceIn(kind="group_purpose", purpose="coupon"),
                    text=COUPON_TEXT,
                    start_at=at,
                    messages_per_minute=6,
                    jitter_seconds=20,
                ),
            )
            service.start(session, admin, scheduled.id)
            summary.broadcasts += 1
            summary.scheduled += 1
    platform_segments = [
        segment
        for segment in segments.list_segments(session, admin)
        if segment.owner_promoter_id is None and not segment.all_owners
    ]
    link = session.scalar(
        select(TrackedLink)
        .where(TrackedLink.target_kind == LinkTargetKind.PRODUCT, TrackedLink.is_active.is_(True))
        .order_by(TrackedLink.id)
        .limit(1)
    )
    # The platform segment with the most reachable contacts (下沉市场好友 in the shipped demo).
    reachable = {
        segment.id: segments.count_segment(session, admin, segment.id)[1]
        for segment in platform_segments
    }
    if platform_segments and max(reachable.values()) > 0:
        segment = max(platform_segments, key=lambda item: (reachable[item.id], -item.id))
        with travel_to(morning):
            sale = service.create_broadcast(
                session,
                admin,
                BroadcastIn(
                    name=f"{segment.name}：双十一内购价",
                    audience=AudienceIn(kind="segment", segment_id=segment.id),
                    content_kind=ContentKind.PRODUCT if link is not None else ContentKind.TEXT,
                    title="【广告】双十一内购价" if link is not None else "",
                    text=SEGMENT_TEXT,
                    link_id=link.id if link is not None else None,
                    messages_per_minute=10,
                    jitter_seconds=20,
                ),
            )
            service.start(session, admin, sale.id)
        _run(session, sale.id, morning, morning + timedelta(hours=1))
        summary.broadcasts += 1
        results = service.results(session, admin, sale.id)
        summary.sent += results.sent
        summary.skipped += results.skipped
    service.finish_done(session)
    return summary
