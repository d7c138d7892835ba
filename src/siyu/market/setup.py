"""What the market needs before its people act, created through siyu's services (day 0).

``MarketSetup`` is the first actor of a market simulation. Its ``begin`` reads what the scripted
demo left (the promotion pool) or, on an empty platform, lists a minimal catalog; then it opens
what the synthetic market needs on top: operator accounts in the market's busiest cities (plus
a national pair and a spare) on the simulator channel, one store-poster channel code per busy
city routing by region and a national one, a coupon group code, the market's promoters (staff,
couriers with their territory and a courier account, KOCs = the consumers they are) with their
tracked links, and the segment the daily broadcast targets. Everything goes through the pool,
catalog, promoters, links and segments services; nothing is written to a table directly.

The ids it creates are kept in ``MarketState``, which every other market actor reads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.catalog import service as catalog
from siyu.catalog.schemas import MerchantCreate, ProductCreate
from siyu.links import service as links
from siyu.links.schemas import LinkCreate
from siyu.market.generator import CATEGORIES, PromoterKind
from siyu.market.simulation import World, phone_of
from siyu.models import (
    AccountKind,
    ContactSourceKind,
    GroupPurpose,
    Product,
    ReviewStatus,
    RoutingStrategy,
    User,
)
from siyu.models import PromoterKind as SiyuPromoterKind
from siyu.models.links import LinkPosition
from siyu.pool import groups
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate, CodeCreate, GroupCodeCreate, PersonaCreate
from siyu.promoters import service as promoters
from siyu.promoters.schemas import PromoterCreate
from siyu.regions import service as regions
from siyu.segments import service as segments
from siyu.segments.schemas import SegmentIn

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PASSWORD: Final = "siyu-demo"  # the demo's password (promoters can log in to the H5)
MARKET_TAG: Final = "市场好友"
WELCOME: Final = "您好，欢迎加入！这里每天分享本地好价和福利，有需要随时找我。回复 TD 退订推送。"
GROUP_WELCOME: Final = "欢迎加入福利群！每天准点发券，请勿发广告。"
LINKS_PER_PROMOTER: Final = 3
# Busy cities that get their own account and store-poster code: one per this many consumers,
# within the bounds below (so a small market still routes by region).
CONSUMERS_PER_CITY_ACCOUNT: Final = 500
MIN_CITY_ACCOUNTS: Final = 4
MAX_CITY_ACCOUNTS: Final = 24

# The demo catalog's categories → the market's interest categories (generator.CATEGORIES).
CATEGORY_OF_PRODUCT: Final = {
    "生鲜水果": "生鲜",
    "生鲜": "生鲜",
    "日用百货": "日用百货",
    "母婴": "母婴",
    "箱包": "服饰鞋包",
    "服饰鞋包": "服饰鞋包",
    "家用电器": "家电数码",
    "家电数码": "家电数码",
    "美妆个护": "美妆个护",
    "休闲零食": "食品饮料",
    "食品饮料": "食品饮料",
}

# A catalog for a platform the scripted demo did not fill: one merchant, one product per
# category (title, category, promo price fen, list price fen, commission bp).
MINIMAL_CATALOG: Final = (
    ("赣南脐橙 5斤装", "生鲜", 2990, 5990, 800),
    ("抽纸 3层120抽 24包", "日用百货", 3990, 6990, 500),
    ("婴儿湿巾 80抽×5包", "母婴", 2590, 4990, 1000),
    ("帆布双肩包", "服饰鞋包", 5990, 12900, 1500),
    ("多功能电煮锅 1.8L", "家电数码", 6900, 15900, 1000),
    ("氨基酸洗面奶 150ml", "美妆个护", 3900, 8900, 1200),
    ("每日坚果 30袋", "食品饮料", 5990, 12900, 1000),
)
MINIMAL_MERCHANT: Final = "市场优选供货商"


@dataclass
class Listing:
    product_id: int
    category: int  # index into generator.CATEGORIES
    price_fen: int


@dataclass
class PlacedOrder:
    order_id: int
    person: int
    day: int
    line_id: int
    paid_fen: int


@dataclass
class MarketState:
    """What the set-up created and what the actors keep between days (ids only: each day is a
    new session)."""

    listings: list[Listing] = field(default_factory=list)
    city_codes: dict[int, str] = field(default_factory=dict)  # city index → channel code text
    national_code: str = ""
    code_ids: list[int] = field(default_factory=list)
    personal_codes: dict[int, str] = field(default_factory=dict)  # person → personal code text
    parent_code_ids: dict[str, int] = field(default_factory=dict)  # code text → code id
    group_code: str = ""
    segment_id: int | None = None
    promoter_ids: list[int] = field(default_factory=list)  # aligned with market.promoters
    promoter_links: dict[int, list[int]] = field(default_factory=dict)  # promoter idx → link ids
    link_products: dict[int, int] = field(default_factory=dict)  # link id → listing index
    broadcast_link_id: int | None = None
    orders: list[PlacedOrder] = field(default_factory=list)
    open_orders: list[int] = field(default_factory=list)  # indexes into orders, still moving
    # Per person: has a live contact now / ever left / received an order (repurchase pool).
    has_contact: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    removed: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    received: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    regioned: set[int] = field(default_factory=set)  # contacts whose place is recorded
    opted_out: dict[int, datetime] = field(default_factory=dict)  # contact id → when 退订
    broadcast_ids: list[int] = field(default_factory=list)
    # Graph as CSR (both directions): friends of i = neighbours[offsets[i]:offsets[i + 1]].
    offsets: IntArray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    neighbours: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    place_start: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    place_count: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seconds: dict[str, float] = field(default_factory=dict)  # time per action kind (bench)
    route_rng: random.Random = field(default_factory=lambda: random.Random(0))

    def friends(self, person: int) -> IntArray:
        found: IntArray = self.neighbours[self.offsets[person] : self.offsets[person + 1]]
        return found

    def code_for(self, city: int) -> str:
        return self.city_codes.get(city, self.national_code)


def build_graph(n: int, edges: IntArray) -> tuple[IntArray, IntArray]:
    both = np.concatenate((edges, edges[:, ::-1])) if edges.size else edges.reshape(0, 2)
    order = np.argsort(both[:, 0], kind="stable")
    neighbours = both[order, 1].astype(np.int64)
    counts = np.bincount(both[:, 0], minlength=n) if both.size else np.zeros(n, dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return offsets, neighbours


def _promoter_name(kind: PromoterKind, index: int) -> str:
    label = {PromoterKind.STAFF: "员工", PromoterKind.COURIER: "快递员", PromoterKind.KOC: "达人"}
    return f"市场{label[kind]}{index + 1:04d}"


def promoter_phone(kind: PromoterKind, index: int, consumer: int) -> str:
    """A KOC is a consumer of the market (their own phone); staff and couriers get 17x numbers
    that never clash with a consumer's 19x or the scripted demo's 13x."""
    return phone_of(consumer) if kind == PromoterKind.KOC else f"17{index:09d}"


def principal_of_promoter(session: Session, promoter_id: int) -> Principal:
    user = session.scalar(select(User).where(User.promoter_id == promoter_id))
    assert user is not None, "every promoter is created with a login"
    return Principal.of(user)


def _region_codes(code: str) -> dict[str, str]:
    found = {"province_code": "", "city_code": "", "district_code": ""}
    for item in regions.regions().path(code):
        level = item.level.value
        found[f"{level}_code"] = item.code
    return found


class MarketSetup:
    """Day 0: the market's accounts, codes, groups, promoters, links and segment."""

    name = "开通运营号与推手"

    def __init__(self, state: MarketState) -> None:
        self.state = state

    def begin(self, session: Session, world: World) -> None:
        state = self.state
        market = world.market
        n = market.consumers
        state.has_contact = np.zeros(n, dtype=np.bool_)
        state.removed = np.zeros(n, dtype=np.bool_)
        state.received = np.zeros(n, dtype=np.bool_)
        state.offsets, state.neighbours = build_graph(n, market.edges)
        counts = np.bincount(market.place, minlength=len(market.places.codes)).astype(np.int64)
        state.place_count = counts
        state.place_start = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        state.route_rng = random.Random(world.seed)
        self._catalog(session, world)
        self._fleet(session, world)
        self._promoters(session, world)
        self._segment(session, world)

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        return None

    # --- catalog ---------------------------------------------------------------------------

    def _catalog(self, session: Session, world: World) -> None:
        products = list(
            session.scalars(
                select(Product)
                .where(Product.review_status == ReviewStatus.APPROVED, Product.on_shelf.is_(True))
                .order_by(Product.rank_weight.desc(), Product.id)
            )
        )
        if not products:
            products = self._minimal_catalog(session, world.admin)
        for product in products:
            category = CATEGORY_OF_PRODUCT.get(product.category, "日用百货")
            self.state.listings.append(
                Listing(product.id, CATEGORIES.index(category), product.promo_price_fen)
            )

    def _minimal_catalog(self, session: Session, admin: Principal) -> list[Product]:
        merchant = catalog.create_merchant(
            session,
            admin,
            MerchantCreate(name=MINIMAL_MERCHANT, contact_name="王经理"),
        )
        made: list[Product] = []
        for title, category, promo, list_price, rate in MINIMAL_CATALOG:
            product = catalog.create_product(
                session,
                admin,
                ProductCreate(
                    merchant_id=merchant.id,
                    title=title,
                    description="市场模拟商品",
                    category=category,
                    product_line="京喜拼购",
                    list_price_fen=list_price,
                    promo_price_fen=promo,
                    stock=100_000,
                    commission_rate_bp=rate,
                ),
            )
            catalog.approve_product(session, admin, product.id)
            made.append(product)
        return made

    # --- accounts, codes, group code -------------------------------------------------------

    def _fleet(self, session: Session, world: World) -> None:
        state, market, admin = self.state, world.market, world.admin
        persona = pool.create_persona(
            session,
            admin,
            PersonaCreate(name="市场福利号", nickname="好价福利官", signature="每天分享本地好价"),
        )
        national = [
            pool.create_account(
                session,
                admin,
                AccountCreate(
                    name=f"全国福利号-{index + 1:02d}",
                    kind=AccountKind.WECOM_MEMBER,
                    persona_id=persona.id,
                    external_id=f"market_national_{index + 1:02d}",
                    channel_backend="simulator",
                    passive_adds_per_day=300,
                    max_friends=20_000,
                ),
            ).id
            for index in range(2)
        ]
        spare = pool.create_account(
            session,
            admin,
            AccountCreate(
                name="全国福利号-备用",
                kind=AccountKind.WECOM_MEMBER,
                persona_id=persona.id,
                external_id="market_spare",
                channel_backend="simulator",
                passive_adds_per_day=300,
                max_friends=20_000,
            ),
        ).id
        # The busiest cities by people: their own account (routing by region is real).
        city_of_person = market.places.city[market.place]
        people = np.bincount(city_of_person, minlength=int(market.places.city.max()) + 1)
        wanted = int(
            np.clip(market.consumers // CONSUMERS_PER_CITY_ACCOUNT, MIN_CITY_ACCOUNTS, 10**6)
        )
        wanted = min(wanted, MAX_CITY_ACCOUNTS, int((people > 0).sum()))
        busiest = np.argsort(-people, kind="stable")[:wanted]
        first_place = {
            int(city): index for index, city in reversed(list(enumerate(market.places.city)))
        }
        for rank, city in enumerate(int(value) for value in busiest):
            city_code = market.places.city_codes[first_place[city]]
            codes = _region_codes(city_code)
            label = regions.full_name(city_code)
            municipality = city_code.endswith("0000")
            account = pool.create_account(
                session,
                admin,
                AccountCreate(
                    name=f"{label}福利号",
                    kind=AccountKind.WECOM_MEMBER,
                    persona_id=persona.id,
                    external_id=f"market_city_{rank + 1:02d}",
                    channel_backend="simulator",
                    province_code=codes["province_code"],
                    city_code="" if municipality else codes["city_code"],
                    passive_adds_per_day=200,
                    max_friends=5_000,
                ),
            )
            rule = (
                {"province_codes": [codes["province_code"]]}
                if municipality
                else {"city_codes": [codes["city_code"]]}
            )
            code = pool.create_code(
                session,
                admin,
                CodeCreate(
                    name=f"{label}门店海报",
                    rule=rule,
                    strategy=RoutingStrategy.LEAST_LOADED,
                    spare_account_ids=[spare],
                    welcome_script=WELCOME,
                    tag_names=[MARKET_TAG],
                    source_label="门店海报",
                ),
            )
            assert account.id
            state.city_codes[city] = code.code
            state.code_ids.append(code.id)
            state.parent_code_ids[code.code] = code.id
        code = pool.create_code(
            session,
            admin,
            CodeCreate(
                name="全国福利海报",
                rule={"account_ids": national},
                strategy=RoutingStrategy.LEAST_LOADED,
                spare_account_ids=[spare],
                welcome_script=WELCOME,
                tag_names=[MARKET_TAG],
                source_label="福利海报",
            ),
        )
        state.national_code = code.code
        state.code_ids.append(code.id)
        state.parent_code_ids[code.code] = code.id
        group_code = groups.create_group_code(
            session,
            admin,
            GroupCodeCreate(
                account_id=national[0],
                name="好价福利群",
                name_template="好价福利群{n}",
                capacity=200,
                purpose=GroupPurpose.GENERAL,
                welcome_script=GROUP_WELCOME,
                tag_names=["福利群"],
            ),
        )
        state.group_code = group_code.code

    # --- promoters and links ---------------------------------------------------------------

    def _promoters(self, session: Session, world: World) -> None:
        state, market, admin = self.state, world.market, world.admin
        found = market.promoters
        promoters.ensure_default_grades(session)
        staff_codes: list[str] = []
        for index, kind in enumerate(found.kind):
            place_code = market.places.codes[int(found.place[index])]
            inviter = staff_codes[index % len(staff_codes)] if staff_codes else None
            created = promoters.create_promoter(
                session,
                admin,
                PromoterCreate(
                    name=_promoter_name(kind, index),
                    phone=promoter_phone(kind, index, int(found.consumer[index])),
                    password=PASSWORD,
                    kind={
                        PromoterKind.STAFF: SiyuPromoterKind.STAFF,
                        PromoterKind.COURIER: SiyuPromoterKind.COURIER,
                        PromoterKind.KOC: SiyuPromoterKind.INDIVIDUAL,
                    }[kind],
                    region=regions.full_name(place_code)[:64],
                    # Couriers and KOCs join a staff member's team (two levels at most).
                    invite_code=None if kind == PromoterKind.STAFF else inviter,
                ),
            ).promoter
            if kind == PromoterKind.STAFF:
                staff_codes.append(created.invite_code)
            state.promoter_ids.append(created.id)
            if kind == PromoterKind.COURIER:
                pool.create_account(
                    session,
                    admin,
                    AccountCreate(
                        name=f"快递员号-{created.name}",
                        kind=AccountKind.COURIER,
                        owner_promoter_id=created.id,
                        channel_backend="assisted",
                        active_adds_per_day=30,
                        **_region_codes(place_code),
                    ),
                )
            self._links(session, index, created.id, int(found.place[index]), world)

    def _links(
        self, session: Session, index: int, promoter_id: int, place: int, world: World
    ) -> None:
        state = self.state
        if not state.listings:
            return
        # Each promoter shares products of the interests around them (rotated by index).
        start = index % len(state.listings)
        chosen = [
            (start + step) % len(state.listings)
            for step in range(min(LINKS_PER_PROMOTER, len(state.listings)))
        ]
        positions = (LinkPosition.FRIEND, LinkPosition.GROUP, LinkPosition.MOMENTS)
        for step, listing_index in enumerate(chosen):
            link = links.create_link(
                session,
                None,
                LinkCreate(
                    product_id=state.listings[listing_index].product_id,
                    position=positions[step % len(positions)],
                    sub_id="市场",
                ),
                promoter_id=promoter_id,
            )
            state.promoter_links.setdefault(index, []).append(link.id)
            state.link_products[link.id] = listing_index
            if state.broadcast_link_id is None:
                state.broadcast_link_id = link.id  # the first staff member's: the broadcast's

    def _segment(self, session: Session, world: World) -> None:
        segment = segments.create_segment(
            session, world.admin, segment_in(self.state.code_ids, world.start)
        )
        self.state.segment_id = segment.id


# The daily broadcast is the new friends' welcome offer (today's friends, RECENT_DAYS = 1):
# each friend gets it once, not one a day for ever, and the send volume stays bounded.
RECENT_DAYS: Final = 1


def segment_in(code_ids: list[int], after: datetime) -> SegmentIn:
    return SegmentIn(
        name="市场新好友" if RECENT_DAYS == 1 else f"市场新好友（近 {RECENT_DAYS} 天）",
        description="当天扫门店海报、福利海报添加的好友，每天 10:00 群发今日好价（市场模拟）",
        rule=segments.parse_rule(
            {
                "conditions": [
                    {
                        "kind": "source",
                        "source_kinds": [ContactSourceKind.CODE.value],
                        "source_ids": list(code_ids),
                    },
                    {"kind": "added", "after": after.isoformat()},
                ]
            }
        ),
    )


__all__ = [
    "CATEGORY_OF_PRODUCT",
    "Listing",
    "MarketSetup",
    "MarketState",
    "PlacedOrder",
    "build_graph",
    "principal_of_promoter",
    "promoter_phone",
    "segment_in",
]
