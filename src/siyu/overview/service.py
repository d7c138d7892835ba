"""The console's first page: real counts, scoped to the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.time import utc_now
from siyu.models import ReviewStatus, Role
from siyu.overview.repository import OverviewRepository


@dataclass
class Overview:
    products_by_status: dict[ReviewStatus, int]
    pool_size: int
    active_coupon_batches: int
    merchant_count: int | None = None
    promoter_count: int | None = None
    new_promoters_7d: int | None = None
    promoters_by_grade: list[tuple[str, int]] = field(default_factory=list)
    top_recruiters: list[tuple[str, int]] = field(default_factory=list)

    @property
    def pending_review(self) -> int:
        return self.products_by_status.get(ReviewStatus.PENDING, 0)


def overview(session: Session, actor: Principal) -> Overview:
    actor.require(Role.ADMIN, Role.OPERATOR, Role.MERCHANT)
    repository = OverviewRepository(session)
    now = utc_now()
    if actor.role == Role.MERCHANT:
        return Overview(
            products_by_status=repository.products_by_status(actor.merchant_id),
            pool_size=repository.pool_size(actor.merchant_id),
            active_coupon_batches=repository.active_coupon_batches(now, actor.merchant_id),
        )
    return Overview(
        products_by_status=repository.products_by_status(),
        pool_size=repository.pool_size(),
        active_coupon_batches=repository.active_coupon_batches(now),
        merchant_count=repository.merchant_count(),
        promoter_count=repository.promoter_count(),
        new_promoters_7d=repository.promoter_count(since=now - timedelta(days=7)),
        promoters_by_grade=repository.promoters_by_grade(),
        top_recruiters=repository.top_recruiters(),
    )
