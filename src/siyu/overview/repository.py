"""Headline counts for the console's first page, each scoped to who is asking."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import (
    AssistedTask,
    ChannelCode,
    ChannelScan,
    Click,
    Commission,
    CommissionState,
    Contact,
    ContactState,
    CouponBatch,
    GroupMember,
    Merchant,
    OperatorAccount,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Promoter,
    PromoterGrade,
    PromoterKind,
    ReviewStatus,
    TrackedLink,
    WechatGroup,
    Withdrawal,
    WithdrawalStatus,
)
from siyu.models.campaigns import (
    Campaign,
    CampaignParticipant,
    CampaignReferral,
    CampaignReward,
    CampaignTrigger,
    ReferralStatus,
)
from siyu.models.flows import Conversation, ConversationStatus
from siyu.models.forecasts import CampaignForecast
from siyu.models.moments import MomentColumn, MomentPublication, PublicationStatus
from siyu.models.outreach import Broadcast, BroadcastSend, BroadcastStatus, SendStatus
from siyu.segments.couriers import COURIER_TASK_SOURCE


class OverviewRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def merchant_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Merchant)) or 0)

    def products_by_status(self, merchant_id: int | None = None) -> dict[ReviewStatus, int]:
        statement = select(Product.review_status, func.count()).group_by(Product.review_status)
        if merchant_id is not None:
            statement = statement.where(Product.merchant_id == merchant_id)
        return {status: count for status, count in self.session.execute(statement).all()}

    def pool_size(self, merchant_id: int | None = None) -> int:
        statement = select(func.count()).where(
            Product.review_status == ReviewStatus.APPROVED, Product.on_shelf.is_(True)
        )
        if merchant_id is not None:
            statement = statement.where(Product.merchant_id == merchant_id)
        return int(self.session.scalar(statement.select_from(Product)) or 0)

    def active_coupon_batches(self, now: datetime, merchant_id: int | None = None) -> int:
        statement = select(func.count()).where(
            CouponBatch.is_active.is_(True),
            CouponBatch.valid_from <= now,
            CouponBatch.valid_until > now,
        )
        if merchant_id is not None:
            statement = statement.where(CouponBatch.merchant_id == merchant_id)
        return int(self.session.scalar(statement.select_from(CouponBatch)) or 0)

    def promoter_count(self, since: datetime | None = None) -> int:
        statement = select(func.count()).select_from(Promoter)
        if since is not None:
            statement = statement.where(Promoter.created_at >= since)
        return int(self.session.scalar(statement) or 0)

    def promoters_by_grade(self) -> list[tuple[str, int]]:
        statement = (
            select(PromoterGrade.name, func.count(Promoter.id))
            .select_from(PromoterGrade)
            .outerjoin(Promoter, Promoter.grade_id == PromoterGrade.id)
            .group_by(PromoterGrade.id, PromoterGrade.name, PromoterGrade.level)
            .order_by(PromoterGrade.level)
        )
        return [(name, count) for name, count in self.session.execute(statement).all()]

    def top_recruiters(self, limit: int = 5) -> list[tuple[str, int]]:
        recruits = func.count(Promoter.id).label("recruits")
        inviter = Promoter.__table__.alias("inviter")
        statement = (
            select(inviter.c.name, recruits)
            .select_from(Promoter)
            .join(inviter, Promoter.inviter_id == inviter.c.id)
            .group_by(inviter.c.id, inviter.c.name)
            .order_by(recruits.desc(), inviter.c.id)
            .limit(limit)
        )
        return [(name, count) for name, count in self.session.execute(statement).all()]


class StoryRepository:
    """The counts of the 演示导览 (siyu.overview.story), each from its fact table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _count(self, model: Any, *where: Any) -> int:
        statement = select(func.count()).select_from(model)
        for condition in where:
            statement = statement.where(condition)
        return int(self.session.scalar(statement) or 0)

    def merchants(self) -> int:
        return self._count(Merchant)

    def pool_products(self) -> int:
        return self._count(
            Product, Product.review_status == ReviewStatus.APPROVED, Product.on_shelf.is_(True)
        )

    def accounts(self) -> int:
        return self._count(OperatorAccount, OperatorAccount.deleted_at.is_(None))

    def confirmed_contacts(self) -> int:
        return self._count(Contact, Contact.state == ContactState.CONFIRMED)

    def codes(self) -> int:
        return self._count(ChannelCode)

    def scans(self) -> int:
        return self._count(ChannelScan)

    def campaigns(self) -> int:
        return self._count(Campaign)

    def first_campaign(self, share_proof: bool) -> tuple[int | None, str]:
        condition = (
            Campaign.trigger == CampaignTrigger.SHARE_PROOF
            if share_proof
            else Campaign.trigger != CampaignTrigger.SHARE_PROOF
        )
        row = self.session.execute(
            select(Campaign.id, Campaign.name).where(condition).order_by(Campaign.id).limit(1)
        ).first()
        return (int(row[0]), str(row[1])) if row is not None else (None, "")

    def participants(self) -> int:
        return self._count(CampaignParticipant)

    def verified_referrals(self) -> int:
        return self._count(CampaignReferral, CampaignReferral.status == ReferralStatus.VERIFIED)

    def rewards(self) -> int:
        return self._count(CampaignReward)

    def conversations(self, completed: bool = False) -> int:
        if completed:
            return self._count(Conversation, Conversation.status == ConversationStatus.COMPLETED)
        return self._count(Conversation)

    def completed_conversation(self) -> int | None:
        """A conversation that went the whole way, preferably one of a campaign."""
        return self.session.scalar(
            select(Conversation.id)
            .where(Conversation.status == ConversationStatus.COMPLETED)
            .order_by(Conversation.campaign_id.is_(None), Conversation.id)
            .limit(1)
        )

    def groups(self) -> int:
        return self._count(WechatGroup)

    def group_members(self) -> int:
        return self._count(GroupMember, GroupMember.left_at.is_(None))

    def moment_columns(self) -> int:
        return self._count(MomentColumn)

    def moment_publications(self) -> int:
        return self._count(
            MomentPublication, MomentPublication.status == PublicationStatus.PUBLISHED
        )

    def broadcasts(self) -> int:
        return self._count(Broadcast)

    def done_broadcast(self) -> int | None:
        return self.session.scalar(
            select(Broadcast.id)
            .where(Broadcast.status == BroadcastStatus.DONE)
            .order_by(Broadcast.id)
            .limit(1)
        )

    def broadcast_sends_sent(self) -> int:
        return self._count(BroadcastSend, BroadcastSend.status == SendStatus.SENT)

    def couriers(self) -> int:
        return self._count(Promoter, Promoter.kind == PromoterKind.COURIER)

    def courier_tasks(self) -> int:
        return self._count(AssistedTask, AssistedTask.source_kind == COURIER_TASK_SOURCE)

    def links(self) -> int:
        return self._count(TrackedLink)

    def clicks(self) -> int:
        return self._count(Click)

    def gmv_and_orders(self) -> tuple[int, int]:
        """GMV as the dashboards define it (paid − refunded of lines of orders not cancelled)."""
        live = Order.status != OrderStatus.CANCELLED
        gmv = self.session.scalar(
            select(func.coalesce(func.sum(OrderLine.paid_fen - OrderLine.refunded_fen), 0))
            .join(Order, Order.id == OrderLine.order_id)
            .where(live)
        )
        return int(gmv or 0), self._count(Order, live)

    def attributed_order(self) -> int | None:
        return self.session.scalar(
            select(OrderLine.order_id)
            .where(OrderLine.l1_promoter_id.is_not(None))
            .order_by(OrderLine.id)
            .limit(1)
        )

    def commissions(self, settled: bool = False) -> int:
        if settled:
            return self._count(
                Commission,
                Commission.state.in_([CommissionState.SETTLED, CommissionState.PAID_OUT]),
            )
        return self._count(Commission)

    def paid_withdrawals(self) -> tuple[int, int]:
        row = self.session.execute(
            select(func.count(), func.coalesce(func.sum(Withdrawal.amount_fen), 0)).where(
                Withdrawal.status == WithdrawalStatus.PAID
            )
        ).one()
        return int(row[0]), int(row[1])

    def forecasts(self) -> int:
        return self._count(CampaignForecast)

    def latest_forecast(self) -> int | None:
        return self.session.scalar(
            select(CampaignForecast.id).order_by(CampaignForecast.id.desc()).limit(1)
        )
