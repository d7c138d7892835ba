from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.time import utc_now
from siyu.models import (
    CouponBatch,
    Merchant,
    Product,
    Promoter,
    PromoterGrade,
    PromoterKind,
    ReviewStatus,
    Role,
)
from siyu.overview.service import overview
from tests.conftest import ConsoleClient


def _product(merchant: Merchant, title: str, status: ReviewStatus, on_shelf: bool) -> Product:
    return Product(
        merchant=merchant,
        title=title,
        category="生鲜水果",
        list_price_fen=5990,
        promo_price_fen=3990,
        stock=100,
        commission_rate_bp=500,
        platform_take_bp=1000,
        review_status=status,
        on_shelf=on_shelf,
    )


def _seed(session: Session) -> tuple[Merchant, Merchant]:
    orchard = Merchant(name="鲜丰果园")
    luggage = Merchant(name="行者箱包")
    session.add_all(
        [
            _product(orchard, "赣南脐橙 5斤", ReviewStatus.APPROVED, True),
            _product(orchard, "烟台红富士 10斤", ReviewStatus.APPROVED, False),
            _product(orchard, "四川丑橘 3斤", ReviewStatus.PENDING, False),
            _product(luggage, "20寸拉杆箱", ReviewStatus.APPROVED, True),
            _product(luggage, "24寸拉杆箱", ReviewStatus.REJECTED, False),
        ]
    )
    now = utc_now()
    session.add_all(
        [
            CouponBatch(
                merchant=orchard,
                name="满59减10",
                face_value_fen=1000,
                threshold_fen=5900,
                total_quantity=100,
                per_user_limit=1,
                valid_from=now - timedelta(days=1),
                valid_until=now + timedelta(days=1),
            ),
            CouponBatch(
                merchant=orchard,
                name="已过期",
                face_value_fen=500,
                threshold_fen=500,
                total_quantity=100,
                per_user_limit=1,
                valid_from=now - timedelta(days=10),
                valid_until=now - timedelta(days=1),
            ),
        ]
    )
    grade = PromoterGrade(code="normal", name="普通", level=0)
    leader = Promoter(
        name="王团长",
        kind=PromoterKind.STAFF,
        phone_encrypted="x",
        phone_index="a",
        invite_code="AAAA2222",
        grade=grade,
    )
    session.add(leader)
    session.flush()
    session.add_all(
        [
            Promoter(
                name=f"推手{index}",
                kind=PromoterKind.INDIVIDUAL,
                phone_encrypted="x",
                phone_index=f"p{index}",
                invite_code=f"BBBB{index}",
                grade=grade,
                inviter_id=leader.id,
                created_at=utc_now() - timedelta(days=30 if index == 0 else 1),
            )
            for index in range(3)
        ]
    )
    session.commit()
    return orchard, luggage


class TestOverview:
    def test_platform_counts_everything(self, session: Session, admin: Principal) -> None:
        _seed(session)
        result = overview(session, admin)
        assert result.merchant_count == 2
        assert result.pool_size == 2
        assert result.pending_review == 1
        assert result.products_by_status == {
            ReviewStatus.APPROVED: 3,
            ReviewStatus.PENDING: 1,
            ReviewStatus.REJECTED: 1,
        }
        assert result.active_coupon_batches == 1
        assert result.promoter_count == 4
        assert result.new_promoters_7d == 3
        assert result.promoters_by_grade == [("普通", 4)]
        assert result.top_recruiters == [("王团长", 3)]

    def test_merchant_sees_only_its_own(self, session: Session, make_user: Any) -> None:
        orchard, _luggage = _seed(session)
        owner = make_user(Role.MERCHANT, "orchard", merchant_id=orchard.id)
        result = overview(session, owner)
        assert result.pool_size == 1
        assert result.products_by_status == {ReviewStatus.APPROVED: 2, ReviewStatus.PENDING: 1}
        assert result.merchant_count is None
        assert result.promoter_count is None

    def test_dashboard_page_shows_counts(
        self, client: ConsoleClient, session: Session, admin: Principal
    ) -> None:
        _seed(session)
        client.login("admin")
        page = client.get("/console").text
        assert 'data-testid="stat-pool">2<' in page
        assert 'data-testid="stat-pending">1<' in page
        assert "王团长" in page
