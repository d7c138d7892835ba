"""Headline counts for the console's first page, each scoped to who is asking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import CouponBatch, Merchant, Product, Promoter, PromoterGrade, ReviewStatus


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
