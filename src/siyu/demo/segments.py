"""Demo data for tags, segments, release rules and couriers, created through the services.

Runs after the catalog, the promoter network, the money loop and the pool demo
(``scenario.load_demo``): it gives the couriers' accounts a territory (a district), delivers an
order in each territory (each becomes an "add this customer" task in the courier's inbox), and
saves the platform's tags, segments and the seed's release rule. Deterministic; never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.time import utc_now
from siyu.models import (
    AccountKind,
    AssistedTask,
    Contact,
    OperatorAccount,
    Product,
    Promoter,
    PromoterKind,
    ReviewStatus,
)
from siyu.orders import service as orders
from siyu.orders.schemas import DraftLine, OrderDraft
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate, AccountUpdate
from siyu.regions import service as regions
from siyu.segments import releases, tags
from siyu.segments import service as segments
from siyu.segments.schemas import SegmentIn, SegmentRule

TAGS = [
    ("VIP客户", "danger", "累计消费高、复购多"),
    ("宝妈", "warning", "母婴类商品的主力人群"),
    ("高意向", "success", "咨询过活动款"),
    ("拉杆箱活动", "primary", "双十一免费领拉杆箱活动进来的好友"),
]
LOWER_TIERS = ["tier_3", "tier_4", "tier_5", "tier_6"]
SEGMENTS: list[tuple[str, str, dict[str, object]]] = [
    (
        "下沉市场好友",
        "三线到六线城市的好友：双十一券包的首发人群（product.md §2 的下沉市场）",
        {"op": "and", "conditions": [{"kind": "tier", "tiers": LOWER_TIERS}]},
    ),
    (
        "下沉市场复购客户",
        "三线到六线城市、买过两次以上的好友",
        {
            "op": "and",
            "conditions": [
                {"kind": "tier", "tiers": LOWER_TIERS},
                {"kind": "lifecycle", "stages": ["repeat", "advocate"]},
            ],
        },
    ),
    (
        "30 天未下单的老客",
        "买过但近 30 天没有下单：发召回券",
        {"op": "and", "conditions": [{"kind": "last_order", "op": "not_within", "days": 30}]},
    ),
    (
        "沉默好友",
        "14 天没有任何互动、也没有买过：筛选删除前先做一次唤醒",
        {
            "op": "and",
            "conditions": [
                {"kind": "activity", "op": "inactive_for", "days": 14},
                {"kind": "last_order", "op": "never"},
            ],
        },
    ),
    (
        "高消费或 VIP",
        "累计消费满 300 元，或带 VIP客户 标签",
        {"op": "or", "conditions": [{"kind": "spend", "min_fen": 30000}]},
    ),
]
# (city, district, the street part of the delivery address)
COURIER_TERRITORIES = [
    ("360700", "360702", "章贡区红旗大道 18 号"),
    ("411600", "411602", "川汇区七一路 66 号"),
]


@dataclass
class SegmentsDemo:
    tags: int
    segments: int
    couriers: int
    courier_tasks: int


def _regions_from_accounts(session: Session) -> None:
    """The pool demo's contacts answered the greeting's "which district?" but the pool does not
    store the answer yet: give each contact without a region its account's territory (the code
    routed them there by territory), so region and tier segments have something to count."""
    for contact, account in session.execute(
        select(Contact, OperatorAccount)
        .join(OperatorAccount, OperatorAccount.id == Contact.account_id)
        .where(Contact.city_code == "", OperatorAccount.city_code != "")
        .order_by(Contact.id)
    ).all():
        contact.province_code = account.province_code
        contact.city_code = account.city_code
        contact.district_code = account.district_code
    session.flush()


def load_segments_demo(session: Session, admin: Principal) -> SegmentsDemo:
    _regions_from_accounts(session)
    # The pool demo's codes may have created some of these already (as event tags): reuse them.
    existing = {tag.name: tag for tag in tags.list_tags(session, admin)}
    made_tags = {}
    for name, color, text in TAGS:
        tag = existing.get(name)
        if tag is None:
            tag = tags.create_tag(session, admin, name, color=color, description=text)
        else:
            tag.color, tag.description = color, text
        made_tags[name] = tag
    saved = 0
    for name, description, rule in SEGMENTS:
        if name == "高消费或 VIP":
            rule = {
                "op": "or",
                "conditions": [
                    *rule["conditions"],  # type: ignore[misc]
                    {"kind": "tag", "tag_ids": [made_tags["VIP客户"].id]},
                ],
            }
        segments.create_segment(
            session,
            admin,
            SegmentIn(name=name, description=description, rule=SegmentRule.model_validate(rule)),
        )
        saved += 1
    campaign_start = utc_now() - timedelta(days=2)
    releases.create_rule(
        session,
        admin,
        "拉杆箱活动：24 小时未回复即删除",
        {
            "op": "and",
            "conditions": [
                {"kind": "tag", "tag_ids": [made_tags["拉杆箱活动"].id]},
                {"kind": "reply", "since": campaign_start.isoformat(), "within_hours": 24},
            ],
        },
        max_per_run=500,
    )
    couriers, tasks = _couriers(session, admin)
    return SegmentsDemo(len(made_tags), saved, couriers, tasks)


def _couriers(session: Session, admin: Principal) -> tuple[int, int]:
    """A courier account per courier promoter (territory: a district), and one delivered order
    in each territory, so each courier's inbox shows an "add this customer" task."""
    promoters = session.scalars(
        select(Promoter).where(Promoter.kind == PromoterKind.COURIER).order_by(Promoter.id)
    ).all()
    product = session.scalar(
        select(Product)
        .where(Product.review_status == ReviewStatus.APPROVED, Product.on_shelf.is_(True))
        .order_by(Product.id)
    )
    accounts = 0
    for index, promoter in enumerate(promoters[: len(COURIER_TERRITORIES)]):
        city, district, street = COURIER_TERRITORIES[index]
        territory = {
            "province_code": city[:2] + "0000",
            "city_code": city,
            "district_code": district,
        }
        # The pool demo gives every courier an account; give it a territory (or make one).
        existing = session.scalar(
            select(OperatorAccount)
            .where(
                OperatorAccount.kind == AccountKind.COURIER,
                OperatorAccount.owner_promoter_id == promoter.id,
            )
            .order_by(OperatorAccount.id)
        )
        if existing is not None:
            pool.update_account(session, admin, existing.id, AccountUpdate(**territory))
        else:
            pool.create_account(
                session,
                admin,
                AccountCreate(
                    name=f"快递员-{promoter.name}",
                    kind=AccountKind.COURIER,
                    owner_promoter_id=promoter.id,
                    **territory,
                ),
            )
        accounts += 1
        if product is None:
            continue
        address = regions.full_name(district) + street
        order = orders.place_order(
            session,
            OrderDraft(
                lines=(DraftLine(product_id=product.id, quantity=1),),
                phone=f"1370000{index + 1:04d}",
                nickname=f"收件人{index + 1}",
                region=address[:64],
            ),
        )
        orders.ship_order(session, admin, order.id)
        orders.confirm_receipt(session, admin, order.id)  # → the courier's task
    tasks = len(
        session.scalars(
            select(AssistedTask.id).where(AssistedTask.source_kind == "courier_order")
        ).all()
    )
    return accounts, tasks
