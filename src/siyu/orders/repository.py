"""Every query orders make. Stock and coupon counts change only through conditional UPDATEs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.models import (
    AfterSale,
    AfterSaleStatus,
    Click,
    CouponBatch,
    CouponGrant,
    CouponGrantStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
    Promoter,
    PromoterStatus,
    ReviewStatus,
    TrackedLink,
)


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- stock and coupons ---------------------------------------------------------------------

    def take_stock(self, product_id: int, quantity: int) -> bool:
        """Decrement stock only if enough is left. False: nothing changed."""
        result = self.session.execute(
            update(Product)
            .where(Product.id == product_id, Product.stock >= quantity)
            .values(stock=Product.stock - quantity)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def return_stock(self, product_id: int, quantity: int) -> None:
        self.session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(stock=Product.stock + quantity)
            .execution_options(synchronize_session=False)
        )

    def take_coupon(self, batch_id: int) -> bool:
        """Count one more issued coupon only while some are left. False: nothing changed."""
        result = self.session.execute(
            update(CouponBatch)
            .where(
                CouponBatch.id == batch_id,
                CouponBatch.issued_quantity < CouponBatch.total_quantity,
            )
            .values(issued_quantity=CouponBatch.issued_quantity + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def return_coupon(self, batch_id: int) -> None:
        self.session.execute(
            update(CouponBatch)
            .where(CouponBatch.id == batch_id, CouponBatch.issued_quantity > 0)
            .values(issued_quantity=CouponBatch.issued_quantity - 1)
            .execution_options(synchronize_session=False)
        )

    def grants_held(self, batch_id: int, consumer_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(CouponGrant)
                .where(
                    CouponGrant.coupon_batch_id == batch_id,
                    CouponGrant.consumer_id == consumer_id,
                    CouponGrant.status != CouponGrantStatus.RELEASED,
                )
            )
            or 0
        )

    def issued_grant(self, batch_id: int, consumer_id: int) -> CouponGrant | None:
        """The oldest unused coupon of the batch this consumer holds (granted, not yet used)."""
        return self.session.scalar(
            select(CouponGrant)
            .where(
                CouponGrant.coupon_batch_id == batch_id,
                CouponGrant.consumer_id == consumer_id,
                CouponGrant.status == CouponGrantStatus.ISSUED,
            )
            .order_by(CouponGrant.id)
            .limit(1)
        )

    def coupon_batch(self, batch_id: int) -> CouponBatch | None:
        return self.session.get(CouponBatch, batch_id)

    def eligible_coupons(self, product: Product, now: datetime) -> Sequence[CouponBatch]:
        return self.session.scalars(
            select(CouponBatch)
            .where(
                CouponBatch.merchant_id == product.merchant_id,
                (CouponBatch.product_id.is_(None)) | (CouponBatch.product_id == product.id),
                CouponBatch.is_active.is_(True),
                CouponBatch.valid_from <= now,
                CouponBatch.valid_until > now,
                CouponBatch.issued_quantity < CouponBatch.total_quantity,
            )
            .order_by(CouponBatch.face_value_fen.desc(), CouponBatch.id)
        ).all()

    def coupon_grant(self, grant_id: int) -> CouponGrant | None:
        return self.session.get(CouponGrant, grant_id)

    # --- products, clicks, promoters -----------------------------------------------------------

    def products(self, product_ids: Sequence[int]) -> dict[int, Product]:
        rows = self.session.scalars(select(Product).where(Product.id.in_(product_ids))).all()
        return {product.id: product for product in rows}

    def click_by_token(self, token: str) -> Click | None:
        return self.session.scalar(select(Click).where(Click.token == token))

    def earning_clicks(self, consumer_id: int, since: datetime) -> Sequence[Click]:
        """The consumer's clicks since ``since`` on live links of active promoters, id order."""
        return self.session.scalars(
            select(Click)
            .join(TrackedLink, TrackedLink.id == Click.link_id)
            .join(Promoter, Promoter.id == Click.promoter_id)
            .where(
                Click.consumer_id == consumer_id,
                Click.clicked_at >= since,
                TrackedLink.is_active.is_(True),
                Promoter.status == PromoterStatus.ACTIVE,
            )
            .order_by(Click.id)
        ).all()

    def click_may_earn(self, click: Click) -> bool:
        return bool(
            self.session.scalar(
                select(func.count())
                .select_from(TrackedLink)
                .join(Promoter, Promoter.id == TrackedLink.promoter_id)
                .where(
                    TrackedLink.id == click.link_id,
                    TrackedLink.is_active.is_(True),
                    Promoter.status == PromoterStatus.ACTIVE,
                )
            )
        )

    def promoter(self, promoter_id: int) -> Promoter | None:
        return self.session.get(Promoter, promoter_id)

    # --- orders --------------------------------------------------------------------------------

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    def get(self, order_id: int) -> Order | None:
        return self.session.get(Order, order_id)

    def get_for_update(self, order_id: int) -> Order | None:
        return self.session.scalar(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update(of=Order)
            .execution_options(populate_existing=True)
        )

    def by_order_no(self, order_no: str) -> Order | None:
        return self.session.scalar(select(Order).where(Order.order_no == order_no))

    def by_external(self, source: OrderSource, external_order_id: str) -> Order | None:
        return self.session.scalar(
            select(Order).where(
                Order.source == source, Order.external_order_id == external_order_id
            )
        )

    def line_for_update(self, line_id: int) -> OrderLine | None:
        return self.session.scalar(
            select(OrderLine)
            .where(OrderLine.id == line_id)
            .with_for_update(of=OrderLine)
            .execution_options(populate_existing=True)
        )

    def line_by_external_key(self, external_key: str) -> OrderLine | None:
        return self.session.scalar(select(OrderLine).where(OrderLine.external_key == external_key))

    def after_sale_by_external(self, external_id: str) -> AfterSale | None:
        return self.session.scalar(select(AfterSale).where(AfterSale.external_id == external_id))

    def event(self, source: OrderSource, event_id: str) -> OrderEvent | None:
        return self.session.scalar(
            select(OrderEvent).where(OrderEvent.source == source, OrderEvent.event_id == event_id)
        )

    def open_requests_fen(self, line_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.coalesce(func.sum(AfterSale.amount_fen), 0)).where(
                    AfterSale.order_line_id == line_id,
                    AfterSale.status == AfterSaleStatus.REQUESTED,
                )
            )
            or 0
        )

    def after_sale_for_update(self, after_sale_id: int) -> AfterSale | None:
        return self.session.scalar(
            select(AfterSale)
            .where(AfterSale.id == after_sale_id)
            .with_for_update(of=AfterSale)
            .execution_options(populate_existing=True)
        )

    def after_sales(self, order_id: int) -> Sequence[AfterSale]:
        return self.session.scalars(
            select(AfterSale)
            .join(OrderLine, OrderLine.id == AfterSale.order_line_id)
            .where(OrderLine.order_id == order_id)
            .order_by(AfterSale.id)
        ).all()

    def due_for_auto_confirm(self, now: datetime, limit: int = 1000) -> Sequence[int]:
        return self.session.scalars(
            select(Order.id)
            .where(
                Order.status.in_((OrderStatus.PAID, OrderStatus.SHIPPED)),
                Order.auto_confirm_at <= now,
            )
            .order_by(Order.id)
            .limit(limit)
        ).all()

    def list(
        self,
        page: PageRequest,
        *,
        merchant_id: int | None = None,
        promoter_id: int | None = None,
        status: OrderStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[Order]:
        statement = select(Order)
        if merchant_id is not None or promoter_id is not None:
            lines = select(OrderLine.order_id)
            if merchant_id is not None:
                lines = lines.where(OrderLine.merchant_id == merchant_id)
            if promoter_id is not None:
                lines = lines.where(OrderLine.l1_promoter_id == promoter_id)
            statement = statement.where(Order.id.in_(lines))
        if status is not None:
            statement = statement.where(Order.status == status)
        if since is not None:
            statement = statement.where(Order.paid_at >= since)
        if until is not None:
            statement = statement.where(Order.paid_at < until)
        counted = statement.subquery()
        total = self.session.scalar(select(func.count()).select_from(counted)) or 0
        items = self.session.scalars(
            statement.order_by(Order.id.desc()).offset(page.offset).limit(page.size)
        ).all()
        return Page(list(items), total, page)


def is_in_pool(product: Product) -> bool:
    return product.review_status == ReviewStatus.APPROVED and product.on_shelf
