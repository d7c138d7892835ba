"""Campaign fixtures: a fleet account, an entry code, a campaign built and launched through the
service, and helpers that drive scans and confirmations through the pool like a real channel."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy.orm import Session

import siyu.campaigns.hooks  # noqa: F401  (registers the pool/orders hooks and flow actions)
from siyu.auth.principal import Principal
from siyu.campaigns import service
from siyu.campaigns.schemas import CampaignIn, DistrictStockIn, TierIn
from siyu.catalog import service as catalog
from siyu.catalog.schemas import CouponBatchCreate, MerchantCreate
from siyu.consumers.service import ConsumerIdentity
from siyu.kit.time import utc_now
from siyu.models import AccountKind, Contact, Role
from siyu.models.campaigns import Campaign, CampaignParticipant, CampaignTrigger, RewardKind
from siyu.pool import events
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate, CodeCreate, EventIn

GANZHOU = "360702"  # 章贡区
ZHOUKOU = "411602"  # 川汇区
LINYI = "371302"  # 兰山区


def png(size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (200, 22, 29)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def tiers(**overrides: Any) -> list[TierIn]:
    main = TierIn(
        name="拉杆箱",
        threshold=overrides.pop("threshold", 2),
        kind=RewardKind.PHYSICAL,
        unit_cost_fen=3500,
        total=overrides.pop("total", 10),
        districts=overrides.pop(
            "districts",
            [
                DistrictStockIn(district_code=GANZHOU, total=5),
                DistrictStockIn(district_code=ZHOUKOU, total=3),
            ],
        ),
    )
    bonus = TierIn(
        name="加赠旅行收纳袋",
        threshold=overrides.pop("bonus_threshold", 4),
        kind=RewardKind.PHYSICAL,
        unit_cost_fen=800,
        is_bonus=True,
        total=overrides.pop("bonus_total", 2),
    )
    return [main, bonus]


@dataclass
class World:
    """One campaign world inside a test session (the test decides when to commit)."""

    session: Session
    admin: Principal
    serial: int = 0
    account_id: int = 0
    entry_id: int = 0
    contacts: dict[int, int] = field(default_factory=dict)

    def setup(self) -> World:
        account = pool.create_account(
            self.session,
            None,
            AccountCreate(
                name="活动号",
                kind=AccountKind.PERSONAL_ASSISTED,
                channel_backend="simulator",
                passive_adds_per_day=500,
            ),
        )
        self.account_id = account.id
        entry = pool.create_code(
            self.session,
            None,
            CodeCreate(name="免费领取拉杆箱", rule={"account_ids": [account.id]}),
        )
        self.entry_id = entry.id
        return self

    def data(self, **values: Any) -> CampaignIn:
        fields: dict[str, Any] = {
            "name": "邀请好友领拉杆箱",
            "trigger": CampaignTrigger.FRIEND_ADD,
            "entry_code_id": self.entry_id,
            "rules_text": "邀请好友添加福利官，即有机会获得拉杆箱一个，数量有限。",
            "styles": ["1号款 黑色", "2号款 银色", "3号款 玫瑰金"],
            "starts_at": utc_now() - timedelta(hours=1),
            "ends_at": utc_now() + timedelta(days=7),
            "max_invites_per_device": 3,
            "tiers": tiers(),
        }
        fields.update(values)
        return CampaignIn(**fields)

    def campaign(self, launch: bool = True, reason: str | None = None, **values: Any) -> Campaign:
        campaign = service.create_campaign(self.session, self.admin, self.data(**values))
        if launch:
            service.launch(self.session, self.admin, campaign.id, reason)
        return campaign

    def person(self) -> ConsumerIdentity:
        self.serial += 1
        return ConsumerIdentity(phone=f"1370000{self.serial:04d}", nickname=f"用户{self.serial}")

    def scan(self, code_text: str, who: ConsumerIdentity | None = None) -> Contact:
        result = pool.scan(self.session, code_text, who or self.person())
        assert result.contact_id is not None, result.outcome
        return self.session.get_one(Contact, result.contact_id)

    def confirm(self, contact: Contact) -> None:
        event, _new = events.receive(
            self.session,
            EventIn(
                backend="simulator",
                external_event_id=f"add:{contact.id}:{contact.added_at.isoformat()}",
                kind="friend_added",
                account_id=contact.account_id,
                payload={"contact_id": contact.id},
            ),
        )
        events.process(self.session, event.id)

    def remove(self, contact: Contact) -> None:
        event, _new = events.receive(
            self.session,
            EventIn(
                backend="simulator",
                external_event_id=f"remove:{contact.id}",
                kind="friend_removed",
                account_id=contact.account_id,
                payload={"contact_id": contact.id},
            ),
        )
        events.process(self.session, event.id)

    def entry_code(self) -> str:
        return pool.get_code(self.session, None, self.entry_id).code

    def participant(self, campaign: Campaign, district: str = GANZHOU) -> CampaignParticipant:
        contact = self.scan(self.entry_code())
        self.confirm(contact)
        participant, _created = service.join(
            self.session,
            campaign.id,
            contact.consumer_id,
            contact_id=contact.id,
            district_code=district,
        )
        return participant

    def invite(self, participant: CampaignParticipant, confirm: bool = True) -> Contact:
        code = service.personal_code_of(self.session, participant)
        assert code is not None
        contact = self.scan(code.code)
        if confirm:
            self.confirm(contact)
        return contact

    def coupon_batch(self, total: int = 100, per_user_limit: int = 1) -> int:
        merchant = catalog.create_merchant(self.session, None, MerchantCreate(name="箱包旗舰店"))
        batch = catalog.create_coupon_batch(
            self.session,
            None,
            CouponBatchCreate(
                merchant_id=merchant.id,
                name="满 99 减 20",
                face_value_fen=2000,
                threshold_fen=9900,
                total_quantity=total,
                per_user_limit=per_user_limit,
                valid_from=utc_now() - timedelta(days=1),
                valid_until=utc_now() + timedelta(days=30),
            ),
        )
        return batch.id


@pytest.fixture
def world(session: Session, admin: Principal) -> World:
    return World(session, admin).setup()


@pytest.fixture
def operator(make_user: Any) -> Principal:
    principal: Principal = make_user(Role.OPERATOR, "ops")
    return principal


from tests.promoters.conftest import make_promoter  # noqa: E402, F401  (fixture re-export)
