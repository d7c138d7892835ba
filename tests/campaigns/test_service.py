"""Campaign service: building and the risk check, launch/pause/end, referrals from the pool's
hooks, progress, claims, coupons, fulfilment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.campaigns.conftest import GANZHOU, LINYI, ZHOUKOU, World

from siyu.auth.principal import Principal
from siyu.campaigns import rules, service
from siyu.campaigns.rules import ClaimOutcome
from siyu.campaigns.schemas import DistrictStockIn, TierIn
from siyu.compliance.service import ComplianceBlocked
from siyu.consumers.service import ConsumerIdentity
from siyu.errors import PermissionDenied
from siyu.jobs import JobQueue
from siyu.kit import crypto
from siyu.kit.time import utc_now
from siyu.models import (
    AccountKind,
    AuditEvent,
    ChannelMessage,
    Consumer,
    Contact,
    CouponBatch,
    CouponGrant,
    CouponGrantStatus,
    Role,
)
from siyu.models.campaigns import (
    CampaignInventory,
    CampaignReferral,
    CampaignReward,
    CampaignRisk,
    CampaignStatus,
    CampaignTrigger,
    FulfilmentStatus,
    ReferralStatus,
    RewardFulfilment,
    RewardKind,
)
from siyu.orders import service as orders
from siyu.pool import groups
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate, CodeCreate, GroupCodeCreate


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


class TestBuild:
    def test_create_writes_tiers_and_stock(self, world: World, session: Session) -> None:
        campaign = world.campaign(launch=False)
        lines = service.inventory_of(session, campaign)
        assert [
            (line.tier.name, line.district_code, line.total, line.issued) for line in lines
        ] == [
            ("拉杆箱", "", 10, 0),
            ("拉杆箱", GANZHOU, 5, 0),
            ("拉杆箱", ZHOUKOU, 3, 0),
            ("加赠旅行收纳袋", "", 2, 0),
        ]
        assert campaign.status == CampaignStatus.DRAFT
        assert campaign.risk == CampaignRisk.LOW
        assert len(_audits(session, "campaign.created")) == 1

    def test_districts_over_total_refused(self, world: World, session: Session) -> None:
        bad = [
            TierIn(
                name="拉杆箱",
                threshold=2,
                total=4,
                districts=[DistrictStockIn(district_code=GANZHOU, total=5)],
            )
        ]
        with pytest.raises(service.CampaignTermsInvalid) as caught:
            world.campaign(launch=False, tiers=bad)
        assert "districts_over_total (tier 1)" in caught.value.en
        assert _count(session, CampaignInventory) == 0

    def test_unknown_entry_code_refused(self, world: World, session: Session) -> None:
        with pytest.raises(service.CampaignReferenceNotFound) as caught:
            world.campaign(launch=False, entry_code_id=999_999)
        assert caught.value.en == "entry_code_id 999999 does not exist."

    def test_promoter_cannot_create(self, world: World, make_user: object) -> None:
        promoter = Principal(user_id=1, username="p", display_name="p", role=Role.PROMOTER)
        with pytest.raises(PermissionDenied):
            service.create_campaign(world.session, promoter, world.data())

    def test_paused_campaign_keeps_tiers(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        service.pause(session, world.admin, campaign.id)
        with pytest.raises(service.CampaignTiersLocked):
            service.update_campaign(session, world.admin, campaign.id, world.data())
        changed = service.update_campaign(
            session, world.admin, campaign.id, world.data(name="改名了", tiers=[])
        )
        assert changed.name == "改名了"
        assert len(service.tiers_of(session, campaign)) == 2


class TestRisk:
    def test_share_proof_is_high_risk_by_structure(self, world: World) -> None:
        campaign = world.campaign(
            launch=False, trigger=CampaignTrigger.SHARE_PROOF, rules_text="活动规则见海报"
        )
        assert campaign.risk == CampaignRisk.HIGH
        assert campaign.risk_rules == [rules.SHARE_PROOF_RULE]

    def test_copy_rule_named(self, world: World) -> None:
        campaign = world.campaign(launch=False, rules_text="集赞 38 个即可免费领取拉杆箱")
        assert campaign.risk == CampaignRisk.HIGH
        assert campaign.risk_rules == ["collect_likes"]

    def test_high_risk_launch_needs_reason(self, world: World, session: Session) -> None:
        campaign = world.campaign(launch=False, trigger=CampaignTrigger.SHARE_PROOF)
        with pytest.raises(service.RiskAcknowledgementRequired) as caught:
            service.launch(session, world.admin, campaign.id)
        assert "campaign_share_proof_trigger" in caught.value.en
        assert campaign.status == CampaignStatus.DRAFT
        assert _audits(session, "campaign.risk_acknowledged") == []

    def test_short_reason_refused(self, world: World, session: Session) -> None:
        campaign = world.campaign(launch=False, trigger=CampaignTrigger.SHARE_PROOF)
        with pytest.raises(service.RiskAcknowledgementRequired):
            service.launch(session, world.admin, campaign.id, "ok")
        assert campaign.status == CampaignStatus.DRAFT

    def test_operator_cannot_acknowledge(
        self, operator: Principal, world: World, session: Session
    ) -> None:
        campaign = world.campaign(launch=False, trigger=CampaignTrigger.SHARE_PROOF)
        with pytest.raises(PermissionDenied):
            service.launch(session, operator, campaign.id, "赞助商要求，已知悉风险")
        assert campaign.status == CampaignStatus.DRAFT

    def test_admin_acknowledgement_is_audited(self, world: World, session: Session) -> None:
        campaign = world.campaign(
            trigger=CampaignTrigger.SHARE_PROOF, reason="赞助商坚持此玩法，已告知封号风险"
        )
        assert campaign.status == CampaignStatus.RUNNING
        assert campaign.risk_acknowledged_by_user_id == world.admin.user_id
        assert campaign.risk_acknowledged_rules == [rules.SHARE_PROOF_RULE]
        (event,) = _audits(session, "campaign.risk_acknowledged")
        assert event.reason == "赞助商坚持此玩法，已告知封号风险"
        assert event.detail["rules"] == [rules.SHARE_PROOF_RULE]

    def test_new_rule_after_ack_needs_new_ack(self, world: World, session: Session) -> None:
        campaign = world.campaign(
            trigger=CampaignTrigger.SHARE_PROOF, reason="赞助商坚持此玩法，已告知封号风险"
        )
        service.pause(session, world.admin, campaign.id)
        service.update_campaign(
            session,
            world.admin,
            campaign.id,
            world.data(
                trigger=CampaignTrigger.SHARE_PROOF, tiers=[], rules_text="集赞 38 个即可领取"
            ),
        )
        assert campaign.risk_acknowledged_at is None
        with pytest.raises(service.RiskAcknowledgementRequired):
            service.launch(session, world.admin, campaign.id)
        assert campaign.status == CampaignStatus.PAUSED

    def test_blocking_copy_needs_override(self, world: World, session: Session) -> None:
        campaign = world.campaign(launch=False, rules_text="全网最低价，拉杆箱免费送")
        assert campaign.risk == CampaignRisk.LOW
        with pytest.raises(ComplianceBlocked):
            service.launch(session, world.admin, campaign.id)
        service.launch(session, world.admin, campaign.id, "价格已与商家核实，法务确认")
        assert len(_audits(session, "compliance.overridden")) == 1


class TestReferrals:
    def test_verified_invite_counts(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        inviter = world.participant(campaign)
        world.invite(inviter)
        (referral,) = session.scalars(select(CampaignReferral)).all()
        assert referral.status == ReferralStatus.VERIFIED
        assert referral.inviter_participant_id == inviter.id
        progress = service.participant_progress(session, campaign, inviter)
        assert (progress.count, progress.progress.next_threshold) == (1, 2)

    def test_unconfirmed_add_does_not_count(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        inviter = world.participant(campaign)
        world.invite(inviter, confirm=False)
        assert _count(session, CampaignReferral) == 0
        assert service.progress_count(session, campaign, inviter.id) == 0

    def test_self_invite_rejected(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        inviter = world.participant(campaign)
        code = service.personal_code_of(session, inviter)
        assert code is not None
        # The inviter deletes the account, then adds it again through their own code.
        world.remove(session.get_one(Contact, inviter.contact_id))
        phone = _phone(session, inviter.consumer_id)
        contact = world.scan(code.code, ConsumerIdentity(phone=phone))
        assert contact.referrer_consumer_id == inviter.consumer_id
        world.confirm(contact)
        referral = session.scalars(select(CampaignReferral)).one()
        assert (referral.status, referral.reason) == (ReferralStatus.REJECTED, "self_invite")
        assert service.progress_count(session, campaign, inviter.id) == 0

    def test_person_counts_once(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        first = world.participant(campaign)
        second = world.participant(campaign, ZHOUKOU)
        contact = world.invite(first)
        world.remove(contact)  # no invalidation window: still counts
        code = service.personal_code_of(session, second)
        assert code is not None

        phone = crypto.decrypt(session.get_one(Consumer, contact.consumer_id).phone_encrypted or "")
        again = world.scan(code.code, ConsumerIdentity(phone=phone))
        world.confirm(again)
        assert service.progress_count(session, campaign, first.id) == 1
        assert service.progress_count(session, campaign, second.id) == 0
        assert _count(session, CampaignReferral) == 1

    def test_old_friend_is_not_new(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        inviter = world.participant(campaign)

        other_account = pool.create_account(
            session,
            None,
            AccountCreate(
                name="老号", kind=AccountKind.PERSONAL_ASSISTED, channel_backend="simulator"
            ),
        )
        old_code = pool.create_code(
            session, None, CodeCreate(name="老码", rule={"account_ids": [other_account.id]})
        )
        who = world.person()
        world.confirm(world.scan(old_code.code, who))
        code = service.personal_code_of(session, inviter)
        assert code is not None
        world.confirm(world.scan(code.code, who))
        (referral,) = session.scalars(select(CampaignReferral)).all()
        assert (referral.status, referral.reason) == (ReferralStatus.REJECTED, "not_new")
        assert service.progress_count(session, campaign, inviter.id) == 0

    def test_removal_within_window_invalidates(self, world: World, session: Session) -> None:
        campaign = world.campaign(invalidation_days=3)
        inviter = world.participant(campaign)
        contact = world.invite(inviter)
        world.remove(contact)
        (referral,) = session.scalars(select(CampaignReferral)).all()
        assert (referral.status, referral.reason) == (ReferralStatus.INVALIDATED, "contact_removed")
        assert service.progress_count(session, campaign, inviter.id) == 0

    def test_removal_after_window_keeps_invite(self, world: World, session: Session) -> None:
        campaign = world.campaign(invalidation_days=3)
        inviter = world.participant(campaign)
        contact = world.invite(inviter)
        referral = session.scalars(select(CampaignReferral)).one()
        referral.verified_at = utc_now() - timedelta(days=4)
        world.remove(contact)
        assert referral.status == ReferralStatus.VERIFIED

    def test_leaving_all_groups_invalidates(self, world: World, session: Session) -> None:
        campaign = world.campaign(invalidation_days=3)
        inviter = world.participant(campaign)
        contact = world.invite(inviter)
        group_code = groups.create_group_code(
            session,
            None,
            GroupCodeCreate(account_id=world.account_id, name="券群", name_template="券群{n}"),
        )

        phone = crypto.decrypt(session.get_one(Consumer, contact.consumer_id).phone_encrypted or "")
        joined = groups.join_by_code(session, group_code.code, ConsumerIdentity(phone=phone))
        assert joined.group is not None
        groups.leave(session, joined.group.id, contact.consumer_id)
        assert inviter.group_joined_at is None  # the campaign has no group code
        referral = session.scalars(select(CampaignReferral)).one()
        assert (referral.status, referral.reason) == (ReferralStatus.INVALIDATED, "left_groups")


class TestClaims:
    def _qualified(self, world: World, invites: int = 2, district: str = GANZHOU) -> tuple:
        campaign = world.campaign()
        participant = world.participant(campaign, district)
        for _ in range(invites):
            world.invite(participant)
        return campaign, participant

    def test_claim_issues_once(self, world: World, session: Session) -> None:
        campaign, participant = self._qualified(world)
        first = service.claim(session, participant.id)
        assert first.outcome == ClaimOutcome.ISSUED
        assert first.reward is not None
        assert first.reward.district_code == GANZHOU
        second = service.claim(session, participant.id, first.reward.tier_id)
        assert second.outcome == ClaimOutcome.ALREADY
        lines = {
            (line.tier.name, line.district_code): line.issued
            for line in service.inventory_of(session, campaign)
        }
        assert lines[("拉杆箱", "")] == 1
        assert lines[("拉杆箱", GANZHOU)] == 1
        assert _count(session, CampaignReward) == 1
        assert _count(session, RewardFulfilment) == 1

    def test_below_threshold(self, world: World, session: Session) -> None:
        _campaign, participant = self._qualified(world, invites=1)
        assert service.claim(session, participant.id).outcome == ClaimOutcome.NOT_ELIGIBLE
        assert _count(session, CampaignReward) == 0

    def test_after_end(self, world: World, session: Session) -> None:
        campaign, participant = self._qualified(world)
        service.end(session, world.admin, campaign.id)
        assert service.claim(session, participant.id).outcome == ClaimOutcome.NOT_RUNNING
        assert _count(session, CampaignReward) == 0

    def test_district_not_in_campaign(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        with pytest.raises(service.DistrictNotInCampaign):
            world.participant(campaign, LINYI)

    def test_sold_out_district(self, world: World, session: Session) -> None:
        _campaign, participant = self._qualified(world, district=ZHOUKOU)
        row = session.scalars(
            select(CampaignInventory).where(CampaignInventory.district_code == ZHOUKOU)
        ).one()
        row.issued = row.total
        session.flush()
        assert service.claim(session, participant.id).outcome == ClaimOutcome.SOLD_OUT
        total = session.scalars(
            select(CampaignInventory).where(
                CampaignInventory.district_code == "", CampaignInventory.tier_id == row.tier_id
            )
        ).one()
        session.refresh(total)
        assert total.issued == 0  # the savepoint gave the total row's unit back
        assert _count(session, CampaignReward) == 0

    def test_bonus_tier(self, world: World, session: Session) -> None:
        _campaign, participant = self._qualified(world, invites=4)
        assert service.claim(session, participant.id).tier.name == "拉杆箱"  # type: ignore[union-attr]
        assert service.claim(session, participant.id).tier.name == "加赠旅行收纳袋"  # type: ignore[union-attr]
        assert service.claim(session, participant.id).outcome == ClaimOutcome.ALREADY

    def test_coupon_reward_respects_per_user_limit(self, world: World, session: Session) -> None:
        batch_id = world.coupon_batch(total=5, per_user_limit=1)
        coupon_tiers = [
            TierIn(
                name="20 元券",
                threshold=1,
                kind=RewardKind.COUPON,
                coupon_batch_id=batch_id,
                total=10,
            ),
        ]
        campaign = world.campaign(tiers=coupon_tiers)
        participant = world.participant(campaign)
        world.invite(participant)

        orders.grant_coupon(session, batch_id, participant.consumer_id)  # already holds one
        result = service.claim(session, participant.id)
        assert result.outcome == ClaimOutcome.COUPON_LIMIT
        assert session.get_one(CouponBatch, batch_id).issued_quantity == 1
        lines = service.inventory_of(session, campaign)
        assert [line.issued for line in lines] == [0]

    def test_coupon_reward_grants(self, world: World, session: Session) -> None:
        batch_id = world.coupon_batch(total=5)
        coupon_tiers = [
            TierIn(
                name="20 元券",
                threshold=1,
                kind=RewardKind.COUPON,
                coupon_batch_id=batch_id,
                total=10,
            ),
        ]
        campaign = world.campaign(tiers=coupon_tiers)
        participant = world.participant(campaign)
        world.invite(participant)
        result = service.claim(session, participant.id)
        assert result.outcome == ClaimOutcome.ISSUED
        assert result.reward is not None
        grant = session.get_one(CouponGrant, result.reward.coupon_grant_id)
        assert (grant.consumer_id, grant.status) == (
            participant.consumer_id,
            CouponGrantStatus.ISSUED,
        )
        session.refresh(session.get_one(CouponBatch, batch_id))
        assert session.get_one(CouponBatch, batch_id).issued_quantity == 1
        assert _count(session, RewardFulfilment) == 0

    def test_ship(self, world: World, session: Session) -> None:
        _campaign, participant = self._qualified(world)
        result = service.claim(
            session,
            participant.id,
            consignee=service.Consignee("张三", "13800001111", "江西省赣州市章贡区红旗大道 1 号"),
        )
        assert result.reward is not None
        fulfilment = session.scalars(select(RewardFulfilment)).one()
        with pytest.raises(service.ShippingInvalid):
            service.ship(session, world.admin, fulfilment.id, "", "")
        service.ship(session, world.admin, fulfilment.id, "顺丰", "SF1234567890")
        assert fulfilment.status == FulfilmentStatus.SHIPPED
        with pytest.raises(service.FulfilmentStatusInvalid):
            service.ship(session, world.admin, fulfilment.id, "顺丰", "SF1")
        assert fulfilment.tracking_no == "SF1234567890"

    def test_device_cap(self, world: World, session: Session) -> None:
        campaign = world.campaign(max_invites_per_device=2)
        inviter = world.participant(campaign)
        code = service.personal_code_of(session, inviter)
        assert code is not None

        for _ in range(3):
            who = world.person()
            result = pool.scan(session, code.code, who)
            service.note_scan(
                session,
                result.scan.consumer_id,
                result.code.id,
                result.scan.referrer_consumer_id,
                result.contact_id,
                "same-phone-device-id",
            )
            world.confirm(session.get_one(Contact, result.contact_id))
        statuses = [
            (r.status, r.reason)
            for r in session.scalars(select(CampaignReferral).order_by(CampaignReferral.id))
        ]
        assert statuses == [
            (ReferralStatus.VERIFIED, ""),
            (ReferralStatus.VERIFIED, ""),
            (ReferralStatus.REJECTED, "device_cap"),
        ]
        assert service.progress_count(session, campaign, inviter.id) == 2


class TestEnd:
    def test_end_queues_invites_and_release(
        self, world: World, session: Session, queue: JobQueue
    ) -> None:
        group_code = groups.create_group_code(
            session,
            None,
            GroupCodeCreate(account_id=world.account_id, name="券群", name_template="券群{n}"),
        )
        campaign = world.campaign(group_code_id=group_code.id)
        participant = world.participant(campaign)
        result = service.end(session, world.admin, campaign.id)
        assert (result.invitations_queued, result.release_rule_queued) == (True, False)
        session.commit()
        queue.run_pending()
        session.expire_all()
        session.refresh(participant)
        assert participant.group_invited_at is not None

        (message,) = session.scalars(
            select(ChannelMessage).where(ChannelMessage.contact_id == participant.contact_id)
        ).all()
        assert f"/g/{group_code.code}" in message.body["text"]
        # A second run sends nothing more.
        assert service.invite_participants(session, campaign.id) == 0

    def test_end_twice_refused(self, world: World, session: Session) -> None:
        campaign = world.campaign()
        service.end(session, world.admin, campaign.id)
        with pytest.raises(service.CampaignStatusInvalid):
            service.end(session, world.admin, campaign.id)


def _product(session: Session, batch_id: int) -> int:
    from siyu.catalog import service as catalog
    from siyu.catalog.schemas import ProductCreate

    batch = session.get_one(CouponBatch, batch_id)
    product = catalog.create_product(
        session,
        None,
        ProductCreate(
            merchant_id=batch.merchant_id,
            title="拉杆箱 20 寸",
            category="箱包",
            list_price_fen=19900,
            promo_price_fen=15900,
            stock=100,
            commission_rate_bp=500,
        ),
    )
    catalog.approve_product(session, None, product.id)
    return product.id


def _phone(session: Session, consumer_id: int) -> str:
    return crypto.decrypt(session.get_one(Consumer, consumer_id).phone_encrypted or "")


class TestFirstPurchase:
    def test_first_order_verifies_invite(self, world: World, session: Session) -> None:
        from siyu.orders.schemas import DraftLine, OrderDraft

        batch_id = world.coupon_batch()
        product_id = _product(session, batch_id)
        campaign = world.campaign(trigger=CampaignTrigger.FIRST_PURCHASE)
        inviter = world.participant(campaign)
        contact = world.invite(inviter)
        referral = session.scalars(select(CampaignReferral)).one()
        assert (referral.status, referral.reason) == (
            ReferralStatus.PENDING,
            "waiting_first_purchase",
        )
        assert service.progress_count(session, campaign, inviter.id) == 0
        phone = _phone(session, contact.consumer_id)
        order = orders.place_order(
            session, OrderDraft(lines=(DraftLine(product_id, 1),), phone=phone)
        )
        assert (referral.status, referral.order_id) == (ReferralStatus.VERIFIED, order.id)
        assert service.progress_count(session, campaign, inviter.id) == 1
        # A second order changes nothing.
        orders.place_order(session, OrderDraft(lines=(DraftLine(product_id, 1),), phone=phone))
        assert service.progress_count(session, campaign, inviter.id) == 1

    def test_granted_coupon_is_used_at_checkout(self, world: World, session: Session) -> None:
        from siyu.orders.schemas import DraftLine, OrderDraft

        batch_id = world.coupon_batch(total=5, per_user_limit=1)
        product_id = _product(session, batch_id)
        campaign = world.campaign()
        participant = world.participant(campaign)
        grant = orders.grant_coupon(session, batch_id, participant.consumer_id)
        order = orders.place_order(
            session,
            OrderDraft(
                lines=(DraftLine(product_id, 1),),
                phone=_phone(session, participant.consumer_id),
                coupon_batch_id=batch_id,
            ),
        )
        assert order.coupon_grant_id == grant.id
        assert grant.status == CouponGrantStatus.USED
        assert session.get_one(CouponBatch, batch_id).issued_quantity == 1
        assert participant.first_order_at is not None


class TestOcrHook:
    def test_suggestion_stored_by_job(
        self, world: World, session: Session, queue: JobQueue, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        campaign = world.campaign(
            trigger=CampaignTrigger.SHARE_PROOF, reason="赞助商要求此玩法，已告知封号风险"
        )
        participant = world.participant(campaign)
        from tests.campaigns.conftest import png

        proof = service.submit_proof(session, campaign, participant, png())
        session.commit()
        suggestion = {"verdict": "approve", "reason": "截图含活动海报", "text": "免费领取拉杆箱"}
        seen: list[list[str]] = []

        def fake_ocr(data: bytes, expected: list[str]) -> dict[str, str]:
            seen.append(expected)
            return suggestion

        monkeypatch.setattr(service, "ocr_suggest", fake_ocr)
        queue.run_pending()
        session.expire_all()
        assert service.get_proof(session, None, proof.id).ocr_suggestion == suggestion
        assert len(seen) == 1
        assert seen[0][0] == campaign.name

    def test_without_ocr_nothing_changes(self, world: World, session: Session) -> None:
        campaign = world.campaign(
            trigger=CampaignTrigger.SHARE_PROOF, reason="赞助商要求此玩法，已告知封号风险"
        )
        participant = world.participant(campaign)
        from tests.campaigns.conftest import png

        proof = service.submit_proof(session, campaign, participant, png())
        assert service.store_suggestion(session, proof.id) == "no ocr"
        assert proof.ocr_suggestion == {}


class TestGroupMilestone:
    def test_joining_the_coupon_group_is_noted(self, world: World, session: Session) -> None:
        group_code = groups.create_group_code(
            session,
            None,
            GroupCodeCreate(account_id=world.account_id, name="券群", name_template="券群{n}"),
        )
        campaign = world.campaign(group_code_id=group_code.id)
        participant = world.participant(campaign)
        phone = _phone(session, participant.consumer_id)
        groups.join_by_code(session, group_code.code, ConsumerIdentity(phone=phone))
        assert participant.group_joined_at is not None
