"""The demo scenario: a JD-style platform with its merchants, promotion pool and promoter network.

Everything is created through the services, exactly as the console and API would, inside the
caller's unit of work (never committed here). Running it again on a loaded database changes
nothing. The data is deterministic: the same names, phones and team shape every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.auth.schemas import UserCreate
from siyu.auth.service import create_user
from siyu.catalog import service as catalog
from siyu.catalog.schemas import CouponBatchCreate, MerchantCreate, ProductCreate
from siyu.demo.campaigns import load_campaigns_demo
from siyu.demo.data import DEMO_PASSWORD, GIVEN_NAMES, MERCHANTS, REGIONS, SURNAMES
from siyu.demo.moments import load_moments_demo
from siyu.demo.money import run_money_loop
from siyu.demo.outreach import load_outreach_demo
from siyu.demo.pool import load_pool
from siyu.demo.segments import load_segments_demo
from siyu.kit.money import format_yuan
from siyu.kit.time import utc_now
from siyu.models import (
    ROLE_LABELS,
    Contact,
    ContactSourceKind,
    Merchant,
    OperatorAccount,
    Promoter,
    PromoterKind,
    Role,
)
from siyu.pool import service as pool
from siyu.promoters import service as promoters
from siyu.promoters.schemas import PromoterCreate

SEED = 20191111

ADMIN_USERNAME = "admin"
OPERATOR_USERNAME = "ops"

# The promoter network: (kind, region index, number of direct recruits) for each team leader.
# Leaders' recruits recruit in turn; the tree is deliberately deeper than two levels in places so
# the console shows that a team view stops at L2 (product.md: hard cap of two levels).
LEADERS: list[tuple[PromoterKind, int, int]] = [
    (PromoterKind.STAFF, 10, 5),  # 平台员工，带快递员团队
    (PromoterKind.INDIVIDUAL, 0, 5),  # 赣州宝妈团长
    (PromoterKind.MICRO_MERCHANT, 1, 4),  # 周口小卖部老板
    (PromoterKind.GUIDE, 2, 4),  # 临沂商场导购
    (PromoterKind.INDIVIDUAL, 3, 3),
    (PromoterKind.INDIVIDUAL, 4, 3),
]


@dataclass
class DemoSummary:
    logins: list[tuple[str, str, str]]
    highlights: list[str] = field(default_factory=list)
    created: bool = True


class _Names:
    """Deterministic, non-repeating Chinese names and mainland mobile numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.serial = 0

    def name(self) -> str:
        while True:
            candidate = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_NAMES)
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def phone(self) -> str:
        self.serial += 1
        return f"1380000{self.serial:04d}"


def _already_loaded(session: Session) -> bool:
    first = MERCHANTS[0].name
    return session.scalar(select(Merchant.id).where(Merchant.name == first)) is not None


def _logins(session: Session) -> list[tuple[str, str, str]]:
    logins = [
        (ROLE_LABELS[Role.ADMIN], ADMIN_USERNAME, DEMO_PASSWORD),
        (ROLE_LABELS[Role.OPERATOR], OPERATOR_USERNAME, DEMO_PASSWORD),
        (
            f"{ROLE_LABELS[Role.MERCHANT]}（{MERCHANTS[0].name}）",
            MERCHANTS[0].username,
            DEMO_PASSWORD,
        ),
    ]
    leader = session.scalar(
        select(Promoter).where(Promoter.inviter_id.is_(None)).order_by(Promoter.id).offset(1)
    )
    if leader is not None:
        phone = promoters.phone_of(leader)
        logins.append(
            (f"{ROLE_LABELS[Role.PROMOTER]}（{leader.name}，手机 H5）", phone, DEMO_PASSWORD)
        )
    return logins


def load_demo(session: Session) -> DemoSummary:
    if _already_loaded(session):
        return DemoSummary(_logins(session), ["演示数据已存在，未重复创建。"], created=False)

    admin = Principal.of(
        create_user(
            session,
            None,
            UserCreate(
                username=ADMIN_USERNAME,
                display_name="王运营",
                password=DEMO_PASSWORD,
                role=Role.ADMIN,
            ),
        )
    )
    create_user(
        session,
        admin,
        UserCreate(
            username=OPERATOR_USERNAME,
            display_name="李选品",
            password=DEMO_PASSWORD,
            role=Role.OPERATOR,
        ),
    )
    products, pending, pool = _load_catalog(session, admin)
    network = _load_promoters(session, admin)
    money = run_money_loop(session, admin, SEED)
    traffic = load_pool(session, admin, SEED)
    audience = load_segments_demo(session, admin)
    load_outreach_demo(session, admin)
    social = load_moments_demo(session, admin)
    fission = load_campaigns_demo(session, admin, SEED)
    _record_regions(session, admin)
    return DemoSummary(
        _logins(session),
        [
            f"{len(MERCHANTS)} 家商家，{products} 件商品：{pool} 件已入推广池，{pending} 件待审核",
            f"{network} 名推手，两级团队（团长 → 直推 → 二级）",
            f"近两周：{money.links} 条推广链接，{money.clicks} 次点击，{money.orders} 笔订单，"
            f"成交 ¥{format_yuan(money.gmv_fen)}，{money.refunds} 笔退款，"
            f"{money.cancelled} 笔取消，{money.reversed} 笔结算后退货冲正，"
            f"{money.held} 笔进入风控审核，"
            f"{money.settled} 笔佣金已结算，{money.withdrawals} 笔提现",
            f"私域流量池：{traffic.accounts} 个运营号，活码扫码 {traffic.scans} 次"
            f"（{traffic.full} 次已满），{traffic.confirmed} 位好友，"
            f"{traffic.groups} 个优惠券群共 {traffic.group_members} 人，"
            f"{traffic.open_tasks} 条运营任务待处理",
            f"{audience.tags} 个标签，{audience.segments} 个人群，1 条筛选删除规则，"
            f"{audience.couriers} 个快递员号（{audience.courier_tasks} 个待添加客户任务）",
            f"朋友圈：{social.columns} 个栏目、{social.posts} 条排期，"
            f"已发布 {social.published} 次，今日给好友点赞 {social.likes} 次；"
            f"{social.followups} 条一对一跟进已发出",
            f"{fission.campaigns} 个裂变活动（分享截图版已由管理员确认高风险）："
            f"{fission.participants} 位参与者，{fission.verified_invites} 个有效邀请"
            f"（{fission.rejected_invites} 个未计入），"
            f"{fission.proofs} 张截图，{fission.rewards} 份奖励（{fission.shipped} 份已发货）；"
            f"{fission.journeys} 人在模拟器上走完话术全程：扫码→回复区县→选款→截图/邀请→领奖→进群",
        ],
    )


