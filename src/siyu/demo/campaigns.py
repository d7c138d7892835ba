"""The demo's fission campaigns: the seed's "免费领取拉杆箱" (share + screenshot, high risk,
acknowledged by the admin with a reason) and its verified-invite twin (friend adds through each
participant's personal code), both with demo-sized thresholds and stock in four districts.

Runs after the pool and segments demos (it reuses their fission code, coupon groups and release
rule) through the public services inside the caller's unit of work; what jobs would do after
the commit (announce pending adds, process the simulated channel events) runs inline.
Deterministic for a given seed; never commits.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import timedelta

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.campaigns import service as campaigns
from siyu.campaigns.repository import CampaignRepository
from siyu.campaigns.rules import ClaimOutcome
from siyu.campaigns.schemas import CampaignIn, DistrictStockIn, TierIn
from siyu.channels.simulator.backend import reply
from siyu.consumers.service import ConsumerIdentity
from siyu.kit.pagination import PageRequest
from siyu.kit.time import utc_now
from siyu.models import (
    ChannelCode,
    Contact,
    ContactState,
    CouponBatch,
    GroupCode,
    OperatorAccount,
)
from siyu.models.campaigns import Campaign, CampaignTrigger, RewardKind
from siyu.models.segments import ReleaseRule
from siyu.pool import events, groups
from siyu.pool import service as pool
from siyu.pool.repository import EventRepository
from siyu.pool.schemas import CodeCreate

# 章贡区 (赣州), 川汇区 (周口), 兰山区 (临沂), 朝阳区 (北京): the pool demo's four cities.
DISTRICTS = ("360702", "411602", "371302", "110105")
STYLES = ["1号款 曜石黑 20 寸", "2号款 星空银 20 寸", "3号款 玫瑰金 24 寸"]
ACKNOWLEDGEMENT = (
    "赞助商京东箱包旗舰店坚持使用海报原玩法（分享 + 截图），已书面告知可能违反"
    "《微信外部链接内容管理规范》导致链接封禁和运营号限制，本次仅限 3 天、名额 60 个。"
)
SHARE_RULES = (
    "1. 添加福利官并回复所在区县，查询当地名额；\n"
    "2. 将专属海报发到朋友圈或微信群，截图上传；\n"
    "3. 截图审核通过即可领取拉杆箱一个（每人限 1 个），通过 2 张加赠收纳袋；\n"
    "4. 名额按区县发放，领完即止。"
)
INVITE_RULES = (
    "1. 保存您的专属海报，邀请新朋友扫码添加福利官；\n"
    "2. 好友添加成功（已验证、同一人只计一次）计 1 人；\n"
    "3. 满 1 人得 20 元券，满 3 人得拉杆箱，满 6 人加赠收纳袋；\n"
    "4. 被邀请人 3 天内删除好友不计入；名额按区县发放，领完即止。"
)
INVITE_TEXT = "感谢参加拉杆箱活动！福利群每晚 8 点发专属券，点此进群：{群链接}"
DISTRICT_NAMES = {"360702": "章贡区", "411602": "川汇区", "371302": "兰山区", "110105": "朝阳区"}
REJECTIONS = ["截图不是本活动海报", "截图看不清，请重新截图"]
CARRIERS = ["顺丰速运", "中通快递", "京东物流"]


SHARE_JOURNEYS = 6


@dataclass
class CampaignsDemo:
    journeys: int = 0
    campaigns: int = 0
    participants: int = 0
    verified_invites: int = 0
    rejected_invites: int = 0
    proofs: int = 0
    rewards: int = 0
    shipped: int = 0


def _png(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (90, 160), (rng.randrange(256), rng.randrange(256), 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _process_events(session: Session) -> None:
    repository = EventRepository(session)
    while True:
        ids = repository.unprocessed_ids(500)
        if not ids:
            return
        for event_id in ids:
            events.process(session, event_id)


def _settle_adds(session: Session) -> None:
    """What the jobs do after commit: announce pending adds, process what people answer."""
    pending = session.scalars(
        select(Contact.id).where(Contact.state == ContactState.PENDING).order_by(Contact.id)
    ).all()
    for contact_id in pending:
        pool.announce_pending(session, contact_id)
    _process_events(session)


def _district_of(session: Session, contact: Contact) -> str:
    account = session.get(OperatorAccount, contact.account_id)
    code = account.district_code if account is not None else ""
    return code if code in DISTRICTS else DISTRICTS[contact.id % len(DISTRICTS)]


def _tiers(coupon_batch_id: int | None, share: bool) -> list[TierIn]:
    stock = [DistrictStockIn(district_code=code, total=15) for code in DISTRICTS]
    tiers: list[TierIn] = []
    if not share and coupon_batch_id is not None:
        tiers.append(
            TierIn(
                name="20 元优惠券",
                threshold=1,
                kind=RewardKind.COUPON,
                coupon_batch_id=coupon_batch_id,
                total=100,
            )
        )
    tiers.append(
        TierIn(
            name="拉杆箱",
            threshold=1 if share else 3,
            unit_cost_fen=3500,
            total=60,
            districts=stock,
        )
    )
    tiers.append(
        TierIn(
            name="加赠旅行收纳袋",
            threshold=2 if share else 6,
            unit_cost_fen=800,
            is_bonus=True,
            total=10,
        )
    )
    return tiers


def _ship_some(session: Session, admin: Principal, campaign: Campaign, rng: random.Random) -> int:
    shipped = 0
    page = campaigns.list_rewards(session, admin, campaign.id, PageRequest(1, 200))
    for index, row in enumerate(page.items):
        if row.fulfilment is None or not row.fulfilment.address or index % 2:
            continue
        campaigns.ship(
            session,
            admin,
            row.fulfilment.id,
            rng.choice(CARRIERS),
            f"SF{1_000_000 + row.reward.id}",
        )
        shipped += 1
    return shipped


def _consignee(serial: int, district: str) -> campaigns.Consignee:
    places = {
        "360702": "江西省赣州市章贡区红旗大道",
        "411602": "河南省周口市川汇区七一路",
        "371302": "山东省临沂市兰山区沂蒙路",
        "110105": "北京市朝阳区建国路",
    }
    return campaigns.Consignee(
        f"收货人{serial:02d}", f"1350009{serial:04d}", f"{places[district]} {serial} 号"
    )


def load_campaigns_demo(session: Session, admin: Principal, seed: int) -> CampaignsDemo:
    rng = random.Random(seed + 9)
    summary = CampaignsDemo()
    fission = session.scalar(
        select(ChannelCode)
        .where(ChannelCode.name == "免费领取拉杆箱", ChannelCode.parent_id.is_(None))
        .order_by(ChannelCode.id)
    )
    if fission is None:
        return summary
    group_code = session.scalar(select(GroupCode).order_by(GroupCode.id))
    release = session.scalar(select(ReleaseRule).order_by(ReleaseRule.id))
    now = utc_now()
    batch = session.scalar(
        select(CouponBatch)
        .where(CouponBatch.is_active.is_(True), CouponBatch.valid_until > now + timedelta(days=3))
        .order_by(CouponBatch.id)
    )
    common = {
        "group_code_id": group_code.id if group_code else None,
        "release_rule_id": release.id if release else None,
        "styles": STYLES,
        "group_invite_text": INVITE_TEXT,
        "starts_at": now - timedelta(days=2),
        "ends_at": now + timedelta(days=1),
    }
    poster = {
        "width": 1080,
        "height": 1920,
        "background": "#c81d25",
        "title": "免费领取拉杆箱",
        "qr": {"x": 390, "y": 1400, "size": 300},
        "nickname": {"x": 80, "y": 1300, "size": 48, "color": "#ffffff"},
    }

    # --- the seed's variant: share + screenshot (high risk, acknowledged) ---------------------
    from siyu.flows import service as flows

    # The seed's own conversation: its share instruction is induced sharing, so installing it
    # takes the admin's audited override, like the campaign's launch.
    share_flow = flows.install_template(
        session, admin, "luggage_share", override_reason=ACKNOWLEDGEMENT
    )
    share = campaigns.create_campaign(
        session,
        admin,
        CampaignIn(
            name="免费领取拉杆箱（分享截图版）",
            trigger=CampaignTrigger.SHARE_PROOF,
            entry_code_id=fission.id,
            flow_id=share_flow.id,
            poster={**poster, "text": "分享海报并截图，免费领取拉杆箱"},
            rules_text=SHARE_RULES,
            tiers=_tiers(None, share=True),
            **common,
        ),
    )
    campaigns.launch(session, admin, share.id, ACKNOWLEDGEMENT)
    summary.campaigns += 1
    contacts = session.scalars(
        select(Contact)
        .where(Contact.state == ContactState.CONFIRMED, Contact.source_id == fission.id)
        .order_by(Contact.id)
        .limit(14)
    ).all()
    for index, contact in enumerate(contacts):
        participant, _created = campaigns.join(
            session,
            share.id,
            contact.consumer_id,
            contact_id=contact.id,
            district_code=_district_of(session, contact),
        )
        participant.choice = str(1 + index % len(STYLES))
        participant.replied_at = now - timedelta(hours=30 - index)
        summary.participants += 1
        for shot in range(1 + index % 3):
            proof = campaigns.submit_proof(
                session, share, participant, _png(seed * 100 + index * 10 + shot)
            )
            summary.proofs += 1
            if index >= 11:
                continue  # left in the review queue
            approve = (index + shot) % 4 != 3
            campaigns.review_proof(
                session, admin, proof.id, approve, "" if approve else rng.choice(REJECTIONS)
            )
        if index % 3 != 2:
            for _tier in range(2):
                result = campaigns.claim(
                    session, participant.id, consignee=_consignee(index, participant.district_code)
                )
                summary.rewards += result.outcome == ClaimOutcome.ISSUED
    summary.shipped += _ship_some(session, admin, share, rng)

    # --- the verified-invite twin: friend adds through personal codes -------------------------
    twin_code = pool.create_code(
        session,
        admin,
        CodeCreate(
            name="邀请好友领拉杆箱",
            rule=dict(fission.rule),
            strategy=fission.strategy,
            spare_account_ids=list(fission.spare_account_ids or []),
            welcome_script="您好！欢迎参加“邀请好友领拉杆箱”～请问您在哪个区？",
            tag_names=["拉杆箱活动", "邀请有礼"],
            source_label="拉杆箱邀请海报",
        ),
    )
    # The flows' 拉杆箱 invite template drives new friends of the twin's code (greeting, district,
    # style, join) on the real campaign actions.
    flow = flows.install_template(session, admin, "luggage_invite")
    twin = campaigns.create_campaign(
        session,
        admin,
        CampaignIn(
            name="邀请好友领拉杆箱（验证邀请版）",
            trigger=CampaignTrigger.FRIEND_ADD,
            entry_code_id=twin_code.id,
            flow_id=flow.id,
            poster={**poster, "text": "邀请 3 位新朋友添加福利官，领拉杆箱"},
            rules_text=INVITE_RULES,
            invalidation_days=3,
            max_invites_per_device=3,
            tiers=_tiers(batch.id if batch else None, share=False),
            **common,
        ),
    )
    campaigns.launch(session, admin, twin.id)
    summary.campaigns += 1
    serial = [0]

    def person() -> ConsumerIdentity:
        serial[0] += 1
        return ConsumerIdentity(
            phone=f"1350000{serial[0]:04d}", nickname=f"邀请用户{serial[0]:03d}"
        )

    seed_people = [person() for _ in range(10)]
    seeds = [pool.scan(session, twin_code.code, who, None, rng) for who in seed_people]
    _settle_adds(session)
    # A few of them answer the flow: their district, then a style number.
    for index, scanned in enumerate(seeds[:4]):
        added = scanned.contact
        if added is None or added.state != ContactState.CONFIRMED:
            continue
        district = _district_of(session, added)
        reply(session, added, DISTRICT_NAMES[district], f"campaign-demo-{index}-district")
        _process_events(session)
        reply(session, added, str(1 + index % len(STYLES)), f"campaign-demo-{index}-style")
        _process_events(session)
    participants = []
    for scanned in seeds:
        added = scanned.contact
        if added is None or added.state != ContactState.CONFIRMED:
            continue
        participant, _created = campaigns.join(
            session,
            twin.id,
            added.consumer_id,
            contact_id=added.id,
            district_code=_district_of(session, added),
        )
        if participant.replied_at is None:
            # They answered the greeting before joining (the funnel counts replies ≥ joins).
            participant.replied_at = utc_now()
        participants.append(participant)
        summary.participants += 1
    for index, participant in enumerate(participants):
        code = campaigns.personal_code_of(session, participant)
        assert code is not None
        for _ in range(rng.randint(0, 8) if index else 8):
            pool.scan(session, code.code, person(), None, rng)
    # Abuse the demo shows: one phone scanning a participant's code for five "friends" (the
    # H5 scan page records the browser's device): the invites over the cap are not counted.
    if participants:
        code = campaigns.personal_code_of(session, participants[-1])
        assert code is not None
        for _ in range(5):
            scanned = pool.scan(session, code.code, person(), None, rng)
            campaigns.note_scan(
                session,
                scanned.scan.consumer_id,
                scanned.code.id,
                scanned.scan.referrer_consumer_id,
                scanned.contact_id,
                "demo-shared-phone",
            )
    _settle_adds(session)
    # The four who talk to the flow ask for their reward in the chat (below); the others claim
    # theirs on the H5 page.
    talking = {s.contact.id for s in seeds[:4] if s.contact is not None}
    for index, participant in enumerate(participants):
        progress = campaigns.participant_progress(session, twin, participant)
        summary.verified_invites += progress.verified_invites
        summary.rejected_invites += progress.rejected_invites
        if participant.contact_id in talking:
            continue
        for _tier in range(3 if index % 4 != 3 else 0):
            result = campaigns.claim(
                session,
                participant.id,
                consignee=_consignee(20 + index, participant.district_code),
            )
            summary.rewards += result.outcome == ClaimOutcome.ISSUED
    # The four who talked to the flow ask for their reward, get it and join the coupon group.
    for index, (scanned, who) in enumerate(zip(seeds[:4], seed_people[:4], strict=True)):
        if scanned.contact is not None and _finish_journey(
            session,
            twin,
            scanned.contact,
            who,
            "进度",
            f"campaign-demo-{index}-progress",
            group_code,
        ):
            summary.journeys += 1
    summary.shipped += _ship_some(session, admin, twin, rng)
    summary.journeys += _share_journeys(session, admin, share, fission, group_code, seed, rng)
    return summary


def _share_journeys(
    session: Session,
    admin: Principal,
    share: Campaign,
    fission: ChannelCode,
    group_code: GroupCode | None,
    seed: int,
    rng: random.Random,
) -> int:
    """The seed's playbook from the poster to the coupon group, on the simulator: new people
    scan the poster's code, the flow greets them, they answer a district and a style number,
    upload a screenshot (reviewed by the admin), say 好了, get the reward and the group link,
    and join the 双十一内购优惠券群."""
    done = 0
    for index in range(SHARE_JOURNEYS):
        who = ConsumerIdentity(phone=f"1370000{index:04d}", nickname=f"拉杆箱用户{index + 1:02d}")
        scanned = pool.scan(session, fission.code, who, None, rng)
        _settle_adds(session)
        contact = scanned.contact
        if contact is None or contact.state != ContactState.CONFIRMED:
            continue
        key = f"share-demo-{index}"
        district = DISTRICT_NAMES[_district_of(session, contact)]
        reply(session, contact, f"我在{district}", f"{key}-district")
        _process_events(session)
        reply(session, contact, str(1 + index % len(STYLES)), f"{key}-style")
        _process_events(session)
        participant = CampaignRepository(session).participant_of(share.id, contact.consumer_id)
        if participant is None:
            continue
        proof = campaigns.submit_proof(session, share, participant, _png(seed * 7 + index))
        campaigns.review_proof(session, admin, proof.id, True, "")
        if _finish_journey(session, share, contact, who, "好了", f"{key}-done", group_code):
            done += 1
    return done


def _finish_journey(
    session: Session,
    campaign: Campaign,
    contact: Contact,
    who: ConsumerIdentity,
    text: str,
    key: str,
    group_code: GroupCode | None,
) -> bool:
    """The participant's last reply (the flow issues the reward and sends the group link), then
    they open the link and take a seat in the coupon group. True when both happened."""
    reply(session, contact, text, key)
    _process_events(session)
    participant = CampaignRepository(session).participant_of(campaign.id, contact.consumer_id)
    if group_code is None or participant is None or participant.group_invited_at is None:
        return False
    joined = groups.join_by_code(session, group_code.code, who)
    return joined.outcome in ("joined", "already_member") and participant.rewarded_at is not None


__all__ = ["CampaignsDemo", "load_campaigns_demo"]