def _record_regions(session: Session, admin: Principal) -> None:
    """The scripted people answered the greeting's 您在哪个区县 with their account's district
    (the pool demo's accounts each serve one district): record it, as the console would, so
    the dashboards' city tiers know them. Imported contacts stay unknown (no address)."""
    rows = session.execute(
        select(Contact.id, OperatorAccount.district_code)
        .join(OperatorAccount, OperatorAccount.id == Contact.account_id)
        .where(
            Contact.source_kind != ContactSourceKind.IMPORT,
            (Contact.district_code.is_(None)) | (Contact.district_code == ""),
            OperatorAccount.district_code.is_not(None),
            OperatorAccount.district_code != "",
        )
        .order_by(Contact.id)
    ).all()
    for contact_id, district in rows:
        pool.set_contact_region(session, admin, contact_id, district)


def _load_catalog(session: Session, admin: Principal) -> tuple[int, int, int]:
    now = utc_now()
    products = pending = pool = 0
    for demo in MERCHANTS:
        merchant = catalog.create_merchant(
            session,
            admin,
            MerchantCreate(
                name=demo.name, contact_name=demo.contact_name, contact_phone=demo.contact_phone
            ),
        )
        owner = Principal.of(
            create_user(
                session,
                admin,
                UserCreate(
                    username=demo.username,
                    display_name=demo.name,
                    password=DEMO_PASSWORD,
                    role=Role.MERCHANT,
                    merchant_id=merchant.id,
                ),
            )
        )
        by_title: dict[str, int] = {}
        for item in demo.products:
            product = catalog.create_product(
                session,
                owner,
                ProductCreate(
                    title=item.title,
                    description=item.description,
                    category=item.category,
                    product_line=item.product_line,
                    list_price_fen=item.list_price_fen,
                    promo_price_fen=item.promo_price_fen,
                    stock=item.stock,
                    commission_rate_bp=item.commission_rate_bp,
                    fixed_commission_fen=item.fixed_commission_fen,
                ),
            )
            by_title[item.title] = product.id
            products += 1
            if item.review is None:
                pending += 1
            elif item.review == "":
                catalog.approve_product(session, admin, product.id, rank_weight=item.rank_weight)
                pool += 1
            else:
                catalog.reject_product(session, admin, product.id, item.review)
        for coupon in demo.coupons:
            catalog.create_coupon_batch(
                session,
                owner,
                CouponBatchCreate(
                    product_id=by_title[coupon.product_title] if coupon.product_title else None,
                    name=coupon.name,
                    face_value_fen=coupon.face_value_fen,
                    threshold_fen=coupon.threshold_fen,
                    total_quantity=coupon.total_quantity,
                    per_user_limit=coupon.per_user_limit,
                    valid_from=now - timedelta(days=1),
                    valid_until=now + timedelta(days=coupon.valid_days),
                ),
            )
    return products, pending, pool


def _load_promoters(session: Session, admin: Principal) -> int:
    rng = random.Random(SEED)
    names = _Names(rng)
    promoters.ensure_default_grades(session)
    created: list[Promoter] = []

    def add(kind: PromoterKind, region: str, inviter: Promoter | None) -> Promoter:
        result = promoters.create_promoter(
            session,
            admin,
            PromoterCreate(
                name=names.name(),
                phone=names.phone(),
                password=DEMO_PASSWORD,
                kind=kind,
                region=region,
                invite_code=inviter.invite_code if inviter is not None else None,
            ),
        )
        created.append(result.promoter)
        return result.promoter

    for leader_index, (kind, region_index, recruits) in enumerate(LEADERS):
        region = REGIONS[region_index]
        leader = add(kind, region, None)
        for recruit_index in range(recruits):
            # The staff leader's team is couriers covering their delivery zones (seed 000).
            recruit_kind = PromoterKind.COURIER if leader_index == 0 else PromoterKind.INDIVIDUAL
            recruit_region = REGIONS[(region_index + recruit_index) % len(REGIONS)]
            member = add(recruit_kind, recruit_region, leader)
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                second = add(PromoterKind.INDIVIDUAL, recruit_region, member)
                if rng.random() < 0.15:
                    add(PromoterKind.INDIVIDUAL, recruit_region, second)

    # The grade job would do this after commit; the demo shows the grades straight away.
    for promoter in created:
        promoters.evaluate_grade(session, promoter.id)
    return len(created)
